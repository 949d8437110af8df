package backpressure

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The frame types of the wire protocol (see the package documentation).
// Requests go from clients to the broker, one at a time per connection,
// and each gets exactly one reply before the next is sent.
const (
	tHello   byte = 0x01
	tProduce byte = 0x02
	tFetch   byte = 0x03

	tWelcome   byte = 0x81
	tAccepted  byte = 0x82
	tDuplicate byte = 0x83
	tRetry     byte = 0x84
	tTooLarge  byte = 0x85
	tFenced    byte = 0x86
	tStale     byte = 0x87
	tMessages  byte = 0x88
	tBusy      byte = 0x89
	tError     byte = 0x8f
)

const (
	lenHello      = 1 + 16
	lenProduceHdr = 1 + 8 // type and seq; the payload follows
	lenFetch      = 1 + 8 + 8 + 4 + 4 + 8
	lenSeqReply   = 1 + 8
	lenMessagesHd = 1 + 8 + 4
	lenMsgHdr     = 8 + 8 + 8 + 4
	// maxControl is the largest frame other than PRODUCE and MESSAGES.
	maxControl = 1 + 256
)

// errProtocol marks a malformed frame: the connection is closed.
var errProtocol = errors.New("backpressure: protocol error")

func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}

// readHeader reads a frame's length and type and returns the number of
// body bytes that follow the type.
func readHeader(r *bufio.Reader) (typ byte, body int64, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:4]); err != nil {
		return 0, 0, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n == 0 {
		return 0, 0, protocolErr("empty frame")
	}
	if h[4], err = r.ReadByte(); err != nil {
		return 0, 0, noEOF(err)
	}
	return h[4], int64(n) - 1, nil
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frame starts a frame of type typ in buf (reused), leaving room for the
// length, which finish fills in.
func frame(buf []byte, typ byte) []byte {
	return append(buf[:0], 0, 0, 0, 0, typ)
}

func finish(buf []byte) []byte {
	binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))
	return buf
}

func seqFrame(buf []byte, typ byte, seq uint64) []byte {
	return finish(binary.BigEndian.AppendUint64(frame(buf, typ), seq))
}

// readReply reads one reply frame of at most limit bytes (type included)
// into a new buffer and returns its type and body.
func readReply(r *bufio.Reader, limit int64) (byte, []byte, error) {
	typ, n, err := readHeader(r)
	if err != nil {
		return 0, nil, err
	}
	if n+1 > limit {
		return 0, nil, protocolErr("reply of type %#x is %d bytes, over the limit of %d", typ, n+1, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, noEOF(err)
	}
	return typ, body, nil
}
