package attachment

import (
	"crypto/sha256"
	"io"

	"golang.org/x/crypto/hkdf"
)

// hkdfExpandLabel derives a 32-byte key from secret with an independent
// HKDF implementation (golang.org/x/crypto/hkdf, empty salt).
func hkdfExpandLabel(secret []byte, label string) []byte {
	out := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(label)), out); err != nil {
		panic(err)
	}
	return out
}
