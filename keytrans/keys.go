package keytrans

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Verifier keys in the signed-note "vkey" form
// (C2SP signed-note, "Verifier keys"):
//
//	<name>+<8 hex digits of the key ID>+<base64(alg ‖ 32-byte Ed25519 public key)>
//
// with alg 0x01 for the log key and 0x04 for witness cosigner keys. These
// are the strings operators put in configuration files.

// String returns the log key as a vkey (algorithm 0x01).
func (l LogKey) String() string { return formatVKey(l.Origin, algEd25519, l.Key) }

// String returns the witness key as a vkey (algorithm 0x04).
func (w WitnessKey) String() string { return formatVKey(w.Name, algCosignatureV1, w.Key) }

// ParseLogKey parses a log vkey; the key name is the log's origin.
func ParseLogKey(vkey string) (LogKey, error) {
	name, key, err := parseVKey(vkey, algEd25519)
	if err != nil {
		return LogKey{}, err
	}
	return LogKey{Origin: name, Key: key}, nil
}

// ParseWitnessKey parses a witness cosigner vkey.
func ParseWitnessKey(vkey string) (WitnessKey, error) {
	name, key, err := parseVKey(vkey, algCosignatureV1)
	if err != nil {
		return WitnessKey{}, err
	}
	return WitnessKey{Name: name, Key: key}, nil
}

func formatVKey(name string, alg byte, key ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, keyID(name, alg, key), base64.StdEncoding.EncodeToString(append([]byte{alg}, key...)))
}

func parseVKey(vkey string, alg byte) (string, ed25519.PublicKey, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	id16, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || checkOrigin(name) != nil || len(id16) != 8 {
		return "", nil, errors.New("keytrans: malformed verifier key")
	}
	idb, err := hex.DecodeString(id16)
	if err != nil || strings.ToLower(id16) != id16 {
		return "", nil, errors.New("keytrans: malformed verifier key ID")
	}
	raw, err := decodeBase64(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize {
		return "", nil, errors.New("keytrans: malformed verifier key")
	}
	if raw[0] != alg {
		return "", nil, fmt.Errorf("keytrans: verifier key algorithm 0x%02x, want 0x%02x", raw[0], alg)
	}
	key := ed25519.PublicKey(raw[1:])
	if binary.BigEndian.Uint32(idb) != keyID(name, alg, key) {
		return "", nil, errors.New("keytrans: verifier key ID does not match the key")
	}
	return name, key, nil
}

// ParseWitnessSize parses the body of a witness's 409 response
// (text/x.tlog.size): a decimal size and a newline.
func ParseWitnessSize(body []byte) (int64, error) {
	s, ok := strings.CutSuffix(string(body), "\n")
	if !ok {
		return 0, errors.New("keytrans: malformed witness size")
	}
	n, err := parseDecimal(s)
	if err != nil {
		return 0, errors.New("keytrans: malformed witness size")
	}
	return n, nil
}
