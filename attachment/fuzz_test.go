package attachment

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

func FuzzParsePointer(f *testing.F) {
	full, _ := (&Pointer{ContentType: "text/plain", FileName: "a.txt", BlobID: []byte{1, 2}, PlaintextSize: 5}).Marshal()
	empty, _ := (&Pointer{}).Marshal()
	f.Add(full)
	f.Add(empty)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePointer(b)
		if err != nil {
			return
		}
		enc, err := p.Marshal()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("pointer does not round-trip: %v", err)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add((&Header{Version: 1, ChunkSize: DefaultChunkSize}).Marshal())
	f.Add((&Header{Version: 1, ChunkSize: MinChunkSize}).Marshal())
	f.Add((&Header{Version: 1, ChunkSize: MaxChunkSize}).Marshal())
	f.Add((&Header{Version: 1, ChunkSize: MaxChunkSize + 1}).Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Marshal(), b) {
			t.Fatal("header does not round-trip")
		}
	})
}

// FuzzDecrypt decrypts arbitrary bytes under a fixed secret. The seeds are
// valid ciphertexts under that secret, so mutations reach the chunk layer.
// Anything accepted must have been produced by the encryptor: re-encrypting
// the output must give back the input.
func FuzzDecrypt(f *testing.F) {
	secret := Secret{0x5e}
	for _, n := range []int{0, 1, 64, 65, 200} {
		f.Add(encryptChunk(f, secret, bytes.Repeat([]byte{byte(n)}, n), 64))
	}
	f.Add(encryptChunk(f, Secret{1}, []byte("other key"), 64))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ct []byte) {
		var out bytes.Buffer
		d, err := NewDecryptor(bytes.NewReader(ct), secret)
		if err != nil {
			return
		}
		if _, err := io.Copy(&out, d); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		h, _ := ParseHeader(ct[:HeaderSize])
		again := encryptChunk(t, secret, out.Bytes(), int(h.ChunkSize))
		if !bytes.Equal(again, ct) {
			t.Fatal("accepted a ciphertext the encryptor does not produce")
		}
		if err := Decrypt(io.Discard, bytes.NewReader(ct), secret, sha256.Sum256(out.Bytes())); err != nil {
			t.Fatalf("Decrypt disagrees with Decryptor: %v", err)
		}
	})
}
