package harness

import (
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// goroutine is one goroutine of a bubble as the runtime's traceback shows
// it (runtime.Stack with all set): since Go 1.25 the header of a goroutine
// in a synctest bubble ends in ", synctest bubble N", and a wait that is
// durable there (a channel of the bubble, a select over them, time.Sleep,
// sync.Cond, sync.WaitGroup) says "(durable)".
type goroutine struct {
	id      uint64
	state   string // the wait reason, e.g. "sync.Mutex.Lock", "select (durable)", "running"
	durable bool   // durably blocked: only the bubble can wake it
	stack   string // the frames, one "function\n\tfile:line" pair per call
}

var (
	headerRE = regexp.MustCompile(`^goroutine (\d+)(?: gp=\S+ m=\S+(?: mp=\S+)?)? \[(.*)\]:$`)
	bubbleRE = regexp.MustCompile(`, synctest bubble (\d+)`)
	extrasRE = regexp.MustCompile(`, (\d+ minutes|locked to thread)`)
)

// allStacks returns runtime.Stack(all) in full.
func allStacks() string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// currentBubble returns the id of the synctest bubble the calling goroutine
// runs in, and its goroutine id; bubble is 0 outside a bubble.
func currentBubble() (bubble, self uint64) {
	buf := make([]byte, 256)
	buf = buf[:runtime.Stack(buf, false)]
	header, _, _ := strings.Cut(string(buf), "\n")
	m := headerRE.FindStringSubmatch(header)
	if m == nil {
		return 0, 0
	}
	self, _ = strconv.ParseUint(m[1], 10, 64)
	if b := bubbleRE.FindStringSubmatch(m[2]); b != nil {
		bubble, _ = strconv.ParseUint(b[1], 10, 64)
	}
	return bubble, self
}

// bubbleGoroutines returns the goroutines of bubble, by id, leaving out
// the machinery that runs every bubble: the goroutine outside it that
// waits in synctest.Run, and the bubble's main goroutine while it waits
// for the test function (testing's, inside synctest.Test).
func bubbleGoroutines(bubble uint64) []goroutine {
	var gs []goroutine
	for _, block := range strings.Split(allStacks(), "\n\n") {
		header, stack, _ := strings.Cut(strings.TrimSpace(block), "\n")
		m := headerRE.FindStringSubmatch(header)
		if m == nil {
			continue
		}
		b := bubbleRE.FindStringSubmatch(m[2])
		if b == nil || b[1] != strconv.FormatUint(bubble, 10) {
			continue
		}
		state := bubbleRE.ReplaceAllString(m[2], "")
		state = extrasRE.ReplaceAllString(state, "")
		if strings.HasPrefix(state, "synctest.Run") || strings.Contains(stack, ".testingSynctestTest(") {
			continue
		}
		id, _ := strconv.ParseUint(m[1], 10, 64)
		gs = append(gs, goroutine{id: id, state: state, durable: strings.Contains(state, "(durable)"), stack: stack})
	}
	slices.SortFunc(gs, func(a, b goroutine) int { return cmpUint(a.id, b.id) })
	return gs
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// why says, for a goroutine that is not durably blocked, what it waits on
// and why that stops the virtual clock.
func (g goroutine) why() string {
	s := strings.TrimSuffix(g.state, " (durable)")
	switch {
	case strings.HasPrefix(s, "sync.Mutex") || strings.HasPrefix(s, "sync.RWMutex"):
		return "waits on a " + strings.TrimSuffix(strings.TrimSuffix(s, ".Lock"), ".RLock") + ": a mutex wait is not durable (a lock held across a blocking call?)"
	case s == "syscall":
		return "is in a system call: real I/O is not durable"
	case s == "IO wait":
		return "waits on real network I/O (the netpoller): a real socket is not durable"
	case strings.HasPrefix(s, "chan ") || s == "select":
		return "waits on " + s + " of a channel made outside the bubble: not durable"
	case s == "running" || s == "runnable":
		return "is " + s + ": busy on the CPU, not blocked"
	}
	return "is in " + s + ": not durable"
}

// describeGoroutines lists gs for a report: those not durably blocked
// first, flagged with why they stop the clock, then the durable ones.
func describeGoroutines(gs []goroutine) string {
	var b strings.Builder
	order := slices.Clone(gs)
	slices.SortStableFunc(order, func(a, b goroutine) int {
		switch {
		case !a.durable && b.durable:
			return -1
		case a.durable && !b.durable:
			return 1
		}
		return 0
	})
	for _, g := range order {
		if g.durable {
			fmt.Fprintf(&b, "  goroutine %d [%s]:\n", g.id, g.state)
		} else {
			fmt.Fprintf(&b, "  NOT DURABLE: goroutine %d [%s] %s:\n", g.id, g.state, g.why())
		}
		for _, line := range strings.Split(g.stack, "\n") {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	return b.String()
}
