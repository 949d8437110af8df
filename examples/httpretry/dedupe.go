package httpretry

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// KeyHeader is the request header that carries the idempotency key.
// net/http's Transport also treats a request carrying it as safe to
// replay on a broken kept-alive connection.
const KeyHeader = "Idempotency-Key"

// ReplayedHeader is set to "true" on a response Deduper replayed from its
// table instead of running the handler.
const ReplayedHeader = "Idempotent-Replayed"

// Defaults of Deduper's fields.
const (
	DefaultCapacity = 1024
	DefaultMaxBody  = 1 << 20
)

// Deduper is an http.Handler that runs Next at most once per idempotency
// key (the Idempotency-Key header) and answers every repeat of a key with
// the recorded response of its first run: a retried request is recognised
// and not carried out again. A repeat that arrives while the first run is
// still going waits for it (or for its own request's end). Requests
// without the header go straight to Next, every time. A keyed request is
// read whole first, so that one cut short by the network never claims its
// key (a Next that read it itself would fail, answer nothing useful, and
// have that answer replayed to every retry).
//
// The table is bounded: it remembers at most Capacity keys, forgetting the
// oldest finished one to make room. A key retried after Capacity newer
// keys may run again; size Capacity above the keys a client can have in
// retry at once. When every remembered key is still running, a new key is
// refused with 503 Service Unavailable and Retry-After, which a Client
// retries like any server error.
//
// A first run that answers with a server error (5xx) is taken to have had
// no effect and is forgotten once it finishes, so that a retry runs again;
// Next must keep to that.
//
// Keys are compared as given; one Deduper should serve one operation (or
// clients must not reuse a key across operations). The zero value needs
// Next set; a Deduper is safe for concurrent use.
type Deduper struct {
	// Next runs the request the first time its key is seen.
	Next http.Handler
	// Capacity is the most keys remembered; zero means DefaultCapacity.
	Capacity int
	// MaxBody bounds the body of a request with a key, which the Deduper
	// reads whole before it claims the key; a larger one is refused with
	// 413. Zero means DefaultMaxBody.
	MaxBody int64

	mu      sync.Mutex // guards entries and order
	entries map[string]*result
	order   []string // keys in first-seen order, oldest first
}

// result is the recorded response of one key's first run. done is closed
// when the run finished; the other fields are written before and only
// read after.
type result struct {
	done   chan struct{}
	status int
	header http.Header
	body   []byte
}

func (d *Deduper) capacity() int {
	if d.Capacity > 0 {
		return d.Capacity
	}
	return DefaultCapacity
}

// ServeHTTP runs or replays r.
func (d *Deduper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(KeyHeader)
	if key == "" {
		d.Next.ServeHTTP(w, r)
		return
	}
	// Read the whole request before claiming its key: a request cut
	// short (its client reset, timed out) must not use the key up.
	body, err := io.ReadAll(io.LimitReader(r.Body, d.maxBody()+1))
	switch {
	case err != nil:
		http.Error(w, "httpretry: reading the request: "+err.Error(), http.StatusBadRequest)
		return
	case int64(len(body)) > d.maxBody():
		http.Error(w, "httpretry: request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	res, first, full := d.claim(key)
	if full {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "httpretry: idempotency table full", http.StatusServiceUnavailable)
		return
	}
	if first {
		d.run(key, res, r)
	} else {
		select {
		case <-res.done:
		case <-r.Context().Done():
			return
		}
		w.Header().Set(ReplayedHeader, "true")
	}
	for k, v := range res.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	w.WriteHeader(res.status)
	w.Write(res.body)
}

// claim returns the result slot of key and whether this request is the
// first with it, or full if there is no room.
func (d *Deduper) claim(key string) (res *result, first, full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if res, ok := d.entries[key]; ok {
		return res, false, false
	}
	if d.entries == nil {
		d.entries = make(map[string]*result)
	}
	if len(d.entries) >= d.capacity() && !d.evictLocked() {
		return nil, false, true
	}
	res = &result{done: make(chan struct{})}
	d.entries[key] = res
	d.order = append(d.order, key)
	return res, true, false
}

// evictLocked forgets the oldest finished key and reports whether there
// was one. d.mu must be held.
func (d *Deduper) evictLocked() bool {
	for i, k := range d.order {
		select {
		case <-d.entries[k].done:
			delete(d.entries, k)
			d.order = append(d.order[:i], d.order[i+1:]...)
			return true
		default:
		}
	}
	return false
}

func (d *Deduper) maxBody() int64 {
	if d.MaxBody > 0 {
		return d.MaxBody
	}
	return DefaultMaxBody
}

// run runs Next on r and records its response in res, or forgets key if
// it was a server error.
func (d *Deduper) run(key string, res *result, r *http.Request) {
	rec := &recorder{header: make(http.Header)}
	defer func() {
		res.status, res.header, res.body = rec.statusCode(), rec.header, rec.body.Bytes()
		if res.status >= 500 {
			d.forget(key)
		}
		close(res.done)
	}()
	d.Next.ServeHTTP(rec, r)
}

// forget removes key from the table.
func (d *Deduper) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.entries, key)
	for i, k := range d.order {
		if k == key {
			d.order = append(d.order[:i], d.order[i+1:]...)
			break
		}
	}
}

// recorder is the http.ResponseWriter a key's first run writes to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
