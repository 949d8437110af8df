package harness

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing/synctest"
)

// leftoverGoroutines waits until every other goroutine of the caller's
// bubble has ended or is durably blocked (synctest.Wait), and returns
// those still there. Call it from the goroutine running the body, after
// the network is closed: what is left then would keep the bubble from
// ending, and synctest would panic with "main bubble goroutine has exited
// but blocked goroutines remain" without saying which.
func leftoverGoroutines() []goroutine {
	synctest.Wait()
	bubble, self := currentBubble()
	return slices.DeleteFunc(bubbleGoroutines(bubble), func(g goroutine) bool { return g.id == self })
}

// leftoverReport lists the goroutines left blocked, with their stacks.
func leftoverReport(what string, gs []goroutine) string {
	return fmt.Sprintf("harness: %s still blocked when the %s returned and the network was closed "+
		"(the bubble cannot end while they wait: let them finish, e.g. with WindDown, or stop them before returning):\n%s",
		count(len(gs), "goroutine"), what, strings.TrimRight(describeGoroutines(gs), "\n"))
}

// leftoverSummary is a one-line, run-independent (no goroutine ids)
// account of gs: how many, and where each waits.
func leftoverSummary(what string, gs []goroutine) string {
	var where []string
	for _, g := range gs {
		where = append(where, fmt.Sprintf("[%s] in %s", g.state, topFunction(g.stack)))
	}
	return fmt.Sprintf("harness: %s still blocked when the %s returned: %s",
		count(len(gs), "goroutine"), what, strings.Join(where, "; "))
}

var argsRE = regexp.MustCompile(`\(.*\)$`)

// topFunction is the innermost function of stack outside the runtime and
// the sync, time and internal packages: where the user's code waits.
func topFunction(stack string) string {
	lines := strings.Split(stack, "\n")
	var first string
	for i := 0; i < len(lines); i += 2 {
		fn := argsRE.ReplaceAllString(strings.TrimSpace(lines[i]), "")
		if first == "" {
			first = fn
		}
		if !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "sync.") && !strings.HasPrefix(fn, "internal/") &&
			!strings.HasPrefix(fn, "time.") {
			return fn
		}
	}
	return first
}

// isLeftoverDeadlock reports whether r is synctest's panic for a bubble
// whose main goroutine exited while others remained blocked.
func isLeftoverDeadlock(r any) bool {
	return strings.Contains(fmt.Sprint(r), "main bubble goroutine has exited but blocked goroutines remain")
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
