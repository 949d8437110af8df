package faultconn

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// DefaultSequenceLines is the number of lines WriteSequence writes at most
// when SequenceOptions.MaxLines is zero.
const DefaultSequenceLines = 30

// MaxSequenceLines bounds SequenceOptions.MaxLines.
const MaxSequenceLines = 1 << 16

// SequenceOptions configures WriteSequence. The zero value shows every
// connection, in at most DefaultSequenceLines lines.
type SequenceOptions struct {
	// Host keeps only the connections with Host at one end (netsim's link
	// names, "client:port->server:port#n"); empty keeps every link.
	Host string
	// Peer, with Host, keeps only the connections between Host and Peer:
	// one host pair.
	Peer string
	// Link keeps only the link of that name: one connection.
	Link string
	// MaxLines bounds the lines written, in [1, MaxSequenceLines]; the
	// middle of a longer chart is replaced by one line saying how many
	// lines it held. Zero means DefaultSequenceLines.
	MaxLines int
	// Indent is written at the start of every line.
	Indent string
}

// WriteSequence writes events (as Trace.Events returns them, or ReadJSON
// reads them) as a message-sequence chart, one line per burst: the
// segments written on one direction of one connection at one instant, an
// arrow from the sender to the receiver, and what became of them.
//
//	0.000s  conn 1  client ──   31B──▶ server   arrived by 0.050s
//	0.050s  conn 1  client ◀──   12B─── server   never arrived (1 lost in the partition)
//	0.300s  conn 1  client ──      ──▶ server   reset sent
//
// The hosts come from netsim's link names; any other link is drawn from
// its name to "peer". It returns the first error from w, or an error
// naming the field when opt is out of range.
func WriteSequence(w io.Writer, events []Event, opt SequenceOptions) error {
	limit := opt.MaxLines
	if limit == 0 {
		limit = DefaultSequenceLines
	}
	if limit < 1 || limit > MaxSequenceLines {
		return fmt.Errorf("faultconn: SequenceOptions.MaxLines %d out of range [1, %d] (0 means %d)",
			opt.MaxLines, MaxSequenceLines, DefaultSequenceLines)
	}
	var bursts []*burst
	open := map[string]*burst{} // the current burst of each link direction
	for _, e := range events {
		if e.Kind == KindNote || e.Link == "" {
			continue
		}
		if opt.Link != "" && e.Link != opt.Link {
			continue
		}
		ends := parseLink(e.Link)
		if opt.Host != "" && ends.client != opt.Host && ends.server != opt.Host {
			continue
		}
		if opt.Peer != "" && !(ends.client == opt.Host && ends.server == opt.Peer || ends.client == opt.Peer && ends.server == opt.Host) {
			continue
		}
		key := e.Link + " " + e.Dir.String()
		b := open[key]
		switch e.Kind {
		case KindSend:
			if b == nil || b.start != e.Time || b.control != "" {
				b = &burst{ends: ends, dir: e.Dir, start: e.Time}
				open[key] = b
				bursts = append(bursts, b)
			}
			b.sent += e.Size
		case KindFin, KindReset, KindTimeout:
			bursts = append(bursts, &burst{ends: ends, dir: e.Dir, start: e.Time, end: e.Time, control: controlWords[e.Kind]})
			continue
		}
		if b == nil {
			continue
		}
		b.end = max(b.end, e.Time)
		switch e.Kind {
		case KindDeliver:
			b.delivered += e.Size
		case KindLose:
			b.lost++
		case KindBlock:
			b.blocked++
		case KindRetransmit:
			b.retrans++
		case KindDuplicate:
			b.dups++
		case KindReorder:
			b.held++
		case KindCorrupt:
			b.corrupt++
		case KindDrop:
			b.dropped++
		}
	}
	bw := bufio.NewWriter(w)
	if len(bursts) == 0 {
		fmt.Fprintf(bw, "%s(no segments)\n", opt.Indent)
	}
	half := limit / 2
	for i, b := range bursts {
		if len(bursts) > limit && i >= half && i < len(bursts)-(limit-half-1) {
			if i == half {
				fmt.Fprintf(bw, "%s%10s   … %d more lines …\n", opt.Indent, "", len(bursts)-(limit-1))
			}
			continue
		}
		fmt.Fprintf(bw, "%s%s\n", opt.Indent, b)
	}
	return bw.Flush()
}

// burst is one line of a sequence chart.
type burst struct {
	ends                      linkEnds
	dir                       Dir
	start, end                time.Duration
	sent, delivered           int // bytes
	lost, retrans, dups, held int // segments
	corrupt, blocked, dropped int
	control                   string // for a line of one FIN, RST or timeout
}

var controlWords = map[Kind]string{KindFin: "end of stream arrived", KindReset: "reset sent", KindTimeout: "retransmissions gave up (timed out)"}

// linkEnds is what a link's name says about its connection.
type linkEnds struct{ client, server, conn string }

var netsimLink = regexp.MustCompile(`^(.+?):\d+->(.+?):\d+(?:#(\S+))?$`)

func parseLink(name string) linkEnds {
	if m := netsimLink.FindStringSubmatch(name); m != nil {
		conn := ""
		if m[3] != "" {
			conn = "conn " + m[3]
		}
		return linkEnds{client: m[1], server: m[2], conn: conn}
	}
	return linkEnds{client: name, server: "peer"}
}

func (b *burst) String() string {
	size := fmt.Sprintf("%dB", b.sent)
	if b.control != "" {
		size = ""
	}
	from, to := fmt.Sprintf("%-8s", b.ends.client), fmt.Sprintf("%-8s", b.ends.server)
	arrow := fmt.Sprintf("%s ──%6s──▶ %s", from, size, to)
	if b.dir == In {
		arrow = fmt.Sprintf("%s ◀──%6s─── %s", from, size, to)
	}
	var what string
	switch {
	case b.control != "":
		what = b.control
	case b.delivered >= b.sent:
		what = "arrived by " + seconds(b.end)
	case b.delivered > 0:
		what = fmt.Sprintf("only %dB arrived", b.delivered)
	default:
		what = "never arrived"
	}
	var notes []string
	add := func(n int, s string) {
		if n > 0 {
			notes = append(notes, fmt.Sprintf("%d %s", n, s))
		}
	}
	add(b.lost, "lost")
	add(b.blocked, "lost in the partition")
	add(b.corrupt, "corrupted")
	add(b.retrans, "retransmitted")
	add(b.dups, "duplicated")
	add(b.held, "held back")
	add(b.dropped, "dropped")
	if len(notes) > 0 {
		what += " (" + strings.Join(notes, ", ") + ")"
	}
	return fmt.Sprintf("%9s  %-7s %s %s", seconds(b.start), b.ends.conn, arrow, what)
}

// seconds formats d as seconds with millisecond precision: "1.250s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%d.%03ds", d/time.Second, d%time.Second/time.Millisecond)
}

// ReadJSON reads a trace written by WriteJSON, keeping the newest limit
// events like a Trace (limit <= 0 means DefaultTraceLimit); discarded
// counts the events WriteJSON reported discarded plus those ReadJSON
// dropped for the limit. It fails on a line that is not one of
// WriteJSON's, naming the line.
func ReadJSON(r io.Reader, limit int) (events []Event, discarded uint64, err error) {
	if limit <= 0 {
		limit = DefaultTraceLimit
	}
	t := &Trace{limit: limit}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var j struct {
			jsonEvent
			jsonDiscarded
		}
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			return nil, 0, fmt.Errorf("faultconn: trace line %d: %w", line, err)
		}
		if j.Link == "" && j.Kind == "" {
			discarded += j.Discarded
			continue
		}
		e := Event{Time: time.Duration(j.TimeNS), Link: j.Link, Seq: j.Seq, Size: j.Size, Note: j.Note}
		var ok1, ok2 bool
		e.Kind, ok1 = kindByName(j.Kind)
		e.Dir, ok2 = dirByName(j.Dir)
		if !ok1 || (!ok2 && e.Kind != KindNote) {
			return nil, 0, fmt.Errorf("faultconn: trace line %d: unknown kind %q or direction %q", line, j.Kind, j.Dir)
		}
		t.put(e)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("faultconn: reading a trace: %w", err)
	}
	events, overflow, _ := t.snapshot()
	return events, discarded + overflow, nil
}

func kindByName(s string) (Kind, bool) {
	for k, name := range kindNames {
		if name == s {
			return Kind(k), true
		}
	}
	return 0, false
}

func dirByName(s string) (Dir, bool) {
	for _, d := range []Dir{Out, In} {
		if d.String() == s {
			return d, true
		}
	}
	return 0, false
}
