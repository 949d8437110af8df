package faultconn

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dir is a direction relative to the conn that owns a link: Out is what
// that conn writes to its peer, In is what it reads from its peer.
// The zero value is Out.
type Dir uint8

const (
	// Out is the direction from the owning conn to its peer.
	Out Dir = iota
	// In is the direction from the peer to the owning conn.
	In
)

// String returns "out" or "in", or "Dir(N)" for an unknown value.
func (d Dir) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	}
	return "Dir(" + strconv.Itoa(int(d)) + ")"
}

// Kind is what happened to a segment or a connection in an Event.
// The zero value is KindSend.
type Kind uint8

const (
	// KindSend means a segment was written and its fate drawn.
	KindSend Kind = iota
	// KindDeliver means a segment reached the reader's buffer.
	KindDeliver
	// KindLose means a transmission of a segment was lost.
	KindLose
	// KindDuplicate means a segment was duplicated.
	KindDuplicate
	// KindReorder means a segment was held back so later ones overtake it.
	KindReorder
	// KindCorrupt means a bit of a segment was flipped.
	KindCorrupt
	// KindRetransmit means a lost segment was sent again (Stream mode).
	KindRetransmit
	// KindReset means the connection was reset.
	KindReset
	// KindFin means the writer closed; the end of the stream reached the reader.
	KindFin
	// KindDrop means a segment or datagram was dropped for lack of buffer
	// room, or on arrival at a closed reader (which answers a connection's
	// data with a reset). A drop at send has a sequence number of its own;
	// a drop on arrival has the number of the segment's send.
	KindDrop
	// KindTimeout means retransmissions gave up and the connection failed with
	// ETIMEDOUT.
	KindTimeout
	// KindBlock means a transmission was blocked by a partition.
	KindBlock
	// KindNote means a free-text note, added with Trace.Note.
	KindNote
	// KindHold means a transmission arrived at, or came from, a paused
	// host (netsim's Pause) and is held until it resumes.
	KindHold
)

// kindNames are the String forms of the kinds, indexed by Kind.
var kindNames = [...]string{
	KindSend:       "send",
	KindDeliver:    "deliver",
	KindLose:       "lose",
	KindDuplicate:  "duplicate",
	KindReorder:    "reorder",
	KindCorrupt:    "corrupt",
	KindRetransmit: "retransmit",
	KindReset:      "reset",
	KindFin:        "fin",
	KindDrop:       "drop",
	KindTimeout:    "timeout",
	KindBlock:      "block",
	KindNote:       "note",
	KindHold:       "hold",
}

// String returns the kind's lower-case name, such as "deliver" for
// KindDeliver, or "Kind(N)" for an unknown value.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one entry of a Trace: something that happened to a segment on
// a link, or to a whole connection. Events are plain values.
type Event struct {
	// Time is how long after the trace began (NewTrace) the event was
	// recorded.
	Time time.Duration
	// Link is the stable name of the link, such as "a:49152->b:80#1".
	Link string
	// Dir is the direction of the segment relative to the conn that owns
	// the link. It is meaningless for KindNote events.
	Dir Dir
	// Seq is the segment's number on the link, counting from 1; zero
	// means a connection-level event such as a reset or a note.
	Seq uint64
	// Kind is what happened.
	Kind Kind
	// Size is the number of bytes involved, zero if none.
	Size int
	// Note is free text: the text of a KindNote event, or details of any
	// other event. Empty means none.
	Note string
}

// String formats e as one readable line, for example
//
//	1.250000s a:49152->b:80#1 out #12 deliver 512B
//
// The time column has a fixed width (up to 9999s) and microsecond
// precision, so the lines of a trace align. The direction is omitted for
// KindNote, the sequence number when it is zero, and the size when both
// it and the sequence number are zero. A non-empty Note is appended, with
// line breaks escaped so the event stays on one line.
func (e Event) String() string {
	var b strings.Builder
	b.Grow(48 + len(e.Link) + len(e.Note))
	b.WriteString(formatTime(e.Time))
	b.WriteByte(' ')
	if e.Link == "" {
		b.WriteByte('-')
	} else {
		b.WriteString(e.Link)
	}
	if e.Kind != KindNote {
		b.WriteByte(' ')
		b.WriteString(e.Dir.String())
	}
	if e.Seq != 0 {
		b.WriteString(" #")
		b.WriteString(strconv.FormatUint(e.Seq, 10))
	}
	b.WriteByte(' ')
	b.WriteString(e.Kind.String())
	if e.Seq != 0 || e.Size != 0 {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(e.Size))
		b.WriteByte('B')
	}
	if e.Note != "" {
		b.WriteByte(' ')
		b.WriteString(lineEscaper.Replace(e.Note))
	}
	return b.String()
}

// lineEscaper keeps a note on one line.
var lineEscaper = strings.NewReplacer("\r", `\r`, "\n", `\n`)

// formatTime formats d in seconds with six decimals, right-aligned in a
// column 12 characters wide: "   1.250000s".
func formatTime(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign = "-"
		d = -d // the most negative Duration stays negative; harmless here
	}
	s := fmt.Sprintf("%s%d.%06ds", sign, d/time.Second, d%time.Second/time.Microsecond)
	if len(s) < 12 {
		s = strings.Repeat(" ", 12-len(s)) + s
	}
	return s
}

// DefaultTraceLimit is the number of events a Trace keeps when NewTrace is
// given a limit <= 0, and the limit of a zero Trace.
const DefaultTraceLimit = 65536

// Trace is a bounded record of Events, kept for failure reports and for
// tests that assert what the network did. It keeps the newest Limit events
// and counts the ones it discarded to make room (Overflow): memory is
// bounded by the limit, and storage grows with use, so a large limit costs
// nothing until events arrive.
//
// A Trace is safe for concurrent use.
//
// # Order
//
// Events come out (Events, Tail, WriteText, WriteJSON) in a canonical
// order, so that two runs whose segments met the same fates print the
// same trace byte for byte, however their goroutines were scheduled:
// by time; within one instant by link name, direction and sequence
// number; the events of one segment at one instant in the order they
// happened (a send before its delivery); and connection-level events
// (sequence 0, such as notes) by kind, size and note. Events of different
// instants are never reordered.
//
// When the trace is full, the oldest events are discarded in the order
// they were added, which within one instant is the scheduler's. So that
// what is kept stays canonical, an instant that lost some but not all of
// its events to the limit is discarded whole: its remaining events are
// not returned, and are counted in Overflow. (If every kept event is of
// that one instant, nothing is returned.)
//
// # Time
//
// A trace measures time with package time from the moment NewTrace is
// called. Inside a testing/synctest bubble that is the bubble's virtual
// clock, so create the trace where the conns run — inside the bubble — to
// get exact, reproducible event times; a trace created outside a bubble
// and fed from inside one mixes two clocks and its times mean nothing.
//
// # Zero and nil
//
// The zero Trace is ready to use, with limit DefaultTraceLimit; its clock
// starts at its first event. A nil *Trace records nothing: Note does
// nothing (without reading the clock), queries return zero values, and
// the writers write an empty trace. Engines may therefore hold a nil
// trace instead of checking for one.
type Trace struct {
	limit int // from NewTrace, never changed; 0 means DefaultTraceLimit

	mu       sync.Mutex    // guards the fields below
	start    time.Time     // time zero of the trace; zero until set
	buf      []Event       // the ring; len(buf) <= limit, cap(buf) <= limit
	head     int           // index of the oldest event once len(buf) == limit, else 0
	overflow uint64        // events discarded because the ring was full
	cutAt    time.Duration // Time of the newest discarded event, if overflow > 0
}

// NewTrace returns an empty trace that keeps the newest limit events; a
// limit <= 0 means DefaultTraceLimit. The trace's time zero is now, as told
// by package time (see the Time section of Trace).
func NewTrace(limit int) *Trace {
	if limit <= 0 {
		limit = DefaultTraceLimit
	}
	return &Trace{limit: limit, start: time.Now()}
}

// Start returns the trace's time zero, from which Event.Time counts: when
// NewTrace was called, or the first event of a zero Trace. It is the zero
// time before then, and for a nil trace.
func (t *Trace) Start() time.Time {
	if t == nil {
		return time.Time{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.start
}

// Limit returns the maximum number of events t keeps, or 0 for a nil trace.
func (t *Trace) Limit() int {
	if t == nil {
		return 0
	}
	if t.limit <= 0 {
		return DefaultTraceLimit
	}
	return t.limit
}

// add records e, setting e.Time to the time since the trace began. When
// the trace already holds Limit events, the oldest is discarded and
// counted in Overflow. add never blocks beyond a short critical section
// and allocates only when the ring grows (at most about log2(Limit)
// times). add on a nil trace does nothing. The engines add their events
// through it; users add notes (Note), never events of the engine's kinds.
func (t *Trace) add(e Event) {
	if t == nil {
		return
	}
	limit := t.Limit()
	t.mu.Lock()
	// Read the clock under the lock so that times follow the ring order.
	now := time.Now()
	if t.start.IsZero() {
		t.start = now
	}
	e.Time = now.Sub(t.start)
	t.putLocked(e, limit)
	t.mu.Unlock()
}

// put records e with the time it carries (ReadJSON's events).
func (t *Trace) put(e Event) {
	t.mu.Lock()
	t.putLocked(e, t.Limit())
	t.mu.Unlock()
}

// putLocked appends e to the ring, discarding the oldest event when it
// holds limit. t.mu must be held.
func (t *Trace) putLocked(e Event, limit int) {
	switch {
	case len(t.buf) < limit:
		if len(t.buf) == cap(t.buf) {
			t.grow(limit)
		}
		t.buf = append(t.buf, e)
	default:
		t.cutAt = t.buf[t.head].Time
		t.buf[t.head] = e
		t.head++
		if t.head == len(t.buf) {
			t.head = 0
		}
		t.overflow++
	}
}

// grow doubles the ring's capacity, to at most limit. The ring is not full,
// so head is 0 and the events are in order. t.mu must be held.
func (t *Trace) grow(limit int) {
	n := min(max(2*cap(t.buf), 64), limit)
	buf := make([]Event, len(t.buf), n)
	copy(buf, t.buf)
	t.buf = buf
}

// Note adds a KindNote event on link whose Note is fmt.Sprintf(format,
// args...). Use it to mark what a test or a nemesis did, such as "partition
// {a} {b}", among the network's own events. Note on a nil trace does
// nothing and does not format.
func (t *Trace) Note(link, format string, args ...any) {
	if t == nil {
		return
	}
	t.add(Event{Kind: KindNote, Link: link, Note: fmt.Sprintf(format, args...)})
}

// Events returns a copy of the kept events, oldest first, in the
// canonical order (see Order in Trace), or nil for a nil trace.
func (t *Trace) Events() []Event {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eventsLocked()
}

// Overflow returns the number of events discarded because the trace was
// full, including the kept events of an instant the limit cut in two
// (see Order in Trace). Zero for a nil trace.
func (t *Trace) Overflow() uint64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.overflow + uint64(t.partialLocked())
}

// partialLocked returns how many of the oldest kept events belong to an
// instant some of whose events were discarded. t.mu must be held.
func (t *Trace) partialLocked() int {
	if t.overflow == 0 {
		return 0
	}
	n := 0
	for n < len(t.buf) && t.buf[(t.head+n)%len(t.buf)].Time == t.cutAt {
		n++
	}
	return n
}

// Links returns the distinct link names among the kept events, sorted, or
// nil if there are none.
func (t *Trace) Links() []string {
	if t == nil {
		return nil
	}
	seen := make(map[string]struct{})
	t.mu.Lock()
	for i := t.partialLocked(); i < len(t.buf); i++ {
		seen[t.buf[(t.head+i)%len(t.buf)].Link] = struct{}{}
	}
	t.mu.Unlock()
	if len(seen) == 0 {
		return nil
	}
	links := make([]string, 0, len(seen))
	for l := range seen {
		links = append(links, l)
	}
	slices.Sort(links)
	return links
}

// Tail returns the last n kept events of link, oldest first, in the
// canonical order (see Order in Trace); link "" means every link. It
// returns fewer if fewer are kept, and nil if n <= 0 or t is nil. Use it
// to show the end of one connection's story in a failure report.
func (t *Trace) Tail(link string, n int) []Event {
	if t == nil || n <= 0 {
		return nil
	}
	t.mu.Lock()
	var out []Event
	// Walk from the newest event back to the oldest, and on to the end of
	// the instant of the oldest one taken, so that the canonical order
	// decides which events of that instant are the last n.
	for i := len(t.buf) - 1; i >= t.partialLocked(); i-- {
		e := &t.buf[(t.head+i)%len(t.buf)]
		if len(out) >= n && e.Time != out[len(out)-1].Time {
			break
		}
		if link == "" || e.Link == link {
			out = append(out, *e)
		}
	}
	t.mu.Unlock()
	slices.Reverse(out)
	canonicalize(out)
	return out[max(len(out)-n, 0):]
}

// snapshot returns the kept events, oldest first, with the overflow count
// and the limit, all read under one lock.
func (t *Trace) snapshot() (events []Event, overflow uint64, limit int) {
	if t == nil {
		return nil, 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eventsLocked(), t.overflow + uint64(t.partialLocked()), t.Limit()
}

// eventsLocked returns a copy of the kept events, oldest first, in the
// canonical order, without an instant the limit cut in two. t.mu must be
// held.
func (t *Trace) eventsLocked() []Event {
	out := make([]Event, 0, len(t.buf))
	out = append(out, t.buf[t.head:]...)
	out = append(out, t.buf[:t.head]...)
	out = out[t.partialLocked():]
	canonicalize(out)
	return out
}

// canonicalize puts events, in the order they were added (times never
// decrease), into the canonical order (see Order in Trace): each run of
// one instant is sorted, stably, by withinInstant.
func canonicalize(events []Event) {
	for i := 0; i < len(events); {
		j := i + 1
		for j < len(events) && events[j].Time == events[i].Time {
			j++
		}
		if j-i > 1 {
			slices.SortStableFunc(events[i:j], withinInstant)
		}
		i = j
	}
}

// withinInstant orders two events of one instant: by link, direction and
// sequence number; the events of one segment (same sequence number, not
// 0) stay in the order they happened, which the engine makes causal;
// connection-level events (sequence 0), which come from any goroutine,
// by kind, size and note.
func withinInstant(a, b Event) int {
	if c := strings.Compare(a.Link, b.Link); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Dir, b.Dir); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Seq, b.Seq); c != 0 || a.Seq != 0 {
		return c
	}
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Size, b.Size); c != 0 {
		return c
	}
	return strings.Compare(a.Note, b.Note)
}

// WriteText writes the trace for people: a header line
//
//	# headwind trace: N events (M earlier events discarded, limit L)
//
// then one line per kept event, oldest first in the canonical order (see
// Order in Trace), as formatted by Event.String. It copies the events first and does not hold the trace's
// lock while writing, so a slow w does not stall the network. It returns
// the first error from w. A nil trace writes a header with no events.
func (t *Trace) WriteText(w io.Writer) error {
	events, overflow, limit := t.snapshot()
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# headwind trace: %d events (%d earlier events discarded, limit %d)\n",
		len(events), overflow, limit)
	for _, e := range events {
		bw.WriteString(e.String())
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// jsonEvent is the JSON form of an Event, one per line in WriteJSON.
type jsonEvent struct {
	TimeNS int64  `json:"time_ns"`
	Time   string `json:"time"`
	Link   string `json:"link"`
	Dir    string `json:"dir"`
	Seq    uint64 `json:"seq"`
	Kind   string `json:"kind"`
	Size   int    `json:"size"`
	Note   string `json:"note,omitempty"`
}

// jsonDiscarded is the first line of WriteJSON when events were discarded.
type jsonDiscarded struct {
	Discarded uint64 `json:"discarded"`
	Limit     int    `json:"limit"`
}

// WriteJSON writes the trace for programs as JSON lines, one object per
// kept event, oldest first in the canonical order (see Order in Trace):
//
//	{"time_ns":1250000000,"time":"1.25s","link":"a:49152->b:80#1","dir":"out","seq":12,"kind":"deliver","size":512}
//
// with a "note" member when the event has a Note. If events were
// discarded, the first line is {"discarded":M,"limit":L} instead of an
// event. Like WriteText, it does not hold the trace's lock while writing,
// and returns the first error from w. A nil trace writes nothing.
func (t *Trace) WriteJSON(w io.Writer) error {
	events, overflow, limit := t.snapshot()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // keep "->" in link names readable
	if overflow > 0 {
		if err := enc.Encode(jsonDiscarded{Discarded: overflow, Limit: limit}); err != nil {
			return err
		}
	}
	for _, e := range events {
		err := enc.Encode(jsonEvent{
			TimeNS: int64(e.Time),
			Time:   e.Time.String(),
			Link:   e.Link,
			Dir:    e.Dir.String(),
			Seq:    e.Seq,
			Kind:   e.Kind.String(),
			Size:   e.Size,
			Note:   e.Note,
		})
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}
