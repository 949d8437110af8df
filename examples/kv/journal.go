package kv

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A Journal is durable storage for a Server: an append-only log of
// records that survives the server's process, as a file with fsync would.
// With a Journal (Config.Journal), the server writes every PUT and CHARGE
// it carries out to the journal and syncs it before it changes its state
// or answers, and a new Server over the same journal (after a crash and a
// restart) reads it back: the values, the balances and the dedupe table,
// so that a retry of a request applied before the crash is answered from
// the table, not applied again. harness.Store is a Journal.
//
// Each record is one applied request, in the form
//
//	<instant applied, Unix nanoseconds>\n<request line>\n<answer line>
//
// so a test can read what was applied from the journal itself.
type Journal interface {
	// Append adds a record at the end of the journal; it is durable only
	// once Sync returns.
	Append(rec []byte) error
	// Sync makes every record appended so far durable.
	Sync() error
	// Records returns every record, oldest first.
	Records() ([][]byte, error)
}

// JournalEntry is one record of a Journal, decoded.
type JournalEntry struct {
	Applied time.Time // when the server applied the request
	Request string    // the request line
	Answer  string    // the answer it gave
}

// ID returns the serial ID of the entry's request.
func (e JournalEntry) ID() string {
	f := strings.Fields(e.Request)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// DecodeJournal decodes a journal's records; an error names the first
// record that is not one a Server wrote.
func DecodeJournal(recs [][]byte) ([]JournalEntry, error) {
	out := make([]JournalEntry, 0, len(recs))
	for i, rec := range recs {
		f := strings.Split(string(rec), "\n")
		if len(f) != 3 {
			return nil, fmt.Errorf("kv: journal record %d: %d lines, want 3: %q", i, len(f), rec)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("kv: journal record %d: instant %q: %v", i, f[0], err)
		}
		out = append(out, JournalEntry{Applied: time.Unix(0, ns), Request: f[1], Answer: f[2]})
	}
	return out, nil
}

func encodeJournal(applied time.Time, request, answer string) []byte {
	return []byte(strconv.FormatInt(applied.UnixNano(), 10) + "\n" + request + "\n" + answer)
}

// load reads the journal into a new server's state: every request applied
// again, in order, and (unless Config.ForgetSerials) its serial added to
// the dedupe table as of the instant it was applied, so that the table's
// capacity, expiry and horizon are what they would have been.
func (s *Server) load() error {
	recs, err := s.cfg.Journal.Records()
	if err != nil {
		return fmt.Errorf("kv: reading the journal: %w", err)
	}
	entries, err := DecodeJournal(recs)
	if err != nil {
		return err
	}
	for i, e := range entries {
		r, err := parseRequest(e.Request)
		if err != nil || r.verb == verbGet {
			return fmt.Errorf("kv: journal record %d: not an applied PUT or CHARGE: %q", i, e.Request)
		}
		s.apply(r)
		if s.table != nil && !s.cfg.ForgetSerials {
			s.table.add(&entry{id: r.id, date: r.date, added: e.Applied, request: e.Request, response: e.Answer})
		}
	}
	return nil
}
