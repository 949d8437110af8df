// Package timeline draws what happened in a failed case as one
// self-contained HTML page: the hosts as lanes, every segment of the trace
// as an arrow from its sender's lane at the instant it left to its
// receiver's lane at the instant it arrived, marked with its fate; fault
// intervals (nemesis steps, crashes, pauses) shaded; and operations as
// bars per client, the violating ones highlighted. Time runs left to right
// in virtual seconds since the case began. Details are in each element's
// SVG <title> (shown on hover). The page has no external assets and runs
// no network request.
//
// Its inputs are plain values (trace events, intervals, bars), so that any
// caller converts what it has into them; nothing exported here is API.
//
// # Limits
//
// A page draws at most MaxArrows arrows, MaxMarks marks, MaxBars bars and
// MaxIntervals intervals, and cuts the texts shown on hover to MaxText
// characters, so a trace of any length makes a page of bounded size: a
// full harness trace (65,536 events) about 1 MB, no page more than a few
// MB besides its header and violation, which are shown whole. Over
// MaxArrows, runs of plain delivered segments of one connection direction
// are collapsed into one arrow each (sent within a window the page names),
// then runs of late ones (retransmitted, duplicated, reordered, held),
// then of lost and corrupted ones; the page says what it collapsed and
// what it left out.
package timeline

import (
	"bufio"
	"cmp"
	"fmt"
	"html"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/headwind-go/headwind/faultconn"
)

// Bounds of what one page draws.
const (
	MaxArrows    = 4000 // segment arrows, after collapsing
	MaxMarks     = 2000 // resets, timeouts, drops, end-of-stream and notes
	MaxBars      = 4000 // operation bars
	MaxIntervals = 1000 // shaded intervals
	MaxText      = 200  // characters of a note, an interval's label or a bar's detail
)

// Page is what a timeline page shows.
type Page struct {
	// Title names the failure, such as the test's name.
	Title string
	// Header lines are shown at the top as they are: seeds, the replay
	// command, the faults.
	Header []string
	// Violation is the failure's message, shown prominently; empty for
	// none.
	Violation string
	// Events is the trace, in time order (faultconn.Trace.Events);
	// Discarded counts the events the trace discarded before them.
	Events    []faultconn.Event
	Discarded uint64
	// Intervals are shaded: nemesis steps, crashes, pauses. They are
	// clipped to the page's end.
	Intervals []Interval
	// Bars are operations, one row per client.
	Bars []Bar
	// End is when the case ended, since it began: the right edge of the
	// page and the end of pending bars. Zero means the latest instant of
	// the events and bars (of the intervals if there are none).
	End time.Duration
}

// Interval is a span of time shaded on the lanes of Hosts (every lane if
// Hosts is empty). A zero-length interval is drawn as a line.
type Interval struct {
	Start, End time.Duration // since the case began
	// Kind names the interval's kind ("partition", "isolate", "crash",
	// "pause", "degrade", "reset"): its colour, and a CSS class.
	Kind  string
	Label string // what the interval was, shown on hover
	Hosts []string
}

// Bar is one operation of a client, from its call to its return.
type Bar struct {
	Client string // the row
	Label  string // short text in the bar
	Detail string // shown on hover
	// Start and End are since the case began; a pending operation (it
	// never returned) is drawn to the page's end.
	Start, End time.Duration
	Pending    bool
	// Violating marks an operation the check blamed: highlighted.
	Violating bool
}

// Layout, in pixels.
const (
	left       = 150.0 // lane labels
	rightPad   = 40.0
	top        = 40.0 // the time axis
	laneH      = 80.0
	rowH       = 22.0
	pxPerArrow = 12.0 // width per arrow (or bar) drawn, between minWidth and maxWidth
	minWidth   = 1000.0
	maxWidth   = 16000.0
	markSize   = 5.0
	maxLabels  = 64 // characters of a bar's label
)

// arrow is one segment transmission drawn (or a collapsed run of them).
type arrow struct {
	link       string
	dir        faultconn.Dir
	from, to   int           // lane indices
	t0, t1     time.Duration // sent, arrived (or lost)
	fate       string        // CSS class: ok, lost, block, corrupt, retransmit, dup, reorder, held, reset, inflight, refused
	seq0       uint64
	seq1       uint64
	n          int // transmissions in the run
	bytes      int
	lostMidway bool          // ends halfway, with a cross
	last0      time.Duration // latest send of the run
	first1     time.Duration // earliest arrival of the run
}

// mark is a point event on one lane.
type mark struct {
	lane  int // -1: the notes row above the lanes
	t     time.Duration
	class string
	title string
}

// segment is one segment's story: a key is link, direction and sequence.
type segment struct {
	tx                              time.Duration // latest transmission
	retx, delivered                 int
	dup, reorder, held, corruptSend bool
	done                            bool // delivered at least once
	failed                          bool // the latest transmission failed
}

type segKey struct {
	link string
	dir  faultconn.Dir
	seq  uint64
}

var netsimLink = regexp.MustCompile(`^(.+?):\d+->(.+?):\d+(?:#(\S+))?$`)

// ends returns the sending and receiving host of a link's direction,
// from netsim's link names ("client:port->server:port#n"); any other
// link goes from its name to "peer".
func ends(link string, d faultconn.Dir) (from, to string) {
	from, to = link, "peer"
	if m := netsimLink.FindStringSubmatch(link); m != nil {
		from, to = m[1], m[2]
	}
	if d == faultconn.In {
		from, to = to, from
	}
	return from, to
}

// Write writes the page as HTML to w. It returns the first error from w.
func Write(w io.Writer, p Page) error {
	d := build(p)
	bw := bufio.NewWriterSize(w, 64<<10)
	d.write(bw)
	return bw.Flush()
}

// drawing is a page laid out.
type drawing struct {
	p          Page
	end        time.Duration
	hosts      []string
	lane       map[string]int
	arrows     []arrow
	marks      []mark
	transmits  int    // segment transmissions in the trace
	collapsed  string // what collapsing did, "" if nothing
	dropped    []string
	clients    []string
	bars       []Bar
	intervals  []Interval
	width      float64
	pxPerNanos float64
}

func build(p Page) *drawing {
	d := &drawing{p: p, lane: map[string]int{}}
	d.end = p.End
	addHost := func(h string) int {
		i, ok := d.lane[h]
		if !ok {
			i = len(d.hosts)
			d.lane[h] = i
			d.hosts = append(d.hosts, h)
		}
		return i
	}
	// Hosts in order of first appearance, then sorted: stable lanes.
	for _, e := range p.Events {
		if e.Link != "" {
			a, b := ends(e.Link, faultconn.Out)
			addHost(a)
			addHost(b)
		}
		if p.End == 0 {
			d.end = max(d.end, e.Time)
		}
	}
	var ivEnd time.Duration
	for _, iv := range p.Intervals {
		for _, h := range iv.Hosts {
			addHost(h)
		}
		if p.End == 0 {
			ivEnd = max(ivEnd, iv.End)
		}
	}
	if p.End == 0 {
		for _, b := range p.Bars {
			d.end = max(d.end, b.End, b.Start)
		}
		if d.end == 0 {
			d.end = ivEnd // intervals only
		}
	}
	if d.end <= 0 {
		d.end = time.Second
	}
	slices.Sort(d.hosts)
	for i, h := range d.hosts {
		d.lane[h] = i
	}
	d.segments()
	d.collapse()
	d.width = min(max(float64(max(len(d.arrows), len(p.Bars)))*pxPerArrow, minWidth), maxWidth)
	d.pxPerNanos = d.width / float64(d.end)
	if len(d.marks) > MaxMarks {
		d.dropped = append(d.dropped, fmt.Sprintf("%d marks (resets, timeouts, drops, notes) after the first %d", len(d.marks)-MaxMarks, MaxMarks))
		d.marks = d.marks[:MaxMarks]
	}

	d.intervals = p.Intervals
	if len(d.intervals) > MaxIntervals {
		d.dropped = append(d.dropped, fmt.Sprintf("%d intervals after the first %d", len(d.intervals)-MaxIntervals, MaxIntervals))
		d.intervals = d.intervals[:MaxIntervals]
	}
	d.bars = p.Bars
	if len(d.bars) > MaxBars {
		// Keep the violating operations, then the earliest.
		bars := slices.Clone(d.bars)
		slices.SortStableFunc(bars, func(a, b Bar) int {
			if a.Violating != b.Violating {
				if a.Violating {
					return -1
				}
				return 1
			}
			return 0
		})
		d.dropped = append(d.dropped, fmt.Sprintf("%d operations (the latest of those not violating)", len(bars)-MaxBars))
		d.bars = bars[:MaxBars]
	}
	seen := map[string]bool{}
	for _, b := range d.bars {
		if !seen[b.Client] {
			seen[b.Client] = true
			d.clients = append(d.clients, b.Client)
		}
	}
	slices.Sort(d.clients)
	return d
}

// segments turns the trace into arrows and marks.
func (d *drawing) segments() {
	segs := map[segKey]*segment{}
	for _, e := range d.p.Events {
		if e.Kind == faultconn.KindNote || e.Link == "" {
			d.marks = append(d.marks, mark{lane: -1, t: e.Time, class: "note", title: fmt.Sprintf("%s note %s: %s", secs(e.Time), shorten(e.Link, MaxText), shorten(e.Note, MaxText))})
			continue
		}
		fromH, toH := ends(e.Link, e.Dir)
		from, to := d.lane[fromH], d.lane[toH]
		k := segKey{e.Link, e.Dir, e.Seq}
		s := segs[k]
		if s == nil && e.Kind != faultconn.KindFin && e.Kind != faultconn.KindReset && e.Kind != faultconn.KindTimeout && e.Kind != faultconn.KindDrop {
			// Its send is before the trace's window: from the first
			// event seen.
			s = &segment{tx: e.Time}
			segs[k] = s
		}
		add := func(fate string, t1 time.Duration, midway bool) {
			s.failed = midway || (fate == "corrupt" && !s.corruptSend)
			d.transmits++
			d.arrows = append(d.arrows, arrow{link: e.Link, dir: e.Dir, from: from, to: to, t0: s.tx, t1: t1, last0: s.tx, first1: t1,
				fate: fate, seq0: e.Seq, seq1: e.Seq, n: 1, bytes: e.Size, lostMidway: midway})
		}
		switch e.Kind {
		case faultconn.KindSend:
			s.tx = e.Time
		case faultconn.KindRetransmit:
			s.tx = e.Time
			s.retx++
			s.failed = false
		case faultconn.KindDuplicate:
			s.dup = true
		case faultconn.KindReorder:
			s.reorder = true
		case faultconn.KindHold:
			s.held = true
		case faultconn.KindLose:
			add("lost", e.Time, true)
		case faultconn.KindBlock:
			add("block", e.Time, true)
		case faultconn.KindCorrupt:
			if e.Time == s.tx {
				s.corruptSend = true // delivered corrupted (Segments mode)
			} else {
				add("corrupt", e.Time, false) // arrived, discarded, retransmitted
			}
		case faultconn.KindDeliver:
			fate := "ok"
			switch {
			case s.corruptSend:
				fate = "corrupt"
			case s.delivered > 0:
				fate = "dup"
			case s.reorder:
				fate = "reorder"
			case s.held:
				fate = "held"
			case s.retx > 0:
				fate = "retransmit"
			case s.dup:
				fate = "dup"
			}
			add(fate, e.Time, false)
			s.delivered++
			s.done = true
		case faultconn.KindFin:
			if s := segs[k]; s != nil { // a FIN retransmitted: its transmission is traced
				d.transmits++
				d.arrows = append(d.arrows, arrow{link: e.Link, dir: e.Dir, from: from, to: to, t0: s.tx, t1: e.Time, last0: s.tx, first1: e.Time,
					fate: "fin", seq0: e.Seq, seq1: e.Seq, n: 1})
				s.done = true
			}
			d.marks = append(d.marks, mark{lane: to, t: e.Time, class: "fin", title: fmt.Sprintf("%s end of stream arrived at %s (%s %s #%d)", secs(e.Time), toH, e.Link, e.Dir, e.Seq)})
		case faultconn.KindReset:
			d.marks = append(d.marks, mark{lane: from, t: e.Time, class: "reset", title: fmt.Sprintf("%s %s sent a reset to %s (%s %s)", secs(e.Time), fromH, toH, e.Link, e.Dir)})
		case faultconn.KindTimeout:
			d.marks = append(d.marks, mark{lane: from, t: e.Time, class: "timeout", title: fmt.Sprintf("%s %s gave up retransmitting to %s: timed out (%s %s #%d)", secs(e.Time), fromH, toH, e.Link, e.Dir, e.Seq)})
		case faultconn.KindDrop:
			if s != nil { // its send was seen: it arrived at a closed reader
				add("refused", e.Time, false)
				s.done = true
				break
			}
			d.marks = append(d.marks, mark{lane: from, t: e.Time, class: "drop", title: fmt.Sprintf("%s %s dropped a segment for lack of buffer room (%s %s #%d, %dB)", secs(e.Time), fromH, e.Link, e.Dir, e.Seq, e.Size)})
		}
	}
	// Segments sent and never delivered or lost by the end: in flight.
	for k, s := range segs {
		if s.done || s.failed {
			continue
		}
		fromH, toH := ends(k.link, k.dir)
		d.transmits++
		d.arrows = append(d.arrows, arrow{link: k.link, dir: k.dir, from: d.lane[fromH], to: d.lane[toH], t0: s.tx, t1: d.end, last0: s.tx, first1: d.end,
			fate: "inflight", seq0: k.seq, seq1: k.seq, n: 1, lostMidway: true})
	}
	slices.SortStableFunc(d.arrows, func(a, b arrow) int {
		return cmp.Or(cmp.Compare(a.t0, b.t0), cmp.Compare(a.link, b.link), cmp.Compare(a.dir, b.dir), cmp.Compare(a.seq0, b.seq0))
	})
}

// collapse merges arrows until at most MaxArrows are left, a tier of
// fates at a time, each in ever wider windows of send instants: first
// runs of plain delivered segments per connection direction, then of
// segments delivered late (retransmitted, duplicated, reordered, held),
// then of lost and corrupted ones.
func (d *drawing) collapse() {
	if len(d.arrows) <= MaxArrows {
		return
	}
	tiers := []struct {
		fates []string // nil: every fate
		what  string
	}{
		{[]string{"ok"}, "runs of delivered segments"},
		{[]string{"ok", "retransmit", "dup", "reorder", "held", "inflight", "fin"}, "runs of segments of one fate, lost ones excepted,"},
		{nil, "runs of segments of one fate"},
	}
	before := len(d.arrows)
	// Runs are of one connection direction and fate: a group.
	groups := make([]int, len(d.arrows))
	ids := map[groupKey]int{}
	for i, a := range d.arrows {
		k := groupKey{a.link, a.dir, a.fate}
		id, ok := ids[k]
		if !ok {
			id = len(ids)
			ids[k] = id
		}
		groups[i] = id
	}
	var out []arrow
	var what string
	for _, tier := range tiers {
		ok := func(a arrow) bool { return tier.fates == nil || slices.Contains(tier.fates, a.fate) }
		w := max(time.Microsecond, d.end/(4*MaxArrows))
		for {
			out = merge(d.arrows, groups, ok, w)
			if len(out) <= MaxArrows || w > d.end {
				break
			}
			w *= 2
		}
		what = fmt.Sprintf("%s of one connection direction sent within %s of each other are drawn as one arrow each", tier.what, humanDur(w))
		if len(out) <= MaxArrows {
			break
		}
	}
	if len(out) > MaxArrows {
		d.dropped = append(d.dropped, fmt.Sprintf("%d arrows after the first %d", len(out)-MaxArrows, MaxArrows))
		out = out[:MaxArrows]
	}
	d.collapsed = fmt.Sprintf("%d segment transmissions collapsed into %d arrows: %s (hover for counts)", before, len(out), what)
	d.arrows = out
}

type groupKey struct {
	link string
	dir  faultconn.Dir
	fate string
}

// merge merges the arrows that ok selects by group (connection direction
// and fate, groups[i] for arrows[i]) and window of width w of their send
// instants; the others stay.
func merge(arrows []arrow, groups []int, ok func(arrow) bool, w time.Duration) []arrow {
	idx := map[[2]int64]int{}
	out := make([]arrow, 0, MaxArrows)
	for i, a := range arrows {
		if !ok(a) {
			out = append(out, a)
			continue
		}
		k := [2]int64{int64(groups[i]), int64(a.t0 / w)}
		i, found := idx[k]
		if !found {
			idx[k] = len(out)
			out = append(out, a)
			continue
		}
		m := &out[i]
		m.t0, m.t1 = min(m.t0, a.t0), max(m.t1, a.t1)
		m.last0, m.first1 = max(m.last0, a.t0), min(m.first1, a.t1)
		m.seq0, m.seq1 = min(m.seq0, a.seq0), max(m.seq1, a.seq1)
		m.n += a.n
		m.bytes += a.bytes
	}
	return out
}

func (d *drawing) x(t time.Duration) float64 { return left + float64(t)*d.pxPerNanos }

func (d *drawing) laneY(i int) float64 { return top + laneH*float64(i) + laneH/2 }

func (d *drawing) rowY(i int) float64 {
	return top + laneH*float64(len(d.hosts)) + 20 + rowH*float64(i)
}

func (d *drawing) height() float64 {
	return d.rowY(len(d.clients)) + 20
}

var fateWords = map[string]string{
	"ok": "delivered", "lost": "lost", "block": "lost in a partition", "corrupt": "corrupted",
	"retransmit": "delivered after retransmission", "dup": "duplicated", "reorder": "reordered (held back)",
	"held": "held at a paused host", "inflight": "still in flight at the end", "fin": "end of stream (retransmitted)",
	"refused": "dropped by a closed socket",
}

func (d *drawing) write(w *bufio.Writer) {
	title := d.p.Title
	if title == "" {
		title = "headwind timeline"
	}
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n<style>%s</style></head><body>\n", esc(title), css)
	fmt.Fprintf(w, "<h1>%s</h1>\n", esc(title))
	if first, _, _ := strings.Cut(d.p.Violation, "\n"); first != "" {
		fmt.Fprintf(w, "<p class=\"summary\">%s</p>\n", esc(first))
	}
	width, height := d.width+left+rightPad, d.height()
	fmt.Fprintf(w, "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" id=\"timeline\" width=\"%.0f\" height=\"%.0f\">\n%s\n", width, height, defs)
	d.writeAxis(w, height)
	d.writeLanes(w)
	late := d.writeIntervals(w)
	d.writeArrows(w)
	d.writeMarks(w)
	d.writeBars(w)
	w.WriteString("</svg></div>\n")
	w.WriteString(legend)
	fmt.Fprintf(w, "<p class=\"counts\">%d trace events (%d discarded before them), %d segment transmissions, %d hosts, %d intervals, %d operations; time in virtual seconds since the case began, %s in all.</p>\n",
		len(d.p.Events), d.p.Discarded, d.transmits, len(d.hosts), len(d.p.Intervals), len(d.p.Bars), secs(d.end))
	if late > 0 {
		fmt.Fprintf(w, "<p class=\"collapsed\">%d intervals began after the end and are not drawn.</p>\n", late)
	}
	if d.collapsed != "" {
		fmt.Fprintf(w, "<p class=\"collapsed\">Collapsed: %s.</p>\n", esc(d.collapsed))
	}
	if len(d.dropped) > 0 {
		fmt.Fprintf(w, "<p class=\"collapsed\">Not drawn (over the page's bounds): %s.</p>\n", esc(strings.Join(d.dropped, "; ")))
	}
	if d.p.Violation != "" {
		fmt.Fprintf(w, "<pre class=\"violation\">%s</pre>\n", esc(d.p.Violation))
	}
	if len(d.p.Header) > 0 {
		w.WriteString("<pre class=\"header\">")
		for _, l := range d.p.Header {
			w.WriteString(esc(l))
			w.WriteString("\n")
		}
		w.WriteString("</pre>\n")
	}
	w.WriteString("</body></html>\n")
}

func (d *drawing) writeAxis(w *bufio.Writer, height float64) {
	step := niceStep(d.end)
	w.WriteString("<g class=\"axis\">")
	for t := time.Duration(0); t <= d.end; t += step {
		x := d.x(t)
		fmt.Fprintf(w, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\"/><text x=\"%.1f\" y=\"%.0f\">%s</text>", x, top-8, x, height, x, top-12, axisLabel(t, step))
	}
	w.WriteString("</g>\n")
}

func (d *drawing) writeLanes(w *bufio.Writer) {
	for i, h := range d.hosts {
		y := d.laneY(i)
		fmt.Fprintf(w, "<g class=\"lane\" data-host=\"%s\"><line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/><text x=\"8\" y=\"%.1f\">%s</text></g>\n",
			esc(h), left, y, d.x(d.end), y, y+4, esc(h))
	}
	for i, c := range d.clients {
		y := d.rowY(i)
		fmt.Fprintf(w, "<g class=\"row\" data-client=\"%s\"><text x=\"8\" y=\"%.1f\">%s</text></g>\n", esc(c), y+rowH/2+4, esc("client "+c))
	}
}

func (d *drawing) writeIntervals(w *bufio.Writer) (late int) {
	w.WriteString("<g class=\"intervals\">\n")
	for _, iv := range d.intervals {
		if iv.Start > d.end {
			late++
			continue
		}
		lanes := make([]int, 0, len(d.hosts))
		for _, h := range iv.Hosts {
			if i, ok := d.lane[h]; ok {
				lanes = append(lanes, i)
			}
		}
		if len(iv.Hosts) == 0 {
			for i := range d.hosts {
				lanes = append(lanes, i)
			}
		}
		slices.Sort(lanes)
		lanes = slices.Compact(lanes)
		x0, x1 := d.x(max(iv.Start, 0)), d.x(min(max(iv.End, iv.Start), d.end))
		tip := fmt.Sprintf("%s–%s %s", secs(iv.Start), secs(iv.End), shorten(iv.Label, MaxText))
		fmt.Fprintf(w, "<g class=\"iv %s\" data-kind=\"%s\"><title>%s</title>", esc(className(iv.Kind)), esc(iv.Kind), esc(tip))
		for _, i := range lanes {
			y := d.laneY(i) - laneH/2 + 4
			if x1-x0 < 2 {
				fmt.Fprintf(w, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0, y, x0, y+laneH-8)
			} else {
				fmt.Fprintf(w, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\"/>", x0, y, x1-x0, laneH-8)
			}
		}
		if len(lanes) > 0 {
			fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%.1f\">%s</text>", x0+2, d.laneY(lanes[0])-laneH/2+14, esc(shorten(iv.Kind, 20)))
		}
		w.WriteString("</g>\n")
	}
	w.WriteString("</g>\n")
	return late
}

func (d *drawing) writeArrows(w *bufio.Writer) {
	w.WriteString("<g class=\"segs\">\n")
	for _, a := range d.arrows {
		x0, y0 := d.x(a.t0), d.laneY(a.from)
		x1, y1 := d.x(a.t1), d.laneY(a.to)
		marker := "ah-" + a.fate
		if a.lostMidway {
			y1 = (y0 + y1) / 2
			marker = "x"
			if a.fate == "inflight" {
				marker = "ah-inflight"
			}
		}
		fromH, toH := ends(a.link, a.dir)
		var tip string
		if a.n == 1 {
			tip = fmt.Sprintf("%s %s→%s %s %s #%d %dB: sent %s, %s %s", fateWords[a.fate], fromH, toH, a.link, a.dir, a.seq0, a.bytes, secs(a.t0), arrivalWord(a.fate), secs(a.t1))
		} else {
			tip = fmt.Sprintf("%d segments %s %s→%s %s %s #%d–#%d %dB: sent %s–%s, %s %s–%s", a.n, fateWords[a.fate], fromH, toH, a.link, a.dir, a.seq0, a.seq1, a.bytes,
				secs(a.t0), secs(a.last0), arrivalWord(a.fate), secs(a.first1), secs(a.t1))
		}
		run := ""
		if a.n > 1 {
			run = " run"
		}
		fmt.Fprintf(w, "<line class=\"seg %s%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" marker-end=\"url(#%s)\"><title>%s</title></line>\n",
			a.fate, run, x0, y0, x1, y1, marker, esc(tip))
	}
	w.WriteString("</g>\n")
}

func arrivalWord(fate string) string {
	switch fate {
	case "lost", "block":
		return "lost"
	case "inflight":
		return "page ends"
	case "corrupt":
		return "arrived corrupted"
	case "fin":
		return "arrived"
	}
	return "arrived"
}

func (d *drawing) writeMarks(w *bufio.Writer) {
	w.WriteString("<g class=\"marks\">\n")
	for _, m := range d.marks {
		x, y := d.x(m.t), top-2.0
		if m.lane >= 0 {
			y = d.laneY(m.lane)
		}
		fmt.Fprintf(w, "<path class=\"mark %s\" d=\"M%.1f %.1fl%.0f %.0fl%.0f %.0fl%.0f %.0fz\"><title>%s</title></path>\n",
			m.class, x, y-markSize, markSize, markSize, -markSize, markSize, -markSize, -markSize, esc(m.title))
	}
	w.WriteString("</g>\n")
}

func (d *drawing) writeBars(w *bufio.Writer) {
	row := map[string]int{}
	for i, c := range d.clients {
		row[c] = i
	}
	w.WriteString("<g class=\"bars\">\n")
	for _, b := range d.bars {
		end := b.End
		if b.Pending {
			end = d.end
		}
		x0 := d.x(max(b.Start, 0))
		wd := max(d.x(min(max(end, b.Start), d.end))-x0, 2)
		y := d.rowY(row[b.Client]) + 2
		class := "bar"
		if b.Pending {
			class += " pending"
		}
		if b.Violating {
			class += " violating"
		}
		state := "returned " + secs(b.End)
		if b.Pending {
			state = "pending (never returned)"
		}
		tip := fmt.Sprintf("client %s: %s\ncalled %s, %s", shorten(b.Client, maxLabels), shorten(b.Detail, MaxText), secs(b.Start), state)
		if b.Detail == "" {
			tip = fmt.Sprintf("client %s: %s\ncalled %s, %s", shorten(b.Client, maxLabels), shorten(b.Label, MaxText), secs(b.Start), state)
		}
		if b.Violating {
			tip += "\nblamed by the check"
		}
		fmt.Fprintf(w, "<g class=\"%s\"><title>%s</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\"/>", class, esc(tip), x0, y, wd, rowH-4)
		label := shorten(b.Label, maxLabels)
		if float64(len(label))*6.5 < wd {
			fmt.Fprintf(w, "<text x=\"%.1f\" y=\"%.1f\">%s</text>", x0+3, y+rowH-9, esc(label))
		}
		w.WriteString("</g>\n")
	}
	w.WriteString("</g>\n")
}

var esc = html.EscapeString

var nonClass = regexp.MustCompile(`[^a-z0-9-]+`)

// className makes a CSS class of a kind: lower case, letters, digits and
// dashes.
func className(kind string) string {
	c := nonClass.ReplaceAllString(strings.ToLower(kind), "-")
	if c == "" {
		return "other"
	}
	return c
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// secs formats d in seconds with microsecond precision: "1.250000s".
func secs(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("%s%d.%06ds", sign, d/time.Second, d%time.Second/time.Microsecond)
}

func humanDur(d time.Duration) string {
	if d > 24*time.Hour {
		return "the whole page"
	}
	return d.String()
}

// niceStep is the axis's tick step: 1, 2 or 5 times a power of ten, for
// about 10 to 25 ticks.
func niceStep(end time.Duration) time.Duration {
	raw := float64(end) / 20
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return max(time.Duration(m*p), time.Nanosecond)
		}
	}
	return time.Duration(10 * p)
}

func axisLabel(t, step time.Duration) string {
	s := secs(t)
	// Trim the zeros the step does not need.
	digits := 6
	for u := time.Microsecond; u < step && digits > 0 && step%(u*10) == 0; u *= 10 {
		digits--
	}
	if digits == 0 {
		return strings.TrimSuffix(s[:strings.IndexByte(s, '.')], ".") + "s"
	}
	return s[:strings.IndexByte(s, '.')+1+digits] + "s"
}

const defs = `<defs>
<marker id="ah-ok" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#6b7280"/></marker>
<marker id="ah-retransmit" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#d97706"/></marker>
<marker id="ah-dup" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#7c3aed"/></marker>
<marker id="ah-reorder" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#0891b2"/></marker>
<marker id="ah-corrupt" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#db2777"/></marker>
<marker id="ah-held" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#65a30d"/></marker>
<marker id="ah-inflight" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#9ca3af"/></marker>
<marker id="ah-refused" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#f59e0b"/></marker>
<marker id="ah-fin" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#2563eb"/></marker>
<marker id="x" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="8" markerHeight="8"><path d="M1 1L9 9M9 1L1 9" stroke="#dc2626" stroke-width="2"/></marker>
</defs>`

const legend = `<p class="legend">Arrows, sender to receiver:
<span class="k ok">delivered</span> <span class="k retransmit">after retransmission</span>
<span class="k lost">lost ✕</span> <span class="k block">lost in a partition ✕</span>
<span class="k dup">duplicated</span> <span class="k reorder">reordered</span> <span class="k corrupt">corrupted</span>
<span class="k held">held at a paused host</span> <span class="k refused">dropped by a closed socket</span> <span class="k inflight">in flight at the end</span>.
Marks: <span class="k reset">◆ reset sent</span> <span class="k fin">◆ end of stream</span> <span class="k timeout">◆ timed out</span> <span class="k drop">◆ dropped</span> <span class="k note">◆ note</span>.
Shaded: nemesis steps, crashes, pauses. Bars: operations per client, <span class="k violating">blamed by the check</span>, <span class="k pending">pending</span>. Hover over anything for details.</p>
`

const css = `body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#111}
h1{font-size:18px;margin:0 0 8px}
pre{background:#f3f4f6;padding:8px;overflow-x:auto;white-space:pre-wrap;margin:6px 0}
p.summary{color:#7f1d1d;font-weight:600;margin:0 0 8px}
pre.violation{background:#fee2e2;color:#7f1d1d;border-left:4px solid #dc2626}
.collapsed{color:#92400e}
.scroll{overflow:auto;border:1px solid #d1d5db}
svg{font:11px system-ui,sans-serif}
.axis line{stroke:#e5e7eb}.axis text{fill:#6b7280;text-anchor:middle}
.lane line{stroke:#111;stroke-width:1.5}.lane text,.row text{font-weight:600;fill:#111}
.seg{stroke-width:1.6;fill:none}.seg:hover{stroke-width:4}.seg.run{stroke-width:3;stroke-opacity:.6}
.seg.ok{stroke:#6b7280}.seg.retransmit{stroke:#d97706}.seg.lost,.seg.block{stroke:#dc2626;stroke-dasharray:4 2}
.seg.block{stroke:#991b1b}.seg.dup{stroke:#7c3aed}.seg.reorder{stroke:#0891b2}.seg.corrupt{stroke:#db2777}
.seg.held{stroke:#65a30d}.seg.fin{stroke:#2563eb}.seg.inflight{stroke:#9ca3af;stroke-dasharray:2 3}.seg.refused{stroke:#f59e0b}
.mark{stroke:none}.mark.reset{fill:#dc2626}.mark.fin{fill:#2563eb}.mark.timeout{fill:#111}.mark.drop{fill:#f59e0b}.mark.note{fill:#0d9488}
.iv rect{fill:#fca5a5;fill-opacity:.35}.iv line{stroke:#b91c1c;stroke-width:2}.iv text{fill:#7f1d1d;font-size:10px}
.iv.isolate rect{fill:#fdba74}.iv.degrade rect{fill:#fde68a}.iv.crash rect{fill:#9ca3af;fill-opacity:.5}.iv.pause rect{fill:#93c5fd}
.bar rect{fill:#bfdbfe;stroke:#3b82f6}.bar.pending rect{fill:#e5e7eb;stroke:#9ca3af;stroke-dasharray:3 2}
.bar.violating rect{fill:#dc2626;stroke:#7f1d1d;stroke-width:2}.bar.violating text{fill:#fff;font-weight:600}
.bar text{fill:#1e3a8a;pointer-events:none}
.k{padding:0 4px;border-radius:3px;color:#fff}.k.ok{background:#6b7280}.k.retransmit{background:#d97706}.k.lost{background:#dc2626}
.k.block{background:#991b1b}.k.dup{background:#7c3aed}.k.reorder{background:#0891b2}.k.corrupt{background:#db2777}.k.held{background:#65a30d}
.k.inflight{background:#9ca3af}.k.refused{background:#f59e0b}.k.reset{background:#dc2626}.k.fin{background:#2563eb}.k.timeout{background:#111}.k.drop{background:#f59e0b}
.k.note{background:#0d9488}.k.violating{background:#dc2626}.k.pending{background:#9ca3af}
`
