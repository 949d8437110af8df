package httpretry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of Client's fields.
const (
	DefaultTimeout     = time.Second
	DefaultAttempts    = 4
	DefaultBackoff     = 100 * time.Millisecond
	DefaultMaxResponse = 1 << 20
)

// Client posts requests with a timeout per attempt, retries with the same
// idempotency key, and an optional circuit breaker. Every attempt of one
// Post carries the same Idempotency-Key header, so a server behind a
// Deduper carries the request out at most once however many attempts
// reach it.
//
// An attempt fails if it errs (refused, reset, timed out after Timeout)
// or the server answers with a 5xx status; any other status is the
// answer. After a failure the client waits Backoff, doubling each time,
// and tries again, up to Attempts attempts in all. With a Breaker, every
// attempt asks it first and reports its outcome; a refused attempt, or a
// failure that opens the breaker, ends the Post at once with an error
// wrapping ErrOpen: no waiting, no network.
//
// The client has its own http.Transport over Dial, keeping connections
// alive between requests; every dial is bounded by Timeout, so an outage
// does not pile up dials that net/http would otherwise let outlive their
// requests. Call CloseIdleConnections when done with the client.
//
// Set the fields before first use; the zero value needs Dial. A Client is
// safe for concurrent use.
type Client struct {
	// Dial makes the client's connections, as http.Transport.DialContext;
	// for example a netsim.Host's DialContext. Required.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds each attempt, from dial to the last byte of the
	// response; zero means DefaultTimeout.
	Timeout time.Duration
	// Attempts is the most attempts per Post; zero means
	// DefaultAttempts.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one; zero means DefaultBackoff.
	Backoff time.Duration
	// Breaker, if not nil, guards every attempt.
	Breaker *Breaker
	// MaxResponse bounds the body read from a response; a longer one fails
	// the attempt. Zero means DefaultMaxResponse.
	MaxResponse int64

	once sync.Once
	tr   *http.Transport
	hc   *http.Client
}

// Response is the answer to a Post.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Attempts is how many attempts the Post made, the answered one
	// included.
	Attempts int
}

// Post sends body to url with the idempotency key, retrying as the
// Client's doc says, and returns the first answer that is not a server
// error. It blocks until then, until the attempts are spent, until the
// breaker refuses, or until ctx is done; its error then says which, wraps
// ErrOpen if the breaker refused, and wraps the last attempt's error.
// key must not be empty.
func (c *Client) Post(ctx context.Context, url, key string, body []byte) (*Response, error) {
	if key == "" {
		return nil, errors.New("httpretry: Post needs an idempotency key")
	}
	c.once.Do(c.init)
	backoff := c.backoff()
	var last error
	for attempt := 1; ; attempt++ {
		var done func(bool)
		if c.Breaker != nil {
			var err error
			if done, err = c.Breaker.Allow(); err != nil {
				return nil, c.fail(url, key, attempt-1, err, last)
			}
		}
		resp, err := c.attempt(ctx, url, key, body)
		if err == nil && resp.StatusCode >= 500 {
			err = fmt.Errorf("server error %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		if done != nil {
			done(err == nil)
		}
		if err == nil {
			resp.Attempts = attempt
			return resp, nil
		}
		last = err
		if c.Breaker != nil && c.Breaker.State() == Open {
			return nil, c.fail(url, key, attempt, ErrOpen, last)
		}
		if attempt >= c.attempts() || ctx.Err() != nil {
			return nil, c.fail(url, key, attempt, nil, last)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, c.fail(url, key, attempt, ctx.Err(), last)
		}
		backoff *= 2
	}
}

// fail builds Post's error: why it stopped (cause, if any) and the last
// attempt's error (last, if any).
func (c *Client) fail(url, key string, attempts int, cause, last error) error {
	msg := fmt.Sprintf("httpretry: POST %s key %q: %d attempts", url, key, attempts)
	switch {
	case cause != nil && last != nil:
		return fmt.Errorf("%s: %w; last: %w", msg, cause, last)
	case cause != nil:
		return fmt.Errorf("%s: %w", msg, cause)
	default:
		return fmt.Errorf("%s: %w", msg, last)
	}
}

// attempt makes one attempt, bounded by Timeout.
func (c *Client) attempt(ctx context.Context, url, key string, body []byte) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set(KeyHeader, key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := c.maxResponse()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response body over %d bytes", limit)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

func (c *Client) init() {
	c.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			// net/http detaches a dial from its request so that a late
			// connection can serve the next one; bound it anyway.
			ctx, cancel := context.WithTimeout(ctx, c.timeout())
			defer cancel()
			return c.Dial(ctx, network, addr)
		},
	}
	c.hc = &http.Client{Transport: c.tr}
}

// CloseIdleConnections closes the client's kept-alive connections that
// are idle and cancels its dials that no request waits for. It does not
// wait for anything.
func (c *Client) CloseIdleConnections() {
	c.once.Do(c.init)
	c.tr.CloseIdleConnections()
}

func (c *Client) timeout() time.Duration { return positiveOr(c.Timeout, DefaultTimeout) }

func (c *Client) attempts() int { return positiveOr(c.Attempts, DefaultAttempts) }

func (c *Client) backoff() time.Duration { return positiveOr(c.Backoff, DefaultBackoff) }

func (c *Client) maxResponse() int64 { return positiveOr(c.MaxResponse, DefaultMaxResponse) }

// positiveOr returns v, or def when v is not positive (a zero field means
// its default).
func positiveOr[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
