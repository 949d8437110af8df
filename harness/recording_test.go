package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// staleRead is a history whose get (client 1) misses the put (client 0)
// that returned before it.
func staleRead() *History {
	var h History
	h.Call(0, Op{Kind: OpPut, Key: "x", Value: "1"}).Return(Result{})
	h.Call(1, Op{Kind: OpGet, Key: "x"}).Return(Result{})
	return &h
}

// TestHistoryBarsTakeTheCheckersResult: a History's bars highlight what
// the error the case failed with blames, not what a check of their own
// would; without one, what a check of the history blames.
func TestHistoryBarsTakeTheCheckersResult(t *testing.T) {
	h := staleRead()
	blamedOps := func(le *LinearizabilityError) (labels []string) {
		for _, b := range h.bars(time.Time{}, le) {
			if b.Violating {
				labels = append(labels, b.Label)
			}
		}
		return labels
	}
	err := CheckLinearizable(h)
	require.Error(t, err)
	require.Equal(t, []string{"get ∅"}, blamedOps(nil), "checked for the page")

	// A result that blames the put (as a checker with another model
	// might): the page shows that one.
	ops := h.Operations()
	le := &LinearizabilityError{Keys: 1, Ops: 2, Violations: []KeyViolation{{Key: "x", Ops: ops, Stuck: 0}}}
	require.Equal(t, []string{"put 1"}, blamedOps(le))
}

// TestNoteBlamed: the first *LinearizabilityError given to a failure,
// wrapped or not, among other arguments, is the case's.
func TestNoteBlamed(t *testing.T) {
	le1, le2 := &LinearizabilityError{Keys: 1}, &LinearizabilityError{Keys: 2}
	var ht T
	ht.noteBlamed([]any{"key", 3})
	_, got := ht.recorded()
	require.Nil(t, got)
	ht.noteBlamed([]any{"check:", fmt.Errorf("after the heal: %w", le1)})
	ht.noteBlamed([]any{le2})
	_, got = ht.recorded()
	require.Same(t, le1, got)
}

// TestVerdictBars: a CheckModel verdict of any model is drawn with the
// model's descriptions, its Stuck operation highlighted.
func TestVerdictBars(t *testing.T) {
	var log Log[QueueOp, QueueResult]
	log.Call(0, QueueOp{Value: "a"}).Return(QueueResult{})
	log.Call(0, QueueOp{Value: "b"}).Return(QueueResult{})
	log.Call(1, QueueOp{Dequeue: true}).Return(QueueResult{Value: "b"})
	log.Call(2, QueueOp{Dequeue: true}) // never returns
	v, err := CheckModel(QueueModel(), &log, LinearizableOptions{})
	require.Error(t, err)
	bars := v.bars(time.Time{}, nil)
	require.Len(t, bars, 4)
	var hot []string
	for _, b := range bars {
		if b.Violating {
			hot = append(hot, b.Client+": "+b.Label)
		}
	}
	require.Equal(t, []string{`1: dequeue() → "b"`}, hot)
	require.True(t, bars[3].Pending)
	require.Equal(t, "2", bars[3].Client)

	// A Verdict made by hand draws too.
	require.Len(t, (&Verdict[QueueOp, QueueResult]{Entries: v.Entries}).bars(time.Time{}, nil), 4)
}

// TestTimelineOfAModel: a Check property that records CheckModel's
// verdict of a LIFO "queue" gets a page with the dequeue it could not
// place highlighted.
func TestTimelineOfAModel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a twin in a subprocess")
	}
	dir := t.TempDir()
	res := RunTwin(t, "TestTwinQueuePage", "queue-page", "-rapid.checks=1", "-rapid.shrinktime=0", "-rapid.nofailfile", "-headwind.trace="+dir)
	require.True(t, res.Failed, res.Output)
	b, err := os.ReadFile(filepath.Join(dir, "TestTwinQueuePage-check.timeline.html"))
	require.NoError(t, err, res.Output)
	page := strings.ReplaceAll(string(b), "&#34;", `"`)
	require.Equal(t, 1, strings.Count(page, `<g class="bar violating">`), "one highlighted operation")
	require.Contains(t, page, `<g class="bar violating"><title>client 1: dequeue() → "b"`)
	require.Equal(t, 2, strings.Count(page, `<g class="bar">`), "a bar per operation")
}

func TestTwinQueuePage(t *testing.T) {
	if Twin() != "queue-page" {
		t.Skip("runs only as a subprocess of TestTimelineOfAModel")
	}
	Check(t, func(t *T) {
		var log Log[QueueOp, QueueResult]
		log.Call(0, QueueOp{Value: "a"}).Return(QueueResult{})
		time.Sleep(time.Millisecond)
		log.Call(0, QueueOp{Value: "b"}).Return(QueueResult{})
		time.Sleep(time.Millisecond)
		log.Call(1, QueueOp{Dequeue: true}).Return(QueueResult{Value: "b"}) // LIFO
		v, err := CheckModel(QueueModel(), &log, LinearizableOptions{})
		t.Record(v)
		if err != nil {
			t.Fatal(err)
		}
	})
}
