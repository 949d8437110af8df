package netsim_test

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// TestStateMachineStream runs random sequences of dials, writes from either
// end, sleeps, partitions, heals and closes between hosts a and b over a
// drawn Stream-mode profile, one bubble per case. Each end has a reader
// goroutine that keeps what it reads. The model is, per direction, the
// concatenation of what was written; what each end has read must always be
// a prefix of what the other end wrote (no byte lost, reordered or
// duplicated), and after Heal and enough time every byte has arrived.
func TestStateMachineStream(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		rapid.SyncTest(rt, func(rt *rapid.T) {
			m := newSMMachine(rt)
			actions := rapid.StateMachineActions(m)
			actions["WriteMore"] = m.Write // writes are the point: twice as likely
			rt.Repeat(actions)
			m.finish(rt)
		})
	})
}

const (
	smMaxConns    = 4
	smMaxWrite    = 2000
	smMaxPerDir   = 128 << 10 // bytes written per direction, well under the window
	smWindow      = 1 << 20
	smMaxPartTime = 400 * time.Second // < 924.6s, so partitions never time conns out
)

// smEnd is one end of a connection and what its reader goroutine read.
type smEnd struct {
	conn   net.Conn
	closed bool // Close was called on this end (state machine goroutine only)

	mu   sync.Mutex // guards read and rerr
	read []byte
	rerr error
	done chan struct{} // closed when the reader goroutine returns
}

func (e *smEnd) snapshot() ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return bytes.Clone(e.read), e.rerr
}

type smConn struct {
	ends  [2]*smEnd // 0: the dialer on a, 1: the accepted end on b
	wrote [2][]byte // what end i wrote, in order
}

type smMachine struct {
	n        *netsim.Network
	prof     faultconn.Profile
	accepted chan net.Conn
	conns    []*smConn
	wg       sync.WaitGroup

	partitioned bool
	partStart   time.Time
	partDialed  bool // a dial already waited out this partition
}

func newSMMachine(rt *rapid.T) *smMachine {
	dist := rapid.SampledFrom([]faultconn.Distribution{faultconn.Uniform, faultconn.Normal, faultconn.Pareto, faultconn.ParetoNormal}).Draw(rt, "distribution")
	p := faultconn.Profile{
		Latency:      time.Duration(rapid.IntRange(0, 50).Draw(rt, "latencyMs")) * time.Millisecond,
		Jitter:       time.Duration(rapid.IntRange(0, 20).Draw(rt, "jitterMs")) * time.Millisecond,
		Distribution: dist,
		Correlation:  rapid.Float64Range(0, 0.5).Draw(rt, "correlation"),
		Loss:         rapid.Float64Range(0, 0.05).Draw(rt, "loss"),
		Duplicate:    rapid.Float64Range(0, 0.1).Draw(rt, "duplicate"),
		Reorder:      rapid.Float64Range(0, 0.1).Draw(rt, "reorder"),
		Corrupt:      rapid.Float64Range(0, 0.05).Draw(rt, "corrupt"),
		Segment:      rapid.SampledFrom([]int{0, 1, 100, 1460}).Draw(rt, "segment"),
		Bandwidth:    rapid.SampledFrom([]int64{0, 64 << 10, 1 << 20}).Draw(rt, "bandwidth"),
	}
	seed := rapid.Uint64().Draw(rt, "seed")
	n, err := netsim.New(netsim.Config{Seed: seed, Default: p, Mode: faultconn.Stream, Window: smWindow})
	if err != nil {
		rt.Fatalf("New: %v", err)
	}
	rt.Cleanup(func() { n.Close() }) // unblocks every goroutine if the case fails
	ln, err := n.Host("b").Listen("tcp", ":80")
	if err != nil {
		rt.Fatalf("Listen: %v", err)
	}
	m := &smMachine{n: n, prof: p, accepted: make(chan net.Conn)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(m.accepted)
				return
			}
			m.accepted <- c
		}
	}()
	rt.Logf("profile %v seed %d", p, seed)
	return m
}

func (m *smMachine) startReader(c net.Conn) *smEnd {
	e := &smEnd{conn: c, done: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(e.done)
		buf := make([]byte, 1500)
		for {
			k, err := c.Read(buf)
			e.mu.Lock()
			e.read = append(e.read, buf[:k]...)
			if err != nil {
				e.rerr = err
			}
			e.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return e
}

func (m *smMachine) Dial(rt *rapid.T) {
	if len(m.conns) >= smMaxConns {
		rt.Skip("enough conns")
	}
	if m.partitioned && (m.partDialed || time.Since(m.partStart)+127*time.Second > smMaxPartTime) {
		rt.Skip("a dial would outlast the partition budget")
	}
	start := time.Now()
	c, err := m.n.Host("a").Dial("tcp", "b:80")
	took := time.Since(start)
	if m.partitioned {
		m.partDialed = true
		if !errors.Is(err, syscall.ETIMEDOUT) || took != 127*time.Second {
			rt.Fatalf("dial in a partition: %v after %v, want ETIMEDOUT after 127s", err, took)
		}
		return
	}
	if err != nil {
		rt.Fatalf("dial: %v", err)
	}
	if want := 2 * m.prof.Latency; took != want {
		rt.Fatalf("dial took %v, want one RTT %v", took, want)
	}
	s, ok := <-m.accepted
	if !ok {
		rt.Fatalf("Accept failed")
	}
	if s.RemoteAddr().String() != c.LocalAddr().String() {
		rt.Fatalf("accepted %v, dialed from %v", s.RemoteAddr(), c.LocalAddr())
	}
	m.conns = append(m.conns, &smConn{ends: [2]*smEnd{m.startReader(c), m.startReader(s)}})
}

// pick draws an open end: a conn and a side.
func (m *smMachine) pick(rt *rapid.T) (*smConn, int) {
	var open [][2]int
	for i, c := range m.conns {
		for side, e := range c.ends {
			if !e.closed {
				open = append(open, [2]int{i, side})
			}
		}
	}
	if len(open) == 0 {
		rt.Skip("no open end")
	}
	o := rapid.SampledFrom(open).Draw(rt, "end")
	return m.conns[o[0]], o[1]
}

func (m *smMachine) Write(rt *rapid.T) {
	c, side := m.pick(rt)
	data := make([]byte, rapid.IntRange(1, smMaxWrite).Draw(rt, "size"))
	rnd := mrand.New(mrand.NewPCG(rapid.Uint64().Draw(rt, "bytes"), 0))
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	if len(c.wrote[side])+len(data) > smMaxPerDir {
		rt.Skip("direction full")
	}
	start := time.Now()
	k, err := c.ends[side].conn.Write(data)
	if time.Since(start) != 0 {
		rt.Fatalf("Write blocked for %v with a free window", time.Since(start))
	}
	c.wrote[side] = append(c.wrote[side], data[:k]...)
	if c.ends[1-side].closed {
		// CLOSE_WAIT: the write may fail once the peer's reset arrived.
		if err != nil && !errors.Is(err, syscall.EPIPE) {
			rt.Fatalf("write to a closed peer: %v, want success or EPIPE", err)
		}
		return
	}
	if err != nil || k != len(data) {
		rt.Fatalf("write: %d of %d bytes, %v", k, len(data), err)
	}
}

func (m *smMachine) Sleep(rt *rapid.T) {
	d := time.Duration(rapid.IntRange(0, 5000).Draw(rt, "sleepMs")) * time.Millisecond
	if m.partitioned {
		d = min(d, smMaxPartTime-time.Since(m.partStart))
	}
	time.Sleep(d)
}

func (m *smMachine) Partition(rt *rapid.T) {
	if m.partitioned {
		rt.Skip("already partitioned")
	}
	if rapid.Bool().Draw(rt, "isolate") {
		m.n.Isolate(rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "isolated"))
	} else {
		m.n.Partition([]string{"a"}, []string{"b"})
	}
	m.partitioned, m.partStart, m.partDialed = true, time.Now(), false
	// A partition applies to what arrives after the instant it was made.
	time.Sleep(time.Nanosecond)
}

func (m *smMachine) Heal(rt *rapid.T) {
	if !m.partitioned {
		rt.Skip("not partitioned")
	}
	m.n.Heal()
	m.partitioned = false
	time.Sleep(time.Nanosecond) // as for Partition
}

func (m *smMachine) Close(rt *rapid.T) {
	c, side := m.pick(rt)
	// Let the reader drain what has arrived: closing with unread data
	// would reset the peer (tested in lifecycle_test.go).
	synctest.Wait()
	if err := c.ends[side].conn.Close(); err != nil {
		rt.Fatalf("Close: %v", err)
	}
	c.ends[side].closed = true
}

// Check: what each end has read is a prefix of what the other end wrote,
// and readers end only with io.EOF after the peer closed or net.ErrClosed
// after their own Close.
func (m *smMachine) Check(rt *rapid.T) {
	synctest.Wait()
	for i, c := range m.conns {
		for side, e := range c.ends {
			read, rerr := e.snapshot()
			sent := c.wrote[1-side]
			if !bytes.HasPrefix(sent, read) {
				rt.Fatalf("conn %d side %d read %d bytes that are not a prefix of the %d the peer wrote (first difference at %d)",
					i, side, len(read), len(sent), firstDiff(read, sent))
			}
			m.checkReadErr(rt, c, side, rerr)
		}
	}
}

func (m *smMachine) checkReadErr(rt *rapid.T, c *smConn, side int, err error) {
	switch {
	case err == nil:
	case err == io.EOF && c.ends[1-side].closed:
	case errors.Is(err, net.ErrClosed) && (c.ends[side].closed || smClosed(m.n)):
	default:
		rt.Fatalf("side %d's reader ended with %v (self closed %v, peer closed %v)", side, err, c.ends[side].closed, c.ends[1-side].closed)
	}
}

// finish heals, waits until every retransmission has happened, and checks
// that every byte reached every end that is still reading.
func (m *smMachine) finish(rt *rapid.T) {
	m.n.Heal()
	m.partitioned = false
	// Every segment is delivered or given up 924.6s after it was sent.
	time.Sleep(1000 * time.Second)
	synctest.Wait()
	for i, c := range m.conns {
		for side, e := range c.ends {
			read, rerr := e.snapshot()
			if e.closed {
				continue
			}
			if sent := c.wrote[1-side]; !bytes.Equal(read, sent) {
				rt.Fatalf("conn %d side %d: read %d of the %d bytes written, reader error %v", i, side, len(read), len(sent), rerr)
			}
			if c.ends[1-side].closed && rerr != io.EOF {
				rt.Fatalf("conn %d side %d: peer closed, reader ended with %v, want io.EOF", i, side, rerr)
			}
		}
	}
	m.n.Close()
	m.wg.Wait()
	m.Check(rt)
}

func smClosed(n *netsim.Network) bool {
	select {
	case <-n.Done():
		return true
	default:
		return false
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestDeterminismSegments checks that in Segments mode one connection's
// delivered bytes and trace depend only on the seed: identical over 20 runs
// while other goroutines generate unrelated traffic (of random sizes and
// timing, from the unseeded global source) on other conns and sockets, and
// different with another seed.
func TestDeterminismSegments(t *testing.T) {
	const seed = 42
	first := detRun(t, seed)
	require.NotEmpty(t, first.trace)
	require.NotEmpty(t, first.toServer)
	require.NotEmpty(t, first.toClient)
	kinds := map[faultconn.Kind]bool{}
	for _, e := range first.trace {
		kinds[e.Kind] = true
	}
	for _, k := range []faultconn.Kind{faultconn.KindDeliver, faultconn.KindLose, faultconn.KindDuplicate, faultconn.KindReorder, faultconn.KindCorrupt, faultconn.KindFin} {
		require.True(t, kinds[k], "the profile should produce %v events", k)
	}
	for i := range 19 {
		got := detRun(t, seed)
		require.Equal(t, first.toServer, got.toServer, "run %d: bytes to the server", i+2)
		require.Equal(t, first.toClient, got.toClient, "run %d: bytes to the client", i+2)
		require.Equal(t, first.trace, got.trace, "run %d: trace", i+2)
	}
	other := detRun(t, seed+1)
	require.NotEqual(t, first.trace, other.trace, "another seed, another trace")
	require.NotEqual(t, first.toServer, other.toServer, "another seed, other bytes")
}

type detResult struct {
	toServer, toClient []byte
	trace              []faultconn.Event
}

func detRun(t *testing.T, seed uint64) detResult {
	var res detResult
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		n, err := netsim.New(netsim.Config{
			Seed: seed,
			Mode: faultconn.Segments,
			Default: faultconn.Profile{
				Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Distribution: faultconn.Normal,
				Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Corrupt: 0.05, Segment: 64,
			},
			Trace: tr,
		})
		require.NoError(t, err)
		defer n.Close()
		for _, h := range []string{"a", "b", "c", "d"} {
			n.Host(h)
		}
		ln, err := n.Host("b").Listen("tcp", ":80")
		require.NoError(t, err)
		noiseLn, err := n.Host("b").Listen("tcp", ":81")
		require.NoError(t, err)

		var noise sync.WaitGroup
		stopNoise := make(chan struct{})
		detNoise(n, noiseLn, &noise, stopNoise)

		// The connection under test: both ends write on fixed schedules
		// and read to the end.
		accepted := make(chan net.Conn, 1)
		go func() {
			s, err := ln.Accept()
			if err == nil {
				accepted <- s
			}
		}()
		c, err := n.Host("a").Dial("tcp", "b:80")
		require.NoError(t, err)
		s := <-accepted
		name := c.(*netsim.Conn).Name()
		require.Equal(t, "a:49152->b:80#1", name)

		type got struct {
			b   []byte
			err error
		}
		readAll := func(c net.Conn) <-chan got {
			ch := make(chan got, 1)
			go func() {
				b, err := io.ReadAll(c)
				ch <- got{b, err}
			}()
			return ch
		}
		writeSched := func(c net.Conn, chunks, size int, every time.Duration, tag byte) {
			go func() {
				for i := range chunks {
					_, err := c.Write(bytes.Repeat([]byte{tag + byte(i)}, size))
					if err != nil {
						return
					}
					time.Sleep(every)
				}
				c.(*netsim.Conn).CloseWrite()
			}()
		}
		toServer, toClient := readAll(s), readAll(c)
		writeSched(c, 40, 100, 7*time.Millisecond, 'A')
		writeSched(s, 25, 150, 11*time.Millisecond, 'a')
		gs, gc := <-toServer, <-toClient
		require.NoError(t, gs.err)
		require.NoError(t, gc.err)
		c.Close()
		s.Close()
		close(stopNoise)
		noise.Wait()
		n.Close()

		require.Zero(t, tr.Overflow(), "the trace kept every event")
		var evs []faultconn.Event
		for _, e := range tr.Events() {
			if e.Link == name {
				evs = append(evs, e)
			}
		}
		slices.SortFunc(evs, func(x, y faultconn.Event) int {
			return cmp.Or(cmp.Compare(x.Time, y.Time), cmp.Compare(x.Seq, y.Seq), cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Dir, y.Dir))
		})
		res = detResult{toServer: gs.b, toClient: gc.b, trace: evs}
	})
	return res
}

// detNoise starts unrelated traffic of random sizes and timing: hosts c and
// d dial b:81 and write, b echoes, and c sends datagrams to d.
func detNoise(n *netsim.Network, ln net.Listener, wg *sync.WaitGroup, stop <-chan struct{}) {
	wg.Add(1)
	go func() { // accept and echo
		defer wg.Done()
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(s, s)
				s.Close()
			}()
		}
	}()
	go func() {
		<-stop
		ln.Close()
	}()
	for _, h := range []string{"c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(time.Duration(mrand.IntN(20)) * time.Millisecond)
				c, err := n.Host(h).Dial("tcp", "b:81")
				if err != nil {
					return
				}
				go io.Copy(io.Discard, c)
				for range mrand.IntN(5) {
					c.Write(make([]byte, 1+mrand.IntN(500)))
					time.Sleep(time.Duration(mrand.IntN(10)) * time.Millisecond)
				}
				c.Close()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		pc, err := n.Host("c").ListenPacket("udp", ":0")
		if err != nil {
			return
		}
		defer pc.Close()
		pd, err := n.Host("d").ListenPacket("udp", ":53")
		if err != nil {
			return
		}
		defer pd.Close()
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, _, err := pd.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1+mrand.IntN(5)) * time.Millisecond):
				pc.WriteTo(make([]byte, mrand.IntN(1200)), pd.LocalAddr())
			}
		}
	}()
}
