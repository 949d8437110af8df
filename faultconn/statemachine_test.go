package faultconn_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/faultconn"
)

// TestStateMachineStream drives a wrapped net.Pipe pair in Stream mode,
// inside a synctest bubble, with drawn profiles on all four directions and
// random sequences of writes, sleeps, deadlines and profile changes. The
// model is the bytes each side wrote. Invariants: what each side has read
// is always a prefix of what the other wrote; a read never times out
// before a deadline, nor stays blocked past one; a write fails only by its
// deadline; and once every deadline is cleared and enough virtual time has
// passed, each side has read everything, then io.EOF once the peer closes.
// The bubble panics on a deadlock and waits for every goroutine to end.
func TestStateMachineStream(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		rapid.SyncTest(rt, smRun)
	})
}

// smSide is one end of the pair: its conn, the bytes it wrote (the model)
// and a reader goroutine that reads it until an error other than a
// timeout.
type smSide struct {
	name    string
	c       *faultconn.Conn
	written []byte    // what this side wrote; main goroutine only
	wdl     time.Time // the write deadline; main goroutine only

	sig  chan struct{} // cap 1: got grew, or the reader ended
	done chan struct{} // closed when the reader ends
	quit chan struct{} // closed when the test ends: cuts a pause short

	mu      sync.Mutex    // guards the fields below, and orders SetReadDeadline calls
	got     []byte        // what the reader read
	err     error         // the error that ended the reader
	pause   time.Duration // how long the reader waits before its next Read
	rdl     time.Time     // the read deadline in force
	minRDL  time.Time     // the earliest non-zero read deadline set since the current Read began
	reading bool          // the reader is in Read
	problem string        // the first invariant the reader saw broken
}

func (s *smSide) setReadDeadline(d time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rdl = d
	if !d.IsZero() && (s.minRDL.IsZero() || d.Before(s.minRDL)) {
		s.minRDL = d
	}
	if err := s.c.SetReadDeadline(d); err != nil && s.problem == "" {
		s.problem = fmt.Sprintf("%s: SetReadDeadline: %v", s.name, err)
	}
}

// read runs in its own goroutine. On a timeout it checks that a deadline
// set during the Read has passed, and clears the deadline if it is still
// the one in force, so that the reader never stops draining the window.
func (s *smSide) read(bufSize int) {
	defer close(s.done)
	buf := make([]byte, bufSize)
	for {
		s.mu.Lock()
		pause := s.pause
		s.pause = 0
		s.mu.Unlock()
		if pause > 0 { // windows fill up meanwhile
			select {
			case <-time.After(pause):
			case <-s.quit:
			}
		}
		s.mu.Lock()
		s.minRDL = s.rdl
		s.reading = true
		s.mu.Unlock()
		n, err := s.c.Read(buf)
		now := time.Now()
		s.mu.Lock()
		s.reading = false
		s.got = append(s.got, buf[:n]...)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			var ne net.Error
			switch {
			case !errors.As(err, &ne) || !ne.Timeout():
				s.fail("%s: deadline error without Timeout(): %v", s.name, err)
			case s.minRDL.IsZero():
				s.fail("%s: read timed out with no deadline set: %v", s.name, err)
			case now.Before(s.minRDL):
				s.fail("%s: read timed out %v before its deadline", s.name, s.minRDL.Sub(now))
			}
			if !s.rdl.IsZero() && !now.Before(s.rdl) {
				s.rdl = time.Time{}
				s.c.SetReadDeadline(time.Time{})
			}
			err = nil
		}
		if err != nil {
			s.err = err
		}
		s.mu.Unlock()
		select {
		case s.sig <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (s *smSide) fail(format string, args ...any) {
	if s.problem == "" {
		s.problem = fmt.Sprintf(format, args...)
	}
}

// smProfile draws one direction's faults: often none (the direct path),
// otherwise any mix that keeps retransmissions from giving up.
func smProfile(rt *rapid.T, label string) faultconn.Profile {
	if rapid.IntRange(0, 3).Draw(rt, label+".kind") == 0 {
		return faultconn.Profile{}
	}
	ms := func(name string, hi int) time.Duration {
		return time.Duration(rapid.IntRange(0, hi).Draw(rt, label+"."+name+"Ms")) * time.Millisecond
	}
	p := faultconn.Profile{
		Latency:      ms("latency", 50),
		Jitter:       ms("jitter", 20),
		Distribution: faultconn.Distribution(rapid.IntRange(0, 3).Draw(rt, label+".distribution")),
		Correlation:  rapid.Float64Range(0, 1).Draw(rt, label+".correlation"),
		Loss:         rapid.Float64Range(0, 0.25).Draw(rt, label+".loss"),
		Duplicate:    rapid.Float64Range(0, 0.5).Draw(rt, label+".duplicate"),
		Reorder:      rapid.Float64Range(0, 0.5).Draw(rt, label+".reorder"),
		Corrupt:      rapid.Float64Range(0, 0.15).Draw(rt, label+".corrupt"),
		Segment:      rapid.SampledFrom([]int{0, 1, 7, 100, 536, 1460, 9000}).Draw(rt, label+".segment"),
	}
	if rapid.Bool().Draw(rt, label+".limited") {
		p.Bandwidth = int64(rapid.IntRange(20_000, 10_000_000).Draw(rt, label+".bandwidth"))
	}
	return p
}

func smRun(rt *rapid.T) {
	drawCfg := func(name string) faultconn.Config {
		return faultconn.Config{
			Seed:   rapid.Uint64().Draw(rt, name+".seed"),
			Name:   name,
			Out:    smProfile(rt, name+".out"),
			In:     smProfile(rt, name+".in"),
			Window: rapid.SampledFrom([]int{0, 100, 1500, 4096, 65536}).Draw(rt, name+".window"),
		}
	}
	acfg, bcfg := drawCfg("a"), drawCfg("b")
	data := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "dataSeed"), 1))

	p1, p2 := net.Pipe()
	ca, err := faultconn.Wrap(p1, acfg)
	if err != nil {
		rt.Fatalf("Wrap a: %v", err)
	}
	cb, err := faultconn.Wrap(p2, bcfg)
	if err != nil {
		rt.Fatalf("Wrap b: %v", err)
	}
	quit := make(chan struct{})
	a := &smSide{name: "a", c: ca, sig: make(chan struct{}, 1), done: make(chan struct{}), quit: quit}
	b := &smSide{name: "b", c: cb, sig: make(chan struct{}, 1), done: make(chan struct{}), quit: quit}
	// On a failure, end every goroutine of the bubble without needing time
	// to pass: once the property returns, the clock stops.
	rt.Cleanup(func() {
		close(quit)
		ca.Close()
		cb.Close()
		<-ca.Done() // Close is close(2): what is in flight is still delivered
		<-cb.Done()
	})
	go a.read(rapid.IntRange(1, 70000).Draw(rt, "a.readBuf"))
	go b.read(rapid.IntRange(1, 70000).Draw(rt, "b.readBuf"))
	sides := []*smSide{a, b}
	peer := func(s *smSide) *smSide {
		if s == a {
			return b
		}
		return a
	}
	pick := func(rt *rapid.T) *smSide { return sides[rapid.IntRange(0, 1).Draw(rt, "side")] }

	check := func(rt *rapid.T) {
		synctest.Wait() // a quiet point after every action: replays see the same run
		for _, s := range sides {
			s.mu.Lock()
			got, problem := s.got, s.problem
			s.mu.Unlock()
			if problem != "" {
				rt.Fatal(problem)
			}
			if w := peer(s).written; !bytes.HasPrefix(w, got) {
				rt.Fatalf("%s read %d bytes that are not a prefix of the %d %s wrote (first difference at %d)",
					s.name, len(got), len(w), peer(s).name, smDiff(w, got))
			}
		}
	}

	// write writes n random bytes from a drawn side; only a deadline may
	// cut it short.
	write := func(rt *rapid.T, n int) {
		s := pick(rt)
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(data.Uint32())
		}
		m, err := s.c.Write(buf)
		s.written = append(s.written, buf[:m]...)
		if err == nil && m != n {
			rt.Fatalf("%s: Write returned %d of %d bytes and no error", s.name, m, n)
		}
		if err != nil {
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				rt.Fatalf("%s: Write failed with %v, want a deadline error", s.name, err)
			}
			if s.wdl.IsZero() || time.Now().Before(s.wdl) {
				rt.Fatalf("%s: Write timed out %v before its deadline", s.name, time.Until(s.wdl))
			}
		}
	}

	rt.Repeat(map[string]func(*rapid.T){
		"":           check,
		"write":      func(rt *rapid.T) { write(rt, rapid.IntRange(1, 8000).Draw(rt, "n")) },
		"writeSmall": func(rt *rapid.T) { write(rt, rapid.IntRange(1, 100).Draw(rt, "n")) },
		"sleep": func(rt *rapid.T) {
			time.Sleep(time.Duration(rapid.IntRange(0, 2000).Draw(rt, "ms")) * time.Millisecond)
			synctest.Wait()
			for _, s := range sides {
				s.mu.Lock()
				rdl, reading := s.rdl, s.reading
				s.mu.Unlock()
				if reading && !rdl.IsZero() && !time.Now().Before(rdl) {
					rt.Fatalf("%s: read still blocked %v after its deadline", s.name, time.Since(rdl))
				}
			}
		},
		"setReadDeadline": func(rt *rapid.T) {
			s := pick(rt)
			s.setReadDeadline(time.Now().Add(time.Duration(rapid.IntRange(0, 300).Draw(rt, "ms")) * time.Millisecond))
		},
		"clearReadDeadline": func(rt *rapid.T) {
			pick(rt).setReadDeadline(time.Time{})
		},
		"setWriteDeadline": func(rt *rapid.T) {
			s := pick(rt)
			s.wdl = time.Now().Add(time.Duration(rapid.IntRange(0, 300).Draw(rt, "ms")) * time.Millisecond)
			if err := s.c.SetWriteDeadline(s.wdl); err != nil {
				rt.Fatalf("%s: SetWriteDeadline: %v", s.name, err)
			}
		},
		"clearWriteDeadline": func(rt *rapid.T) {
			s := pick(rt)
			s.wdl = time.Time{}
			if err := s.c.SetWriteDeadline(s.wdl); err != nil {
				rt.Fatalf("%s: SetWriteDeadline: %v", s.name, err)
			}
		},
		"pauseReader": func(rt *rapid.T) {
			s := pick(rt)
			s.mu.Lock()
			s.pause = time.Duration(rapid.IntRange(1, 3000).Draw(rt, "ms")) * time.Millisecond
			s.mu.Unlock()
		},
		"setProfiles": func(rt *rapid.T) {
			s := pick(rt)
			if err := s.c.SetProfiles(smProfile(rt, "out"), smProfile(rt, "in")); err != nil {
				rt.Fatalf("%s: SetProfiles: %v", s.name, err)
			}
		},
	})

	// The end: no deadlines, then everything arrives.
	for _, s := range sides {
		s.setReadDeadline(time.Time{})
		if err := s.c.SetWriteDeadline(time.Time{}); err != nil {
			rt.Fatalf("%s: SetWriteDeadline: %v", s.name, err)
		}
	}
	giveUp := time.After(2 * time.Hour) // far beyond the longest retransmission schedule
	for _, s := range sides {
		want := peer(s).written
		for {
			s.mu.Lock()
			got, rerr := s.got, s.err
			s.mu.Unlock()
			if len(got) >= len(want) {
				break
			}
			if rerr != nil {
				rt.Fatalf("%s: reader failed with %v after %d of %d bytes", s.name, rerr, len(got), len(want))
			}
			select {
			case <-s.sig:
			case <-giveUp:
				rt.Fatalf("%s: read %d of %d bytes after 2h", s.name, len(got), len(want))
			}
		}
	}
	check(rt)
	for _, s := range sides {
		s.mu.Lock()
		got := len(s.got)
		s.mu.Unlock()
		if got != len(peer(s).written) {
			rt.Fatalf("%s read %d bytes, %s wrote %d", s.name, got, peer(s).name, len(peer(s).written))
		}
	}

	// a closes: b reads end of stream; then b closes.
	if err := ca.Close(); err != nil {
		rt.Fatalf("a.Close: %v", err)
	}
	<-b.done
	if b.err != io.EOF {
		rt.Fatalf("b: read %#v after a closed, want io.EOF", b.err)
	}
	if err := cb.Close(); err != nil {
		rt.Fatalf("b.Close: %v", err)
	}
	<-a.done
	// a's own Close ended its Read. Over the direct path net.Pipe's
	// io.ErrClosedPipe comes through (see TestBehaviorCloseWakesBlockedCalls).
	if !errors.Is(a.err, net.ErrClosed) && !errors.Is(a.err, io.ErrClosedPipe) {
		rt.Fatalf("a: read %#v after its Close, want net.ErrClosed", a.err)
	}
	check(rt)
}

// smDiff returns the first index where a and b differ.
func smDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
