package netsim

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
	"github.com/headwind-go/headwind/internal/link"
)

// everyField and burst are valid profiles that between them set every
// field (Loss and Burst are exclusive); the test fails if faultconn.Profile
// gains a field both leave zero.
var (
	everyField = faultconn.Profile{
		Latency: 3 * time.Millisecond, Jitter: time.Millisecond,
		Distribution: faultconn.ParetoNormal, Correlation: 0.25,
		Bandwidth: 1 << 20, Loss: 0.01,
		Duplicate: 0.02, Reorder: 0.03, Corrupt: 0.04, Segment: 512, Reset: 0.05,
	}
	burst = faultconn.Profile{
		Latency: time.Millisecond,
		Burst:   &faultconn.GilbertElliott{P: 0.1, R: 0.2, BadLoss: 0.3, GoodLoss: 0.4},
	}
)

// TestEveryProfileFieldReachesTheEngine sets every Profile field and reads
// the engine's profile back, through netsim's links (TCP and UDP) and
// through a faultconn wrapper: a field a conversion dropped would come back
// zero.
func TestEveryProfileFieldReachesTheEngine(t *testing.T) {
	v, w := reflect.ValueOf(everyField), reflect.ValueOf(burst)
	for i := range v.NumField() {
		require.False(t, v.Field(i).IsZero() && w.Field(i).IsZero(), "no test profile sets %s", v.Type().Field(i).Name)
	}
	require.NoError(t, everyField.Validate())
	require.NoError(t, burst.Validate())
	back := func(lp link.Profile) faultconn.Profile { return link.Back[faultconn.Profile](lp) }

	synctest.Test(t, func(t *testing.T) {
		n, err := New(Config{Default: everyField})
		require.NoError(t, err)
		defer n.Close()
		a, b := n.Host("a"), n.Host("b")
		ln, err := b.Listen("tcp", ":80")
		require.NoError(t, err)
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := a.Dial("tcp", "b:80")
		require.NoError(t, err)
		defer c.Close()
		tx, rx := c.(*Conn).tx.Profile(), c.(*Conn).rx.Profile()
		requireSameByName(t, everyField, tx)
		require.Equal(t, everyField, back(tx), "netsim TCP, client to server")
		require.Equal(t, everyField, back(rx), "netsim TCP, server to client")

		// A profile set later reaches live conns too.
		require.NoError(t, n.SetLink("a", "b", burst))
		requireSameByName(t, burst, c.(*Conn).tx.Profile())
		require.Equal(t, burst, back(c.(*Conn).tx.Profile()), "netsim SetLink")

		u, err := a.ListenPacket("udp", ":0")
		require.NoError(t, err)
		defer u.Close()
		to := netip.AddrPortFrom(b.IP(), 53)
		_, err = u.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(to))
		require.NoError(t, err)
		pc := u.(*PacketConn)
		pc.mu.Lock()
		f := pc.flows[to]
		pc.mu.Unlock()
		require.NotNil(t, f, "the write made a flow")
		require.Equal(t, burst, back(f.l.Profile()), "netsim UDP")
	})

	pa, pb := net.Pipe()
	defer pb.Close()
	fc, err := faultconn.Wrap(pa, faultconn.Config{Out: everyField, In: everyField})
	require.NoError(t, err)
	defer fc.Close()
	out, in := fc.Profiles()
	require.Equal(t, everyField, out, "faultconn Out")
	require.Equal(t, everyField, in, "faultconn In")
	require.NoError(t, fc.SetProfiles(burst, burst))
	out, in = fc.Profiles()
	require.Equal(t, burst, out, "faultconn SetProfiles Out")
	require.Equal(t, burst, in, "faultconn SetProfiles In")
}

// requireSameByName compares the engine's profile with the front end's
// field by field, by name (the engine's Dist is Distribution), without
// going back through link.Back: two fields swapped both ways by Convert
// and Back would pass a round trip, not this.
func requireSameByName(t *testing.T, front faultconn.Profile, engine link.Profile) {
	t.Helper()
	flat := func(v reflect.Value) map[string]string {
		m := map[string]string{}
		for i := range v.NumField() {
			name, f := v.Type().Field(i).Name, v.Field(i)
			if name == "Dist" {
				name = "Distribution"
			}
			if f.Kind() == reflect.Pointer {
				if f.IsNil() {
					m[name] = "nil"
					continue
				}
				for j := range f.Elem().NumField() {
					m[name+"."+f.Elem().Type().Field(j).Name] = fmt.Sprint(f.Elem().Field(j).Interface())
				}
				continue
			}
			if f.CanInt() {
				m[name] = fmt.Sprint(f.Int())
				continue
			}
			m[name] = fmt.Sprint(f.Interface())
		}
		return m
	}
	require.Equal(t, flat(reflect.ValueOf(front)), flat(reflect.ValueOf(engine)), "the engine's profile, field by field")
}
