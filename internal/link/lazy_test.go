package link

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOrdinalsKeys: a connection alone at its instant and first written
// later keeps its ordinal key and name; connections of one instant are
// keyed by their first write, whatever order they were made in; the same
// first bytes in one group are counted; a connection first written at the
// instant it was made is keyed by content.
func TestOrdinalsKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		name := func(ord uint64) string { return "c#" + strconv.FormatUint(ord, 10) }
		var o Ordinals
		alone := o.Next("c", name)
		time.Sleep(time.Millisecond)
		require.Equal(t, "c#1", alone.key([]byte("x")))
		require.Equal(t, "c#1", alone.key([]byte("y")), "fixed once")
		require.Equal(t, "c#1", alone.Name())

		// A group of three made at one instant, in either order.
		keys := func(o *Ordinals, order []int, first []string) []string {
			zs := make([]*Lazy, len(order))
			for _, i := range order {
				zs[i] = o.Next("c", name)
			}
			time.Sleep(time.Millisecond)
			out := make([]string, len(order))
			for _, i := range order {
				out[i] = zs[i].key([]byte(first[i]))
				require.Equal(t, out[i], zs[i].Name())
			}
			return out
		}
		var o1, o2 Ordinals
		o1.Next("c", name)
		o2.Next("c", name)
		time.Sleep(time.Millisecond)
		first := []string{"GET /a", "GET /b", "GET /a"}
		k1 := keys(&o1, []int{0, 1, 2}, first)
		k2 := keys(&o2, []int{1, 0, 2}, first)
		require.Equal(t, k1[1], k2[1], "told apart by content")
		require.Regexp(t, `^c#2/[0-9a-f]{8}$`, k1[0])
		require.Regexp(t, `^c#2/[0-9a-f]{8}$`, k1[1])
		require.Equal(t, k1[0]+"#2", k1[2], "the second of the same bytes")
		require.NotEqual(t, k1[0], k1[1])

		// First written at the instant it was made: by content.
		now := o.Next("c", name)
		require.Regexp(t, `^c#2/[0-9a-f]{8}$`, now.key([]byte("z")))

		// Bytes beyond KeyBytes do not count.
		long := make([]byte, KeyBytes+1)
		a, b := o.Next("d", name), o.Next("d", name)
		ka := a.key(long)
		long[KeyBytes] = 1
		require.Equal(t, ka+"#2", b.key(long))
	})
}
