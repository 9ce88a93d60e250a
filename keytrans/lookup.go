package keytrans

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/wardchat/ward/vrf"
)

// LookupResponseVersion is the version byte of an encoded LookupResponse.
const LookupResponseVersion = 1

// maxProofHashes bounds inclusion and consistency proofs (a tree of 2^63
// leaves needs at most 2*63 hashes).
const maxProofHashes = 128

// LookupResponse is what the server returns for a key fetch: everything a
// client needs to verify one label version against a witnessed checkpoint
// (notes/key-transparency.md, Section 5.2, "Client verifies on every key
// fetch").
//
//	u8   version = 1
//	[80] vrf_proof                 ECVRF proof of the label
//	[110] entry                    the log entry (Entry encoding)
//	u64  leaf_index
//	opaque value<0..2^24-1>        AccountState or HandleBinding encoding
//	[16] opening
//	opaque inclusion<0..2^16-1>    RFC 6962 inclusion proof, 32-byte hashes
//	opaque checkpoint<1..2^16-1>   signed, cosigned checkpoint note
//	u64  consistency_from          size of the client's last checkpoint (0: none)
//	opaque consistency<0..2^16-1>  RFC 6962 consistency proof, 32-byte hashes
type LookupResponse struct {
	VRFProof        [vrf.ProofSize]byte
	Entry           []byte
	LeafIndex       int64
	Value           []byte
	Opening         Opening
	Inclusion       tlog.RecordProof
	Checkpoint      []byte
	ConsistencyFrom int64
	Consistency     tlog.TreeProof
}

func addHashes(b *cryptobyte.Builder, hs []tlog.Hash) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, h := range hs {
			b.AddBytes(h[:])
		}
	})
}

func readHashes(s *cryptobyte.String, out *[]tlog.Hash) bool {
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) || len(v)%tlog.HashSize != 0 || len(v)/tlog.HashSize > maxProofHashes {
		return false
	}
	hs := make([]tlog.Hash, 0, len(v)/tlog.HashSize)
	for !v.Empty() {
		var h tlog.Hash
		v.CopyBytes(h[:])
		hs = append(hs, h)
	}
	*out = hs
	return true
}

// Marshal encodes the response.
func (r *LookupResponse) Marshal() ([]byte, error) {
	if len(r.Entry) != EntrySize || r.LeafIndex < 0 || r.ConsistencyFrom < 0 ||
		len(r.Inclusion) > maxProofHashes || len(r.Consistency) > maxProofHashes ||
		len(r.Checkpoint) == 0 || len(r.Checkpoint) > MaxCheckpointSize || len(r.Value) >= 1<<24 {
		return nil, errors.New("keytrans: invalid lookup response")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(LookupResponseVersion)
	b.AddBytes(r.VRFProof[:])
	b.AddBytes(r.Entry)
	b.AddUint64(uint64(r.LeafIndex))
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(r.Value) })
	b.AddBytes(r.Opening[:])
	addHashes(b, r.Inclusion)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(r.Checkpoint) })
	b.AddUint64(uint64(r.ConsistencyFrom))
	addHashes(b, r.Consistency)
	return b.Bytes()
}

// ParseLookupResponse decodes a response strictly.
func ParseLookupResponse(data []byte) (*LookupResponse, error) {
	s := cryptobyte.String(data)
	var ver uint8
	if !s.ReadUint8(&ver) {
		return nil, fmt.Errorf("%w: lookup response", ErrMalformed)
	}
	if ver != LookupResponseVersion {
		return nil, fmt.Errorf("%w: unknown lookup response version %d", ErrMalformed, ver)
	}
	var r LookupResponse
	var entry []byte
	var value, cp cryptobyte.String
	var idx, from uint64
	if !s.CopyBytes(r.VRFProof[:]) || !s.ReadBytes(&entry, EntrySize) || !s.ReadUint64(&idx) ||
		!s.ReadUint24LengthPrefixed(&value) || !s.CopyBytes(r.Opening[:]) ||
		!readHashes(&s, (*[]tlog.Hash)(&r.Inclusion)) ||
		!s.ReadUint16LengthPrefixed(&cp) || len(cp) == 0 || len(cp) > MaxCheckpointSize ||
		!s.ReadUint64(&from) || !readHashes(&s, (*[]tlog.Hash)(&r.Consistency)) || !s.Empty() {
		return nil, fmt.Errorf("%w: lookup response", ErrMalformed)
	}
	if idx > 1<<63-1 || from > 1<<63-1 {
		return nil, fmt.Errorf("%w: lookup response index", ErrMalformed)
	}
	r.Entry = append([]byte(nil), entry...)
	r.LeafIndex, r.ConsistencyFrom = int64(idx), int64(from)
	r.Value = append([]byte(nil), value...)
	r.Checkpoint = append([]byte(nil), cp...)
	return &r, nil
}
