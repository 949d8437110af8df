package kv

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxLine is the longest request or response line, newline included. A
// server answers a longer request with "ERR - bad" and closes the
// connection; a client refuses to send one.
const MaxLine = 1024

// The verbs of requests.
const (
	verbGet    = "GET"
	verbPut    = "PUT"
	verbCharge = "CHARGE"
)

// The codes of ERR responses.
const (
	codeExpired  = "expired"
	codeConflict = "conflict"
	codeSkew     = "skew"
	codeBad      = "bad"
	// codeUnavailable: the journal did not take the request.
	codeUnavailable = "unavailable"
)

// Serial is a request's serial number, like the pre-printed number on a
// carbon-copy purchase order: the client writes it on the request before
// the first attempt and sends the very same serial with every retry, so
// that the server can tell a retry from a new request. It has two parts:
//
//   - ID names the request. It must be unique among all the requests the
//     server sees (Client.NewSerial makes "name-n") and be a token: 1 or
//     more printable ASCII characters, no spaces.
//   - Date is when the request was written. The server refuses a request
//     whose serial it may have forgotten, which it can tell only by its
//     date (see Config.Capacity).
//
// A retry must send the same ID with the same Date and the same request;
// the same ID with anything else is a conflict.
type Serial struct {
	ID   string
	Date time.Time
}

func (s Serial) String() string { return s.ID + "@" + formatDate(s.Date) }

// formatDate writes a date as it travels: RFC 3339 in UTC, to the
// nanosecond.
func formatDate(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// request is a parsed request line.
type request struct {
	verb  string
	id    string
	date  time.Time // PUT, CHARGE
	key   string    // GET, PUT: the key; CHARGE: the account
	value string    // PUT
	cents int64     // CHARGE
}

// token reports whether s can travel as one field of a line.
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// parseRequest parses a request line without its newline. On error, the
// returned request still has the ID when the line got that far, so that
// the answer can name it.
func parseRequest(line string) (request, error) {
	f := strings.Split(line, " ")
	var r request
	if len(f) >= 2 && token(f[1]) {
		r.id = f[1]
	}
	want := map[string]int{verbGet: 3, verbPut: 5, verbCharge: 5}
	n, ok := want[f[0]]
	switch {
	case !ok:
		return r, fmt.Errorf("unknown verb %q (want GET, PUT or CHARGE)", f[0])
	case len(f) != n:
		return r, fmt.Errorf("%s takes %d fields separated by single spaces, not %d", f[0], n, len(f))
	}
	for i, s := range f {
		if !token(s) {
			return r, fmt.Errorf("field %d is not a token (1 or more printable ASCII characters, no spaces)", i+1)
		}
	}
	r.verb = f[0]
	if r.verb == verbGet {
		r.key = f[2]
		return r, nil
	}
	d, err := time.Parse(time.RFC3339Nano, f[2])
	if err != nil {
		return r, fmt.Errorf("date %q is not RFC 3339", f[2])
	}
	r.date, r.key = d, f[3]
	if r.verb == verbPut {
		r.value = f[4]
		return r, nil
	}
	c, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil || c <= 0 {
		return r, fmt.Errorf("cents %q is not a positive 64-bit integer", f[4])
	}
	r.cents = c
	return r, nil
}

// errLine is the ERR answer for id (or "-" when there is none).
func errLine(id, code, reason string) string {
	if id == "" {
		id = "-"
	}
	return fmt.Sprintf("ERR %s %s %s", id, code, reason)
}

// Errors of requests the server refused. A client returns them wrapped in
// a *RefusedError; match them with errors.Is.
var (
	// ErrExpired: the serial is not in the dedupe table and is dated at or
	// before its horizon, so the server may have applied it and forgotten
	// (see Config.Capacity). The outcome of the request is unknown; it
	// will never be applied under this serial from now on.
	ErrExpired = errors.New("kv: serial expired")
	// ErrConflict: the serial was used before for a different request.
	// This request was not applied.
	ErrConflict = errors.New("kv: serial used for a different request")
	// ErrSkew: the serial is dated further ahead of the server's clock
	// than Config.MaxSkew. The request was not applied.
	ErrSkew = errors.New("kv: serial dated in the future")
	// ErrBadRequest: the server could not parse the request, or a charge
	// would overflow the account's total. It was not applied.
	ErrBadRequest = errors.New("kv: bad request")
	// ErrUnavailable: the server's Journal failed to take the request
	// (it is full, or the server's host crashed). Its outcome is unknown
	// only if the journal kept it although its Sync failed; retry with
	// the same serial to know.
	ErrUnavailable = errors.New("kv: journal unavailable")
)

var codeErrs = map[string]error{codeExpired: ErrExpired, codeConflict: ErrConflict, codeSkew: ErrSkew, codeBad: ErrBadRequest, codeUnavailable: ErrUnavailable}

// RefusedError is the error of a request the server answered with ERR.
// It matches ErrExpired, ErrConflict, ErrSkew, ErrBadRequest or
// ErrUnavailable by its Code. A client does not retry a refused request.
type RefusedError struct {
	Op     string // the request's verb and serial ID, e.g. "CHARGE pos1-7"
	Code   string // "expired", "conflict", "skew", "bad" or "unavailable"
	Reason string // the server's explanation
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("kv: %s refused by the server: %s: %s", e.Op, e.Code, e.Reason)
}

// Is reports whether target is the sentinel error of e's Code.
func (e *RefusedError) Is(target error) bool { return target != nil && codeErrs[e.Code] == target }
