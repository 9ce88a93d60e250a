package attachment

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
)

var benchSizes = []int{1 << 20, 16 << 20}

// BenchmarkEncrypt measures Encrypt (which also hashes plaintext and
// ciphertext for the Pointer) into io.Discard.
func BenchmarkEncrypt(b *testing.B) {
	for _, size := range benchSizes {
		pt := randBytes(1, size)
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			r := detRand(2)
			for b.Loop() {
				if _, err := Encrypt(io.Discard, bytes.NewReader(pt), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncryptor measures the bare streaming encryption, without the
// Pointer digests.
func BenchmarkEncryptor(b *testing.B) {
	for _, size := range benchSizes {
		pt := randBytes(1, size)
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				e, _ := NewEncryptor(io.Discard, Secret{1})
				if _, err := e.ReadFrom(bytes.NewReader(pt)); err != nil {
					b.Fatal(err)
				}
				if err := e.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecrypt measures Decrypt (which also hashes the plaintext to
// check the digest) into io.Discard.
func BenchmarkDecrypt(b *testing.B) {
	for _, size := range benchSizes {
		pt := randBytes(1, size)
		var ct bytes.Buffer
		ptr, _ := Encrypt(&ct, bytes.NewReader(pt), detRand(3))
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := Decrypt(io.Discard, bytes.NewReader(ct.Bytes()), ptr.Secret, ptr.PlaintextDigest); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecryptor measures the bare streaming decryption.
func BenchmarkDecryptor(b *testing.B) {
	for _, size := range benchSizes {
		pt := randBytes(1, size)
		var ct bytes.Buffer
		ptr, _ := Encrypt(&ct, bytes.NewReader(pt), detRand(3))
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				d, err := NewDecryptor(bytes.NewReader(ct.Bytes()), ptr.Secret)
				if err != nil {
					b.Fatal(err)
				}
				for !d.done {
					if _, err := d.next(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkFloor is the floor for BenchmarkEncryptor and BenchmarkDecryptor:
// AES-256-CTR over the bytes in place and one HMAC-SHA256 over them, with
// no chunking. The "digests" variant adds one SHA-256 pass for the floor of
// Encrypt (plaintext digest and ciphertext digest: two passes) and Decrypt
// (plaintext digest: one pass).
func BenchmarkFloor(b *testing.B) {
	for _, size := range benchSizes {
		buf := randBytes(1, size)
		block, _ := aes.NewCipher(make([]byte, 32))
		mac := hmac.New(sha256.New, make([]byte, 32))
		var iv [16]byte
		var tag [32]byte
		run := func(shaPasses int) func(b *testing.B) {
			return func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					cipher.NewCTR(block, iv[:]).XORKeyStream(buf, buf)
					mac.Reset()
					mac.Write(buf)
					mac.Sum(tag[:0])
					for range shaPasses {
						sha256.Sum256(buf)
					}
				}
			}
		}
		b.Run(fmt.Sprintf("%dMiB", size>>20), run(0))
		b.Run(fmt.Sprintf("%dMiB-1sha", size>>20), run(1))
		b.Run(fmt.Sprintf("%dMiB-2sha", size>>20), run(2))
	}
}
