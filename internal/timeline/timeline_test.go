package timeline

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/internal/browser"
)

const ms = time.Millisecond

// every is a small trace with one segment of every fate on a netsim link.
func every() Page {
	l := "c1:49152->server:80#1"
	ev := func(t time.Duration, d faultconn.Dir, seq uint64, k faultconn.Kind, size int) faultconn.Event {
		return faultconn.Event{Time: t, Link: l, Dir: d, Seq: seq, Kind: k, Size: size}
	}
	out, in := faultconn.Out, faultconn.In
	return Page{
		Title:     "TestEvery <script>",
		Header:    []string{"seed: 1", "replay: go test -run 'X'"},
		Violation: `get("x") → "1", want "2"`,
		Events: []faultconn.Event{
			ev(0, out, 1, faultconn.KindSend, 10), ev(10*ms, out, 1, faultconn.KindDeliver, 10),
			ev(10*ms, in, 1, faultconn.KindSend, 4), ev(10*ms, in, 1, faultconn.KindDuplicate, 4), ev(20*ms, in, 1, faultconn.KindDeliver, 4),
			ev(20*ms, out, 2, faultconn.KindSend, 7), ev(30*ms, out, 2, faultconn.KindLose, 7),
			ev(40*ms, out, 3, faultconn.KindSend, 5), ev(40*ms, out, 3, faultconn.KindReorder, 5),
			ev(50*ms, out, 4, faultconn.KindSend, 6), ev(60*ms, out, 4, faultconn.KindBlock, 6),
			ev(220*ms, out, 2, faultconn.KindRetransmit, 7), ev(230*ms, out, 2, faultconn.KindDeliver, 7),
			ev(240*ms, out, 3, faultconn.KindDeliver, 5),
			ev(250*ms, in, 2, faultconn.KindSend, 3), ev(260*ms, in, 2, faultconn.KindCorrupt, 3),
			ev(270*ms, out, 5, faultconn.KindSend, 9),
			ev(275*ms, in, 4, faultconn.KindSend, 2), ev(285*ms, in, 4, faultconn.KindDrop, 2),
			ev(290*ms, out, 7, faultconn.KindDrop, 8),
			{Time: 280 * ms, Kind: faultconn.KindNote, Note: "leader is c1"},
			ev(300*ms, out, 6, faultconn.KindReset, 0),
			ev(310*ms, in, 3, faultconn.KindFin, 0),
		},
		Intervals: []Interval{
			{Start: 45 * ms, End: 200 * ms, Kind: "partition", Label: "partition [c1] | [server]", Hosts: []string{"c1", "server"}},
			{Start: 300 * ms, End: 300 * ms, Kind: "reset", Label: "reset c1<->server", Hosts: []string{"c1", "server"}},
		},
		Bars: []Bar{
			{Client: "0", Label: "put x 1", Start: 0, End: 230 * ms},
			{Client: "1", Label: "get x", Start: 240 * ms, End: 300 * ms, Violating: true, Detail: `get("x") → "1"`},
			{Client: "1", Label: "put x 2", Start: 250 * ms, Pending: true},
		},
	}
}

func write(t *testing.T, p Page) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Write(&b, p))
	return b.String()
}

func count(s, sub string) int { return strings.Count(s, sub) }

// contains, notContains and matches check a page without printing all of
// it when they fail.
func contains(t *testing.T, page, sub string) {
	t.Helper()
	if !strings.Contains(page, sub) {
		t.Fatalf("the page (%d bytes) lacks %q", len(page), sub)
	}
}

func notContains(t *testing.T, page, sub string) {
	t.Helper()
	if i := strings.Index(page, sub); i >= 0 {
		t.Fatalf("the page has %q: …%s…", sub, page[max(i-200, 0):min(i+200, len(page))])
	}
}

func matches(t *testing.T, page, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(page) {
		t.Fatalf("the page (%d bytes) has nothing matching %q", len(page), pattern)
	}
}

// TestWriteDrawsEveryFate: the lanes, one arrow per transmission with its
// fate, the marks, the shaded intervals and the bars, the violating one
// highlighted, in well-formed SVG with the text escaped.
func TestWriteDrawsEveryFate(t *testing.T) {
	page := write(t, every())
	contains(t, page, "<title>TestEvery &lt;script&gt;</title>")
	notContains(t, page, "<script>")
	contains(t, page, `<pre class="violation">get(&#34;x&#34;) → &#34;1&#34;, want &#34;2&#34;</pre>`)
	contains(t, page, "replay: go test -run &#39;X&#39;")
	for _, h := range []string{"c1", "server"} {
		require.Equal(t, 1, count(page, `<g class="lane" data-host="`+h+`">`), h)
	}
	for fate, n := range map[string]int{"ok": 1, "dup": 1, "lost": 1, "retransmit": 1, "reorder": 1, "block": 1, "corrupt": 1, "inflight": 1, "refused": 1} {
		require.Equal(t, n, count(page, `<line class="seg `+fate+`"`), fate)
	}
	matches(t, page, `<line class="seg lost" [^>]*marker-end="url\(#x\)"><title>lost c1→server c1:49152-&gt;server:80#1 out #2 7B: sent 0.020000s, lost 0.030000s</title>`)
	matches(t, page, `<line class="seg retransmit" [^>]*><title>delivered after retransmission c1→server [^<]*sent 0.220000s, arrived 0.230000s</title>`)
	matches(t, page, `<line class="seg corrupt" [^>]*><title>corrupted server→c1 `)
	matches(t, page, `<line class="seg refused" [^>]*marker-end="url\(#ah-refused\)"><title>dropped by a closed socket server→c1 [^<]*#4 2B: sent 0.275000s, arrived 0.285000s</title>`)
	for _, m := range []string{"note", "reset", "fin", "drop"} {
		require.Equal(t, 1, count(page, `<path class="mark `+m+`"`), m)
	}
	contains(t, page, `<g class="iv partition" data-kind="partition"><title>0.045000s–0.200000s partition [c1] | [server]</title><rect`)
	matches(t, page, `<g class="iv reset" data-kind="reset"><title>[^<]*</title><line `)
	require.Equal(t, 1, count(page, `<g class="bar violating">`))
	contains(t, page, `<g class="bar violating"><title>client 1: get(&#34;x&#34;) → &#34;1&#34;`)
	require.Equal(t, 1, count(page, `<g class="bar pending">`))
	contains(t, page, `data-client="0"`)
	notContains(t, page, "Collapsed:")

	// The SVG is well-formed XML.
	svg := page[strings.Index(page, "<svg") : strings.Index(page, "</svg>")+len("</svg>")]
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
}

// TestWriteOtherLinks: a link whose name is not netsim's goes from its
// name to "peer"; an empty page still has a time axis.
func TestWriteOtherLinks(t *testing.T) {
	page := write(t, Page{Events: []faultconn.Event{
		{Time: 0, Link: "pipe", Seq: 1, Kind: faultconn.KindSend, Size: 1},
		{Time: ms, Link: "pipe", Seq: 1, Kind: faultconn.KindDeliver, Size: 1},
	}})
	contains(t, page, `data-host="pipe"`)
	contains(t, page, `data-host="peer"`)
	contains(t, write(t, Page{}), `<g class="axis">`)
}

// large is a trace of n events over connections from 8 clients to a
// server: most segments delivered, some lost and retransmitted,
// duplicated, reordered or corrupted; a few resets.
func large(n int) []faultconn.Event {
	r := rand.New(rand.NewPCG(1, 2))
	var evs []faultconn.Event
	seq := map[string]uint64{}
	for now := time.Duration(0); len(evs) < n; now += time.Duration(r.IntN(2000)) * time.Microsecond {
		l := fmt.Sprintf("c%d:%d->server:80#%d", r.IntN(8)+1, 49152+r.IntN(4), r.IntN(4)+1)
		d := faultconn.Dir(r.IntN(2))
		key := l + d.String()
		seq[key]++
		s := seq[key]
		size := 1 + r.IntN(1460)
		lat := time.Duration(20+r.IntN(30)) * ms
		add := func(t time.Duration, k faultconn.Kind) {
			evs = append(evs, faultconn.Event{Time: t, Link: l, Dir: d, Seq: s, Kind: k, Size: size})
		}
		add(now, faultconn.KindSend)
		switch x := r.IntN(100); {
		case x < 4:
			add(now+lat, faultconn.KindLose)
			add(now+200*ms, faultconn.KindRetransmit)
			add(now+200*ms+lat, faultconn.KindDeliver)
		case x < 6:
			add(now, faultconn.KindDuplicate)
			add(now+lat, faultconn.KindDeliver)
		case x < 8:
			add(now, faultconn.KindReorder)
			add(now+2*lat, faultconn.KindDeliver)
		case x < 9:
			add(now+lat, faultconn.KindCorrupt)
			add(now+200*ms, faultconn.KindRetransmit)
			add(now+200*ms+lat, faultconn.KindDeliver)
		case x < 10:
			evs = append(evs, faultconn.Event{Time: now, Link: l, Dir: d, Seq: s, Kind: faultconn.KindReset})
		default:
			add(now+lat, faultconn.KindDeliver)
		}
	}
	evs = evs[:n]
	slices.SortStableFunc(evs, func(a, b faultconn.Event) int { return int(a.Time - b.Time) })
	return evs
}

// LargeEvents is the size of the trace a harness network keeps.
const largeEvents = 1 << 16

// maxPageBytes is the size bound the package documentation states.
const maxPageBytes = 2 << 20

// TestWriteBoundsLargeTrace: a 65,536-event trace makes a page within the
// stated bounds, which says what it collapsed; the faults stay arrows of
// their own.
func TestWriteBoundsLargeTrace(t *testing.T) {
	p := every()
	p.Events = large(largeEvents)
	page := write(t, p)
	arrows := count(page, `<line class="seg `)
	t.Logf("%d events: page %d bytes, %d arrows, %d collapsed runs", len(p.Events), len(page), arrows, count(page, ` run"`))
	require.LessOrEqual(t, len(page), maxPageBytes)
	require.LessOrEqual(t, arrows, MaxArrows)
	matches(t, page, `Collapsed: \d+ segment transmissions collapsed into \d+ arrows: runs of (delivered segments|segments of one fate, lost ones excepted,) of one connection direction`)
	require.Greater(t, count(page, `<line class="seg lost"`), 1000, "lost segments were collapsed")
	require.Equal(t, 1, count(page, `<g class="bar violating">`))
}

// TestChromiumLoadsLargePage loads the page of a 65,536-event trace in
// headless Chromium and reports how long the browser took, against an
// empty page's time (measured, not asserted: it is the machine's).
func TestChromiumLoadsLargePage(t *testing.T) {
	c := browser.Find(t)
	dir := t.TempDir()
	p := every()
	p.Events = large(largeEvents)
	var b bytes.Buffer
	require.NoError(t, Write(&b, p))
	big := filepath.Join(dir, "large.html")
	require.NoError(t, os.WriteFile(big, b.Bytes(), 0o644))
	empty := filepath.Join(dir, "empty.html")
	require.NoError(t, os.WriteFile(empty, []byte("<!DOCTYPE html><title>empty</title>"), 0o644))

	_, base, err := c.DumpDOM(t, empty)
	require.NoError(t, err)
	dom, took, err := c.DumpDOM(t, big)
	require.NoError(t, err)
	t.Logf("Chromium --dump-dom: page of %d events (%d bytes): %v; an empty page: %v", largeEvents, b.Len(), took, base)
	require.Equal(t, count(b.String(), `<line class="seg `), count(dom, `<line class="seg `), "the browser's DOM lacks arrows")
	contains(t, dom, `<g class="bar violating">`)
}
