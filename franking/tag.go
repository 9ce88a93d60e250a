package franking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"slices"
	"sync"

	"golang.org/x/crypto/cryptobyte"
)

// tagLabel domain-separates the server's tag HMAC input.
const tagLabel = "ward/franking/v1/tag"

// Sizes, in bytes.
const (
	// AccountIDSize is the size of a Ward account id.
	AccountIDSize = 16
	// MessageIDSize is the size of a server-assigned message id.
	MessageIDSize = 16
	// MaxConversationSize bounds Context.Conversation (a group id for
	// groups; for direct messages it is exactly AccountIDSize).
	MaxConversationSize = 255
	// TagKeySize is the size of a server tag key.
	TagKeySize = 32
	// TagSize is the size of a tag: a 4-byte key id and an HMAC-SHA256.
	TagSize = 4 + sha256.Size
)

// ConversationKind says what Context.Conversation names.
type ConversationKind uint8

const (
	// Direct is a 1:1 conversation; Conversation is the recipient's
	// account id (AccountIDSize bytes).
	Direct ConversationKind = 1
	// Group is a group conversation; Conversation is the group id.
	Group ConversationKind = 2
)

func (k ConversationKind) String() string {
	switch k {
	case Direct:
		return "direct"
	case Group:
		return "group"
	}
	return fmt.Sprintf("ConversationKind(%d)", uint8(k))
}

// Context is the delivery context that the server binds a commitment to
// (DESIGN.md, section 2: t = HMAC(K_epoch, c || sender || recipient/
// conversation || timestamp || message id)). Its encoding is
//
//	struct {
//	    uint8  version = 1;
//	    opaque commitment[32];
//	    uint8  kind;                 // 1 direct, 2 group
//	    opaque sender_account[16];
//	    uint32 sender_device;
//	    opaque conversation<1..255>; // direct: exactly 16 bytes
//	    uint64 timestamp;            // unix milliseconds
//	    opaque message_id[16];
//	} FrankingContext;
type Context struct {
	// Commitment is the message's franking commitment c.
	Commitment Commitment
	// Kind says whether Conversation is an account id or a group id. It is
	// bound by the tag so that a direct message cannot be passed off as a
	// group message or the other way round.
	Kind ConversationKind
	// SenderAccount and SenderDevice identify the authenticated sender.
	SenderAccount [AccountIDSize]byte
	SenderDevice  uint32
	// Conversation is the recipient account id for direct messages and the
	// group id for group messages.
	Conversation []byte
	// Timestamp is the server's acceptance time in unix milliseconds,
	// supplied by the caller.
	Timestamp uint64
	// MessageID is the server-assigned message id.
	MessageID [MessageIDSize]byte
}

// Valid checks the field ranges that the encoding requires.
func (ctx *Context) Valid() error {
	switch ctx.Kind {
	case Direct:
		if len(ctx.Conversation) != AccountIDSize {
			return fmt.Errorf("%w: context: direct conversation must be a %d-byte account id, got %d bytes", ErrMalformed, AccountIDSize, len(ctx.Conversation))
		}
	case Group:
		if len(ctx.Conversation) == 0 || len(ctx.Conversation) > MaxConversationSize {
			return fmt.Errorf("%w: context: group id of %d bytes, want 1..%d", ErrMalformed, len(ctx.Conversation), MaxConversationSize)
		}
	default:
		return fmt.Errorf("%w: context: unknown conversation kind %d", ErrMalformed, uint8(ctx.Kind))
	}
	return nil
}

// Marshal encodes ctx. It fails if ctx is not Valid.
func (ctx *Context) Marshal() ([]byte, error) {
	if err := ctx.Valid(); err != nil {
		return nil, err
	}
	return ctx.appendTo(make([]byte, 0, ctx.size())), nil
}

func (ctx *Context) size() int { return 1 + 32 + 1 + 16 + 4 + 1 + len(ctx.Conversation) + 8 + 16 }

// appendTo appends the encoding of a Valid ctx to dst.
func (ctx *Context) appendTo(dst []byte) []byte {
	b := cryptobyte.NewBuilder(dst)
	ctx.build(b)
	return b.BytesOrPanic() // cannot fail: ctx is Valid
}

func (ctx *Context) build(b *cryptobyte.Builder) {
	b.AddUint8(Version)
	b.AddBytes(ctx.Commitment[:])
	b.AddUint8(uint8(ctx.Kind))
	b.AddBytes(ctx.SenderAccount[:])
	b.AddUint32(ctx.SenderDevice)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ctx.Conversation) })
	b.AddUint64(ctx.Timestamp)
	b.AddBytes(ctx.MessageID[:])
}

// ParseContext decodes a Context, rejecting trailing bytes, unknown versions
// and invalid fields. Conversation is a copy.
func ParseContext(b []byte) (*Context, error) {
	s := cryptobyte.String(b)
	ctx, err := readContext(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: context: %d trailing bytes", ErrMalformed, len(s))
	}
	return ctx, nil
}

func readContext(s *cryptobyte.String) (*Context, error) {
	var version, kind uint8
	var conv cryptobyte.String
	ctx := new(Context)
	if !s.ReadUint8(&version) {
		return nil, fmt.Errorf("%w: context: missing version", ErrMalformed)
	}
	if version != Version {
		return nil, fmt.Errorf("%w: context: unknown version %d", ErrMalformed, version)
	}
	if !s.CopyBytes(ctx.Commitment[:]) || !s.ReadUint8(&kind) || !s.CopyBytes(ctx.SenderAccount[:]) ||
		!s.ReadUint32(&ctx.SenderDevice) || !s.ReadUint8LengthPrefixed(&conv) ||
		!s.ReadUint64(&ctx.Timestamp) || !s.CopyBytes(ctx.MessageID[:]) {
		return nil, fmt.Errorf("%w: context: truncated", ErrMalformed)
	}
	ctx.Kind = ConversationKind(kind)
	ctx.Conversation = slices.Clone([]byte(conv))
	if err := ctx.Valid(); err != nil {
		return nil, err
	}
	return ctx, nil
}

// Tag is a server franking tag: key_id (uint32, big endian) followed by
// HMAC-SHA256(K_key_id, "ward/franking/v1/tag" || FrankingContext).
type Tag [TagSize]byte

// KeyID returns the id of the key that made t.
func (t Tag) KeyID() uint32 { return binary.BigEndian.Uint32(t[:4]) }

// TagKey is one server tag key. It is secret: it lives only in the server's
// keyring storage.
type TagKey struct {
	// ID names the key inside tags; ids are unique within a keyring.
	ID uint32
	// Secret is the HMAC-SHA256 key.
	Secret [TagKeySize]byte
	// NotAfter is the unix-millisecond time after which a retired key may
	// be dropped by Keyring.Prune; reports of messages tagged under it can
	// no longer be verified once it is gone. Zero means "keep until
	// dropped explicitly". It has no effect on the current key.
	NotAfter uint64
}

// Errors returned by Keyring.Verify; callers branch on them to count
// rejected reports by cause.
var (
	// ErrUnknownKey means the tag names a key id that is not in the
	// keyring: never issued, or an old key epoch that has been dropped.
	ErrUnknownKey = errors.New("franking: tag key unknown or dropped")
	// ErrTagMismatch means the tag does not verify for the given context.
	ErrTagMismatch = errors.New("franking: tag does not verify")
)

// Keyring holds the server's tag keys: the current key, which makes new
// tags, and retired keys, which still verify tags until they are dropped.
// A Keyring is safe for concurrent use.
//
// The keyring is secret. Whoever holds it can forge tags and so forge
// reports; store its encoding (Marshal) encrypted at rest, never log it and
// never send it to clients.
type Keyring struct {
	mu      sync.RWMutex
	current uint32
	keys    map[uint32]*keyState
}

// keyState is a TagKey with a pool of keyed HMAC states: resetting a keyed
// HMAC is cheaper than keying a new one, and the pool keeps Tag and Verify
// safe for concurrent use.
type keyState struct {
	TagKey
	pool sync.Pool // of *tagMAC
}

type tagMAC struct {
	mac hash.Hash
	buf []byte
}

func newKeyState(key TagKey) *keyState {
	ks := &keyState{TagKey: key}
	ks.pool.New = func() any {
		return &tagMAC{mac: hmac.New(sha256.New, ks.Secret[:]), buf: make([]byte, 0, 128+MaxConversationSize)}
	}
	return ks
}

// sum appends HMAC-SHA256(key, tagLabel || encode(ctx)) to dst.
func (ks *keyState) sum(dst []byte, ctx *Context) []byte {
	tm := ks.pool.Get().(*tagMAC)
	defer ks.pool.Put(tm)
	tm.buf = append(tm.buf[:0], tagLabel...)
	tm.buf = ctx.appendTo(tm.buf)
	tm.mac.Reset()
	tm.mac.Write(tm.buf)
	return tm.mac.Sum(dst)
}

// NewKeyring returns a keyring whose current key is current and which also
// verifies tags under each retired key. Key ids must be unique.
func NewKeyring(current TagKey, retired ...TagKey) (*Keyring, error) {
	k := &Keyring{current: current.ID, keys: make(map[uint32]*keyState, 1+len(retired))}
	for _, key := range append([]TagKey{current}, retired...) {
		if _, dup := k.keys[key.ID]; dup {
			return nil, fmt.Errorf("franking: duplicate tag key id %d", key.ID)
		}
		k.keys[key.ID] = newKeyState(key)
	}
	return k, nil
}

// GenerateKeyring returns a keyring with one fresh key, id 1, read from rand.
func GenerateKeyring(rand io.Reader) (*Keyring, error) {
	key := TagKey{ID: 1}
	if _, err := io.ReadFull(rand, key.Secret[:]); err != nil {
		return nil, fmt.Errorf("franking: reading tag key: %w", err)
	}
	return NewKeyring(key)
}

// Rotate makes a fresh key, read from rand, the current key. Its id is one
// more than the largest id in the keyring. The previous current key is
// retired with NotAfter set to retiredNotAfter (unix ms; zero keeps it
// until Drop). Rotate returns the new key's id.
func (k *Keyring) Rotate(rand io.Reader, retiredNotAfter uint64) (uint32, error) {
	key := TagKey{}
	if _, err := io.ReadFull(rand, key.Secret[:]); err != nil {
		return 0, fmt.Errorf("franking: reading tag key: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var maxID uint32
	for id := range k.keys {
		maxID = max(maxID, id)
	}
	if maxID == math.MaxUint32 {
		return 0, errors.New("franking: tag key ids exhausted")
	}
	key.ID = maxID + 1
	old := k.keys[k.current].TagKey
	old.NotAfter = retiredNotAfter
	k.keys[old.ID] = newKeyState(old)
	k.keys[key.ID] = newKeyState(key)
	k.current = key.ID
	return key.ID, nil
}

// Drop removes a retired key: tags under it no longer verify. The current key
// cannot be dropped.
func (k *Keyring) Drop(id uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if id == k.current {
		return fmt.Errorf("franking: cannot drop the current tag key %d", id)
	}
	if _, ok := k.keys[id]; !ok {
		return fmt.Errorf("franking: no tag key %d", id)
	}
	delete(k.keys, id)
	return nil
}

// Prune drops every retired key whose NotAfter is non-zero and before now
// (unix ms, supplied by the caller) and returns the dropped ids in ascending
// order.
func (k *Keyring) Prune(now uint64) []uint32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	var dropped []uint32
	for id, key := range k.keys {
		if id != k.current && key.NotAfter != 0 && key.NotAfter < now {
			delete(k.keys, id)
			dropped = append(dropped, id)
		}
	}
	slices.Sort(dropped)
	return dropped
}

// CurrentID returns the id of the key that Tag uses.
func (k *Keyring) CurrentID() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// KeyIDs returns the ids of all keys that verify, in ascending order.
func (k *Keyring) KeyIDs() []uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]uint32, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Tag binds ctx (which carries the commitment) under the current key. It
// fails only if ctx is not Valid.
func (k *Keyring) Tag(ctx Context) (Tag, error) {
	if err := ctx.Valid(); err != nil {
		return Tag{}, err
	}
	k.mu.RLock()
	key := k.keys[k.current]
	k.mu.RUnlock()
	var t Tag
	binary.BigEndian.PutUint32(t[:4], key.ID)
	key.sum(t[4:4], &ctx)
	return t, nil
}

// Verify checks that tag was made by a key in the keyring for exactly ctx.
// It returns ErrMalformed for a tag of the wrong length or an invalid
// context, ErrUnknownKey for a key id that is not (or no longer) in the
// keyring and ErrTagMismatch when the MAC does not match.
func (k *Keyring) Verify(tag []byte, ctx Context) error {
	if len(tag) != TagSize {
		return fmt.Errorf("%w: tag of %d bytes, want %d", ErrMalformed, len(tag), TagSize)
	}
	if err := ctx.Valid(); err != nil {
		return err
	}
	id := binary.BigEndian.Uint32(tag[:4])
	k.mu.RLock()
	key, ok := k.keys[id]
	k.mu.RUnlock()
	if !ok {
		return ErrUnknownKey
	}
	var want [sha256.Size]byte
	key.sum(want[:0], &ctx)
	if !hmac.Equal(want[:], tag[4:]) {
		return ErrTagMismatch
	}
	return nil
}

// Marshal encodes the keyring for the server to persist:
//
//	struct {
//	    uint32 id;
//	    opaque secret[32];
//	    uint64 not_after;
//	} TagKeyEntry;
//
//	struct {
//	    uint8       version = 1;
//	    uint32      current_id;
//	    TagKeyEntry keys<44..2^16-1>;  // ascending id, ids unique
//	} FrankingKeyring;
//
// The result contains every secret key: see the Keyring documentation.
func (k *Keyring) Marshal() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.keys) > math.MaxUint16/44 {
		return nil, fmt.Errorf("franking: keyring of %d keys is too large to encode", len(k.keys))
	}
	ids := make([]uint32, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := cryptobyte.NewBuilder(make([]byte, 0, 1+4+2+44*len(ids)))
	b.AddUint8(Version)
	b.AddUint32(k.current)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, id := range ids {
			key := k.keys[id].TagKey
			b.AddUint32(key.ID)
			b.AddBytes(key.Secret[:])
			b.AddUint64(key.NotAfter)
		}
	})
	return b.Bytes()
}

// ParseKeyring decodes a keyring encoded by Marshal. It rejects trailing
// bytes, unknown versions, keys out of ascending id order or duplicated, and
// a current id that names no key, so that Marshal(ParseKeyring(b)) == b.
func ParseKeyring(b []byte) (*Keyring, error) {
	s := cryptobyte.String(b)
	var version uint8
	var current uint32
	var list cryptobyte.String
	if !s.ReadUint8(&version) {
		return nil, fmt.Errorf("%w: keyring: missing version", ErrMalformed)
	}
	if version != Version {
		return nil, fmt.Errorf("%w: keyring: unknown version %d", ErrMalformed, version)
	}
	if !s.ReadUint32(&current) || !s.ReadUint16LengthPrefixed(&list) {
		return nil, fmt.Errorf("%w: keyring: truncated", ErrMalformed)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: keyring: %d trailing bytes", ErrMalformed, len(s))
	}
	k := &Keyring{current: current, keys: make(map[uint32]*keyState)}
	first := true
	var last uint32
	for !list.Empty() {
		var key TagKey
		if !list.ReadUint32(&key.ID) || !list.CopyBytes(key.Secret[:]) || !list.ReadUint64(&key.NotAfter) {
			return nil, fmt.Errorf("%w: keyring: truncated key entry", ErrMalformed)
		}
		if !first && key.ID <= last {
			return nil, fmt.Errorf("%w: keyring: key ids not strictly ascending", ErrMalformed)
		}
		first, last = false, key.ID
		k.keys[key.ID] = newKeyState(key)
	}
	if _, ok := k.keys[current]; !ok {
		return nil, fmt.Errorf("%w: keyring: current key %d not present", ErrMalformed, current)
	}
	return k, nil
}
