package faultconn

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

const fullSpec = "latency=50ms jitter=10ms distribution=normal correlation=25% bandwidth=1MiB/s " +
	"loss=1% duplicate=0.5% reorder=2% corrupt=0.1% segment=512 reset=0.01%"

func TestParseProfileValid(t *testing.T) {
	tests := []struct {
		spec string
		want Profile
		// canon is the String of want, if it differs from spec.
		canon string
	}{
		{"", Profile{}, "none"},
		{" \t\n ", Profile{}, "none"},
		{"none", Profile{}, ""},
		{"NONE", Profile{}, "none"},
		{fullSpec, Profile{
			Latency:      50 * time.Millisecond,
			Jitter:       10 * time.Millisecond,
			Distribution: Normal,
			Correlation:  0.25,
			Bandwidth:    1 << 20,
			Loss:         0.01,
			Duplicate:    0.005,
			Reorder:      0.02,
			Corrupt:      0.001,
			Segment:      512,
			Reset:        0.0001,
		}, ""},
		{"bandwidth=8mbit", Profile{Bandwidth: 1_000_000}, "bandwidth=1MB/s"},
		{"bandwidth=8mbps", Profile{Bandwidth: 1_000_000}, "bandwidth=1MB/s"},
		{"bandwidth=8Mbit", Profile{Bandwidth: 1_000_000}, "bandwidth=1MB/s"},
		{"bandwidth=8kibit", Profile{Bandwidth: 1024}, "bandwidth=1KiB/s"},
		{"bandwidth=1gbit", Profile{Bandwidth: 125_000_000}, "bandwidth=125MB/s"},
		{"bandwidth=1000000", Profile{Bandwidth: 1_000_000}, "bandwidth=1MB/s"},
		{"bandwidth=125KB/s", Profile{Bandwidth: 125_000}, ""},
		{"bandwidth=125kB/s", Profile{Bandwidth: 125_000}, "bandwidth=125KB/s"},
		{"bandwidth=1.5MB/s", Profile{Bandwidth: 1_500_000}, "bandwidth=1500KB/s"},
		{"bandwidth=2GiB/s", Profile{Bandwidth: 2 << 30}, ""},
		{"bandwidth=1001B/s", Profile{Bandwidth: 1001}, ""},
		{"bandwidth=1024000", Profile{Bandwidth: 1024000}, "bandwidth=1000KiB/s"},
		{"rate=1KiB/s", Profile{Bandwidth: 1024}, "bandwidth=1KiB/s"},
		{"bandwidth=0", Profile{}, "none"},
		{"delay=1.5s", Profile{Latency: 1500 * time.Millisecond}, "latency=1.5s"},
		{"LATENCY=1h", Profile{Latency: time.Hour}, "latency=1h0m0s"},
		{"latency=0", Profile{}, "none"},
		{"jitter=1ms distribution=ParetoNormal", Profile{Jitter: time.Millisecond, Distribution: ParetoNormal}, "jitter=1ms distribution=paretonormal"},
		{"distribution=uniform", Profile{}, "none"},
		{"distribution=pareto", Profile{Distribution: Pareto}, ""},
		{"loss=0.01", Profile{Loss: 0.01}, "loss=1%"},
		{"loss=1", Profile{Loss: 1}, "loss=100%"},
		{"loss=100%", Profile{Loss: 1}, ""},
		{"loss=0%", Profile{}, "none"},
		{"loss=-0", Profile{}, "none"},
		{"loss=1e-7", Profile{Loss: 1e-7}, "loss=0.00001%"},
		{"loss=5e-324", Profile{Loss: 5e-324}, ""},
		{"loss=0.3333", Profile{Loss: 0.3333}, "loss=33.33%"},
		{"loss=gemodel:1%,10%", Profile{Burst: &GilbertElliott{P: 0.01, R: 0.1, BadLoss: 1}}, "loss=gemodel:1%,10%,100%,0"},
		{"loss=GEModel:0.01,0.1,0,0", Profile{Burst: &GilbertElliott{P: 0.01, R: 0.1}}, "loss=gemodel:1%,10%,0,0"},
		{"loss=gemodel:1%,10%,70%,0.1%", Profile{Burst: &GilbertElliott{P: 0.01, R: 0.1, BadLoss: 0.7, GoodLoss: 0.001}}, ""},
		{"segment=1KiB", Profile{Segment: 1024}, "segment=1024"},
		{"segment=512B", Profile{Segment: 512}, "segment=512"},
		{"segment=1.5KB", Profile{Segment: 1500}, "segment=1500"},
		{"reset=0.01% segment=1 latency=1ms", Profile{Reset: 0.0001, Segment: 1, Latency: time.Millisecond}, "latency=1ms segment=1 reset=0.01%"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			p, err := ParseProfile(tt.spec)
			require.NoError(t, err)
			assert.Equal(t, tt.want, p)
			canon := tt.canon
			if canon == "" {
				canon = tt.spec
			}
			assert.Equal(t, canon, p.String())
			q, err := ParseProfile(p.String())
			require.NoError(t, err)
			assert.Equal(t, p, q)
		})
	}
}

func TestParseProfileInvalid(t *testing.T) {
	tests := []struct {
		spec string
		want []string // fragments of the error message
	}{
		{"latency=5x", []string{`faultconn: profile "latency=5x": latency: invalid duration "5x"`}},
		{"foo=1", []string{`unknown key "foo"`, "valid keys: latency, jitter,", "reset"}},
		{"=1", []string{`unknown key ""`}},
		{"latency", []string{`"latency" is not key=value`}},
		{"latency 50ms", []string{`"latency" is not key=value`, `"50ms" is not key=value`}},
		{"none latency=1ms", []string{`"none" must stand alone`}},
		{"latency=-1s", []string{`latency: duration "-1s" out of range [0,24h0m0s]`}},
		{"jitter=", []string{`jitter: invalid duration ""`}},
		{"loss=150%", []string{"loss: 150% out of range [0%,100%]"}},
		{"loss=1.5", []string{"loss: 1.5 out of range [0,1]"}},
		{"loss=-0.1", []string{"loss: -0.1 out of range [0,1]"}},
		{"loss=NaN", []string{"loss: NaN is not a probability"}},
		{"loss=Inf", []string{"loss: Inf out of range [0,1]"}},
		{"loss=1e999", []string{"loss: 1e999 out of range [0,1]"}},
		{"loss=1%%", []string{`loss: invalid percentage "1%%"`}},
		{"loss=-1%", []string{`loss: invalid percentage "-1%"`}},
		{"loss=%", []string{`loss: invalid percentage "%"`}},
		{"loss=abc", []string{`loss: invalid probability "abc"`}},
		{"corrupt=1e-2%", []string{`corrupt: invalid percentage "1e-2%"`}},
		{"loss=1% loss=2%", []string{`duplicate key "loss"`}},
		{"Loss=1% LOSS=2%", []string{`duplicate key "loss"`}},
		{"delay=1ms latency=2ms", []string{`duplicate key "latency" (latency already set as "delay")`}},
		{"loss=1% loss=gemodel:1%,10%", []string{`duplicate key "loss"`}},
		{"loss=gemodel:1%", []string{`loss: invalid gemodel "gemodel:1%"`, "P,R[,BADLOSS[,GOODLOSS]]"}},
		{"loss=gemodel:1,2,3,4,5", []string{`loss: invalid gemodel`}},
		{"loss=gemodel:", []string{`loss: invalid gemodel`}},
		{"loss=gemodel:1%,x", []string{`loss: gemodel R: invalid probability "x"`}},
		{"loss=gemodel:1%,10%,200%", []string{`loss: gemodel BADLOSS: 200% out of range [0%,100%]`}},
		{"distribution=gauss", []string{`distribution: invalid distribution "gauss"`, "uniform, normal, pareto or paretonormal"}},
		{"bandwidth=1furlong/s", []string{`bandwidth: invalid rate "1furlong/s"`, "MiB/s", "mbit"}},
		{"bandwidth=8mb/s", []string{`bandwidth: invalid rate "8mb/s"`}},
		{"bandwidth=-1MB/s", []string{`bandwidth: invalid rate "-1MB/s"`}},
		{"bandwidth=MB/s", []string{`bandwidth: invalid rate "MB/s"`}},
		{"bandwidth=1.2.3MB/s", []string{`bandwidth: invalid rate "1.2.3MB/s"`}},
		{"bandwidth=1bit", []string{`bandwidth: rate "1bit" is not a whole number of bytes/s`}},
		{"bandwidth=1.5", []string{`bandwidth: rate "1.5" is not a whole number of bytes/s`}},
		{"bandwidth=9999999999GiB/s", []string{`bandwidth: rate "9999999999GiB/s" out of range [0,1099511627776] bytes/s`}},
		{"segment=1.5", []string{`segment: size "1.5" is not a whole number of bytes`}},
		{"segment=1Kb", []string{`segment: invalid size "1Kb"`}},
		{"segment=-1", []string{`segment: invalid size "-1"`}},
		{"segment=99999999999999999999", []string{`segment: size "99999999999999999999" too large`}},
		// Every problem is listed, not only the first.
		{"latency=-1s loss=2 foo=bar", []string{"latency: duration \"-1s\" out of range", "loss: 2 out of range", `unknown key "foo"`}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			p, err := ParseProfile(tt.spec)
			require.Error(t, err)
			assert.Equal(t, Profile{}, p)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "faultconn: profile "), msg)
			for _, w := range tt.want {
				assert.Contains(t, msg, w)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := Profile{
		Latency:      -time.Second,
		Jitter:       -time.Millisecond,
		Distribution: 7,
		Correlation:  math.NaN(),
		Bandwidth:    -5,
		Loss:         1.5,
		Burst:        &GilbertElliott{P: -0.5, R: 2, BadLoss: math.Inf(1), GoodLoss: math.NaN()},
		Duplicate:    -1,
		Reorder:      1.01,
		Corrupt:      math.Inf(-1),
		Segment:      -1,
		Reset:        3,
	}
	err := p.Validate()
	require.Error(t, err)
	want := []string{
		"faultconn: Latency -1s out of range [0,24h0m0s]",
		"faultconn: Jitter -1ms out of range [0,24h0m0s]",
		"faultconn: Distribution 7 out of range [0,3] (Uniform, Normal, Pareto, ParetoNormal)",
		"faultconn: Correlation NaN out of range [0,1]",
		"faultconn: Bandwidth -5 out of range [0,1099511627776] (0 means unlimited)",
		"faultconn: Loss 1.5 out of range [0,1]",
		"faultconn: Burst.P -0.5 out of range [0,1]",
		"faultconn: Burst.R 2 out of range [0,1]",
		"faultconn: Burst.BadLoss +Inf out of range [0,1]",
		"faultconn: Burst.GoodLoss NaN out of range [0,1]",
		"faultconn: Loss 1.5 and Burst are exclusive: set Loss to 0 to use burst loss",
		"faultconn: Duplicate -1 out of range [0,1]",
		"faultconn: Reorder 1.01 out of range [0,1]",
		"faultconn: Corrupt -Inf out of range [0,1]",
		"faultconn: Segment -1 out of range [0,∞)",
		"faultconn: Reset 3 out of range [0,1]",
	}
	assert.Equal(t, strings.Join(want, "\n"), err.Error())
}

func TestValidate(t *testing.T) {
	valid := []Profile{
		{},
		{Latency: time.Hour, Jitter: time.Hour, Distribution: ParetoNormal, Correlation: 1, Bandwidth: 1,
			Loss: 1, Duplicate: 1, Reorder: 1, Corrupt: 1, Segment: 1, Reset: 1},
		{Burst: &GilbertElliott{}},
		{Burst: &GilbertElliott{P: 1, R: 1, BadLoss: 1, GoodLoss: 1}},
	}
	for _, p := range valid {
		assert.NoError(t, p.Validate(), "%v", p)
	}
	tests := []struct {
		p    Profile
		want string
	}{
		{Profile{Loss: 0.01, Burst: &GilbertElliott{P: 0.1, R: 0.5}}, "faultconn: Loss 0.01 and Burst are exclusive"},
		{Profile{Distribution: -1}, "faultconn: Distribution -1 out of range [0,3]"},
		{Profile{Segment: -512}, "faultconn: Segment -512 out of range [0,∞)"},
		{Profile{Loss: math.NaN()}, "faultconn: Loss NaN out of range [0,1]"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), tt.want)
		}
	}
}

func TestValidMode(t *testing.T) {
	assert.NoError(t, validMode(Stream))
	assert.NoError(t, validMode(Segments))
	assert.EqualError(t, validMode(5), "faultconn: Mode 5 out of range [0,1] (Stream, Segments)")
	assert.EqualError(t, validMode(-1), "faultconn: Mode -1 out of range [0,1] (Stream, Segments)")
}

func TestDistributionAndModeString(t *testing.T) {
	assert.Equal(t, "uniform", Uniform.String())
	assert.Equal(t, "normal", Normal.String())
	assert.Equal(t, "pareto", Pareto.String())
	assert.Equal(t, "paretonormal", ParetoNormal.String())
	assert.Equal(t, "Distribution(7)", Distribution(7).String())
	assert.Equal(t, "stream", Stream.String())
	assert.Equal(t, "segments", Segments.String())
	assert.Equal(t, "Mode(5)", Mode(5).String())
}

func TestProfileIsZero(t *testing.T) {
	assert.True(t, Profile{}.IsZero())
	assert.True(t, Profile{Distribution: Normal, Correlation: 0.5}.IsZero(), "shape without jitter is no fault")
	for _, p := range []Profile{
		{Latency: 1}, {Jitter: 1}, {Bandwidth: 1}, {Loss: 0.1}, {Burst: &GilbertElliott{}},
		{Duplicate: 0.1}, {Reorder: 0.1}, {Corrupt: 0.1}, {Segment: 1}, {Reset: 0.1},
		{Jitter: 1, Distribution: Normal},
	} {
		assert.False(t, p.IsZero(), "%v", p)
	}
}

func TestProfileStringInvalid(t *testing.T) {
	// String describes invalid profiles without panicking; the result
	// need not parse.
	p := Profile{Latency: -time.Second, Distribution: 9, Loss: math.NaN(), Burst: &GilbertElliott{P: 2}, Bandwidth: -1 << 20}
	assert.Equal(t, "latency=-1s distribution=Distribution(9) bandwidth=-1MiB/s loss=NaN loss=gemodel:2,0,0,0", p.String())
	_, err := ParseProfile(p.String())
	assert.Error(t, err)
}

// drawProbability draws a probability in [0,1], often a round one.
func drawProbability(t *rapid.T, label string) float64 {
	switch rapid.IntRange(0, 4).Draw(t, label+"Kind") {
	case 0:
		return 0
	case 1:
		return float64(rapid.IntRange(0, 100).Draw(t, label+"Percent")) / 100
	case 2:
		return float64(rapid.IntRange(0, 10000).Draw(t, label+"Basis")) / 10000
	case 3:
		return rapid.SampledFrom([]float64{1, math.SmallestNonzeroFloat64, 1e-300, 0.1, 1.0 / 3, math.Nextafter(1, 0)}).Draw(t, label+"Edge")
	default:
		return rapid.Float64Range(0, 1).Draw(t, label)
	}
}

// drawProfile draws a valid Profile, with Burst or Loss or neither.
func drawProfile(t *rapid.T) Profile {
	duration := func(label string) time.Duration {
		if rapid.Bool().Draw(t, label+"Round") {
			return time.Duration(rapid.IntRange(0, 10000).Draw(t, label+"Ms")) * time.Millisecond
		}
		return time.Duration(rapid.Int64Range(0, int64(MaxLatency)).Draw(t, label))
	}
	p := Profile{
		Latency:      duration("latency"),
		Jitter:       duration("jitter"),
		Distribution: Distribution(rapid.IntRange(int(Uniform), int(ParetoNormal)).Draw(t, "distribution")),
		Correlation:  drawProbability(t, "correlation"),
		Duplicate:    drawProbability(t, "duplicate"),
		Reorder:      drawProbability(t, "reorder"),
		Corrupt:      drawProbability(t, "corrupt"),
		Reset:        drawProbability(t, "reset"),
		Segment:      rapid.IntMin(0).Draw(t, "segment"),
	}
	switch rapid.IntRange(0, 2).Draw(t, "bandwidthKind") {
	case 0:
		p.Bandwidth = rapid.Int64Range(0, MaxBandwidth).Draw(t, "bandwidth")
	case 1:
		unit := rapid.SampledFrom([]int64{1, 1e3, 1 << 10, 1e6, 1 << 20, 1e9, 1 << 30}).Draw(t, "bandwidthUnit")
		p.Bandwidth = rapid.Int64Range(0, MaxBandwidth/unit).Draw(t, "bandwidthCount") * unit
	}
	switch rapid.IntRange(0, 2).Draw(t, "lossKind") {
	case 1:
		p.Loss = drawProbability(t, "loss")
	case 2:
		p.Burst = &GilbertElliott{
			P:        drawProbability(t, "burstP"),
			R:        drawProbability(t, "burstR"),
			BadLoss:  drawProbability(t, "burstBadLoss"),
			GoodLoss: drawProbability(t, "burstGoodLoss"),
		}
	}
	return p
}

func TestProfileStringRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawProfile(t)
		if err := p.Validate(); err != nil {
			t.Fatalf("drew an invalid profile: %v", err)
		}
		s := p.String()
		q, err := ParseProfile(s)
		if err != nil {
			t.Fatalf("ParseProfile(%q): %v", s, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("ParseProfile(%q) = %#v (burst %#v), want %#v (burst %#v)", s, q, q.Burst, p, p.Burst)
		}
		if s2 := q.String(); s2 != s {
			t.Fatalf("String not stable: %q, then %q", s, s2)
		}
	})
}

func FuzzParseProfile(f *testing.F) {
	for _, s := range []string{
		"",
		"none",
		fullSpec,
		"bandwidth=8mbit",
		"bandwidth=1.5MB/s segment=1KiB",
		"delay=1.5s jitter=1ms distribution=paretonormal",
		"loss=gemodel:1%,10%,70%,0.1%",
		"loss=gemodel:0.01,0.1",
		"loss=1e-7 reorder=0.3333",
		"latency=2562047h47m16.854775807s",
		"loss=150% latency=-1s",
		"bandwidth=1bit",
		"LOSS=NaN rate=9999999999GiB/s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProfile(s)
		if err != nil {
			if p != (Profile{}) {
				t.Fatalf("ParseProfile(%q) failed with a non-zero profile %v", s, p)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseProfile(%q) = %v, which does not validate: %v", s, p, err)
		}
		spec := p.String()
		q, err := ParseProfile(spec)
		if err != nil {
			t.Fatalf("ParseProfile(%q).String() = %q, which does not parse: %v", s, spec, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("ParseProfile(%q) = %#v, but its String %q parses to %#v", s, p, spec, q)
		}
	})
}
