package netsim_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/netsim"
)

// udpNemesisTrace runs hosts that send datagrams to each other at the same
// instants while a partition comes and goes, and returns the trace.
func udpNemesisTrace(t *testing.T) string {
	var text string
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		n, err := netsim.New(netsim.Config{Seed: 11, Trace: tr,
			Default: faultconn.Profile{Latency: 5 * time.Millisecond, Duplicate: 0.2, Loss: 0.1}})
		require.NoError(t, err)
		names := []string{"a", "b", "c"}
		pcs := make([]net.PacketConn, len(names))
		for i, h := range names {
			pcs[i], err = n.Host(h).ListenPacket("udp", ":53")
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		for i := range names {
			wg.Go(func() { // drain
				buf := make([]byte, 64)
				for {
					if _, _, err := pcs[i].ReadFrom(buf); err != nil {
						return
					}
				}
			})
		}
		var senders sync.WaitGroup
		for i := range names {
			senders.Go(func() {
				for k := range 5 {
					for j, to := range names {
						if j != i {
							addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.Host(to).IP(), 53))
							pcs[i].WriteTo([]byte(fmt.Sprint(names[i], k)), addr)
						}
					}
					time.Sleep(5 * time.Millisecond) // the next sends land on the arrivals
				}
			})
		}
		senders.Go(func() { // the nemesis, at the same instants
			time.Sleep(10 * time.Millisecond)
			n.Partition([]string{"a"}, []string{"b", "c"})
			tr.Note("", "partition")
			time.Sleep(10 * time.Millisecond)
			n.Heal()
			tr.Note("", "heal")
		})
		senders.Wait()
		time.Sleep(time.Second)
		for _, pc := range pcs {
			pc.Close()
		}
		wg.Wait()
		n.Close()
		var buf bytes.Buffer
		require.NoError(t, tr.WriteText(&buf))
		text = buf.String()
	})
	return text
}

// Same fates, byte-identical traces, however the goroutines that act at
// the same instants were scheduled: 20 runs on one P and 20 on two (CI
// runs it under -race too).
func TestTraceCanonicalUnderNemesis(t *testing.T) {
	first := udpNemesisTrace(t)
	require.Contains(t, first, "partition")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		for run := range 20 {
			require.Equal(t, first, udpNemesisTrace(t), "GOMAXPROCS %d: run %d printed another trace", procs, run)
		}
	}
}
