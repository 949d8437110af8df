package backpressure

// queue is the broker's one queue: a log of messages with offsets, from
// base (the oldest not yet acknowledged) to end. Capacity counts queued
// messages plus reservations, taken before a payload is read so that the
// broker never reads a message it has no room for. The broker's mutex
// guards it.
type queue struct {
	msgs     []Message // msgs[head:] are queued; msgs[:head] are acknowledged and nil
	head     int
	base     uint64 // offset of msgs[head]
	bytes    int64  // payload bytes queued
	resMsgs  int    // reserved slots for payloads being read
	resBytes int64
	maxMsgs  int
	maxBytes int64
	bounded  bool
}

func (q *queue) len() int    { return len(q.msgs) - q.head }
func (q *queue) end() uint64 { return q.base + uint64(q.len()) }

// reserve takes room for one message of size bytes, and reports whether
// there was room. An unbounded queue always has room.
func (q *queue) reserve(size int64) bool {
	if q.bounded && (q.len()+q.resMsgs+1 > q.maxMsgs || q.bytes+q.resBytes+size > q.maxBytes) {
		return false
	}
	q.resMsgs++
	q.resBytes += size
	return true
}

// release gives back a reservation.
func (q *queue) release(size int64) {
	q.resMsgs--
	q.resBytes -= size
}

// push turns a reservation into a queued message and returns its offset.
func (q *queue) push(m Message) uint64 {
	q.release(int64(len(m.Payload)))
	m.Offset = q.end()
	q.msgs = append(q.msgs, m)
	q.bytes += int64(len(m.Payload))
	return m.Offset
}

// ack drops every message before offset commit and returns how many it
// dropped. commit must not be past end.
func (q *queue) ack(commit uint64) int {
	n := 0
	for q.head < len(q.msgs) && q.base < commit {
		q.bytes -= int64(len(q.msgs[q.head].Payload))
		q.msgs[q.head] = Message{}
		q.head++
		q.base++
		n++
	}
	// Compact when the acknowledged prefix is most of the slice, so
	// that its backing array does not keep growing.
	if q.head > 0 && q.head >= len(q.msgs)/2 {
		live := copy(q.msgs, q.msgs[q.head:])
		clear(q.msgs[live:])
		q.msgs = q.msgs[:live]
		q.head = 0
		if cap(q.msgs) > 64 && live < cap(q.msgs)/4 {
			q.msgs = append([]Message(nil), q.msgs...)
		}
	}
	return n
}

// read returns up to max messages from offset pos, and at most maxBytes
// of payload unless the first message alone is larger.
func (q *queue) read(pos uint64, max int, maxBytes int64) []Message {
	if pos < q.base {
		pos = q.base
	}
	var out []Message
	var bytes int64
	for i := q.head + int(pos-q.base); i < len(q.msgs) && len(out) < max; i++ {
		m := q.msgs[i]
		if len(out) > 0 && bytes+int64(len(m.Payload)) > maxBytes {
			break
		}
		out = append(out, m)
		bytes += int64(len(m.Payload))
	}
	return out
}
