package httpretry_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/examples/httpretry"
)

// post sends a POST with key (none if empty) straight to h.
func post(h http.Handler, key string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/charge", strings.NewReader(key))
	if key != "" {
		r.Header.Set(httpretry.KeyHeader, key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestDeduper: a key runs once and repeats replay its response; requests
// without a key run every time; the table forgets the oldest key beyond
// its capacity, and forgets a key whose run failed with a server error.
func TestDeduper(t *testing.T) {
	var runs atomic.Int32
	fail := map[string]bool{"flaky": true}
	d := &httpretry.Deduper{Capacity: 2, Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := runs.Add(1)
		key := r.Header.Get(httpretry.KeyHeader)
		if fail[key] {
			fail[key] = false
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Run", fmt.Sprint(n))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "run %d", n)
	})}

	w := post(d, "a")
	require.Equal(t, http.StatusCreated, w.Code)
	require.Equal(t, "run 1", w.Body.String())
	require.Empty(t, w.Header().Get(httpretry.ReplayedHeader))
	w = post(d, "a")
	require.Equal(t, http.StatusCreated, w.Code, "status replayed")
	require.Equal(t, "run 1", w.Body.String(), "body replayed")
	require.Equal(t, "1", w.Header().Get("X-Run"), "headers replayed")
	require.Equal(t, "true", w.Header().Get(httpretry.ReplayedHeader))
	require.EqualValues(t, 1, runs.Load())

	require.Equal(t, "run 2", post(d, "").Body.String())
	require.Equal(t, "run 3", post(d, "").Body.String(), "no key: runs every time")

	require.Equal(t, "run 4", post(d, "b").Body.String())
	require.Equal(t, "run 5", post(d, "c").Body.String(), "capacity 2: forgets a")
	require.Equal(t, "run 4", post(d, "b").Body.String())
	require.Equal(t, "run 6", post(d, "a").Body.String(), "a was forgotten: runs again")

	require.Equal(t, http.StatusInternalServerError, post(d, "flaky").Code)
	require.Equal(t, "run 8", post(d, "flaky").Body.String(), "a server error is not remembered")
	require.Equal(t, "run 8", post(d, "flaky").Body.String())
}

// TestDeduperWaitsAndBounds: a repeat of a key that is still running
// waits for its response, and when every remembered key is still running
// a new key is refused with 503.
func TestDeduperWaitsAndBounds(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var runs atomic.Int32
	d := &httpretry.Deduper{Capacity: 1, Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		close(started)
		<-release
		fmt.Fprint(w, "done")
	})}
	first := make(chan *httptest.ResponseRecorder)
	repeat := make(chan *httptest.ResponseRecorder)
	go func() { first <- post(d, "slow") }()
	<-started
	go func() { repeat <- post(d, "slow") }()

	w := post(d, "other")
	require.Equal(t, http.StatusServiceUnavailable, w.Code, "table full of running keys")
	require.Equal(t, "1", w.Header().Get("Retry-After"))

	close(release)
	require.Equal(t, "done", (<-first).Body.String())
	w = <-repeat
	require.Equal(t, "done", w.Body.String())
	require.Equal(t, "true", w.Header().Get(httpretry.ReplayedHeader))
	require.EqualValues(t, 1, runs.Load())
}

// brokenBody is a request body whose connection broke after a few bytes.
type brokenBody struct{ sent bool }

func (b *brokenBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "half"), nil
	}
	return 0, errors.New("connection reset by peer")
}

// TestDeduperCutShort: a keyed request whose body does not arrive whole
// is refused before it claims its key, so its retry runs; one over
// MaxBody is refused too.
func TestDeduperCutShort(t *testing.T) {
	var runs atomic.Int32
	d := &httpretry.Deduper{MaxBody: 8, Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		b, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		fmt.Fprintf(w, "got %s", b)
	})}
	r := httptest.NewRequest(http.MethodPost, "/charge", &brokenBody{})
	r.Header.Set(httpretry.KeyHeader, "k")
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Zero(t, runs.Load())

	w = post(d, "k")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "got k", w.Body.String(), "the retry runs")
	require.Empty(t, w.Header().Get(httpretry.ReplayedHeader))

	r = httptest.NewRequest(http.MethodPost, "/charge", strings.NewReader("123456789"))
	r.Header.Set(httpretry.KeyHeader, "big")
	w = httptest.NewRecorder()
	d.ServeHTTP(w, r)
	require.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	require.EqualValues(t, 1, runs.Load())
}
