package server

import (
	"errors"

	"golang.org/x/crypto/cryptobyte"

	"github.com/wardchat/ward/franking"
)

// queued is what the server stores in a queue entry's envelope column: the
// client's ciphertext together with the delivery context the store has no
// columns for (the conversation and the franking commitment the tag
// binds). Encoding:
//
//	struct {
//	    uint8  version = 1;
//	    uint8  kind;                       // franking.ConversationKind, 1 = direct
//	    opaque conversation<1..255>;
//	    opaque commitment[32];             // franking commitment c
//	    opaque envelope<1..2^24-1>;        // the client's bytes, verbatim
//	} QueuedEnvelope;
//
// The framing is removed before delivery. (It shrinks to the envelope once
// store.Send and store.Entry carry the conversation and commitment.)
type queued struct {
	kind         franking.ConversationKind
	conversation []byte
	commitment   []byte
	envelope     []byte
}

const queuedVersion = 1

var errQueued = errors.New("server: malformed queued envelope")

func (q *queued) marshal() ([]byte, error) {
	if len(q.commitment) != franking.CommitmentSize {
		return nil, errQueued
	}
	var b cryptobyte.Builder
	b.AddUint8(queuedVersion)
	b.AddUint8(uint8(q.kind))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(q.conversation) })
	b.AddBytes(q.commitment)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(q.envelope) })
	return b.Bytes()
}

// parseQueued decodes a QueuedEnvelope, rejecting unknown versions, empty
// fields, wrong lengths and trailing bytes.
func parseQueued(v []byte) (*queued, error) {
	s := cryptobyte.String(v)
	var ver, kind uint8
	var conv, com, env cryptobyte.String
	if !s.ReadUint8(&ver) || ver != queuedVersion || !s.ReadUint8(&kind) ||
		!s.ReadUint8LengthPrefixed(&conv) || len(conv) == 0 ||
		!s.ReadBytes((*[]byte)(&com), franking.CommitmentSize) ||
		!s.ReadUint24LengthPrefixed(&env) || len(env) == 0 || !s.Empty() {
		return nil, errQueued
	}
	return &queued{kind: franking.ConversationKind(kind), conversation: conv, commitment: com, envelope: env}, nil
}
