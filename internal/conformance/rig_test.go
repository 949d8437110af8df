package conformance

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// The front ends.
const (
	fePipe   = "faultconn/pipe"
	feTCP    = "faultconn/tcp"
	feNetsim = "netsim"
)

// linkRef names one link in the trace.
type linkRef struct {
	name string
	dir  faultconn.Dir
}

// rig is one connection through one front end: ends a and b, and what
// the actions do to it.
type rig struct {
	fe     string
	mode   faultconn.Mode
	window int // the effective window
	bubble bool
	tr     *faultconn.Trace
	a, b   *side

	// out[i] is the link side i writes; in[i], when set, the engine link
	// side i reads through (faultconn in Segments mode).
	out [2]linkRef
	in  [2]*linkRef
	// rename, when set, returns the links' current name: netsim names a
	// connection written at the instant it was dialed by its first write.
	rename func() string

	partition  func()
	heal       func()
	setProfile func(faultconn.Profile) error
	reset      func(s *side) bool // reports whether a reset was made
	held       func() (ab, ba int, ok bool)
	finish     func() []<-chan struct{} // closes everything; closed when it has ended
}

// inCut is the In profile of faultconn ends in Segments mode: it only cuts
// at 64 KiB (the In pump's reads are no larger), so it changes nothing but
// puts the In direction through the engine from the start, where its
// partition holes show in the trace.
var inCut = faultconn.Profile{Segment: 64 << 10}

// newFaultconnRig wraps both ends of a raw pair.
func newFaultconnRig(rt *rapid.T, fe string, raw1, raw2 net.Conn, seed uint64, mode faultconn.Mode, window int, p faultconn.Profile, tr *faultconn.Trace) *rig {
	in := faultconn.Profile{}
	if mode == faultconn.Segments {
		in = inCut
		if p.IsZero() {
			p = inCut // the Out direction through the engine too, traced
		}
	}
	// Over TCP, Linger is short: when both ends close with the readers
	// behind and both kernels' buffers full, each Out pump waits for the
	// other's peer to read until Linger passes (close(2) would reset at
	// once, having unread data; faultconn cannot see the kernel's).
	linger := time.Duration(0)
	if fe == feTCP {
		linger = 3 * time.Second
	}
	wrap := func(raw net.Conn, name string) *faultconn.Conn {
		c, err := faultconn.Wrap(raw, faultconn.Config{Seed: seed, Name: name, Out: p, In: in, Mode: mode, Window: window, Trace: tr, Linger: linger})
		if err != nil {
			rt.Fatalf("Wrap %s: %v", name, err)
		}
		return c
	}
	ca, cb := wrap(raw1, "a"), wrap(raw2, "b")
	r := &rig{fe: fe, mode: mode, window: effWindow(window), tr: tr}
	r.a, r.b = newSide("a", ca), newSide("b", cb)
	r.out = [2]linkRef{{"a", faultconn.Out}, {"b", faultconn.Out}}
	if mode == faultconn.Segments {
		r.in = [2]*linkRef{{"a", faultconn.In}, {"b", faultconn.In}}
	}
	r.partition = ca.Partition
	r.heal = ca.Heal
	r.setProfile = func(p faultconn.Profile) error {
		if err := ca.SetProfiles(p, in); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		if err := cb.SetProfiles(p, in); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
	r.reset = func(s *side) bool {
		s.c.(*faultconn.Conn).Reset()
		return true
	}
	r.finish = func() []<-chan struct{} {
		ca.Close()
		cb.Close()
		return []<-chan struct{}{ca.Done(), cb.Done()}
	}
	return r
}

// newPipeRig is faultconn over net.Pipe, in a bubble.
func newPipeRig(rt *rapid.T, seed uint64, mode faultconn.Mode, window int, p faultconn.Profile, tr *faultconn.Trace) *rig {
	p1, p2 := net.Pipe()
	r := newFaultconnRig(rt, fePipe, p1, p2, seed, mode, window, p, tr)
	r.bubble = true
	return r
}

// newTCPRig is faultconn over loopback TCP, in real time.
func newTCPRig(rt *rapid.T, seed uint64, mode faultconn.Mode, window int, p faultconn.Profile, tr *faultconn.Trace) *rig {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		rt.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		rt.Fatalf("dial: %v", err)
	}
	c2 := <-accepted
	if c2 == nil {
		rt.Fatalf("accept failed")
	}
	return newFaultconnRig(rt, feTCP, c1, c2, seed, mode, window, p, tr)
}

var heldRE = regexp.MustCompile(`out: (\d+)B held, \d+ in flight; in: (\d+)B held`)

// newNetsimRig is a netsim connection from host a to host b, in a bubble.
func newNetsimRig(rt *rapid.T, seed uint64, mode faultconn.Mode, window int, p faultconn.Profile, tr *faultconn.Trace) *rig {
	n, err := netsim.New(netsim.Config{Seed: seed, Default: p, Mode: mode, Window: window, Trace: tr})
	if err != nil {
		rt.Fatalf("netsim.New: %v", err)
	}
	ln, err := n.Host("b").Listen("tcp", ":80")
	if err != nil {
		rt.Fatalf("listen: %v", err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	ca, err := n.Host("a").Dial("tcp", "b:80")
	if err != nil {
		rt.Fatalf("dial: %v", err)
	}
	cb := <-accepted
	ln.Close()
	r := &rig{fe: feNetsim, mode: mode, window: effWindow(window), tr: tr, bubble: true}
	r.a, r.b = newSide("a", ca), newSide("b", cb)
	name := ca.(*netsim.Conn).Name()
	r.out = [2]linkRef{{name, faultconn.Out}, {name, faultconn.In}}
	r.rename = ca.(*netsim.Conn).Name
	r.partition = func() { n.Partition([]string{"a"}, []string{"b"}) }
	r.heal = n.Heal
	r.setProfile = func(p faultconn.Profile) error {
		if err := n.SetLink("a", "b", p); err != nil {
			return err
		}
		return n.SetLink("b", "a", p)
	}
	r.reset = func(*side) bool { return n.ResetConns("a", "b") > 0 }
	r.held = func() (ab, ba int, ok bool) {
		m := heldRE.FindStringSubmatch(fmt.Sprint(ca))
		if m == nil {
			return 0, 0, false
		}
		ab, _ = strconv.Atoi(m[1])
		ba, _ = strconv.Atoi(m[2])
		return ab, ba, true
	}
	r.finish = func() []<-chan struct{} {
		ca.Close()
		cb.Close()
		n.Close()
		return []<-chan struct{}{n.Done()}
	}
	return r
}

func effWindow(w int) int {
	if w == 0 {
		return faultconn.DefaultWindow
	}
	return w
}

// side is one end of the connection and the model of what it did.
type side struct {
	name    string
	c       net.Conn
	r       *reader
	written []byte  // every byte a Write accepted, in order
	werrs   []error // write errors other than deadlines
	closed  bool    // Close was called
	fin     bool    // Close or a successful CloseWrite: the peer may read EOF
	seq     uint64  // payload generator state
}

func newSide(name string, c net.Conn) *side {
	s := &side{name: name, c: c}
	s.r = &reader{c: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	return s
}

// payload returns the next n bytes this side writes: a stream that
// never repeats a short pattern, so that the segment matcher has little
// to backtrack over.
func (s *side) payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		s.seq++
		x := s.seq*0x9E3779B97F4A7C15 + uint64(s.name[0])
		x ^= x >> 29
		x *= 0xBF58476D1CE4E5B9
		x ^= x >> 32
		b[i] = byte(x)
	}
	return b
}

// reader reads one end until its Close, or the second io.EOF.
type reader struct {
	c    net.Conn
	wake chan struct{} // cap 1: paused changed, or quit
	done chan struct{} // closed when the reader ends

	mu      sync.Mutex
	got     []byte
	errs    []error
	paused  bool
	quit    bool
	ended   bool
	reads   int    // progress
	problem string // data after an error
}

func (r *reader) run() {
	defer close(r.done)
	buf := make([]byte, 70000)
	eofs := 0
	for {
		r.mu.Lock()
		for r.paused && !r.quit {
			r.mu.Unlock()
			<-r.wake
			r.mu.Lock()
		}
		quit := r.quit
		r.mu.Unlock()
		if quit {
			r.end()
			return
		}
		n, err := r.c.Read(buf)
		r.mu.Lock()
		if n > 0 && len(r.errs) > 0 && r.problem == "" {
			r.problem = fmt.Sprintf("read %d bytes after error %v", n, r.errs[len(r.errs)-1])
		}
		r.got = append(r.got, buf[:n]...)
		if err != nil {
			r.errs = append(r.errs, err)
		}
		r.reads++
		r.mu.Unlock()
		switch {
		case err == nil:
			continue
		case err == io.EOF:
			eofs++
			if eofs < 2 {
				continue
			}
		case isConnErr(err):
			continue // then io.EOF
		}
		r.end()
		return
	}
}

func (r *reader) end() {
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
}

func (r *reader) setPaused(p bool) {
	r.mu.Lock()
	r.paused = p
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *reader) stop() {
	r.mu.Lock()
	r.quit = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// readerState is a snapshot of a reader.
type readerState struct {
	got     []byte
	errs    []error
	paused  bool
	ended   bool
	reads   int
	problem string
}

func (r *reader) state() readerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return readerState{got: r.got, errs: append([]error(nil), r.errs...), paused: r.paused, ended: r.ended, reads: r.reads, problem: r.problem}
}
