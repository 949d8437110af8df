package harness

import (
	"encoding/binary"
	"math/bits"
	"reflect"

	"pgregory.net/rapid"
)

// caseDraws is what the harness can learn, at the start of a case, about
// where the case's draws come from. rapid gives a property no handle on
// its draws, and no way to run a case again; the harness reads them from
// rapid's *T by reflection (rapid v1.3's fields, read only), so that it
// can replay a failing case once more (to check that it replays) and say
// how to replay a case that stalled. If a rapid upgrade renames the
// fields, known is false and the reports say the replay was not checked.
type caseDraws struct {
	known bool
	// bits are the case's draws, when rapid runs it from a buffer (while
	// shrinking, in its final run of the minimal case, and for a fuzz
	// input): as a fuzz input they make the same draws (rapid.MakeFuzz).
	bits []uint64
	// seed is the case's own rapid seed when rapid draws it at random
	// (while searching); -rapid.seed=seed makes it rapid's first case.
	seed   uint64
	seeded bool
	// final is set when rapid logs the case to the test (its final run
	// of the minimal case, each fuzz input, and every case under
	// -rapid.v): the run whose report the user reads.
	final bool
}

// readDraws reads rt's draws; call it before the case draws anything.
func readDraws(rt *rapid.T) caseDraws {
	var d caseDraws
	t := reflect.ValueOf(rt).Elem()
	tbLog, s := t.FieldByName("tbLog"), t.FieldByName("s")
	if tbLog.Kind() != reflect.Bool || s.Kind() != reflect.Interface || s.IsNil() || s.Elem().Kind() != reflect.Pointer {
		return d
	}
	stream := s.Elem().Elem()
	switch stream.Type().Name() {
	case "bufBitStream":
		buf := stream.FieldByName("buf")
		if buf.Kind() != reflect.Slice || buf.Type().Elem().Kind() != reflect.Uint64 {
			return d
		}
		d.bits = make([]uint64, buf.Len())
		for i := range d.bits {
			d.bits[i] = buf.Index(i).Uint()
		}
	case "randomBitStream":
		ctx := stream.FieldByName("ctx")
		if ctx.Kind() != reflect.Struct {
			return d
		}
		var st [4]uint64
		for i, f := range []string{"a", "b", "c", "d"} {
			v := ctx.FieldByName(f)
			if v.Kind() != reflect.Uint64 {
				return d
			}
			st[i] = v.Uint()
		}
		d.seed, d.seeded = jsfSeed(st)
	default:
		return d
	}
	d.known, d.final = true, tbLog.Bool()
	return d
}

// input is the fuzz input that makes the draws d.bits.
func (d caseDraws) input() []byte {
	b := make([]byte, 0, 8*len(d.bits))
	for _, u := range d.bits {
		b = binary.LittleEndian.AppendUint64(b, u)
	}
	return b
}

// jsfSeed returns the seed a rapid random stream was started with, from
// its state before its first draw: rapid's generator is Bob Jenkins's
// small fast generator (jsf64), seeded with state (0xf1ea5eed, s, s, s)
// and 20 rounds. Each round can be undone; ok is false if 20 rounds back
// is not a seeded state (the stream had drawn already, or the generator
// changed).
func jsfSeed(st [4]uint64) (seed uint64, ok bool) {
	a, b, c, d := st[0], st[1], st[2], st[3]
	for range 20 {
		// A round is e = a - rotl(b, 7); a' = b ^ rotl(c, 13);
		// b' = c + rotl(d, 37); c' = d + e; d' = e + a'.
		e := d - a
		pd := c - e
		pc := b - bits.RotateLeft64(pd, 37)
		pb := a ^ bits.RotateLeft64(pc, 13)
		pa := e + bits.RotateLeft64(pb, 7)
		a, b, c, d = pa, pb, pc, pd
	}
	return b, a == 0xf1ea5eed && b == c && c == d
}
