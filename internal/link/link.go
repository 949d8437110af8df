package link

import (
	"cmp"
	"net"
	"sync"
	"time"
)

// Kind is faultconn.Kind: what happened to a segment or a connection. The
// values are the same as faultconn's (faultconn checks it at compile time).
type Kind uint8

const (
	KindSend Kind = iota
	KindDeliver
	KindLose
	KindDuplicate
	KindReorder
	KindCorrupt
	KindRetransmit
	KindReset
	KindFin
	KindDrop
	KindTimeout
	KindBlock
	kindNote // the front end's notes
	KindHold
)

// TraceSink returns the function that records a link's events in a
// front end's trace (a *faultconn.Trace), or nil for a nil trace.
// faultconn sets it when it is initialized, so that the other front ends
// can feed a user's trace while users themselves can only add notes to
// it: engine events cannot be forged.
var TraceSink func(trace any) func(Event)

// Event is one trace record of a link; the front end stamps the time.
type Event struct {
	Link string
	Dir  uint8
	Seq  uint64
	Kind Kind
	Size int
}

// Stats counts what happened on a link. Its fields match faultconn.DirStats.
type Stats struct {
	Segments, Bytes, Delivered, Lost, Duplicated, Reordered, Corrupted,
	Retransmitted, Resets, Dropped uint64
}

// DefaultWindow is the window of a link whose Config.Window is zero.
const DefaultWindow = 256 << 10

// Config fixes what a link is. Callers validate it.
type Config struct {
	Name   string // link name, as traced
	Key    string // with Seed and Dir, keys the random streams; empty means Name
	Dir    uint8
	Seed   uint64
	Mode   Mode
	Packet bool // datagrams: never cut, never merged, dropped when the window is full
	Window int  // bytes in flight plus unread; 0 means DefaultWindow
	// Lazy, when not nil, keys the random streams and names the link
	// instead of Key and Name, from the first write (see Ordinals).
	Lazy *Lazy

	Trace   func(Event)             // called with the link's lock held; nil means no trace
	Blocked func(at time.Time) bool // a partition: checked for each arrival, with its instant; nil means never
	Held    func(at time.Time) bool // a pause: an arrival it holds waits for Unhold; nil means never
	// Script, when not nil, decides every segment's cut and fate instead
	// of the random streams (fuzzing chooses them).
	Script Script
	// Sink, when not nil, receives each delivered datagram instead of the
	// reader's queue (netsim's sockets merge many flows into one queue). It
	// is called with the lock held and must copy b.
	Sink func(b []byte, addr net.Addr)
}

// Link is one direction of one connection: a writer, a reader and the
// segments between them. Safe for concurrent use.
//
// # Locking
//
// mu guards the simulation state. It is never held while blocking and
// never held while the connection rules (End) run, because those take the
// other direction's lock: the lock order is "at most one Link.mu at a
// time", and Deadline.mu is a leaf taken under it.
//
// Every method that observes or changes the state does three explicit
// steps: take mu and catch the link up with the clock (catchUp: every
// event due by now is handled, so what a caller sees depends only on the
// virtual instant, not on whether the timer's goroutine has run yet); do
// its work; release mu and apply the connection rules that the events
// made due (hooks.run).
type Link struct {
	cfg    Config
	window int
	mode   mode          // Stream or Segments rules, chosen once in New
	wsem   chan struct{} // cap 1: one writer at a time
	rwake  chan struct{} // cap 1: reader state may have changed
	wwake  chan struct{} // cap 1: window room may have grown, or writer state changed
	rdl    Deadline
	wdl    Deadline
	writer *End // the end that writes this link; nil for datagram links
	reader *End // the end that reads it

	mu      sync.Mutex // guards everything below
	p       Profile
	rng     streams
	keyed   bool // rng is seeded (lazily keyed links wait for their first write)
	seq     uint64
	order   uint64
	used    int       // window bytes held by queued and unread segments
	busy    time.Time // bandwidth: the link is serializing until busy
	carry   int64     // bandwidth: remainder of bytes·1e9 not yet a whole ns
	lastAt  time.Time // latest arrival queued (FIN and RST come after it)
	fifo    []*segment
	pend    []*segment // min-heap by (at, order)
	held    []*segment // arrivals a pause holds, in arrival order (Stream: also in fifo)
	ready   []*segment // delivered; ready[rhead:] unread
	rhead   int
	timer   *time.Timer
	fired   *timerRef // what timer calls; cut loose when the link is done
	armed   time.Time // when the timer fires; zero when it is not armed
	werr    error     // writes fail with werr
	rerr    error     // reads fail with rerr once the ready data is read
	idleErr error     // reads fail with idleErr once nothing is in flight or unread; see AbortReaderWhenIdle
	rclosed error     // reads fail with rclosed at once
	finSent bool
	finRead bool // the reader has seen end of stream
	stats   Stats
	due     hooks // rules made due by events handled under mu; taken by release
}

// New returns a link with profile p and no ends: its events apply no
// connection rules (datagram links, and tests of one direction).
func New(cfg Config, p Profile) *Link {
	l := &Link{
		cfg:    cfg,
		window: cfg.Window,
		wsem:   make(chan struct{}, 1),
		rwake:  make(chan struct{}, 1),
		wwake:  make(chan struct{}, 1),
		p:      p,
	}
	if l.window <= 0 {
		l.window = DefaultWindow
	}
	if cfg.Packet {
		l.cfg.Mode = Segments
	}
	l.mode = modeRules[l.cfg.Mode]
	if cfg.Lazy == nil {
		l.rng = newStreams(cfg.Seed, cmp.Or(cfg.Key, cfg.Name), cfg.Dir)
		l.keyed = true
	}
	return l
}

// keyFrom seeds a lazily keyed link's streams, if they are not yet, from
// b, a write about to draw. Requires l.mu held.
func (l *Link) keyFrom(b []byte) {
	if !l.keyed {
		l.rng = newStreams(l.cfg.Seed, l.cfg.Lazy.key(b), l.cfg.Dir)
		l.keyed = true
	}
}

// acquire takes mu and catches the link up with the clock.
func (l *Link) acquire() {
	l.mu.Lock()
	l.catchUp()
}

// release releases mu and then applies the connection rules that the
// events handled under it made due.
func (l *Link) release() {
	h := l.due
	l.due = hooks{}
	l.mu.Unlock()
	h.run(l)
}

// Dir returns the link's direction, as configured.
func (l *Link) Dir() uint8 { return l.cfg.Dir }

// Name returns the link's name.
func (l *Link) Name() string {
	if l.cfg.Lazy != nil {
		return l.cfg.Lazy.Name()
	}
	return l.cfg.Name
}

// SetProfile changes the faults; they apply from the next transmission
// (a retransmission draws its fate under the profile in force when it is
// sent).
func (l *Link) SetProfile(p Profile) {
	l.acquire()
	l.p = p
	l.release()
}

// Profile returns the current faults.
func (l *Link) Profile() Profile {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p
}

// Stats returns the link's counters as of now.
func (l *Link) Stats() Stats {
	l.acquire()
	s := l.stats
	l.release()
	return s
}

// Queued returns the window bytes held (in flight plus unread) and the
// number of segments in flight.
func (l *Link) Queued() (bytes, segments int) {
	l.acquire()
	bytes, segments = l.used, l.inFlight()
	l.release()
	return bytes, segments
}

// WriteErr returns the error writes fail with, or nil.
func (l *Link) WriteErr() error {
	l.acquire()
	err := l.werr
	l.release()
	return err
}

// Idle reports whether nothing is in flight: every segment written has
// arrived, been lost for good, or been discarded.
func (l *Link) Idle() bool {
	l.acquire()
	idle := l.inFlight() == 0
	l.release()
	return idle
}

// FinReceived reports whether end of stream has reached the reader.
func (l *Link) FinReceived() bool {
	l.acquire()
	defer l.release()
	return l.finReceivedLocked()
}

func (l *Link) finReceivedLocked() bool {
	for _, s := range l.ready[l.rhead:] {
		if s.kind == segFin {
			return true
		}
	}
	return l.finRead
}

// SetReadDeadline and SetWriteDeadline arm the per-direction deadlines.
func (l *Link) SetReadDeadline(t time.Time)  { l.rdl.Set(t) }
func (l *Link) SetWriteDeadline(t time.Time) { l.wdl.Set(t) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (l *Link) trace(s *segment, k Kind) {
	if l.cfg.Trace == nil {
		return
	}
	var seq uint64
	size := 0
	if s != nil {
		seq = s.seq
		if s.buf != nil {
			size = len(*s.buf)
		}
	}
	l.cfg.Trace(Event{Link: l.Name(), Dir: l.cfg.Dir, Seq: seq, Kind: k, Size: size})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// LastArrival returns the latest instant at which a queued segment is due
// to arrive (or be retransmitted), or the zero time when nothing is in
// flight.
func (l *Link) LastArrival() time.Time {
	l.acquire()
	defer l.release()
	var last time.Time
	for _, s := range l.pend {
		last = maxTime(last, s.at)
	}
	return last
}
