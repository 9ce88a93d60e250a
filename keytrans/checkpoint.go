package keytrans

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Signature algorithm bytes of signed notes (C2SP signed-note).
const (
	algEd25519       = 0x01
	algCosignatureV1 = 0x04
)

// MaxCheckpointSize bounds an encoded signed checkpoint.
const MaxCheckpointSize = 16 << 10

// Checkpoint is the body of a C2SP tlog-checkpoint: origin, tree size and
// root hash. Ward checkpoints carry no extension lines.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
}

// Tree returns the tlog.Tree of the checkpoint.
func (c *Checkpoint) Tree() tlog.Tree { return tlog.Tree{N: c.Size, Hash: c.Hash} }

// Body returns the note text of the checkpoint (C2SP tlog-checkpoint,
// "Note text"): three newline-terminated lines.
func (c *Checkpoint) Body() ([]byte, error) {
	if err := checkOrigin(c.Origin); err != nil {
		return nil, err
	}
	if c.Size < 0 {
		return nil, errors.New("keytrans: negative checkpoint size")
	}
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:])), nil
}

func checkOrigin(origin string) error {
	// "The origin MUST be non-empty"; we also refuse spaces and "+" (which
	// the spec recommends against and note key names forbid), and control
	// characters.
	if origin == "" || !utf8.ValidString(origin) || strings.ContainsAny(origin, " +\n") {
		return errors.New("keytrans: invalid checkpoint origin")
	}
	for _, r := range origin {
		if r < 0x20 || r == 0x7f {
			return errors.New("keytrans: invalid checkpoint origin")
		}
	}
	return nil
}

// ParseCheckpointBody parses the note text of a checkpoint strictly: exactly
// three lines, a size in decimal without leading zeroes, a canonical base64
// 32-byte root. Extension lines are rejected (Ward logs do not emit them).
func ParseCheckpointBody(text []byte) (*Checkpoint, error) {
	if len(text) > MaxCheckpointSize || !bytes.HasSuffix(text, []byte("\n")) {
		return nil, errors.New("keytrans: malformed checkpoint")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) != 3 {
		return nil, errors.New("keytrans: checkpoint must have exactly three lines")
	}
	if err := checkOrigin(lines[0]); err != nil {
		return nil, err
	}
	size, err := parseDecimal(lines[1])
	if err != nil {
		return nil, errors.New("keytrans: malformed checkpoint size")
	}
	h, err := decodeBase64(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return nil, errors.New("keytrans: malformed checkpoint root hash")
	}
	c := &Checkpoint{Origin: lines[0], Size: size}
	copy(c.Hash[:], h)
	return c, nil
}

// parseDecimal parses a non-negative int64 "with no leading zeroes".
func parseDecimal(s string) (int64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("bad decimal")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("bad decimal")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// keyID returns SHA-256(name ‖ "\n" ‖ alg ‖ pub)[:4] as a big-endian uint32
// (C2SP signed-note, "Signatures"; tlog-cosignature, "Format").
func keyID(name string, alg byte, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', alg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// LogSigner signs checkpoints with the log's Ed25519 key (note algorithm
// 0x01). Its key name is the origin, as tlog-checkpoint says it SHOULD be.
// It implements note.Signer.
type LogSigner struct {
	name string
	key  ed25519.PrivateKey
	id   uint32
}

// NewLogSigner derives the log signing key from a 32-byte seed (read it from
// the injected randomness source; ed25519.GenerateKey ignores its reader).
func NewLogSigner(origin string, seed []byte) (*LogSigner, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("keytrans: log key seed must be 32 bytes")
	}
	k := ed25519.NewKeyFromSeed(seed)
	return &LogSigner{name: origin, key: k, id: keyID(origin, algEd25519, k.Public().(ed25519.PublicKey))}, nil
}

// Name implements note.Signer.
func (s *LogSigner) Name() string { return s.name }

// KeyHash implements note.Signer.
func (s *LogSigner) KeyHash() uint32 { return s.id }

// Sign implements note.Signer.
func (s *LogSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// PublicKey returns the log's Ed25519 public key.
func (s *LogSigner) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// VerifierKey returns the note verifier key string ("<name>+<hex id>+<base64>")
// clients pin.
func (s *LogSigner) VerifierKey() string {
	k, _ := note.NewEd25519VerifierKey(s.name, s.PublicKey())
	return k
}

// SignCheckpoint returns the signed note of c: body, blank line, the log's
// signature line.
func (s *LogSigner) SignCheckpoint(c *Checkpoint) ([]byte, error) {
	if c.Origin != s.name {
		return nil, errors.New("keytrans: checkpoint origin differs from the log key name")
	}
	body, err := c.Body()
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: string(body)}, s)
}

// CosignatureSize is the length of a cosignature/v1 signature after the key
// ID: u64 timestamp ‖ 64-byte Ed25519 signature.
const CosignatureSize = 8 + ed25519.SignatureSize

// cosignedMessage returns the message a cosignature/v1 signs
// (tlog-cosignature, "Ed25519 signed message"): "cosignature/v1\n",
// "time <decimal>\n", then the whole checkpoint body.
func cosignedMessage(body []byte, timestamp uint64) []byte {
	m := make([]byte, 0, len(body)+40)
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, timestamp, 10)
	m = append(m, '\n')
	return append(m, body...)
}

// Cosigner makes cosignature/v1 signatures (note algorithm 0x04).
type Cosigner struct {
	name string
	key  ed25519.PrivateKey
	id   uint32
}

// NewCosigner derives a witness key from a 32-byte seed. The name SHOULD be a
// schema-less URL identifying the witness.
func NewCosigner(name string, seed []byte) (*Cosigner, error) {
	if err := checkOrigin(name); err != nil {
		return nil, errors.New("keytrans: invalid cosigner name")
	}
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("keytrans: cosigner seed must be 32 bytes")
	}
	k := ed25519.NewKeyFromSeed(seed)
	return &Cosigner{name: name, key: k, id: keyID(name, algCosignatureV1, k.Public().(ed25519.PublicKey))}, nil
}

// Name returns the cosigner name.
func (c *Cosigner) Name() string { return c.name }

// Public returns the pinned form of the cosigner's key.
func (c *Cosigner) Public() WitnessKey {
	return WitnessKey{Name: c.name, Key: c.key.Public().(ed25519.PublicKey)}
}

// SignatureLine returns the note signature line
// "— <name> base64(key ID ‖ u64 timestamp ‖ signature)\n" of a cosignature
// over a checkpoint body at a time (truncated to POSIX seconds).
func (c *Cosigner) SignatureLine(body []byte, now time.Time) ([]byte, error) {
	ts := now.Unix()
	if ts < 0 {
		return nil, errors.New("keytrans: cosignature time before the epoch")
	}
	sig := make([]byte, 4, 4+CosignatureSize)
	binary.BigEndian.PutUint32(sig, c.id)
	sig = binary.BigEndian.AppendUint64(sig, uint64(ts))
	sig = append(sig, ed25519.Sign(c.key, cosignedMessage(body, uint64(ts)))...)
	return fmt.Appendf(nil, "— %s %s\n", c.name, base64.StdEncoding.EncodeToString(sig)), nil
}

// WitnessKey is a pinned witness: its name and Ed25519 cosigner key.
type WitnessKey struct {
	Name string
	Key  ed25519.PublicKey
}

// KeyID returns the witness's cosignature/v1 key ID.
func (w WitnessKey) KeyID() uint32 { return keyID(w.Name, algCosignatureV1, w.Key) }

// verifyCosignature checks one cosignature/v1 signature (without the key ID)
// and returns its timestamp.
func (w WitnessKey) verifyCosignature(body, sig []byte) (uint64, bool) {
	if len(sig) != CosignatureSize || len(w.Key) != ed25519.PublicKeySize {
		return 0, false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	// "It MUST NOT exceed 2^63 - 1."
	if ts > 1<<63-1 {
		return 0, false
	}
	return ts, ed25519.Verify(w.Key, cosignedMessage(body, ts), sig[8:])
}

// WitnessPolicy is a k-of-n policy over pinned witnesses: a checkpoint is
// witnessed when at least Threshold distinct witnesses cosigned it within the
// freshness window.
type WitnessPolicy struct {
	Witnesses []WitnessKey
	Threshold int
}

// Validate checks that the policy is satisfiable and names each witness once.
func (p *WitnessPolicy) Validate() error {
	if p.Threshold < 1 || p.Threshold > len(p.Witnesses) {
		return errors.New("keytrans: witness threshold must be between 1 and the number of witnesses")
	}
	seen := map[string]bool{}
	for _, w := range p.Witnesses {
		if len(w.Key) != ed25519.PublicKeySize || checkOrigin(w.Name) != nil {
			return errors.New("keytrans: invalid witness key")
		}
		if seen[w.Name] || seen[string(w.Key)] {
			return errors.New("keytrans: duplicate witness in policy")
		}
		seen[w.Name], seen[string(w.Key)] = true, true
	}
	return nil
}

// LogKey is the pinned log identity: origin and Ed25519 public key.
type LogKey struct {
	Origin string
	Key    ed25519.PublicKey
}

func (l LogKey) verifier() (note.Verifier, error) {
	vk, err := note.NewEd25519VerifierKey(l.Origin, l.Key)
	if err != nil {
		return nil, errors.New("keytrans: invalid log key")
	}
	return note.NewVerifier(vk)
}

// SignedCheckpoint is a checkpoint whose log signature verified, with the
// cosignatures that counted towards the policy.
type SignedCheckpoint struct {
	Checkpoint
	// Note is the signed note reduced to the log signature and the
	// cosignatures that counted, in the order received.
	Note []byte
	// Cosigned maps the name of each witness whose valid, fresh cosignature
	// counted to its timestamp (POSIX seconds). Verification stops at the
	// threshold, so it holds exactly Threshold witnesses.
	Cosigned map[string]uint64
}

// Freshness bounds a checkpoint's cosignatures relative to the caller's clock.
type Freshness struct {
	// MaxAge is how old a cosignature may be (notes: 6–24 h).
	MaxAge time.Duration
	// MaxSkew is how far in the future a cosignature may be.
	MaxSkew time.Duration
}

// Checkpoint verification errors callers branch on.
var (
	// ErrNoQuorum: fewer than Threshold pinned witnesses cosigned the
	// checkpoint within the freshness window (stale, forked or unwitnessed).
	ErrNoQuorum = errors.New("keytrans: checkpoint lacks a fresh witness quorum")
	// ErrLogSignature: the checkpoint has no valid signature by the pinned
	// log key, or is for another origin.
	ErrLogSignature = errors.New("keytrans: checkpoint not signed by the pinned log")
)

// OpenCheckpoint verifies a signed checkpoint note: a valid signature by the
// pinned log key under its origin, and at least policy.Threshold cosignatures
// by distinct pinned witnesses whose timestamps lie in
// [now-MaxAge, now+MaxSkew]. Unknown signatures are ignored ("clients MUST
// ignore unknown signatures"); invalid cosignatures from pinned witnesses do
// not count; a witness counts once however many lines it has.
func OpenCheckpoint(msg []byte, log LogKey, policy *WitnessPolicy, now time.Time, fresh Freshness) (*SignedCheckpoint, error) {
	return openCheckpoint(msg, log, policy, now, fresh, false)
}

// openCheckpoint implements OpenCheckpoint. With trusted, msg is a note this
// package produced earlier from verified signatures (ClientState's stored
// checkpoint): the signatures are not checked again, only the cosignature
// timestamps against the freshness window.
func openCheckpoint(msg []byte, log LogKey, policy *WitnessPolicy, now time.Time, fresh Freshness, trusted bool) (*SignedCheckpoint, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	sc, err := openLogSigned(msg, log, trusted)
	if err != nil {
		return nil, err
	}
	body, _ := sc.Checkpoint.Body()
	lo, hi := now.Add(-fresh.MaxAge).Unix(), now.Add(fresh.MaxSkew).Unix()
	sc.Cosigned = map[string]uint64{}
	var counted []note.Signature
	for _, s := range sc.unverified {
		if len(sc.Cosigned) >= policy.Threshold {
			// Quorum reached: further cosignatures would not change the
			// verdict, so skip their signature checks.
			break
		}
		for _, w := range policy.Witnesses {
			if s.Name != w.Name || s.Hash != w.KeyID() {
				continue
			}
			if _, done := sc.Cosigned[w.Name]; done {
				break
			}
			raw, err := base64.StdEncoding.DecodeString(s.Base64)
			if err != nil || len(raw) != 4+CosignatureSize {
				break
			}
			ts, ok := binary.BigEndian.Uint64(raw[4:12]), trusted
			if !trusted {
				ts, ok = w.verifyCosignature(body, raw[4:])
			}
			if ok && ts <= 1<<63-1 && int64(ts) >= lo && int64(ts) <= hi {
				sc.Cosigned[w.Name] = ts
				counted = append(counted, s)
			}
			break
		}
	}
	if len(sc.Cosigned) < policy.Threshold {
		return nil, fmt.Errorf("%w (%d of %d)", ErrNoQuorum, len(sc.Cosigned), policy.Threshold)
	}
	if !trusted {
		// Keep only the signatures that were verified, so that the note a
		// client stores (and publishes as evidence) carries nothing
		// unchecked.
		sc.Note = formatNote(body, append([]note.Signature{sc.logSig}, counted...))
	}
	return sc.SignedCheckpoint, nil
}

func formatNote(body []byte, sigs []note.Signature) []byte {
	out := append(bytes.Clone(body), '\n')
	for _, s := range sigs {
		out = fmt.Appendf(out, "— %s %s\n", s.Name, s.Base64)
	}
	return out
}

// trustedVerifier accepts every signature of one key: used only on notes
// whose signatures this package verified before.
type trustedVerifier struct {
	name string
	hash uint32
}

func (v trustedVerifier) Name() string            { return v.name }
func (v trustedVerifier) KeyHash() uint32         { return v.hash }
func (v trustedVerifier) Verify(_, _ []byte) bool { return true }

// OpenLogCheckpoint verifies only the log's signature on a checkpoint note,
// for auditors and evidence checkers that judge the log itself rather than
// its witnessing. Clients use OpenCheckpoint.
func OpenLogCheckpoint(msg []byte, log LogKey) (*SignedCheckpoint, error) {
	sc, err := openLogSigned(msg, log, false)
	if err != nil {
		return nil, err
	}
	return sc.SignedCheckpoint, nil
}

type signedCheckpoint struct {
	*SignedCheckpoint
	logSig     note.Signature
	unverified []note.Signature
}

// openLogSigned checks the note form, the body and the log signature (or,
// with trusted, only that a line by the log key is present).
func openLogSigned(msg []byte, log LogKey, trusted bool) (signedCheckpoint, error) {
	if len(msg) > MaxCheckpointSize {
		return signedCheckpoint{}, errors.New("keytrans: checkpoint too large")
	}
	v, err := log.verifier()
	if err != nil {
		return signedCheckpoint{}, err
	}
	if trusted {
		v = trustedVerifier{name: v.Name(), hash: v.KeyHash()}
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return signedCheckpoint{}, fmt.Errorf("%w: %v", ErrLogSignature, err)
	}
	c, err := ParseCheckpointBody([]byte(n.Text))
	if err != nil {
		return signedCheckpoint{}, err
	}
	if c.Origin != log.Origin {
		return signedCheckpoint{}, fmt.Errorf("%w: origin %q", ErrLogSignature, c.Origin)
	}
	return signedCheckpoint{
		SignedCheckpoint: &SignedCheckpoint{Checkpoint: *c, Note: bytes.Clone(msg)},
		logSig:           n.Sigs[0],
		unverified:       n.UnverifiedSigs,
	}, nil
}

// AddCosignatures appends cosignature lines (as returned by a witness) to a
// signed checkpoint note.
func AddCosignatures(signedNote []byte, lines ...[]byte) []byte {
	out := append([]byte(nil), signedNote...)
	for _, l := range lines {
		out = append(out, l...)
	}
	return out
}

// decodeBase64 decodes standard, padded base64 and accepts only its
// canonical form. encoding/base64 skips '\r' and '\n' even in Strict mode,
// so a text line such as "AAAA\rAAAA=" would otherwise decode and re-encode
// to different bytes.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, errors.New("keytrans: non-canonical base64")
	}
	return b, nil
}
