package harness

import "testing"

// TestDrawLoss checks that a crash's Loss depends only on the seed, the
// host and the crash's number, and that over seeds it draws each of
// none, all and a fraction between.
func TestDrawLoss(t *testing.T) {
	var none, all, some int
	for seed := range uint64(300) {
		l := drawLoss(seed, "db", 0)
		if l != drawLoss(seed, "db", 0) {
			t.Fatalf("seed %d: drawLoss is not a function of its arguments", seed)
		}
		if err := l.validate(); err != nil {
			t.Fatal(err)
		}
		switch l {
		case LoseNone:
			none++
		case LoseAll:
			all++
		default:
			some++
		}
	}
	if none < 50 || all < 50 || some < 50 {
		t.Fatalf("over 300 seeds: %d none, %d all, %d between; want about 100 each", none, all, some)
	}
	for _, c := range []struct {
		loss    Loss
		n, lost int
	}{{0, 5, 0}, {1, 5, 5}, {0.5, 3, 2}, {0.01, 3, 1}, {0.99, 3, 3}, {0.5, 0, 0}} {
		if got := c.loss.lost(c.n); got != c.lost {
			t.Errorf("Loss(%v).lost(%d) = %d, want %d", c.loss, c.n, got, c.lost)
		}
	}
}
