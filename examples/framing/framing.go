// Package framing is a length-prefixed message framing over a byte
// stream, and the example of fuzzing a decoder against hostile byte
// streams with headwind: the fuzzer chooses how the stream is cut into
// segments and which segments are lost, duplicated, reordered or
// corrupted (faultconn's Segments mode with harness.FuzzScript), and the
// property is that the decoder never returns a frame that was not sent.
//
// A frame is a 2-byte big-endian payload length, the payload, and the
// payload's CRC-32 (IEEE), 4 bytes big-endian:
//
//	| len (2) | payload (len) | crc32 (4) |
//
// Decoder reads frames with io.ReadFull (a read may return any part of a
// frame), refuses payloads over MaxPayload, and checks the CRC, so a
// corrupted or misaligned stream yields ErrCorrupt rather than garbage.
// NaiveDecoder is the buggy twin: it trusts that one Read returns a whole
// header or payload and that the length prefix is right, and it has no
// checksum; the fuzz tests show the fuzzer finding it.
package framing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// MaxPayload is the largest payload a frame may carry: an explicit limit,
// so that a corrupted length cannot make the decoder allocate more.
const MaxPayload = 4096

// ErrCorrupt reports a frame that fails its checksum or its limits: the
// stream can no longer be trusted, and the connection should be dropped.
var ErrCorrupt = errors.New("framing: corrupt frame")

// Encode appends the frame of payload to dst. It fails for a payload over
// MaxPayload.
func Encode(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxPayload {
		return dst, fmt.Errorf("framing: payload of %d bytes out of range [0,%d]", len(payload), MaxPayload)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(payload)), nil
}

// Decoder reads frames from a stream. Its zero value is not usable; make
// one with NewDecoder. A Decoder is not safe for concurrent use.
type Decoder struct {
	r   io.Reader
	buf [MaxPayload + 4]byte
}

// NewDecoder returns a decoder reading from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

// Next returns the next frame's payload, valid until the next call. It
// returns io.EOF at a clean end of stream, io.ErrUnexpectedEOF if the
// stream ends inside a frame, ErrCorrupt for a frame that fails its
// length limit or checksum, and the reader's error otherwise.
func (d *Decoder) Next() ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(d.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n > MaxPayload {
		return nil, fmt.Errorf("%w: length %d over %d", ErrCorrupt, n, MaxPayload)
	}
	b := d.buf[:n+4]
	if _, err := io.ReadFull(d.r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	payload := b[:n]
	if binary.BigEndian.Uint32(b[n:]) != crc32.ChecksumIEEE(payload) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	return payload, nil
}

// NaiveDecoder is the buggy twin of Decoder, kept to prove that fuzzing
// finds its bugs: it assumes one Read returns a whole header and a whole
// payload, trusts the length prefix, and ignores the checksum.
type NaiveDecoder struct{ r io.Reader }

// NewNaiveDecoder returns the buggy decoder reading from r.
func NewNaiveDecoder(r io.Reader) *NaiveDecoder { return &NaiveDecoder{r: r} }

// Next returns the next frame's payload, or garbage.
func (d *NaiveDecoder) Next() ([]byte, error) {
	var hdr [2]byte
	if _, err := d.r.Read(hdr[:]); err != nil { // BUG: a short read is taken as a header
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:])) // BUG: trusted
	b := make([]byte, n+4)
	m, err := d.r.Read(b) // BUG: a short read is taken as the payload
	if err != nil {
		return nil, err
	}
	if m < 4 {
		return nil, io.ErrUnexpectedEOF
	}
	return b[:m-4], nil // BUG: no checksum
}
