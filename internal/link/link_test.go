package link

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLatencyExactInstant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{Name: "a->b"}, Profile{Latency: 50 * time.Millisecond})
		start := time.Now()
		_, err := l.Write([]byte("hello"))
		require.NoError(t, err)
		buf := make([]byte, 10)
		n, err := l.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "hello", string(buf[:n]))
		require.Equal(t, 50*time.Millisecond, time.Since(start))
	})
}

func TestBandwidthOneSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{Name: "a->b"}, Profile{Bandwidth: 1 << 20, Segment: 1000})
		start := time.Now()
		data := bytes.Repeat([]byte{7}, 1<<20)
		go func() {
			_, err := l.Write(data)
			if err != nil {
				panic(err)
			}
			l.CloseWrite()
		}()
		got, err := io.ReadAll(readerFunc(l.Read))
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.Equal(t, time.Second, time.Since(start))
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

func TestStreamTimeoutInstant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		timedOut := make(chan time.Time, 1)
		a, _ := NewPair(Config{Name: "a->b"}, Config{Name: "b->a"}, Profile{Loss: 1}, Profile{},
			EndHooks{ReadsFailed: func(error) { timedOut <- time.Now() }}, EndHooks{})
		l := a.Tx
		start := time.Now()
		_, err := a.Write([]byte("x"))
		require.NoError(t, err)
		at := <-timedOut
		require.Equal(t, 924600*time.Millisecond, at.Sub(start))
		_, err = l.Write([]byte("y"))
		require.ErrorIs(t, err, syscall.ETIMEDOUT)
		require.ErrorIs(t, err, ErrInjected)
		_, err = a.Read(make([]byte, 1))
		require.ErrorIs(t, err, syscall.ETIMEDOUT, "the end's reads fail too, once")
		_, err = a.Read(make([]byte, 1))
		require.Equal(t, io.EOF, err)
		_, err = a.Write([]byte("z"))
		require.ErrorIs(t, err, syscall.EPIPE, "after the error was reported, writes fail with EPIPE")
		require.Equal(t, uint64(16), l.Stats().Lost)
		require.Equal(t, uint64(15), l.Stats().Retransmitted)
	})
}

func TestWindowBlocksWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{Name: "a->b", Window: 1000}, Profile{Latency: time.Hour, Segment: 100})
		l.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := l.Write(make([]byte, 5000))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Equal(t, 1000, n)
		used, _ := l.Queued()
		require.Equal(t, 1000, used)
	})
}

func TestSegmentsModeFates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(Config{Name: "a->b", Mode: Segments}, Profile{Duplicate: 1, Segment: 2})
		_, err := l.Write([]byte("abcd"))
		require.NoError(t, err)
		l.CloseWrite()
		got, err := io.ReadAll(readerFunc(l.Read))
		require.NoError(t, err)
		require.Equal(t, "ababcdcd", string(got))
	})
}

func TestResetReachesReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got := make(chan error, 1)
		_, end := NewPair(Config{Name: "a->b"}, Config{Name: "b->a"}, Profile{Latency: time.Millisecond}, Profile{},
			EndHooks{}, EndHooks{PeerReset: func(err error) { got <- err }})
		l := end.Rx
		_, err := l.Write([]byte("ab"))
		require.NoError(t, err)
		l.Reset(Injected(syscall.ECONNRESET))
		b := make([]byte, 10)
		n, err := l.Read(b)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		_, err = l.Read(b)
		require.True(t, errors.Is(err, syscall.ECONNRESET))
		require.ErrorIs(t, <-got, syscall.ECONNRESET)
	})
}
