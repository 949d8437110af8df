package lease

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// MaxLine is the longest request or answer line, newline included.
const MaxLine = 256

// serve answers the lines of every connection ln accepts with exec, one
// goroutine per connection, until ctx is done; then it closes ln and the
// connections and returns once their goroutines have.
func serve(ctx context.Context, ln net.Listener, exec func(line string) string) error {
	var (
		mu    sync.Mutex
		conns = make(map[net.Conn]bool)
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			break
		}
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
			r := bufio.NewReaderSize(c, MaxLine)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if _, err := io.WriteString(c, exec(strings.TrimSuffix(string(line), "\n"))+"\n"); err != nil {
					return
				}
			}
		})
	}
	mu.Lock()
	for c := range conns { // ln failed by itself: end the conns too
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// line is a client's connection to one server, dialed when needed and
// dropped after any error, so that the next call dials again.
type line struct {
	addr string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex // guards conn and r; held during a call (calls are sequential)
	conn net.Conn
	r    *bufio.Reader
}

// call sends one request line and reads the answer, within timeout.
func (l *line) call(ctx context.Context, req string, timeout time.Duration) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if l.conn == nil {
		c, err := l.dial(ctx, "tcp", l.addr)
		if err != nil {
			return "", err
		}
		l.conn, l.r = c, bufio.NewReaderSize(c, MaxLine)
	}
	deadline, _ := ctx.Deadline()
	l.conn.SetDeadline(deadline)
	_, err := io.WriteString(l.conn, req+"\n")
	var answer []byte
	if err == nil {
		answer, err = l.r.ReadSlice('\n')
	}
	if err != nil {
		l.conn.Close() // what was written may still arrive: the server may act on it
		l.conn = nil
		return "", err
	}
	return strings.TrimSuffix(string(answer), "\n"), nil
}

func (l *line) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
}

var errBadAnswer = errors.New("lease: malformed answer")

func badAnswer(a string) error { return fmt.Errorf("%w: %q", errBadAnswer, a) }
