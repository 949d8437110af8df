package harness

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// verdict is what a linearizability check of a History found, for
// WriteHTML.
type verdict struct {
	text   string          // "linearizable", or the error
	bad    bool            // a violation was found
	fail   map[string]bool // failing keys
	stuck  map[int64]bool  // call ticks of the operations that could not be placed
	prefix map[int64]int   // call tick → position in its key's longest linearizable prefix
}

func newVerdict(err error) *verdict {
	v := &verdict{text: "linearizable", fail: map[string]bool{}, stuck: map[int64]bool{}, prefix: map[int64]int{}}
	if err != nil {
		v.text = err.Error()
	}
	var le *LinearizabilityError
	if !errors.As(err, &le) {
		return v
	}
	for _, kv := range le.Violations {
		v.bad = true
		v.fail[kv.Key] = true
		v.stuck[kv.Ops[kv.Stuck].Call] = true
		for k, i := range kv.Prefix {
			v.prefix[kv.Ops[i].Call] = k + 1
		}
	}
	return v
}

// WriteHTML writes a self-contained HTML page that draws the history: per
// key, one row per client, one bar per operation from its call to its
// return (to the right edge if pending), with the operation and its
// result in the bar and everything else in its tooltip. Positions are the
// ranks of the key's logical ticks, not time. It checks the operations it
// draws (a snapshot, as CheckLinearizable does; the History is not
// changed) and shows the verdict: the keys that are not linearizable are
// drawn in red, the operation that could not be placed in solid red.
func (h *History) WriteHTML(w io.Writer) error {
	ops, overflow, cut := h.snapshot()
	v := newVerdict(checkHistory(ops, overflow, cut, LinearizableOptions{}))
	return historyPage.Execute(w, pageData(ops, v, overflow))
}

// WriteHTMLFile writes WriteHTML's page to the file at path, replacing
// it.
func (h *History) WriteHTMLFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = h.WriteHTML(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type htmlPage struct {
	Ops, Keys, Overflow int
	Bad                 bool
	Verdict             string
	Groups              []htmlKey
}

type htmlKey struct {
	Key  string
	Fail bool
	Ops  int
	Rows []htmlRow
}

type htmlRow struct {
	Client int
	Bars   []htmlBar
}

type htmlBar struct {
	Class string
	Style template.CSS
	Label string
	Title string
}

func pageData(ops []Operation, v *verdict, overflow int) htmlPage {
	byKey := map[string][]Operation{}
	for _, o := range ops {
		byKey[o.Op.Key] = append(byKey[o.Op.Key], o)
	}
	p := htmlPage{Ops: len(ops), Keys: len(byKey), Overflow: overflow, Bad: v.bad, Verdict: v.text}
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		kops := byKey[key]
		// Ranks of the key's ticks: bars are placed by rank.
		var ticks []int64
		for _, o := range kops {
			ticks = append(ticks, o.Call)
			if !o.Pending() {
				ticks = append(ticks, o.Return)
			}
		}
		slices.Sort(ticks)
		span := float64(len(ticks))
		rank := func(t int64) float64 { i, _ := slices.BinarySearch(ticks, t); return float64(i) }
		rows := map[int]*htmlRow{}
		for i, o := range kops {
			r := rows[o.Client]
			if r == nil {
				r = &htmlRow{Client: o.Client}
				rows[o.Client] = r
			}
			left := rank(o.Call) / span * 100
			right := 100.0
			class := "op"
			ret := "pending"
			if o.Pending() {
				class += " pending"
			} else {
				right = (rank(o.Return) + 1) / span * 100
				ret = fmt.Sprint(o.Return)
			}
			switch {
			case v.stuck[o.Call]:
				class += " stuck"
			case v.fail[key]:
				class += " fail"
			}
			title := fmt.Sprintf("#%d client %d: %v\nticks %d..%s", i+1, o.Client, o, o.Call, ret)
			if k := v.prefix[o.Call]; k > 0 {
				title += fmt.Sprintf("\nposition %d of the longest linearizable prefix", k)
			}
			if v.stuck[o.Call] {
				title += "\ncannot be placed after the longest linearizable prefix"
			}
			r.Bars = append(r.Bars, htmlBar{
				Class: class,
				Style: template.CSS(fmt.Sprintf("left:%.3f%%;width:%.3f%%", left, right-left)),
				Label: barLabel(o),
				Title: title,
			})
		}
		g := htmlKey{Key: key, Fail: v.fail[key], Ops: len(kops)}
		for _, c := range slices.Sorted(maps.Keys(rows)) {
			g.Rows = append(g.Rows, *rows[c])
		}
		p.Groups = append(p.Groups, g)
	}
	return p
}

// barLabel is the short text in an operation's bar.
func barLabel(o Operation) string {
	s := o.Op.Kind.String()
	switch o.Op.Kind {
	case OpPut, OpAppend:
		s += " " + o.Op.Value
	case OpCAS:
		s += " " + o.Op.Old + "→" + o.Op.Value
	}
	if o.Pending() {
		return s + " ?"
	}
	switch o.Op.Kind {
	case OpGet:
		if !o.Result.Found {
			return s + " ∅"
		}
		return s + " " + o.Result.Value
	case OpCAS:
		if o.Result.OK {
			return s + " ok"
		}
		return s + " ✗"
	}
	return s
}

var historyPage = template.Must(template.New("history").Funcs(template.FuncMap{
	"firstLine": func(s string) string { first, _, _ := strings.Cut(s, "\n"); return first },
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>headwind history</title>
<style>
body{font:13px system-ui,sans-serif;margin:1em 2em}
h1{font-size:18px} h2{font-size:15px;margin:1.2em 0 .3em}
.bad{color:#b00}
pre{background:#f4f4f4;padding:.5em;overflow:auto;font-size:12px}
.row{display:flex;align-items:center;height:22px}
.client{width:6em;flex:none;color:#555}
.track{position:relative;flex:1;height:20px;background:#fafafa;border-bottom:1px solid #eee}
.op{position:absolute;top:2px;height:16px;box-sizing:border-box;padding:0 3px;overflow:hidden;white-space:nowrap;
  font-size:11px;line-height:14px;background:#cde3f7;border:1px solid #4a7fb0;border-radius:3px}
.op.pending{border-style:dashed;background:repeating-linear-gradient(45deg,#eee 0 4px,#fff 4px 8px)}
.op.fail{background:#f8d0d0;border-color:#c44}
.op.stuck{background:#d22;border-color:#800;color:#fff;font-weight:bold}
</style></head><body>
<h1>History: {{.Ops}} operations on {{.Keys}} keys</h1>
<p{{if .Bad}} class="bad"{{end}}><b>{{firstLine .Verdict}}</b></p>
{{if .Overflow}}<p class="bad">{{.Overflow}} calls were not recorded: the history was full.</p>{{end}}
{{if ne .Verdict "linearizable"}}<pre>{{.Verdict}}</pre>{{end}}
<p>Bars run from call to return; positions are the order of each key's logical ticks, not time. Hover for details.</p>
{{range .Groups}}<h2{{if .Fail}} class="bad"{{end}}>key {{printf "%q" .Key}} — {{.Ops}} ops{{if .Fail}} — not linearizable{{end}}</h2>
{{range .Rows}}<div class="row"><div class="client">client {{.Client}}</div><div class="track">
{{range .Bars}}<div class="{{.Class}}" style="{{.Style}}" title="{{.Title}}">{{.Label}}</div>
{{end}}</div></div>
{{end}}{{end}}</body></html>
`))
