package faultconn_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwind-go/headwind/faultconn"
)

func ExampleWriteSequence() {
	ms := time.Millisecond
	link := "client:49152->server:80#1"
	events := []faultconn.Event{
		{Time: 0, Link: link, Dir: faultconn.Out, Seq: 1, Kind: faultconn.KindSend, Size: 31},
		{Time: 50 * ms, Link: link, Dir: faultconn.Out, Seq: 1, Kind: faultconn.KindDeliver, Size: 31},
		{Time: 50 * ms, Link: link, Dir: faultconn.In, Seq: 1, Kind: faultconn.KindSend, Size: 12},
		{Time: 100 * ms, Link: link, Dir: faultconn.In, Seq: 1, Kind: faultconn.KindBlock, Size: 12},
		{Time: 300 * ms, Link: link, Dir: faultconn.Out, Seq: 2, Kind: faultconn.KindReset},
	}
	faultconn.WriteSequence(os.Stdout, events, faultconn.SequenceOptions{})
	// Output:
	//    0.000s  conn 1  client   ──   31B──▶ server   arrived by 0.050s
	//    0.050s  conn 1  client   ◀──   12B─── server   never arrived (1 lost in the partition)
	//    0.300s  conn 1  client   ──      ──▶ server   reset sent
}

// TestSequenceOfATrace draws the chart of a real trace (a lossy link read
// back from its JSON form), keeps to MaxLines, and filters by host.
func TestSequenceOfATrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := faultconn.NewTrace(0)
		p1, b := net.Pipe()
		a, err := faultconn.Wrap(p1, faultconn.Config{Name: "a:1->b:2#7", Seed: 3, Trace: tr,
			Out: faultconn.Profile{Latency: 10 * time.Millisecond, Loss: 0.3}})
		require.NoError(t, err)
		defer func() { a.Close(); b.Close(); <-a.Done() }()
		for range 40 {
			_, err := a.Write([]byte("hello"))
			require.NoError(t, err)
			buf := make([]byte, 5)
			_, err = b.Read(buf)
			require.NoError(t, err)
			time.Sleep(time.Second)
		}
		var js bytes.Buffer
		require.NoError(t, tr.WriteJSON(&js))
		events, discarded, err := faultconn.ReadJSON(&js, 0)
		require.NoError(t, err)
		require.Zero(t, discarded)
		require.Equal(t, tr.Events(), events, "ReadJSON reads back what WriteJSON wrote")

		var out bytes.Buffer
		require.NoError(t, faultconn.WriteSequence(&out, events, faultconn.SequenceOptions{MaxLines: 6, Indent: "> "}))
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		require.Len(t, lines, 6, out.String())
		require.Equal(t, ">              … 35 more lines …", lines[3])
		require.Contains(t, lines[0], "> ")
		require.Contains(t, lines[0], "conn 7  a        ──    5B──▶ b")
		require.Contains(t, out.String(), "retransmitted", "a lossy link shows its retransmissions")

		out.Reset()
		require.NoError(t, faultconn.WriteSequence(&out, events, faultconn.SequenceOptions{Host: "c"}))
		require.Equal(t, "(no segments)\n", out.String())
		for _, opt := range []faultconn.SequenceOptions{{Host: "a", Peer: "c"}, {Link: "a:1->b:2#8"}} {
			out.Reset()
			require.NoError(t, faultconn.WriteSequence(&out, events, opt))
			require.Equal(t, "(no segments)\n", out.String(), "%+v", opt)
		}
		for _, opt := range []faultconn.SequenceOptions{{Host: "b", Peer: "a", MaxLines: 100}, {Link: "a:1->b:2#7", MaxLines: 100}} {
			out.Reset()
			require.NoError(t, faultconn.WriteSequence(&out, events, opt))
			require.Equal(t, 40, strings.Count(out.String(), "\n"), "%+v: one host pair, one connection", opt)
		}
	})
}

func TestSequenceAndReadJSONErrors(t *testing.T) {
	for _, n := range []int{-1, faultconn.MaxSequenceLines + 1} {
		err := faultconn.WriteSequence(&bytes.Buffer{}, nil, faultconn.SequenceOptions{MaxLines: n})
		require.ErrorContains(t, err, fmt.Sprintf("SequenceOptions.MaxLines %d out of range [1, 65536]", n))
	}
	_, _, err := faultconn.ReadJSON(strings.NewReader(`{"time_ns":1,"link":"x","dir":"out","kind":"send","size":1}`+"\nnot json\n"), 0)
	require.ErrorContains(t, err, "faultconn: trace line 2")
	_, _, err = faultconn.ReadJSON(strings.NewReader(`{"time_ns":1,"link":"x","dir":"out","kind":"explode"}`+"\n"), 0)
	require.ErrorContains(t, err, `unknown kind "explode"`)

	// The limit keeps the newest events, and counts the rest.
	var js strings.Builder
	js.WriteString(`{"discarded":5,"limit":3}` + "\n")
	for i := range 4 {
		fmt.Fprintf(&js, `{"time_ns":%d,"link":"x","dir":"out","seq":%d,"kind":"send","size":1}`+"\n", i, i+1)
	}
	events, discarded, err := faultconn.ReadJSON(strings.NewReader(js.String()), 3)
	require.NoError(t, err)
	require.Equal(t, uint64(6), discarded)
	require.Len(t, events, 3)
	require.Equal(t, uint64(2), events[0].Seq)
}
