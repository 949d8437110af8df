package faultconn

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// This file holds the rules a Profile must keep (Validate) and the text form
// of a Profile (ParseProfile and Profile.String), which is also the syntax
// of the harness's -headwind.faults flag and HEADWIND_FAULTS.

// String returns the name ParseProfile accepts for d: "uniform", "normal",
// "pareto" or "paretonormal", or "Distribution(N)" for any other value.
func (d Distribution) String() string {
	switch d {
	case Uniform:
		return "uniform"
	case Normal:
		return "normal"
	case Pareto:
		return "pareto"
	case ParetoNormal:
		return "paretonormal"
	}
	return "Distribution(" + strconv.Itoa(int(d)) + ")"
}

// String returns "stream" or "segments", or "Mode(N)" for any other value.
func (m Mode) String() string {
	switch m {
	case Stream:
		return "stream"
	case Segments:
		return "segments"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// validMode reports a Mode that is neither Stream nor Segments, in the
// same words as Validate, for the Config checks of the front ends.
func validMode(m Mode) error {
	if m == Stream || m == Segments {
		return nil
	}
	return fmt.Errorf("faultconn: Mode %d out of range [0,1] (Stream, Segments)", int(m))
}

// IsZero reports whether p injects no fault at all, so that a link with
// this profile behaves like a perfect one. That holds when every field is
// zero, except Distribution and Correlation, which only shape Jitter and
// do nothing without it. A non-nil Burst counts as a fault whatever its
// probabilities. IsZero does not validate p.
func (p Profile) IsZero() bool {
	p.Distribution, p.Correlation = Uniform, 0
	return p == Profile{}
}

// Validate reports whether p keeps the rules of the fault model. It
// returns nil for a valid profile, and otherwise one error listing every
// problem, one per line, each naming the field, its value and the valid
// range, such as
//
//	faultconn: Loss 1.5 out of range [0,1]
//	faultconn: Latency -1s out of range [0,24h0m0s]
//
// The rules: Latency and Jitter are in [0,MaxLatency] and [0,MaxJitter],
// Bandwidth in [0,MaxBandwidth], Segment >= 0; Correlation, Loss,
// Duplicate, Reorder, Corrupt, Reset and the four probabilities of Burst
// are in [0,1] (NaN is not); Distribution is one of its four constants;
// and at most one of Loss and Burst is set.
func (p Profile) Validate() error {
	problems := p.problems()
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, s := range problems {
		errs[i] = errors.New("faultconn: " + s)
	}
	return errors.Join(errs...)
}

// problems lists what Validate reports, without the package prefix, so
// that ParseProfile can word its errors its own way.
func (p Profile) problems() []string {
	var out []string
	duration := func(field string, d, most time.Duration) {
		if d < 0 || d > most {
			out = append(out, fmt.Sprintf("%s %v out of range [0,%v]", field, d, most))
		}
	}
	count := func(field string, n int64) {
		if n < 0 {
			out = append(out, fmt.Sprintf("%s %d out of range [0,∞)", field, n))
		}
	}
	probability := func(field string, x float64) {
		if !(x >= 0 && x <= 1) { // also catches NaN
			out = append(out, fmt.Sprintf("%s %s out of range [0,1]", field, strconv.FormatFloat(x, 'g', -1, 64)))
		}
	}
	duration("Latency", p.Latency, MaxLatency)
	duration("Jitter", p.Jitter, MaxJitter)
	if p.Distribution < Uniform || p.Distribution > ParetoNormal {
		out = append(out, fmt.Sprintf("Distribution %d out of range [0,3] (Uniform, Normal, Pareto, ParetoNormal)", int(p.Distribution)))
	}
	probability("Correlation", p.Correlation)
	if p.Bandwidth < 0 || p.Bandwidth > MaxBandwidth {
		out = append(out, fmt.Sprintf("Bandwidth %d out of range [0,%d] (0 means unlimited)", p.Bandwidth, int64(MaxBandwidth)))
	}
	probability("Loss", p.Loss)
	if b := p.Burst; b != nil {
		probability("Burst.P", b.P)
		probability("Burst.R", b.R)
		probability("Burst.BadLoss", b.BadLoss)
		probability("Burst.GoodLoss", b.GoodLoss)
		if p.Loss != 0 {
			out = append(out, fmt.Sprintf("Loss %s and Burst are exclusive: set Loss to 0 to use burst loss",
				strconv.FormatFloat(p.Loss, 'g', -1, 64)))
		}
	}
	probability("Duplicate", p.Duplicate)
	probability("Reorder", p.Reorder)
	probability("Corrupt", p.Corrupt)
	count("Segment", int64(p.Segment))
	probability("Reset", p.Reset)
	return out
}

// specKeys lists the keys of a profile spec in the order String writes them.
const specKeys = "latency, jitter, distribution, correlation, bandwidth, loss, duplicate, reorder, corrupt, segment, reset"

// ParseProfile parses a profile spec, the text form of a Profile that
// String writes, and returns the profile, or the zero Profile and an error.
// It never panics, whatever s holds.
//
// A spec is whitespace-separated key=value pairs, each key at most once,
// in any order; keys are case-insensitive. The empty spec and "none" are
// the zero Profile, a perfect link. An example with every key:
//
//	latency=50ms jitter=10ms distribution=normal correlation=25% bandwidth=1MiB/s
//	loss=1% duplicate=0.5% reorder=2% corrupt=0.1% segment=512 reset=0.01%
//
// The keys and their values:
//
//	latency=D        Latency; delay=D is an alias
//	jitter=D         Jitter
//	distribution=S   uniform (the default), normal, pareto or paretonormal
//	correlation=P    Correlation
//	bandwidth=R      Bandwidth; rate=R is an alias
//	loss=P           Loss
//	loss=gemodel:P,R[,BADLOSS[,GOODLOSS]]
//	                 Burst, netem's Gilbert-Elliott model; BADLOSS defaults
//	                 to 100% and GOODLOSS to 0
//	duplicate=P      Duplicate
//	reorder=P        Reorder
//	corrupt=P        Corrupt
//	segment=N        Segment
//	reset=P          Reset
//
// where
//
//   - D is a Go duration (time.ParseDuration) in [0,24h] (MaxLatency,
//     MaxJitter): 0, 50ms, 1.5s, 1m30s.
//   - P is a probability: a number in [0,1] such as 0.01, or a percentage
//     in [0%,100%] such as 1%, 0.5% or 0.01%.
//   - R is a rate: a plain number is bytes/s; byte units are B/s, KB/s,
//     MB/s, GB/s (powers of 1000) and KiB/s, MiB/s, GiB/s (powers of
//     1024); bit units are bit, kbit, mbit, gbit, kbps, mbps, gbps (powers
//     of 1000 bits/s, so 8mbit and 8mbps are 1MB/s) and kibit, mibit,
//     gibit (powers of 1024). A rate must come to a whole number of
//     bytes/s, at most MaxBandwidth (1024GiB/s). Unlike in tc, kbps, mbps and gbps count bits, not bytes.
//   - N is a size in bytes: a plain number, or one with a unit B, KB, MB,
//     GB, KiB, MiB or GiB, such as 512B or 1KiB.
//
// Rates and sizes may have a fraction (1.5MB/s) as long as the result is
// whole. Unit prefixes are case-insensitive, but a byte unit ends in an
// upper-case B, so that 8mb/s is an error rather than a guess.
//
// In gemodel, an explicit BADLOSS of 0 is stored as 0, which the
// GilbertElliott type reads as 1: write 0 only if you mean 100%.
//
// The result is checked with Validate. An error names the spec, the key
// and the bad value and says what is expected, listing every problem:
//
//	faultconn: profile "latency=5x": latency: invalid duration "5x" (want a Go duration in [0,24h0m0s], like 50ms)
func ParseProfile(s string) (Profile, error) {
	var p Profile
	fields := strings.Fields(s)
	if len(fields) == 1 && strings.EqualFold(fields[0], "none") {
		return p, nil
	}
	var problems []string
	seen := make(map[string]string) // canonical key -> key as written
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			if strings.EqualFold(f, "none") {
				problems = append(problems, `"none" must stand alone`)
			} else {
				problems = append(problems, fmt.Sprintf("%q is not key=value", f))
			}
			continue
		}
		k = strings.ToLower(k)
		key := canonicalKey(k)
		if key == "" {
			problems = append(problems, fmt.Sprintf("unknown key %q (valid keys: %s)", k, specKeys))
			continue
		}
		if prev, dup := seen[key]; dup {
			if prev == k {
				problems = append(problems, fmt.Sprintf("duplicate key %q", k))
			} else {
				problems = append(problems, fmt.Sprintf("duplicate key %q (%s already set as %q)", k, key, prev))
			}
			continue
		}
		seen[key] = k
		if err := p.set(key, v); err != nil {
			problems = append(problems, k+": "+err.Error())
		}
	}
	if len(problems) == 0 {
		// Every value was checked as it was parsed; this is a safety net.
		problems = p.problems()
	}
	if len(problems) > 0 {
		return Profile{}, fmt.Errorf("faultconn: profile %q: %s", s, strings.Join(problems, "; "))
	}
	return p, nil
}

// canonicalKey returns the field key k (lower case) names, or "".
func canonicalKey(k string) string {
	switch k {
	case "latency", "delay":
		return "latency"
	case "bandwidth", "rate":
		return "bandwidth"
	case "jitter", "distribution", "correlation", "loss",
		"duplicate", "reorder", "corrupt", "segment", "reset":
		return k
	}
	return ""
}

// set parses v as the value of the canonical key into p.
func (p *Profile) set(key, v string) error {
	var err error
	switch key {
	case "latency":
		p.Latency, err = parseSpecDuration(v, MaxLatency)
	case "jitter":
		p.Jitter, err = parseSpecDuration(v, MaxJitter)
	case "distribution":
		p.Distribution, err = parseDistribution(v)
	case "correlation":
		p.Correlation, err = parseProbability(v)
	case "bandwidth":
		p.Bandwidth, err = parseRate(v)
	case "loss":
		if rest, ok := cutPrefixFold(v, "gemodel:"); ok {
			p.Burst, err = parseGEModel(rest)
		} else {
			p.Loss, err = parseProbability(v)
		}
	case "duplicate":
		p.Duplicate, err = parseProbability(v)
	case "reorder":
		p.Reorder, err = parseProbability(v)
	case "corrupt":
		p.Corrupt, err = parseProbability(v)
	case "segment":
		var n int64
		n, err = parseSize(v)
		p.Segment = int(n)
	case "reset":
		p.Reset, err = parseProbability(v)
	}
	return err
}

// cutPrefixFold is strings.CutPrefix, ignoring case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// parseSpecDuration parses a Go duration in [0,most].
func parseSpecDuration(v string, most time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want a Go duration in [0,%v], like 50ms)", v, most)
	}
	if d < 0 || d > most {
		return 0, fmt.Errorf("duration %q out of range [0,%v]", v, most)
	}
	return d, nil
}

// parseDistribution parses a Distribution name, ignoring case.
func parseDistribution(v string) (Distribution, error) {
	for d := Uniform; d <= ParetoNormal; d++ {
		if strings.EqualFold(v, d.String()) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("invalid distribution %q (want uniform, normal, pareto or paretonormal)", v)
}

// parseProbability parses a number in [0,1] or a percentage in [0%,100%].
func parseProbability(v string) (float64, error) {
	if num, ok := strings.CutSuffix(v, "%"); ok {
		x, err := parsePercent(num)
		if err != nil {
			return 0, err
		}
		if x > 1 {
			return 0, fmt.Errorf("%s out of range [0%%,100%%]", v)
		}
		return x, nil
	}
	x, err := strconv.ParseFloat(v, 64)
	switch {
	case x != x: // NaN
		return 0, fmt.Errorf("%s is not a probability (want a number in [0,1] or a percentage like 1%%)", v)
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("invalid probability %q (want a number in [0,1] or a percentage like 1%%)", v)
	case !(x >= 0 && x <= 1):
		return 0, fmt.Errorf("%s out of range [0,1]", v)
	case x == 0:
		return 0, nil // not -0
	}
	return x, nil
}

// parsePercent parses the number of a percentage, plain decimal digits
// with at most one point, and returns it divided by 100. The division is
// done on the decimal text, so "0.1" gives exactly the float64 nearest to
// 0.001.
func parsePercent(num string) (float64, error) {
	if !isDecimal(num) {
		return 0, fmt.Errorf("invalid percentage %q (want digits with an optional point, like 0.5%%)", num+"%")
	}
	return strconv.ParseFloat(num+"e-2", 64)
}

// isDecimal reports whether s is digits with at most one '.', and at least
// one digit.
func isDecimal(s string) bool {
	digits, points := 0, 0
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
}

// parseGEModel parses the P,R[,BADLOSS[,GOODLOSS]] after "gemodel:".
func parseGEModel(v string) (*GilbertElliott, error) {
	parts := strings.Split(v, ",")
	if len(parts) < 2 || len(parts) > 4 {
		return nil, fmt.Errorf("invalid gemodel %q (want gemodel:P,R[,BADLOSS[,GOODLOSS]], 2 to 4 probabilities)", "gemodel:"+v)
	}
	names := [...]string{"P", "R", "BADLOSS", "GOODLOSS"}
	x := [4]float64{2: 1} // BADLOSS defaults to 1, GOODLOSS to 0
	for i, s := range parts {
		var err error
		if x[i], err = parseProbability(s); err != nil {
			return nil, fmt.Errorf("gemodel %s: %w", names[i], err)
		}
	}
	return &GilbertElliott{P: x[0], R: x[1], BadLoss: x[2], GoodLoss: x[3]}, nil
}

// byteUnit returns the multiplier of a byte-unit prefix ("", "k", "Mi",
// ...), case-insensitively.
func byteUnit(prefix string) (int64, bool) {
	switch strings.ToLower(prefix) {
	case "":
		return 1, true
	case "k":
		return 1e3, true
	case "ki":
		return 1 << 10, true
	case "m":
		return 1e6, true
	case "mi":
		return 1 << 20, true
	case "g":
		return 1e9, true
	case "gi":
		return 1 << 30, true
	}
	return 0, false
}

// bitUnit returns the bits/s of a bit-rate unit, case-insensitively.
func bitUnit(unit string) (int64, bool) {
	switch strings.ToLower(unit) {
	case "bit":
		return 1, true
	case "kbit", "kbps":
		return 1e3, true
	case "kibit":
		return 1 << 10, true
	case "mbit", "mbps":
		return 1e6, true
	case "mibit":
		return 1 << 20, true
	case "gbit", "gbps":
		return 1e9, true
	case "gibit":
		return 1 << 30, true
	}
	return 0, false
}

// splitNumber splits s into its leading digits and points, and the rest.
func splitNumber(s string) (num, unit string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return s[:i], s[i:]
}

// scale returns num*mul/div. whole is false if that is not a whole number,
// and ok is false if it is not in [0,limit].
func scale(num string, mul, div, limit int64) (n int64, whole, ok bool) {
	r, valid := new(big.Rat).SetString(num)
	if !valid {
		return 0, false, false
	}
	r.Mul(r, big.NewRat(mul, div))
	if !r.IsInt() {
		return 0, false, true
	}
	if !r.Num().IsInt64() || r.Num().Int64() > limit {
		return 0, true, false
	}
	return r.Num().Int64(), true, true
}

// rateUnits lists the units parseRate accepts, for its error message.
const rateUnits = "B/s, KB/s, KiB/s, MB/s, MiB/s, GB/s, GiB/s, bit, kbit, kibit, mbit, mibit, gbit, gibit, kbps, mbps, gbps"

// parseRate parses a bandwidth in bytes or bits per second into bytes/s.
func parseRate(v string) (int64, error) {
	num, unit := splitNumber(v)
	mul, div := int64(0), int64(1)
	if prefix, ok := strings.CutSuffix(unit, "B/s"); ok {
		mul, ok = byteUnit(prefix)
		if !ok {
			mul = 0
		}
	} else if unit == "" {
		mul = 1
	} else if m, ok := bitUnit(unit); ok {
		mul, div = m, 8
	}
	if !isDecimal(num) || mul == 0 {
		return 0, fmt.Errorf("invalid rate %q (want a number of bytes/s or a number with a unit: %s)", v, rateUnits)
	}
	n, whole, ok := scale(num, mul, div, MaxBandwidth)
	if !ok {
		return 0, fmt.Errorf("rate %q out of range [0,%d] bytes/s (1024GiB/s)", v, int64(MaxBandwidth))
	}
	if !whole {
		return 0, fmt.Errorf("rate %q is not a whole number of bytes/s", v)
	}
	return n, nil
}

// parseSize parses a segment size in bytes.
func parseSize(v string) (int64, error) {
	num, unit := splitNumber(v)
	mul := int64(0)
	if prefix, ok := strings.CutSuffix(unit, "B"); ok {
		if m, ok := byteUnit(prefix); ok {
			mul = m
		}
	} else if unit == "" {
		mul = 1
	}
	if !isDecimal(num) || mul == 0 {
		return 0, fmt.Errorf("invalid size %q (want a number of bytes, like 512, 512B or 1KiB; units: B, KB, KiB, MB, MiB, GB, GiB)", v)
	}
	n, whole, ok := scale(num, mul, 1, maxInt)
	if !ok {
		return 0, fmt.Errorf("size %q too large (at most %d bytes)", v, maxInt)
	}
	if !whole {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", v)
	}
	return n, nil
}

// maxInt is the largest int, the largest Segment.
const maxInt = int64(^uint(0) >> 1)

// String returns p as a spec that ParseProfile turns back into a profile
// equal to p, for every valid p. It writes "none" for the zero Profile;
// otherwise the keys in a fixed order (latency jitter distribution
// correlation bandwidth loss duplicate reorder corrupt segment reset),
// leaving out fields that are zero and a Uniform distribution. Durations
// are written as by time.Duration.String; probabilities as percentages
// when that is exact (1%, 0.5%), else as the shortest decimal that reads
// back exactly; bandwidth in the largest byte unit that divides it
// (1MiB/s, 125KB/s); Burst as loss=gemodel:P,R,BADLOSS,GOODLOSS with all
// four values as stored.
//
// String describes invalid profiles too, but their specs do not parse.
func (p Profile) String() string {
	if p == (Profile{}) {
		return "none"
	}
	var b strings.Builder
	add := func(key, value string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(value)
	}
	if p.Latency != 0 {
		add("latency", p.Latency.String())
	}
	if p.Jitter != 0 {
		add("jitter", p.Jitter.String())
	}
	if p.Distribution != Uniform {
		add("distribution", p.Distribution.String())
	}
	if p.Correlation != 0 {
		add("correlation", formatProbability(p.Correlation))
	}
	if p.Bandwidth != 0 {
		add("bandwidth", formatRate(p.Bandwidth))
	}
	if p.Loss != 0 {
		add("loss", formatProbability(p.Loss))
	}
	if g := p.Burst; g != nil {
		add("loss", "gemodel:"+formatProbability(g.P)+","+formatProbability(g.R)+","+
			formatProbability(g.BadLoss)+","+formatProbability(g.GoodLoss))
	}
	if p.Duplicate != 0 {
		add("duplicate", formatProbability(p.Duplicate))
	}
	if p.Reorder != 0 {
		add("reorder", formatProbability(p.Reorder))
	}
	if p.Corrupt != 0 {
		add("corrupt", formatProbability(p.Corrupt))
	}
	if p.Segment != 0 {
		add("segment", strconv.Itoa(p.Segment))
	}
	if p.Reset != 0 {
		add("reset", formatProbability(p.Reset))
	}
	return b.String()
}

// formatProbability writes x so that parseProbability reads back exactly
// x: as a percentage unless that is much longer than the shortest
// decimal, which it writes otherwise.
func formatProbability(x float64) string {
	plain := strconv.FormatFloat(x, 'g', -1, 64)
	if x == 0 || !(x >= 0 && x <= 1) {
		return plain
	}
	// The shortest decimal that reads back as x, times 100, is exact.
	pct := timesHundred(strconv.FormatFloat(x, 'f', -1, 64))
	if len(pct) <= len(plain)+2 {
		if y, err := parsePercent(pct); err == nil && y == x {
			return pct + "%"
		}
	}
	return plain
}

// timesHundred moves the point of the decimal d (digits with at most one
// point) two places to the right: "0.015" becomes "1.5", "1" becomes "100".
func timesHundred(d string) string {
	whole, frac, _ := strings.Cut(d, ".")
	frac += "00"
	whole = strings.TrimLeft(whole+frac[:2], "0")
	frac = strings.TrimRight(frac[2:], "0")
	if whole == "" {
		whole = "0"
	}
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// formatRate writes n bytes/s in the largest byte unit that divides it.
func formatRate(n int64) string {
	units := [...]struct {
		name string
		size int64
	}{{"GiB/s", 1 << 30}, {"GB/s", 1e9}, {"MiB/s", 1 << 20}, {"MB/s", 1e6}, {"KiB/s", 1 << 10}, {"KB/s", 1e3}}
	for _, u := range units {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B/s"
}
