// Package ratchet implements Signal's Double Ratchet algorithm (revision 4)
// without header encryption, as Ward uses it for 1:1 sessions after PQXDH.
//
// A State is created from the PQXDH shared secret SK and associated data
// AD: the initiator calls InitAlice with the responder's signed prekey as
// the first ratchet public key, the responder calls InitBob with the signed
// prekey pair (Double Ratchet Section 3.3; PQXDH Section 3.3/3.4). Encrypt
// then produces self-contained messages and Decrypt opens them, in any
// order, up to MaxSkip messages ahead within a chain. A State is not safe
// for concurrent use; persist it with MarshalBinary after every operation
// and restore it with UnmarshalState.
//
// Cryptographic choices (Section 5.2 recommends HKDF, HMAC-SHA256 and an
// AEAD):
//
//   - KDF_RK(rk, dh_out) = HKDF-SHA256(salt = rk, ikm = dh_out,
//     info = "WARD_RATCHET_ROOT", L = 64); the first 32 bytes are the new
//     root key, the last 32 the new chain key.
//   - KDF_CK(ck): message key = HMAC-SHA256(ck, 0x01), next chain key =
//     HMAC-SHA256(ck, 0x02).
//   - ENCRYPT(mk, plaintext, AD ‖ header): ChaCha20-Poly1305 (RFC 8439)
//     with a 32-byte key and 12-byte nonce taken from
//     HKDF-Expand-SHA256(prk = mk, info = "WARD_RATCHET_MESSAGE_KEYS",
//     L = 44). Every message key is used once, so the derived nonce never
//     repeats under a key. The AEAD's associated data is the session AD
//     followed by the message's first 45 bytes (version, header and
//     ciphertext length), so every header field is authenticated.
//
// Security properties the code enforces:
//
//   - Skipped message keys are bounded: at most MaxSkip per chain
//     (Section 3.5, "MAX_SKIP") and MaxSkippedKeys in total, the oldest
//     evicted first (Section 6.4 allows deleting old skipped keys).
//   - A message key is deleted as soon as it has been used (Section 6.1),
//     so a replayed message fails with ErrDuplicate.
//   - A failed Decrypt leaves the State exactly as it was: all new values
//     are computed on the side and committed only once the AEAD has
//     authenticated the message (Section 3.5: "if an exception is raised
//     ... then the message is discarded and changes to the state object are
//     discarded").
//   - Section 6.5: the new ratchet key pair is generated when the next
//     message is sent rather than when a new ratchet public key is received,
//     so Decrypt needs no randomness. This changes when keys are derived,
//     not which: the root and chain keys are the spec's.
//
// Randomness is injected: Encrypt reads 32 bytes from its io.Reader when it
// starts a new sending chain and nothing otherwise.
package ratchet

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"
)

const (
	// Version is the first byte of every message and serialised State.
	Version = 1
	// MaxSkip is the most message keys skipped in one receiving chain by a
	// single message (Section 3.5, MAX_SKIP).
	MaxSkip = 1000
	// MaxSkippedKeys caps the skipped message keys stored in total; past
	// it the oldest are evicted.
	MaxSkippedKeys = 2000
	// maxPrevChains is how many previous receiving ratchet keys are
	// remembered, so that a late or replayed message on an old chain whose
	// key is gone fails with ErrDuplicate without a DH computation.
	maxPrevChains = 16
	// headerSize is the message prefix the AEAD authenticates: version,
	// DH public key, PN, N and the ciphertext length.
	headerSize = 1 + 32 + 4 + 4 + 4
	// Overhead is the size of a message minus the size of its plaintext.
	Overhead = headerSize + chacha20poly1305.Overhead
)

// KDF info strings. They are part of the protocol.
const (
	rootInfo    = "WARD_RATCHET_ROOT"
	messageInfo = "WARD_RATCHET_MESSAGE_KEYS"
)

var (
	// ErrDuplicate means the message key for a message no longer exists:
	// the message was already decrypted, or it is older than the skipped
	// keys kept. Callers may branch on it to drop the message silently. It
	// is returned before any authentication, so it proves nothing about
	// who sent the message.
	ErrDuplicate = errors.New("ratchet: message key not available (duplicate or expired message)")
	// ErrDecrypt is returned for every message that fails to authenticate,
	// without detail.
	ErrDecrypt = errors.New("ratchet: decryption failed")
)

var (
	ckMessageInput = []byte{0x01}
	ckChainInput   = []byte{0x02}
)

type skipID struct {
	dh [32]byte
	n  uint32
}

type skipEntry struct {
	mk  [32]byte
	seq uint64
}

type skipRef struct {
	id  skipID
	seq uint64
}

type pendingKey struct {
	id skipID
	mk [32]byte
}

// State is one party's Double Ratchet state (Section 3.2): DHs, DHr, RK,
// CKs, CKr, Ns, Nr, PN and MKSKIPPED, plus the session's associated data.
type State struct {
	dhs    *ecdh.PrivateKey // DHs; nil for Alice before her first message
	dhsPub [32]byte

	hasDHr bool
	dhr    [32]byte // DHr
	dhrKey *ecdh.PublicKey

	rk     [32]byte // RK
	cks    [32]byte // CKs, valid iff hasCKs
	ckr    [32]byte // CKr, valid iff hasCKr
	hasCKs bool
	hasCKr bool
	// sendPending: a new DHr was received (or Alice has just started);
	// the next Encrypt generates DHs and derives CKs (Section 6.5).
	sendPending bool

	ns, nr, pn uint32 // Ns, Nr, PN

	ad []byte

	prev [][32]byte // earlier DHr values, oldest first

	skipped map[skipID]skipEntry // MKSKIPPED
	order   []skipRef            // insertion order; stale refs allowed
	seq     uint64

	// scratch holds AD ‖ message prefix for the AEAD, and tmp the
	// intermediate keys of one operation; neither is state. They live in
	// the (heap-allocated) State so hot paths do not allocate.
	scratch []byte
	tmp     struct {
		mk, ck [32]byte
		nonce  [chacha20poly1305.NonceSize]byte
		seed   [32]byte
	}
}

func newState(sk, ad []byte) (*State, error) {
	if len(sk) != 32 {
		return nil, errors.New("ratchet: shared secret must be 32 bytes")
	}
	if len(ad) > math.MaxUint16 {
		return nil, errors.New("ratchet: associated data too long")
	}
	s := &State{ad: append([]byte(nil), ad...), skipped: make(map[skipID]skipEntry)}
	copy(s.rk[:], sk)
	s.scratch = make([]byte, len(ad), len(ad)+headerSize)
	copy(s.scratch, ad)
	return s, nil
}

// InitAlice initialises the initiator's state (Section 3.3,
// RatchetInitAlice) from the PQXDH shared secret sk, the session's
// associated data ad and the responder's signed prekey, which serves as the
// first DHr (PQXDH Section 3.3). The sending chain is derived by the first
// Encrypt.
func InitAlice(sk, ad []byte, bobSignedPrekey *ecdh.PublicKey) (*State, error) {
	if bobSignedPrekey == nil || bobSignedPrekey.Curve() != ecdh.X25519() {
		return nil, errors.New("ratchet: invalid signed prekey")
	}
	s, err := newState(sk, ad)
	if err != nil {
		return nil, err
	}
	s.hasDHr = true
	copy(s.dhr[:], bobSignedPrekey.Bytes())
	s.dhrKey = bobSignedPrekey
	s.sendPending = true
	return s, nil
}

// InitBob initialises the responder's state (Section 3.3, RatchetInitBob)
// with its signed prekey pair as DHs. The responder cannot send until it
// has decrypted a message.
func InitBob(sk, ad []byte, signedPrekey *ecdh.PrivateKey) (*State, error) {
	if signedPrekey == nil || signedPrekey.Curve() != ecdh.X25519() {
		return nil, errors.New("ratchet: invalid signed prekey")
	}
	s, err := newState(sk, ad)
	if err != nil {
		return nil, err
	}
	s.setDHs(signedPrekey)
	return s, nil
}

func (s *State) setDHs(k *ecdh.PrivateKey) {
	s.dhs = k
	copy(s.dhsPub[:], k.PublicKey().Bytes())
}

// kdfCK is KDF_CK (Section 5.2) on the chain key ck: one HMAC keyed with
// ck yields both the message key (input 0x01, into s.tmp.mk) and the next
// chain key (input 0x02, into s.tmp.ck).
func (s *State) kdfCK(ck [32]byte) {
	s.tmp.ck = ck
	h := hmac.New(sha256.New, s.tmp.ck[:]) // copies the key
	h.Write(ckMessageInput)
	h.Sum(s.tmp.mk[:0])
	h.Reset()
	h.Write(ckChainInput)
	h.Sum(s.tmp.ck[:0])
}

// kdfRK is KDF_RK (Section 5.2).
func kdfRK(rk *[32]byte, dhOut []byte, newRK, ck *[32]byte) error {
	out, err := hkdf.Key(sha256.New, dhOut, rk[:], rootInfo, 64)
	if err != nil {
		return err
	}
	copy(newRK[:], out[:32])
	copy(ck[:], out[32:])
	clear(out)
	return nil
}

// messageAEAD derives the AEAD key and the nonce (into s.tmp.nonce) from
// the message key in s.tmp.mk, which it then clears.
func (s *State) messageAEAD() (cipher.AEAD, error) {
	okm, err := hkdf.Expand(sha256.New, s.tmp.mk[:], messageInfo, chacha20poly1305.KeySize+chacha20poly1305.NonceSize)
	clear(s.tmp.mk[:])
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(okm[:chacha20poly1305.KeySize])
	copy(s.tmp.nonce[:], okm[chacha20poly1305.KeySize:])
	clear(okm)
	return aead, err
}

// Encrypt encrypts plaintext as the next message of the sending chain
// (Section 3.4, RatchetEncrypt) and returns the message.
func (s *State) Encrypt(rand io.Reader, plaintext []byte) ([]byte, error) {
	return s.AppendEncrypt(make([]byte, 0, Overhead+len(plaintext)), rand, plaintext)
}

// AppendEncrypt is Encrypt appending the message to dst.
func (s *State) AppendEncrypt(dst []byte, rand io.Reader, plaintext []byte) ([]byte, error) {
	if len(plaintext) > math.MaxUint32-chacha20poly1305.Overhead-headerSize {
		return nil, errors.New("ratchet: plaintext too long")
	}
	if s.sendPending {
		if err := s.stepSending(rand); err != nil {
			return nil, err
		}
	}
	if !s.hasCKs {
		return nil, errors.New("ratchet: no sending chain yet (the responder must receive a message first)")
	}
	if s.ns == math.MaxUint32 {
		return nil, errors.New("ratchet: sending chain exhausted")
	}
	s.kdfCK(s.cks)
	s.cks = s.tmp.ck
	n := s.ns
	s.ns++

	aead, err := s.messageAEAD()
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	start := len(dst)
	dst = slices.Grow(dst, Overhead+len(plaintext))
	b := cryptobyte.NewFixedBuilder(dst)
	b.AddUint8(Version)
	b.AddBytes(s.dhsPub[:])
	b.AddUint32(s.pn)
	b.AddUint32(n)
	b.AddUint32(uint32(len(plaintext) + chacha20poly1305.Overhead))
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	ad := append(s.scratch[:len(s.ad)], out[start:]...)
	s.scratch = ad
	return aead.Seal(out, s.tmp.nonce[:], plaintext, ad), nil
}

// stepSending is the second half of DHRatchet (Section 3.5), deferred to
// the first Encrypt after a new DHr (Section 6.5): DHs = GENERATE_DH();
// RK, CKs = KDF_RK(RK, DH(DHs, DHr)).
func (s *State) stepSending(rand io.Reader) error {
	if !s.hasDHr {
		return errors.New("ratchet: no remote ratchet key")
	}
	seed := s.tmp.seed[:]
	if _, err := io.ReadFull(rand, seed); err != nil {
		return fmt.Errorf("ratchet: reading randomness: %w", err)
	}
	// crypto/ecdh ignores injected randomness; derive the key from the
	// seed read above.
	dhs, err := ecdh.X25519().NewPrivateKey(seed)
	clear(seed)
	if err != nil {
		return fmt.Errorf("ratchet: %w", err)
	}
	dhOut, err := dhs.ECDH(s.dhrKey)
	if err != nil {
		return ErrDecrypt // low-order DHr; cannot happen for a DHr that authenticated
	}
	var rk, ck [32]byte
	err = kdfRK(&s.rk, dhOut, &rk, &ck)
	clear(dhOut)
	if err != nil {
		return fmt.Errorf("ratchet: %w", err)
	}
	s.setDHs(dhs)
	s.rk, s.cks, s.hasCKs = rk, ck, true
	s.sendPending = false
	return nil
}

// header is a parsed message prefix.
type header struct {
	dh     [32]byte
	pn, n  uint32
	prefix []byte // the authenticated message prefix
	ct     []byte
}

func parseMessage(msg []byte, h *header) bool {
	s := cryptobyte.String(msg)
	var v uint8
	var ctLen uint32
	var dh []byte
	if !s.ReadUint8(&v) || v != Version || !s.ReadBytes(&dh, 32) ||
		!s.ReadUint32(&h.pn) || !s.ReadUint32(&h.n) || !s.ReadUint32(&ctLen) ||
		ctLen < chacha20poly1305.Overhead || uint64(ctLen) != uint64(len(s)) {
		return false
	}
	copy(h.dh[:], dh)
	h.ct = s
	h.prefix = msg[:headerSize]
	return true
}

// Decrypt authenticates and decrypts a message (Section 3.5,
// RatchetDecrypt). On any error the State is unchanged. It returns
// ErrDuplicate for a message whose key was already used or evicted and
// ErrDecrypt for one that does not authenticate.
func (s *State) Decrypt(message []byte) ([]byte, error) {
	return s.AppendDecrypt(nil, message)
}

// AppendDecrypt is Decrypt appending the plaintext to dst.
func (s *State) AppendDecrypt(dst, message []byte) ([]byte, error) {
	var h header
	if !parseMessage(message, &h) {
		return nil, errors.New("ratchet: malformed message")
	}
	// TrySkippedMessageKeys.
	id := skipID{h.dh, h.n}
	if e, ok := s.skipped[id]; ok {
		s.tmp.mk = e.mk
		out, err := s.open(dst, &h)
		if err != nil {
			return nil, err
		}
		delete(s.skipped, id)
		return out, nil
	}

	if s.hasDHr && h.dh == s.dhr {
		if !s.hasCKr {
			return nil, ErrDecrypt
		}
		if h.n < s.nr {
			return nil, ErrDuplicate
		}
		if h.n-s.nr > MaxSkip {
			return nil, errors.New("ratchet: too many skipped messages")
		}
		ck, pending := s.skip(s.ckr, s.dhr, s.nr, h.n, nil)
		s.kdfCK(ck)
		ck = s.tmp.ck
		out, err := s.open(dst, &h)
		if err != nil {
			return nil, err
		}
		s.addSkipped(pending)
		s.ckr, s.nr = ck, h.n+1
		return out, nil
	}

	for i := range s.prev {
		if s.prev[i] == h.dh {
			return nil, ErrDuplicate
		}
	}
	// DHRatchet (Section 3.5), receiving half.
	if s.dhs == nil {
		return nil, ErrDecrypt
	}
	skipOld := s.hasDHr && s.hasCKr && h.pn > s.nr
	if (skipOld && h.pn-s.nr > MaxSkip) || h.n > MaxSkip {
		return nil, errors.New("ratchet: too many skipped messages")
	}
	pub, err := ecdh.X25519().NewPublicKey(h.dh[:])
	if err != nil {
		return nil, ErrDecrypt
	}
	dhOut, err := s.dhs.ECDH(pub)
	if err != nil {
		return nil, ErrDecrypt
	}
	var rk, ck [32]byte
	err = kdfRK(&s.rk, dhOut, &rk, &ck)
	clear(dhOut)
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	ck, newKeys := s.skip(ck, h.dh, 0, h.n, nil)
	s.kdfCK(ck)
	ck = s.tmp.ck
	out, err := s.open(dst, &h)
	if err != nil {
		return nil, err
	}
	// Commit. The old chain's remaining keys (up to header.pn) are derived
	// only now, so a forged message costs no skipped-key derivations there.
	if skipOld {
		var oldKeys []pendingKey
		_, oldKeys = s.skip(s.ckr, s.dhr, s.nr, h.pn, make([]pendingKey, 0, int(h.pn-s.nr)+len(newKeys)))
		newKeys = append(oldKeys, newKeys...)
	}
	s.addSkipped(newKeys)
	if s.hasDHr {
		s.prev = append(s.prev, s.dhr)
		if len(s.prev) > maxPrevChains {
			s.prev = append(s.prev[:0], s.prev[1:]...)
		}
	}
	s.pn, s.ns, s.nr = s.ns, 0, h.n+1
	s.hasDHr, s.dhr, s.dhrKey = true, h.dh, pub
	s.rk, s.ckr, s.hasCKr = rk, ck, true
	s.hasCKs, s.sendPending = false, true
	clear(s.cks[:])
	return out, nil
}

// skip is SkipMessageKeys (Section 3.5) computed on the side: it derives
// the keys of messages from..until-1 of chain ck and returns them with the
// advanced chain key.
func (s *State) skip(ck [32]byte, dh [32]byte, from, until uint32, pending []pendingKey) ([32]byte, []pendingKey) {
	for i := from; i < until; i++ {
		s.kdfCK(ck)
		ck = s.tmp.ck
		pending = append(pending, pendingKey{skipID{dh, i}, s.tmp.mk})
	}
	return ck, pending
}

// open decrypts h with the message key in s.tmp.mk.
func (s *State) open(dst []byte, h *header) ([]byte, error) {
	aead, err := s.messageAEAD()
	if err != nil {
		return nil, ErrDecrypt
	}
	ad := append(s.scratch[:len(s.ad)], h.prefix...)
	s.scratch = ad
	out, err := aead.Open(dst, s.tmp.nonce[:], h.ct, ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}

// addSkipped stores skipped message keys, evicting the oldest past
// MaxSkippedKeys.
func (s *State) addSkipped(keys []pendingKey) {
	for _, k := range keys {
		s.seq++
		s.skipped[k.id] = skipEntry{k.mk, s.seq}
		s.order = append(s.order, skipRef{k.id, s.seq})
	}
	for len(s.skipped) > MaxSkippedKeys {
		r := s.order[0]
		s.order = s.order[1:]
		if e, ok := s.skipped[r.id]; ok && e.seq == r.seq {
			delete(s.skipped, r.id)
		}
	}
	if len(s.order) > 2*len(s.skipped)+64 {
		s.order = s.liveOrder()
	}
}

// liveOrder returns the references of stored skipped keys, oldest first.
func (s *State) liveOrder() []skipRef {
	live := make([]skipRef, 0, len(s.skipped))
	for _, r := range s.order {
		if e, ok := s.skipped[r.id]; ok && e.seq == r.seq {
			live = append(live, r)
		}
	}
	return live
}

// SkippedKeys returns how many skipped message keys are stored.
func (s *State) SkippedKeys() int { return len(s.skipped) }

// CanSend reports whether Encrypt can be called: false only for a
// responder that has not yet decrypted a message.
func (s *State) CanSend() bool { return s.hasCKs || s.sendPending }

// AssociatedData returns a copy of the session's associated data.
func (s *State) AssociatedData() []byte { return append([]byte(nil), s.ad...) }

// ChainDigests returns SHA-256 digests of the root key and of the sending
// and receiving chain keys (all-zero for a chain that does not exist). Two
// parties that have both received every message sent so far have equal
// root digests, and each one's sending digest equals the other's receiving
// digest. The digests are one-way and domain-separated; they exist for
// tests and diagnostics, to compare states without exposing keys.
func (s *State) ChainDigests() (root, sending, receiving [32]byte) {
	d := func(label string, k *[32]byte) [32]byte {
		h := sha256.New()
		h.Write([]byte("WARD_RATCHET_DIGEST_" + label))
		h.Write(k[:])
		var out [32]byte
		h.Sum(out[:0])
		return out
	}
	root = d("RK", &s.rk)
	if s.hasCKs {
		sending = d("CK", &s.cks)
	}
	if s.hasCKr {
		receiving = d("CK", &s.ckr)
	}
	return
}
