package harness

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/headwind-go/headwind/faultconn"
)

// The harness's flags. Each has an environment twin, used when the flag is
// not given. The flags exist only in test binaries of packages that import
// harness (go test ./... -headwind.faults=… fails with "flag provided but
// not defined" in every other package), so to re-run a whole suite under
// faults use the environment:
//
//	HEADWIND_FAULTS='latency=50ms loss=1%' go test ./...
var (
	seedFlag   = flag.String("headwind.seed", "", "headwind: network seed to replay (env HEADWIND_SEED); empty means a fresh random seed per run")
	faultsFlag = flag.String("headwind.faults", "", "headwind: default link profile of every harness network, in faultconn.ParseProfile syntax (env HEADWIND_FAULTS)")
	traceFlag  = flag.String("headwind.trace", "", "headwind: directory to write the full trace of failing runs to, as text and JSON lines (env HEADWIND_TRACE)")
	swarmFlag  = flag.String("headwind.swarm", "", "headwind: on (the default) or off: swarm testing in Check and Fuzz (env HEADWIND_SWARM)")
	stallFlag  = flag.String("headwind.stall", "", "headwind: real time a bubble may go without progress in virtual time before the test fails with a diagnosis (env HEADWIND_STALL); empty means 10s, 0 turns the watchdog off")
)

func setting(f *string, env string) string {
	if *f != "" {
		return *f
	}
	return os.Getenv(env)
}

// seed returns the seed given by -headwind.seed or HEADWIND_SEED, or a
// fresh random one (from the global source: the one place headwind uses
// it, to pick a seed that it then prints); given reports which.
func seed() (s uint64, given bool, err error) {
	v := setting(seedFlag, "HEADWIND_SEED")
	if v == "" {
		return rand.Uint64(), false, nil
	}
	s, err = strconv.ParseUint(v, 0, 64)
	if err != nil {
		return 0, true, fmt.Errorf("harness: -headwind.seed %q: not an unsigned 64-bit integer", v)
	}
	return s, true, nil
}

// faults returns the profile given by -headwind.faults or HEADWIND_FAULTS
// (the zero profile if neither is set) and its spec.
func faults() (faultconn.Profile, string, error) {
	v := setting(faultsFlag, "HEADWIND_FAULTS")
	if v == "" {
		return faultconn.Profile{}, "", nil
	}
	p, err := faultconn.ParseProfile(v)
	if err != nil {
		return p, v, fmt.Errorf("harness: -headwind.faults: %w", err)
	}
	return p, v, nil
}

func traceDir() string { return setting(traceFlag, "HEADWIND_TRACE") }

// stallBound returns the stall watchdog's bound: opt if not zero (negative
// turns the watchdog off), else -headwind.stall or HEADWIND_STALL, else
// DefaultStall. A result <= 0 means no watchdog.
func stallBound(opt time.Duration) (time.Duration, error) {
	if opt != 0 {
		return opt, nil
	}
	v := setting(stallFlag, "HEADWIND_STALL")
	if v == "" {
		return DefaultStall, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("harness: -headwind.stall %q: not a duration in [0,∞) (e.g. 10s; 0 turns the watchdog off)", v)
	}
	return d, nil
}
