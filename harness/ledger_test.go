package harness_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/harness"
)

func TestLedgerBalanced(t *testing.T) {
	var l harness.Ledger // the zero value is ready
	require.NoError(t, l.Check())
	l.Issue("a")
	l.Apply("a")
	l.Ack("a")
	l.Issue("b")
	l.Reject("b")
	l.Issue("c") // the client gave up: not a violation, but counted
	l.Issue("d")
	l.Apply("d") // applied, the answer lost: fine
	require.NoError(t, l.Check())
	require.Equal(t, harness.LedgerCounts{Keys: 4, Issued: 4, Applied: 2, Acked: 1, Rejected: 1, Unresolved: 2}, l.Counts())
}

func TestLedgerListsEveryViolation(t *testing.T) {
	var l harness.Ledger
	l.Issue("twice")
	l.Apply("twice")
	l.Apply("twice")
	l.Ack("twice")
	l.Issue("lie")
	l.Ack("lie")
	l.Apply("ghost")
	l.Issue("no")
	l.Reject("no")
	l.Apply("no")
	l.Issue("no-then")
	l.Apply("no-then")
	l.Reject("no-then")
	err := l.Check()
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`harness: ledger: 5 violations`,
		`key "twice" applied 2 times (want at most once)`,
		`key "lie" acknowledged but never applied`,
		`key "ghost" applied but never issued`,
		`key "no" applied although it was rejected`,
		`key "no-then" applied although it was rejected`,
	} {
		require.Contains(t, msg, want)
	}
}

func TestLedgerConcurrent(t *testing.T) {
	var l harness.Ledger
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := fmt.Sprintf("%d-%d", w, i)
				l.Issue(k)
				l.Apply(k)
				l.Ack(k)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, l.Check())
	require.Equal(t, 4000, l.Counts().Acked)
}

func TestLedgerLimit(t *testing.T) {
	l := harness.Ledger{Limit: 2}
	for _, k := range []string{"a", "b", "c", "d"} {
		l.Issue(k)
		l.Apply(k)
		l.Ack(k)
	}
	err := l.Check()
	require.ErrorContains(t, err, "harness: ledger: 1 violation:")
	require.ErrorContains(t, err, "6 records of keys beyond the ledger's Limit of 2 were not kept")
	require.Equal(t, 2, l.Counts().Keys)
}
