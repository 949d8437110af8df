package framing_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/headwind-go/headwind/examples/framing"
	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/harness"
)

type decoder interface{ Next() ([]byte, error) }

// frames are what the writer sends: distinct payloads of varied sizes.
func frames() [][]byte {
	var fs [][]byte
	for i := range 12 {
		fs = append(fs, []byte(strings.Repeat(fmt.Sprintf("frame %02d|", i), 1+i*7)))
	}
	return fs
}

// hostile sends frames through a net.Pipe whose writing end's segments
// are cut and mangled as script says (Segments mode), and decodes them at
// the other end. It returns an error if the decoder returned a payload
// that was never sent; anything else (errors, lost frames, repeats) is
// what a hostile stream may do.
func hostile(t *testing.T, script []byte, newDecoder func(io.Reader) decoder) (err error) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		fa, werr := faultconn.Wrap(a, faultconn.Config{Mode: faultconn.Segments, Script: harness.FuzzScript(script), Out: faultconn.Profile{Latency: time.Millisecond}})
		if werr != nil {
			t.Fatal(werr)
		}
		sent := frames()
		go func() {
			var stream []byte
			for _, f := range sent {
				stream, _ = framing.Encode(stream, f)
			}
			fa.Write(stream)
			fa.Close()
		}()
		defer b.Close()
		b.SetReadDeadline(time.Now().Add(time.Minute))
		d := newDecoder(b)
		valid := make(map[string]bool)
		for _, f := range sent {
			valid[string(f)] = true
		}
		for {
			p, derr := d.Next()
			if derr != nil {
				return
			}
			if !valid[string(p)] {
				err = fmt.Errorf("decoded a frame that was never sent: %q", p)
				return
			}
		}
	})
	return err
}

func strict(r io.Reader) decoder { return framing.NewDecoder(r) }
func naive(r io.Reader) decoder  { return framing.NewNaiveDecoder(r) }

// FuzzDecoder fuzzes the decoder against hostile streams: it must never
// return a frame that was not sent.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 5, 250, 17, 1, 200})
	f.Fuzz(func(t *testing.T, script []byte) {
		if err := hostile(t, script, strict); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzTwinNaiveDecoder is the buggy twin's fuzz target; its corpus holds
// the crasher go test -fuzz found. It runs only as a subprocess of
// TestFuzzFindsNaiveDecoderBug.
func FuzzTwinNaiveDecoder(f *testing.F) {
	if harness.Twin() != "naive-decoder" {
		f.Skip("a buggy twin; runs only as a subprocess of TestFuzzFindsNaiveDecoderBug")
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, script []byte) {
		if err := hostile(t, script, naive); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFuzzFindsNaiveDecoderBug: the crasher the fuzzer saved replays as an
// ordinary test and fails the naive decoder, every time.
func TestFuzzFindsNaiveDecoderBug(t *testing.T) {
	for i := range 5 {
		r := harness.RunTwin(t, "FuzzTwinNaiveDecoder", "naive-decoder")
		if !r.Failed || !strings.Contains(r.Output, "decoded a frame that was never sent") {
			t.Fatalf("replay %d: the naive decoder's crasher did not fail:\n%s", i, r.Output)
		}
	}
}

// TestHostileStreamsProperty runs the same property with rapid drawing the
// script: the strict decoder passes, and rapid finds the naive decoder's
// bug within its default 100 cases (in a plain go test run).
func TestHostileStreamsProperty(t *testing.T) {
	script := rapid.SliceOfN(rapid.Byte(), 0, 64)
	rapid.Check(t, func(rt *rapid.T) {
		if err := hostile(t, script.Draw(rt, "script"), strict); err != nil {
			rt.Fatal(err)
		}
	})
	found := false
	for seed := range 100 {
		s := rapid.SliceOfN(rapid.Byte(), 0, 64).Example(seed)
		if hostile(t, s, naive) != nil {
			found = true
			t.Logf("the naive decoder fails on example %d: script %v", seed, s)
			break
		}
	}
	if !found {
		t.Fatal("no script among 100 examples broke the naive decoder")
	}
}

// TestDecoderErrors pins the decoder's errors on hand-made streams.
func TestDecoderErrors(t *testing.T) {
	good, err := framing.Encode(nil, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	d := framing.NewDecoder(bytes.NewReader(good))
	if p, err := d.Next(); err != nil || string(p) != "hello" {
		t.Fatalf("Next() = %q, %v", p, err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
	bad := append([]byte(nil), good...)
	bad[3] ^= 1
	if _, err := framing.NewDecoder(bytes.NewReader(bad)).Next(); !errors.Is(err, framing.ErrCorrupt) {
		t.Fatalf("a flipped bit: %v, want ErrCorrupt", err)
	}
	if _, err := framing.NewDecoder(bytes.NewReader(good[:4])).Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("a cut frame: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := framing.NewDecoder(bytes.NewReader([]byte{0xff, 0xff})).Next(); !errors.Is(err, framing.ErrCorrupt) {
		t.Fatalf("a length over MaxPayload: %v, want ErrCorrupt", err)
	}
	if _, err := framing.Encode(nil, make([]byte, framing.MaxPayload+1)); err == nil {
		t.Fatal("Encode took a payload over MaxPayload")
	}
}
