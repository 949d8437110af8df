package link

import (
	"cmp"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Kind is faultconn.Kind: what happened to a segment or a connection. The
// values are the same as faultconn's.
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
)

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
	Key    string // with Seed and Dir, keys the random stream; empty means Name
	Dir    uint8
	Seed   uint64
	Mode   Mode
	Packet bool // datagrams: never cut, never merged, dropped when the window is full
	Window int  // bytes in flight plus unread; 0 means DefaultWindow

	Trace     func(Event)             // called with the link's lock held; nil means no trace
	Blocked   func(at time.Time) bool // a partition: checked for each arrival, with its instant; nil means never
	OnTimeout func()                  // retransmissions gave up; called without the lock
	OnReset   func(error)             // a reset reached the reader; called without the lock
	OnRefused func()                  // data reached a closed reader (a TCP stack answers with a reset); called without the lock
	// OnInjectedReset runs, without the lock, when a write drew a reset:
	// the reset is on its way to the peer, and the front end resets its
	// own end (its reads) with err.
	OnInjectedReset func(err error)
	// Script, when not nil, decides every segment's cut and fate instead
	// of the random stream (fuzzing chooses them).
	Script Script
	// Sink, when not nil, receives each delivered datagram instead of the
	// reader's queue (netsim's sockets merge many flows into one queue). It
	// is called with the lock held and must copy b.
	Sink func(b []byte, addr net.Addr)
}

type segKind uint8

const (
	segData segKind = iota
	segFin
	segRst
)

// segment is one unit of transmission; while queued it is owned by the link.
type segment struct {
	kind    segKind
	seq     uint64
	buf     *[]byte // pooled; the data is (*buf)[off:]
	off     int
	addr    net.Addr
	err     error         // segRst: what the reader sees
	at      time.Time     // next event: arrival of the current transmission, or give-up
	sent    time.Time     // when the current transmission left
	delay   time.Duration // propagation delay of every transmission
	rto     time.Duration // current retransmission timeout
	attempt int           // transmission number, from 0
	fail    uint16        // Stream: bit k set = transmission k is lost
	corrupt uint16        // Stream: bit k set = transmission k is corrupted
	arrived bool          // Stream: arrived, waiting for head-of-line
	resend  bool          // Stream: at is a retransmission (or give-up) instant
	order   uint64        // tie-break for equal arrival instants
	hidx    int
	reserve int // window bytes held
}

func (s *segment) data() []byte { return (*s.buf)[s.off:] }

// Link is one direction of one connection: a writer, a reader and the
// segments between them. Safe for concurrent use.
type Link struct {
	cfg    Config
	window int
	wsem   chan struct{} // cap 1: one writer at a time
	rwake  chan struct{} // cap 1: reader state may have changed
	wwake  chan struct{} // cap 1: window room may have grown, or writer state changed
	rdl    Deadline
	wdl    Deadline

	mu      sync.Mutex // guards everything below
	p       Profile
	rng     stream
	seq     uint64
	order   uint64
	used    int       // window bytes held by queued and unread segments
	busy    time.Time // bandwidth: the link is serializing until busy
	carry   int64     // bandwidth: remainder of bytes·1e9 not yet a whole ns
	lastAt  time.Time // latest arrival queued (FIN and RST come after it)
	fifo    []*segment
	pend    []*segment // min-heap by (at, order)
	ready   []*segment // delivered; ready[rhead:] unread
	rhead   int
	timer   *time.Timer
	armed   time.Time // when the timer fires; zero when it is not armed
	werr    error     // writes fail with werr
	rerr    error     // reads fail with rerr once the ready data is read
	rclosed error     // reads fail with rclosed at once
	finSent bool
	finRead bool // the reader has seen end of stream
	stats   Stats
	due     callbacks // hooks to run at unlock
}

// New returns a link with profile p.
func New(cfg Config, p Profile) *Link {
	l := &Link{
		cfg:    cfg,
		window: cfg.Window,
		wsem:   make(chan struct{}, 1),
		rwake:  make(chan struct{}, 1),
		wwake:  make(chan struct{}, 1),
		p:      p,
		rng:    newStream(cfg.Seed, cmp.Or(cfg.Key, cfg.Name), cfg.Dir),
	}
	if l.window <= 0 {
		l.window = DefaultWindow
	}
	if cfg.Packet {
		l.cfg.Mode = Segments
	}
	return l
}

// Name returns the link's name.
func (l *Link) Name() string { return l.cfg.Name }

// SetProfile changes the faults; they apply from the next segment written.
func (l *Link) SetProfile(p Profile) {
	l.lock()
	l.p = p
	l.unlock()
}

// Profile returns the current faults.
func (l *Link) Profile() Profile {
	l.lock()
	defer l.unlock()
	return l.p
}

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	l.lock()
	defer l.unlock()
	return l.stats
}

// Queued returns the window bytes held (in flight plus unread) and the
// number of segments in flight.
func (l *Link) Queued() (bytes, segments int) {
	l.lock()
	defer l.unlock()
	return l.used, len(l.pend) + len(l.fifo) - l.arrivedInFIFO()
}

func (l *Link) arrivedInFIFO() int {
	n := 0
	for _, s := range l.fifo {
		if s.arrived {
			n++
		}
	}
	return n
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
	l.cfg.Trace(Event{Link: l.cfg.Name, Dir: l.cfg.Dir, Seq: seq, Kind: k, Size: size})
}

// fate is what the random stream decided for one segment.
type fate struct {
	reset, lost, dup, reorder, corrupt bool
	fail, corruptMask                  uint16 // Stream: per transmission
	delay                              time.Duration
	bit                                int
}

// draw decides a segment's fate. The number of draws depends only on the
// profile and the size, never on timing.
func (l *Link) draw(p *Profile, size int) fate {
	r := &l.rng
	var f fate
	f.reset = !l.cfg.Packet && r.chance(p.Reset)
	f.dup = r.chance(p.Duplicate)
	f.reorder = r.chance(p.Reorder)
	f.delay = r.delay(p)
	if l.cfg.Mode == Segments {
		f.lost = r.lost(p)
		f.corrupt = r.chance(p.Corrupt)
		if f.corrupt && size > 0 {
			f.bit = r.IntN(size * 8)
		}
		return f
	}
	for k := 0; k <= MaxRetries; k++ {
		lost, bad := r.lost(p), r.chance(p.Corrupt)
		if !lost && !bad {
			break
		}
		f.fail |= 1 << k
		if bad && !lost {
			f.corruptMask |= 1 << k
		}
	}
	return f
}

// Scripted is one segment's cut and fate, chosen by a Script.
type Scripted struct {
	Size      int  // bytes in the segment, 1..the most offered
	Lose      bool // Segments mode: a hole; Stream mode: one retransmission
	Duplicate bool
	Reorder   bool
	Bit       int // the bit to flip, counted from the segment's first byte; -1 for none
}

// Script chooses segments' cuts and fates. Next is called once per
// segment with the most bytes the segment may hold.
type Script interface {
	Next(max int) Scripted
}

// scripted turns a Scripted into the fate of a segment of size bytes.
func (l *Link) scripted(p *Profile, sf Scripted, size int) fate {
	f := fate{dup: sf.Duplicate, reorder: sf.Reorder, delay: p.Latency}
	if l.cfg.Mode == Segments {
		f.lost = sf.Lose
		if sf.Bit >= 0 && size > 0 {
			f.corrupt, f.bit = true, sf.Bit%(size*8)
		}
		return f
	}
	if sf.Lose {
		f.fail = 1
	} else if sf.Bit >= 0 {
		f.fail, f.corruptMask = 1, 1
	}
	return f
}

// IntN is a uniform int in [0,n).
func (s *stream) IntN(n int) int { return s.r.IntN(n) }

// acquire takes the writer semaphore, or fails at the write deadline.
func (l *Link) acquire() error {
	select {
	case l.wsem <- struct{}{}:
		return nil
	default:
	}
	select {
	case l.wsem <- struct{}{}:
		return nil
	case <-l.wdl.Wait():
		return os.ErrDeadlineExceeded
	}
}

func (l *Link) release() { <-l.wsem }

// Write queues b as segments and returns once they are all queued, like a
// kernel send buffer. It blocks while the window is full, until room,
// the write deadline, or an error of the writer side.
func (l *Link) Write(b []byte) (int, error) {
	if err := l.acquire(); err != nil {
		return 0, err
	}
	defer l.release()
	l.lock()
	defer l.unlock()
	if l.werr != nil {
		return 0, l.werr
	}
	if l.wdl.Passed() {
		return 0, os.ErrDeadlineExceeded
	}
	n := 0
	for n < len(b) {
		p := l.p
		size := len(b) - n
		maxSeg := l.window
		if p.Segment > 0 {
			maxSeg = min(p.Segment, l.window)
		}
		size = min(size, maxSeg)
		var f fate
		if sc := l.cfg.Script; sc != nil {
			sf := sc.Next(size)
			size = min(max(sf.Size, 1), size)
			f = l.scripted(&p, sf, size)
		} else {
			f = l.draw(&p, size)
		}
		need := l.reserve(&f, size)
		for l.used+need > l.window {
			if err := l.waitRoom(); err != nil {
				return n, err
			}
		}
		if f.reset {
			// The connection is reset instead of this segment being sent.
			// Like a kernel that took the bytes before the reset, the write
			// reports success; the rest of it is never sent, later writes
			// fail, and both ends see the reset, this one at once (through
			// OnInjectedReset, not this call's result: a write and a read
			// racing to report one reset would make replays differ).
			l.resetLocked(Injected(syscall.ECONNRESET))
			l.due.injected = l.werr
			return len(b), nil
		}
		l.send(&p, &f, b[n:n+size], nil)
		n += size
	}
	return n, nil
}

// reserve returns the window bytes a segment of size with fate f needs. In
// Segments mode a delivered duplicate needs room too; a duplicate that could
// never fit is dropped, as a full receive buffer drops it, and a lost
// segment has no copy.
func (l *Link) reserve(f *fate, size int) int {
	if l.cfg.Packet {
		size += DatagramOverhead
	}
	if l.cfg.Mode == Stream || !f.dup || f.lost {
		return size
	}
	if 2*size > l.window {
		f.dup = false
		return size
	}
	return 2 * size
}

// DatagramOverhead is what each datagram costs in a window or a receive
// queue besides its payload, as a kernel charges each packet's buffer: so
// that empty datagrams cannot pile up without limit.
const DatagramOverhead = 256

// waitRoom waits, with the lock held on entry and exit, until the window may
// have room, the writer side fails, or the deadline passes.
func (l *Link) waitRoom() error {
	if l.werr != nil {
		return l.werr
	}
	if l.wdl.Passed() {
		return os.ErrDeadlineExceeded
	}
	l.unlock()
	select {
	case <-l.wwake:
	case <-l.wdl.Wait():
	}
	l.lock()
	if l.werr != nil {
		return l.werr
	}
	return nil
}

// WriteTo queues one datagram for addr. It never blocks: a datagram that
// would take the link over its window is dropped, as a full socket buffer
// drops it.
func (l *Link) WriteTo(b []byte, addr net.Addr) (int, error) {
	l.lock()
	defer l.unlock()
	if l.werr != nil {
		return 0, l.werr
	}
	if l.wdl.Passed() {
		return 0, os.ErrDeadlineExceeded
	}
	p := l.p
	f := l.draw(&p, len(b))
	need := l.reserve(&f, len(b))
	if l.used+need > l.window || l.rclosed != nil {
		l.seq++
		l.stats.Dropped++
		l.trace(&segment{seq: l.seq}, KindDrop)
		return len(b), nil
	}
	l.send(&p, &f, b, addr)
	return len(b), nil
}

// send queues one segment whose fate is f. Lock held.
func (l *Link) send(p *Profile, f *fate, b []byte, addr net.Addr) {
	now := time.Now()
	l.seq++
	l.stats.Segments++
	l.stats.Bytes += uint64(len(b))
	s := newSegment()
	s.kind = segData
	s.seq = l.seq
	s.buf = getBuf(len(b))
	copy(*s.buf, b)
	s.addr = addr
	l.trace(s, KindSend)

	// Serialization: the segment leaves when the link is free and it has
	// been clocked out at the profile's bandwidth.
	start := now
	if l.busy.After(start) {
		start = l.busy
	}
	if p.Bandwidth > 0 {
		x := int64(len(b))*int64(time.Second) + l.carry
		start = start.Add(time.Duration(x / p.Bandwidth))
		l.carry = x % p.Bandwidth
		l.busy = start
	}
	s.sent = start
	s.delay = f.delay
	if f.reorder {
		s.delay += ReorderHold(*p)
		l.stats.Reordered++
		l.trace(s, KindReorder)
	}
	s.at = s.sent.Add(s.delay)
	s.rto = RTO(*p)
	s.reserve = len(b)
	if l.cfg.Packet {
		s.reserve += DatagramOverhead
	}

	if l.cfg.Mode == Stream {
		s.fail, s.corrupt = f.fail, f.corruptMask
		if f.dup {
			l.stats.Duplicated++
			l.trace(s, KindDuplicate) // the receiver discards the copy
		}
		if l.rerr != nil {
			l.stats.Dropped++
			freeSegment(s)
			return
		}
		l.used += s.reserve
		l.fifo = append(l.fifo, s)
		if s.fail == 0 && !s.at.After(now) && len(l.fifo) == 1 && l.rclosed == nil && (l.cfg.Blocked == nil || !l.cfg.Blocked(now)) {
			s.arrived = true
			l.drainFIFO()
			return
		}
		l.push(s)
		l.arm()
		return
	}

	if f.lost {
		l.stats.Lost++
		l.trace(s, KindLose) // its duplicate, if any, is lost with it
		freeSegment(s)
		return
	}
	if f.corrupt && len(b) > 0 {
		(*s.buf)[f.bit/8] ^= 1 << (f.bit % 8)
		l.stats.Corrupted++
		l.trace(s, KindCorrupt)
	}
	l.lastAt = maxTime(l.lastAt, s.at)
	l.used += s.reserve
	l.push(s)
	if f.dup {
		d := newSegment()
		*d = *s
		d.buf = getBuf(len(b))
		copy(*d.buf, *s.buf)
		d.hidx = 0
		l.used += d.reserve
		l.stats.Duplicated++
		l.trace(s, KindDuplicate)
		l.push(d)
	}
	l.arm()
}

// CloseWrite sends end-of-stream after everything written so far; later
// writes fail with EPIPE. It never blocks.
func (l *Link) CloseWrite() {
	l.lock()
	defer l.unlock()
	if l.finSent || l.werr != nil {
		return
	}
	l.finSent = true
	l.werr = syscall.EPIPE
	l.control(segFin, nil)
	signal(l.wwake)
}

// Reset sends a reset after everything written so far (the reader sees
// err once it has read what arrived before it); writes fail with err.
func (l *Link) Reset(err error) {
	l.lock()
	defer l.unlock()
	l.resetLocked(err)
}

func (l *Link) resetLocked(err error) {
	l.werr = err
	l.stats.Resets++
	l.control(segRst, err)
	signal(l.wwake)
}

// control queues a FIN or RST behind every queued segment. Lock held.
func (l *Link) control(k segKind, err error) {
	now := time.Now()
	l.seq++
	s := newSegment()
	s.kind, s.seq, s.err = k, l.seq, err
	s.sent = maxTime(now, l.busy)
	s.at = s.sent.Add(l.p.Latency)
	if k == segRst {
		l.trace(s, KindReset)
	}
	if l.rerr != nil || l.rclosed != nil {
		freeSegment(s)
		return
	}
	// Control segments always go through the timer, so that OnReset runs
	// without the lock.
	if l.cfg.Mode == Stream {
		l.fifo = append(l.fifo, s)
	} else {
		s.at = maxTime(s.at, l.lastAt)
	}
	l.push(s)
	l.arm()
}

// AbortWriter makes writes fail with err from now on.
func (l *Link) AbortWriter(err error) {
	l.lock()
	if l.werr == nil || l.werr == syscall.EPIPE {
		l.werr = err
	}
	l.unlock()
	signal(l.wwake)
}

// AbortReader makes reads fail with err once the data that has arrived is
// read; nothing more arrives.
func (l *Link) AbortReader(err error) {
	l.lock()
	if l.rerr == nil {
		l.rerr = err
	}
	l.discardPending()
	l.unlock()
	signal(l.rwake)
	signal(l.wwake)
}

// CloseRead closes the reader side: reads fail with err at once, unread and
// arriving data is discarded. It returns how many unread bytes were
// discarded (a TCP stack answers those with a reset).
func (l *Link) CloseRead(err error) int {
	l.lock()
	if l.rclosed != nil {
		l.unlock()
		return 0
	}
	l.rclosed = err
	unread := 0
	for _, s := range l.ready[l.rhead:] {
		if s.kind == segData {
			unread += len(s.data())
		}
		l.used -= s.reserve
		freeSegment(s)
	}
	clear(l.ready)
	l.ready, l.rhead = l.ready[:0], 0
	l.discardPending()
	l.unlock()
	signal(l.rwake)
	signal(l.wwake)
	return unread
}

// Shutdown fails both sides at once with err and frees everything queued:
// what Network.Close does to every link.
func (l *Link) Shutdown(err error) {
	l.AbortWriter(err) // first: a writer woken by the room CloseRead frees must see it
	l.CloseRead(err)
}

// discardPending frees every segment not yet delivered. Lock held.
func (l *Link) discardPending() {
	for _, s := range l.pend {
		if l.cfg.Mode == Stream {
			continue // also in fifo
		}
		l.used -= s.reserve
		freeSegment(s)
	}
	for _, s := range l.fifo {
		l.used -= s.reserve
		freeSegment(s)
	}
	clear(l.pend)
	clear(l.fifo)
	l.pend, l.fifo = l.pend[:0], l.fifo[:0]
	if l.timer != nil {
		l.timer.Stop()
		l.armed = time.Time{}
	}
}

// Read reads the data of at most one segment. It blocks until data, end of
// stream, an error, or the read deadline.
func (l *Link) Read(b []byte) (int, error) {
	n, _, err := l.read(b, false)
	return n, err
}

// ReadFrom reads one datagram and its source; a datagram longer than b is
// truncated, the rest discarded.
func (l *Link) ReadFrom(b []byte) (int, net.Addr, error) {
	return l.read(b, true)
}

func (l *Link) read(b []byte, packet bool) (int, net.Addr, error) {
	l.lock()
	defer l.unlock()
	for {
		if l.rclosed != nil {
			signal(l.rwake)
			return 0, nil, l.rclosed
		}
		if l.rdl.Passed() {
			// As with sockets, a passed deadline fails the read even
			// when data is waiting.
			return 0, nil, os.ErrDeadlineExceeded
		}
		if l.rhead < len(l.ready) {
			s := l.ready[l.rhead]
			switch s.kind {
			case segFin:
				l.finRead = true
				signal(l.rwake)
				return 0, nil, io.EOF
			case segRst:
				signal(l.rwake)
				return 0, nil, s.err
			}
			if len(b) == 0 && !packet {
				return 0, nil, nil
			}
			n := copy(b, s.data())
			addr := s.addr
			s.off += n
			if packet {
				s.off = len(*s.buf)
			}
			l.used -= s.reserve - (len(*s.buf) - s.off)
			s.reserve = len(*s.buf) - s.off
			if s.reserve == 0 {
				l.ready[l.rhead] = nil
				l.rhead++
				freeSegment(s)
				if l.rhead == len(l.ready) {
					l.ready, l.rhead = l.ready[:0], 0
				}
			}
			signal(l.wwake)
			if l.rhead < len(l.ready) {
				signal(l.rwake)
			}
			return n, addr, nil
		}
		if l.rerr != nil {
			signal(l.rwake)
			return 0, nil, l.rerr
		}
		if len(b) == 0 && !packet {
			return 0, nil, nil
		}
		l.unlock()
		select {
		case <-l.rwake:
		case <-l.rdl.Wait():
		}
		l.lock()
	}
}

// heap of pending segments by (at, order).

func (l *Link) less(i, j int) bool {
	a, b := l.pend[i], l.pend[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.order < b.order
}

func (l *Link) swap(i, j int) {
	l.pend[i], l.pend[j] = l.pend[j], l.pend[i]
	l.pend[i].hidx, l.pend[j].hidx = i, j
}

func (l *Link) push(s *segment) {
	l.order++
	s.order = l.order
	s.hidx = len(l.pend)
	l.pend = append(l.pend, s)
	for i := s.hidx; i > 0; {
		parent := (i - 1) / 2
		if !l.less(i, parent) {
			break
		}
		l.swap(i, parent)
		i = parent
	}
}

func (l *Link) pop() *segment {
	n := len(l.pend) - 1
	l.swap(0, n)
	s := l.pend[n]
	l.pend[n] = nil
	l.pend = l.pend[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && l.less(c+1, c) {
			c++
		}
		if !l.less(c, i) {
			break
		}
		l.swap(i, c)
		i = c
	}
	return s
}

// arm sets the link's one timer for the earliest pending event. Lock held.
func (l *Link) arm() {
	if len(l.pend) == 0 {
		return
	}
	at := l.pend[0].at
	if !l.armed.IsZero() && !at.Before(l.armed) {
		return // the timer already fires no later than at
	}
	l.armed = at
	d := time.Until(at)
	if l.timer == nil {
		l.timer = time.AfterFunc(d, l.fire)
		return
	}
	l.timer.Reset(d)
}

// fire handles every event that is due and re-arms the timer.
func (l *Link) fire() {
	l.mu.Lock()
	l.armed = time.Time{} // this firing is the armed one; advance re-arms
	l.advance(&l.due)
	l.arm()
	l.unlock()
}

// lock takes the lock and brings the link up to the present: every event
// due by now is handled first, so that what a caller sees depends only on
// the clock, not on whether the timer's goroutine has run yet (an arrival
// due at the very instant a deadline passes is always seen first).
func (l *Link) lock() {
	l.mu.Lock()
	l.advance(&l.due)
}

// unlock releases the lock and runs the front end's hooks that came due.
func (l *Link) unlock() {
	cb := l.due
	l.due = callbacks{}
	l.mu.Unlock()
	if cb != (callbacks{}) {
		l.run(&cb)
	}
}

// callbacks are the front end's hooks that events made due; they run
// without the lock.
type callbacks struct {
	timedOut, refused bool
	reset             error
	injected          error
}

func (l *Link) run(cb *callbacks) {
	if cb.timedOut && l.cfg.OnTimeout != nil {
		l.cfg.OnTimeout()
	}
	if cb.reset != nil && l.cfg.OnReset != nil {
		l.cfg.OnReset(cb.reset)
	}
	if cb.refused && l.cfg.OnRefused != nil {
		l.cfg.OnRefused()
	}
	if cb.injected != nil && l.cfg.OnInjectedReset != nil {
		l.cfg.OnInjectedReset(cb.injected)
	}
	*cb = callbacks{}
}

// advance handles every event due by now and re-arms the timer. Lock held.
func (l *Link) advance(cb *callbacks) {
	if len(l.pend) == 0 {
		return
	}
	now := time.Now()
	if l.pend[0].at.After(now) {
		return
	}
	for len(l.pend) > 0 && !l.pend[0].at.After(now) {
		s := l.pop()
		err := s.err // s may be freed by arrive
		switch l.arrive(s) {
		case gaveUp:
			cb.timedOut = true
		case gotReset:
			cb.reset = err
		case refused:
			cb.refused = true
		}
	}
	if l.cfg.Mode == Stream {
		r, ref := l.drainFIFO()
		if r != nil {
			cb.reset = r
		}
		cb.refused = cb.refused || ref
	}
	l.arm()
}

type outcome uint8

const (
	pending outcome = iota
	delivered
	gaveUp
	gotReset
	refused
)

// arrive handles the arrival (or give-up instant) of s's current
// transmission. Lock held.
func (l *Link) arrive(s *segment) outcome {
	if l.cfg.Mode == Segments {
		if l.cfg.Blocked != nil && l.cfg.Blocked(s.at) {
			l.stats.Lost++
			l.trace(s, KindBlock)
			l.used -= s.reserve
			freeSegment(s)
			signal(l.wwake)
			return pending
		}
		return l.deliver(s)
	}
	if s.kind != segData {
		s.arrived = true
		return pending
	}
	if s.resend {
		s.resend = false
		if s.attempt > MaxRetries {
			l.trace(s, KindTimeout)
			l.werr = Injected(syscall.ETIMEDOUT)
			l.discardPending()
			signal(l.wwake)
			return gaveUp
		}
		l.stats.Retransmitted++
		l.trace(s, KindRetransmit)
		s.at = s.sent.Add(s.delay)
		l.push(s)
		return pending
	}
	bit := uint16(1) << s.attempt
	switch {
	case s.fail&bit != 0 && s.corrupt&bit != 0:
		l.stats.Corrupted++
		l.trace(s, KindCorrupt)
	case s.fail&bit != 0:
		l.stats.Lost++
		l.trace(s, KindLose)
	case l.cfg.Blocked != nil && l.cfg.Blocked(s.at):
		l.stats.Lost++
		l.trace(s, KindBlock)
	default:
		s.arrived = true
		return pending
	}
	s.attempt++
	s.sent = s.sent.Add(s.rto)
	s.rto = min(2*s.rto, MaxRTO)
	s.at = s.sent // the retransmission (or, after the last, the give-up)
	s.resend = true
	l.push(s)
	return pending
}

// drainFIFO delivers arrived segments from the head of the Stream queue.
// Lock held. It returns the error of a reset it delivered, and whether data
// reached a closed reader.
func (l *Link) drainFIFO() (reset error, refusedData bool) {
	i := 0
	for ; i < len(l.fifo) && l.fifo[i].arrived; i++ {
		s := l.fifo[i]
		err := s.err
		switch l.deliver(s) {
		case gotReset:
			reset = err
		case refused:
			refusedData = true
		}
	}
	if i > 0 {
		n := copy(l.fifo, l.fifo[i:])
		clear(l.fifo[n:])
		l.fifo = l.fifo[:n]
	}
	return reset, refusedData
}

// deliver moves s to the reader. Lock held.
func (l *Link) deliver(s *segment) outcome {
	if l.rerr != nil || l.rclosed != nil {
		out := pending
		if s.kind == segData && l.rclosed != nil {
			out = refused
		}
		l.used -= s.reserve
		freeSegment(s)
		return out
	}
	if l.cfg.Sink != nil && s.kind == segData {
		l.stats.Delivered++
		l.trace(s, KindDeliver)
		l.cfg.Sink(s.data(), s.addr)
		l.used -= s.reserve
		freeSegment(s)
		signal(l.wwake)
		return delivered
	}
	out := delivered
	switch s.kind {
	case segData:
		l.stats.Delivered++
		l.trace(s, KindDeliver)
	case segFin:
		l.trace(s, KindFin)
	case segRst:
		out = gotReset
	}
	l.ready = append(l.ready, s)
	signal(l.rwake)
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// WriteErr returns the error writes fail with, or nil.
func (l *Link) WriteErr() error {
	l.lock()
	defer l.unlock()
	return l.werr
}

// LastArrival returns the latest instant at which a queued segment is due
// to arrive (or give up), or the zero time when nothing is in flight.
func (l *Link) LastArrival() time.Time {
	l.lock()
	defer l.unlock()
	var last time.Time
	for _, s := range l.pend {
		last = maxTime(last, s.at)
	}
	return last
}

// FinReceived reports whether end of stream has reached the reader.
func (l *Link) FinReceived() bool {
	l.lock()
	defer l.unlock()
	for _, s := range l.ready[l.rhead:] {
		if s.kind == segFin {
			return true
		}
	}
	return l.finRead
}
