package kv_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/kv"
)

// The tests of the server's dedupe table run Exec inside a bubble: the
// lines are the protocol itself, and time is virtual, so expiry is checked
// at its exact instant.

// now is the current instant as a date travels on the wire.
func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func newServer(t *testing.T, cfg kv.Config) *kv.Server {
	t.Helper()
	srv, err := kv.NewServer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestDedupeAnswersRepeatsFromTheTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(t, kv.Config{})
		d := now()
		charge := "CHARGE pos1-1 " + d + " alice 500"
		assert.Equal(t, "OK pos1-1 500", srv.Exec(charge))
		assert.Equal(t, "OK pos1-1 500", srv.Exec(charge), "a retry is answered as the first time")
		assert.Equal(t, "OK pos1-2 750", srv.Exec("CHARGE pos1-2 "+d+" alice 250"))
		assert.Equal(t, "OK pos1-1 500", srv.Exec(charge), "a late retry gets the original answer")
		assert.Regexp(t, `^ERR pos1-1 conflict `, srv.Exec("CHARGE pos1-1 "+d+" alice 999"), "the same serial on another request")
		assert.Equal(t, int64(750), srv.Balance("alice"))

		put := "PUT pos2-1 " + d + " x 1"
		assert.Equal(t, "OK pos2-1", srv.Exec(put))
		assert.Equal(t, "OK pos2-2", srv.Exec("PUT pos2-2 "+d+" x 2"))
		assert.Equal(t, "OK pos2-1", srv.Exec(put), "a retry of an older put")
		assert.Equal(t, "VALUE g-1 2", srv.Exec("GET g-1 x"), "…is not applied again")
		assert.Equal(t, "NOTFOUND g-2", srv.Exec("GET g-2 y"))

		assert.Equal(t, kv.Stats{Applied: 4, Replayed: 3, Conflicts: 1, Entries: 4}, srv.Stats())
	})
}

// TestDedupeCapacity fills a table of 3 serials: the fourth evicts the
// oldest, whose repeat is then refused, never applied again; and so is a
// serial never seen that is dated no later than the evicted one.
func TestDedupeCapacity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(t, kv.Config{Capacity: 3})
		early := now()
		time.Sleep(time.Millisecond)
		dates := make([]string, 5)
		for i := 1; i <= 4; i++ {
			dates[i] = now()
			assert.Equal(t, fmt.Sprintf("OK s-%d %d", i, 100*i), srv.Exec(fmt.Sprintf("CHARGE s-%d %s alice %d", i, dates[i], 100)), "charge %d", i)
			time.Sleep(time.Millisecond)
		}
		st := srv.Stats()
		assert.Equal(t, 3, st.Entries)
		assert.Equal(t, int64(1), st.Evicted)
		assert.Equal(t, dates[1], st.Horizon.UTC().Format(time.RFC3339Nano), "the horizon is the evicted serial's date")

		assert.Regexp(t, `^ERR s-1 expired `, srv.Exec("CHARGE s-1 "+dates[1]+" alice 100"), "the evicted serial")
		for i := 2; i <= 4; i++ {
			assert.Equal(t, fmt.Sprintf("OK s-%d %d", i, 100*i), srv.Exec(fmt.Sprintf("CHARGE s-%d %s alice 100", i, dates[i])), "serial %d is still in the table", i)
		}
		assert.Regexp(t, `^ERR s-0 expired `, srv.Exec("CHARGE s-0 "+early+" alice 100"), "never seen, but dated before the horizon")
		assert.Equal(t, "OK s-5 500", srv.Exec("CHARGE s-5 "+now()+" alice 100"), "dated after the horizon")
		assert.Equal(t, int64(500), srv.Balance("alice"))
		st = srv.Stats()
		assert.Equal(t, kv.Stats{Applied: 5, Replayed: 3, Refused: 2, Evicted: 2, Entries: 3, Horizon: st.Horizon}, st)
	})
}

// TestDedupeExpiry checks that a serial is remembered for exactly Expiry
// after it was applied: a retry 1ns before is answered from the table, a
// retry at that instant is refused.
func TestDedupeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(t, kv.Config{Expiry: 10 * time.Second})
		charge := "CHARGE pos1-1 " + now() + " alice 500"
		assert.Equal(t, "OK pos1-1 500", srv.Exec(charge))

		time.Sleep(10*time.Second - time.Nanosecond)
		assert.Equal(t, "OK pos1-1 500", srv.Exec(charge), "1ns before the expiry")
		assert.Equal(t, 1, srv.Stats().Entries)

		time.Sleep(time.Nanosecond)
		assert.Regexp(t, `^ERR pos1-1 expired `, srv.Exec(charge), "at the expiry")
		st := srv.Stats()
		assert.Equal(t, 0, st.Entries)
		assert.Equal(t, int64(1), st.Expired)
		assert.Equal(t, int64(500), srv.Balance("alice"), "charged once")
	})
}

// TestNoDedupeAppliesEveryRetry is the twin's bug, seen directly: without
// the table every retry is charged again.
func TestNoDedupeAppliesEveryRetry(t *testing.T) {
	var applied []string
	srv := newServer(t, kv.Config{NoDedupe: true, OnApply: func(id string) { applied = append(applied, id) }})
	charge := "CHARGE pos1-1 " + now() + " alice 500"
	assert.Equal(t, "OK pos1-1 500", srv.Exec(charge))
	assert.Equal(t, "OK pos1-1 1000", srv.Exec(charge))
	assert.Equal(t, []string{"pos1-1", "pos1-1"}, applied)
}

func TestExecRefusesBadRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(t, kv.Config{MaxSkew: time.Second})
		d := now()
		for _, tt := range []struct{ line, want string }{
			{"", `^ERR - bad unknown verb ""`},
			{"DELETE s-1 x", `^ERR s-1 bad unknown verb "DELETE"`},
			{"GET s-1", `^ERR s-1 bad GET takes 3 fields`},
			{"GET s-1 x ", `^ERR s-1 bad GET takes 3 fields`},
			{"GET s-1  x", `^ERR s-1 bad GET takes 3 fields`},
			{"PUT s-1 yesterday x 1", `^ERR s-1 bad date "yesterday" is not RFC 3339`},
			{"CHARGE s-1 " + d + " alice -5", `^ERR s-1 bad cents "-5" is not a positive`},
			{"CHARGE s-1 " + d + " alice 0", `^ERR s-1 bad cents "0" is not a positive`},
			{"CHARGE s-1 " + d + " al\x01ce 5", `^ERR s-1 bad field 4 is not a token`},
			{"CHARGE s-1 " + time.Now().Add(1001*time.Millisecond).UTC().Format(time.RFC3339Nano) + " alice 5", `^ERR s-1 skew dated 1.001s ahead`},
		} {
			assert.Regexp(t, tt.want, srv.Exec(tt.line), "%q", tt.line)
		}
		assert.Equal(t, "OK s-2 5", srv.Exec("CHARGE s-2 "+time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)+" alice 5"), "MaxSkew ahead is allowed")
		assert.Equal(t, kv.Stats{Applied: 1, Entries: 1}, srv.Stats())
	})
}

func TestConfigValidate(t *testing.T) {
	_, err := kv.NewServer(kv.Config{Capacity: -1, Expiry: -time.Second, IdleTimeout: -1})
	require.Error(t, err)
	for _, want := range []string{
		"kv: Config.Capacity -1 out of range [0,∞)",
		"kv: Config.Expiry -1s out of range [0,∞)",
		"kv: Config.IdleTimeout -1ns out of range [0,∞)",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Equal(t, 3, strings.Count(err.Error(), "\n")+1, "one line per problem:\n%v", err)

	_, err = kv.NewClient(kv.ClientConfig{Name: "two words", Timeout: -time.Second, MaxAttempts: -1})
	require.Error(t, err)
	for _, want := range []string{
		`kv: ClientConfig.Addr "" is empty`,
		`kv: ClientConfig.Name "two words" is not a valid name`,
		"kv: ClientConfig.Timeout -1s out of range [0,∞)",
		"kv: ClientConfig.MaxAttempts -1 out of range [0,∞)",
	} {
		assert.Contains(t, err.Error(), want)
	}
}
