package faultconn

import (
	"errors"
	"fmt"
	"time"

	"github.com/headwind-go/headwind/internal/link"
)

// ErrInjected marks errors caused by an injected fault (a drawn reset, or
// retransmissions that gave up under injected loss) rather than by the peer
// or the program: errors.Is(err, ErrInjected) is true for them, alongside
// errors.Is(err, syscall.ECONNRESET) and the like.
var ErrInjected = link.ErrInjected

// DefaultWindow is the window used when Config.Window is zero: 256 KiB per
// direction.
const DefaultWindow = link.DefaultWindow

// Config says which faults a wrapper puts on a connection.
// The zero value wraps with no faults.
type Config struct {
	// Seed seeds the random streams that draw every segment's fate.
	// Zero is a real seed like any other.
	Seed uint64
	// Name is the stable name of the connection: with Seed and the
	// direction it keys the random streams, so the same Seed and Name give
	// the same fates. It also names the links in the trace. Empty means
	// "conn" (or, for WrapListener and Dialer, "listener" and "dial").
	Name string
	// Out is the profile of what this side writes; In of what it reads.
	Out, In Profile
	// Mode says what loss, duplication, reordering and corruption mean on
	// a byte stream; the zero value is Stream. Packet conns ignore it.
	Mode Mode
	// Window is the most bytes in flight plus delivered-but-unread per
	// direction; a writer that would exceed it blocks (packet conns drop).
	// Zero means DefaultWindow; at most MaxWindow.
	Window int
	// Trace, when not nil, records every segment's fate.
	Trace *Trace
	// Linger is how long delivery after Close waits for the wrapped conn
	// to take more bytes (its peer may read slowly) before it gives up and
	// resets it. It bounds waiting without progress, not the whole
	// delivery: a peer that keeps reading, however slowly, gets
	// everything. Zero means DefaultLinger.
	Linger time.Duration
	// Script, when not nil, chooses the cut and fate of every segment of
	// the Out direction instead of Out's random draws (Latency still
	// applies). It is how fuzzing steers faults; see harness.FuzzScript.
	// Streams only: packet conns ignore it.
	Script Script
}

// Fate is one segment's cut and fate, chosen by a Script. The zero value
// (with a Size) delivers the segment intact.
type Fate struct {
	// Size is how many bytes the segment takes, from 1 to the most
	// offered (smaller values are raised to 1, larger ones cut down).
	Size int
	// Lose makes a hole in Segments mode; in Stream mode the segment is
	// retransmitted once, after the RTO.
	Lose bool
	// Duplicate delivers the segment twice (Segments mode).
	Duplicate bool
	// Reorder holds the segment back so that later ones overtake it.
	Reorder bool
	// Flip flips bit Bit of the segment, counted from its first byte
	// (modulo the segment's size in bits). In Stream mode a flipped
	// segment is retransmitted instead, as a bad checksum would make it.
	Flip bool
	Bit  int
}

// Script chooses the segments of a direction: Next is called once per
// segment with the most bytes the segment may hold (what is left of the
// write, capped by Segment and the window), in write order.
type Script interface {
	Next(max int) Fate
}

// scriptAdapter hands a Script to the engine.
type scriptAdapter struct{ s Script }

func (a scriptAdapter) Next(most int) link.Scripted {
	f := a.s.Next(most)
	bit := -1
	if f.Flip {
		bit = max(f.Bit, 0)
	}
	return link.Scripted{Size: f.Size, Lose: f.Lose, Duplicate: f.Duplicate, Reorder: f.Reorder, Bit: bit}
}

// Validate reports every problem of c in one error, each naming the field,
// the value and the valid range.
func (c Config) Validate() error {
	var errs []error
	if err := c.Out.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("faultconn: Out: %w", err))
	}
	if err := c.In.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("faultconn: In: %w", err))
	}
	if err := validMode(c.Mode); err != nil {
		errs = append(errs, err)
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("faultconn: Linger %v out of range [0,∞) (0 means %v)", c.Linger, DefaultLinger))
	}
	if c.Window < 0 || c.Window > MaxWindow {
		errs = append(errs, fmt.Errorf("faultconn: Window %d out of range [0,%d] (0 means %d)", c.Window, MaxWindow, DefaultWindow))
	}
	return errors.Join(errs...)
}

func (c Config) name(def string) string {
	if c.Name == "" {
		return def
	}
	return c.Name
}

// toLink converts a validated Profile to the engine's, through the one
// conversion both front ends use.
func toLink(p Profile) link.Profile { return link.Convert(p) }

// The engine's enums are faultconn's, value for value: a mismatch fails to
// compile (a constant index out of range).
var (
	_ = [1]int{}[int(Uniform)-int(link.Uniform)]
	_ = [1]int{}[int(Normal)-int(link.Normal)]
	_ = [1]int{}[int(Pareto)-int(link.Pareto)]
	_ = [1]int{}[int(ParetoNormal)-int(link.ParetoNormal)]
	_ = [1]int{}[int(Stream)-int(link.Stream)]
	_ = [1]int{}[int(Segments)-int(link.Segments)]
	_ = [1]int{}[int(KindSend)-int(link.KindSend)]
	_ = [1]int{}[int(KindDeliver)-int(link.KindDeliver)]
	_ = [1]int{}[int(KindLose)-int(link.KindLose)]
	_ = [1]int{}[int(KindDuplicate)-int(link.KindDuplicate)]
	_ = [1]int{}[int(KindReorder)-int(link.KindReorder)]
	_ = [1]int{}[int(KindCorrupt)-int(link.KindCorrupt)]
	_ = [1]int{}[int(KindRetransmit)-int(link.KindRetransmit)]
	_ = [1]int{}[int(KindReset)-int(link.KindReset)]
	_ = [1]int{}[int(KindFin)-int(link.KindFin)]
	_ = [1]int{}[int(KindDrop)-int(link.KindDrop)]
	_ = [1]int{}[int(KindTimeout)-int(link.KindTimeout)]
	_ = [1]int{}[int(KindBlock)-int(link.KindBlock)]
	_ = [1]int{}[int(KindHold)-int(link.KindHold)]
)

// linkConfig is the engine's configuration of one direction of a link.
func linkConfig(name string, dir Dir, seed uint64, mode Mode, window int, tr *Trace) link.Config {
	return link.Config{
		Name:   name,
		Dir:    uint8(dir),
		Seed:   seed,
		Mode:   link.Mode(mode),
		Window: window,
		Trace:  tr.sink(),
	}
}

func (c Config) script() link.Script {
	if c.Script == nil {
		return nil
	}
	return scriptAdapter{c.Script}
}

// sink adapts t to the engine's event callback; nil for a nil trace.
func (t *Trace) sink() func(link.Event) {
	if t == nil {
		return nil
	}
	return func(e link.Event) {
		t.add(Event{Link: e.Link, Dir: Dir(e.Dir), Seq: e.Seq, Kind: Kind(e.Kind), Size: e.Size})
	}
}

// netsim feeds a Config's trace through the engine's hook.
func init() {
	link.TraceSink = func(trace any) func(link.Event) { return trace.(*Trace).sink() }
}

// DirStats counts what happened in one direction of a connection.
type DirStats struct {
	Segments      uint64 // segments (datagrams) written
	Bytes         uint64 // bytes written
	Delivered     uint64 // segments delivered to the reader, copies included
	Lost          uint64 // transmissions lost (by loss or a partition)
	Duplicated    uint64 // segments duplicated
	Reordered     uint64 // segments held back
	Corrupted     uint64 // segments with a flipped bit (Stream mode: transmissions, each then retransmitted)
	Retransmitted uint64 // retransmissions (Stream mode)
	Resets        uint64 // resets sent
	Dropped       uint64 // segments dropped for lack of window or by a closed reader
}

// Stats counts what happened to a connection, per direction.
type Stats struct {
	Out DirStats // what this end wrote
	In  DirStats // what this end received
}
