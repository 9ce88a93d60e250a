package attachment

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func detRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	detRand(seed).Read(b)
	return b
}

// encryptChunk encrypts pt with a given secret and chunk size.
func encryptChunk(t testing.TB, secret Secret, pt []byte, chunkSize int) []byte {
	t.Helper()
	var out bytes.Buffer
	e, err := NewEncryptorChunkSize(&out, secret, chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRoundTrip(t *testing.T) {
	const c = DefaultChunkSize
	for _, size := range []int{0, 1, c - 1, c, c + 1, 2 * c, 3*c + 17} {
		pt := randBytes(uint64(size), size)
		var ct bytes.Buffer
		ptr, err := Encrypt(&ct, bytes.NewReader(pt), detRand(1))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := uint64(ct.Len()), CiphertextSize(uint64(size)); got != want || ptr.CiphertextSize != want {
			t.Errorf("size %d: ciphertext %d bytes, pointer %d, CiphertextSize %d", size, got, ptr.CiphertextSize, want)
		}
		if ptr.PlaintextSize != uint64(size) || ptr.PlaintextDigest != sha256.Sum256(pt) ||
			ptr.CiphertextDigest != sha256.Sum256(ct.Bytes()) {
			t.Errorf("size %d: pointer sizes or digests wrong", size)
		}
		var out bytes.Buffer
		if err := Decrypt(&out, bytes.NewReader(ct.Bytes()), ptr.Secret, ptr.PlaintextDigest); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(out.Bytes(), pt) {
			t.Fatalf("size %d: plaintext differs", size)
		}
		// The io.Reader form, read in odd-sized pieces.
		d, err := NewDecryptor(bytes.NewReader(ct.Bytes()), ptr.Secret)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(io.LimitReader(d, 1<<30))
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("size %d: Decryptor: %v", size, err)
		}
		out.Reset()
		if err := VerifyReported(&out, bytes.NewReader(ct.Bytes()), ptr); err != nil || !bytes.Equal(out.Bytes(), pt) {
			t.Fatalf("size %d: VerifyReported: %v", size, err)
		}
	}
}

// TestWriteBoundaries writes in pieces of every awkward size: the output must
// not depend on how the plaintext was split.
func TestWriteBoundaries(t *testing.T) {
	secret := Secret{1}
	pt := randBytes(2, 5*64+3)
	want := encryptChunk(t, secret, pt, 64)
	for _, step := range []int{1, 7, 63, 64, 65, 128, 1000} {
		var out bytes.Buffer
		e, _ := NewEncryptorChunkSize(&out, secret, 64)
		for p := pt; len(p) > 0; {
			n := min(step, len(p))
			e.Write(p[:n])
			p = p[n:]
		}
		e.Close()
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("step %d: ciphertext differs", step)
		}
	}
	// ReadFrom, as io.Copy uses it, with readers that return short reads.
	for _, size := range []int{0, 1, 63, 64, 65, 128, len(pt)} {
		want := encryptChunk(t, secret, pt[:size], 64)
		for name, r := range map[string]io.Reader{
			"plain":    bytes.NewReader(pt[:size]),
			"one byte": iotest.OneByteReader(bytes.NewReader(pt[:size])),
			"half":     iotest.HalfReader(bytes.NewReader(pt[:size])),
			"data+EOF": iotest.DataErrReader(bytes.NewReader(pt[:size])),
		} {
			var out bytes.Buffer
			e, _ := NewEncryptorChunkSize(&out, secret, 64)
			if n, err := io.Copy(e, r); err != nil || n != int64(size) {
				t.Fatalf("%s %d: copied %d, %v", name, size, n, err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s reader, %d bytes: ciphertext differs", name, size)
			}
		}
	}
	// Decryptor over a one-byte reader.
	d, err := NewDecryptor(iotest.OneByteReader(bytes.NewReader(want)), secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(d, pt); err != nil {
		t.Error(err)
	}
}

func TestCiphertextSize(t *testing.T) {
	for _, tc := range []struct {
		n     uint64
		chunk int
		want  uint64
	}{
		{0, 64, HeaderSize + 32},
		{1, 64, HeaderSize + 1 + 32},
		{64, 64, HeaderSize + 64 + 32},
		{65, 64, HeaderSize + 65 + 64},
		{128, 64, HeaderSize + 128 + 64},
		{100 << 20, DefaultChunkSize, HeaderSize + 100<<20 + 1600*32},
		{1<<64 - 1, 64, 1<<64 - 1},
	} {
		if got := CiphertextSizeChunk(tc.n, tc.chunk); got != tc.want {
			t.Errorf("CiphertextSizeChunk(%d, %d) = %d, want %d", tc.n, tc.chunk, got, tc.want)
		}
	}
	for _, n := range []int{0, 1, 63, 64, 65, 200} {
		if got := len(encryptChunk(t, Secret{}, make([]byte, n), 64)); uint64(got) != CiphertextSizeChunk(uint64(n), 64) {
			t.Errorf("n=%d: real size %d", n, got)
		}
	}
}

func decryptAll(ct []byte, secret Secret) ([]byte, error) {
	var out bytes.Buffer
	d, err := NewDecryptor(bytes.NewReader(ct), secret)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(&out, d)
	return out.Bytes(), err
}

// TestTamperEveryByte flips every bit of every byte of a multi-chunk
// ciphertext: each one is rejected.
func TestTamperEveryByte(t *testing.T) {
	secret := Secret{7}
	for _, size := range []int{0, 10, 64, 3*64 + 5} {
		pt := randBytes(3, size)
		ct := encryptChunk(t, secret, pt, 64)
		for i := range ct {
			for bit := range 8 {
				bad := bytes.Clone(ct)
				bad[i] ^= 1 << bit
				if _, err := decryptAll(bad, secret); err == nil {
					t.Fatalf("size %d: flipped bit %d of byte %d accepted", size, bit, i)
				}
			}
		}
	}
}

func TestTruncationAndExtension(t *testing.T) {
	secret := Secret{8}
	pt := randBytes(4, 4*64)
	ct := encryptChunk(t, secret, pt, 64)
	chunk := 64 + TagSize
	// Every truncation, including each chunk boundary, is rejected.
	for n := range len(ct) {
		_, err := decryptAll(ct[:n], secret)
		if err == nil {
			t.Fatalf("truncated to %d accepted", n)
		}
		if n > HeaderSize && (n-HeaderSize)%chunk == 0 && !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated at chunk boundary %d: got %v", n, err)
		}
	}
	// Appending anything is rejected: a byte, a chunk, the whole file.
	for _, tail := range [][]byte{{0}, ct[HeaderSize : HeaderSize+chunk], ct[HeaderSize:]} {
		if _, err := decryptAll(append(bytes.Clone(ct), tail...), secret); !errors.Is(err, ErrCorrupt) {
			t.Errorf("appended %d bytes: got %v", len(tail), err)
		}
	}
	// An empty final chunk after full chunks is not canonical.
	short := encryptChunk(t, secret, pt[:64], 64)
	if _, err := decryptAll(short, secret); err != nil {
		t.Fatal(err)
	}
}

func TestChunkReorderAndSwap(t *testing.T) {
	secret := Secret{9}
	pt := randBytes(5, 4*64)
	ct := encryptChunk(t, secret, pt, 64)
	chunk := 64 + TagSize
	at := func(b []byte, i int) []byte { return b[HeaderSize+i*chunk : HeaderSize+(i+1)*chunk] }
	// Swap chunks 1 and 2.
	bad := bytes.Clone(ct)
	copy(at(bad, 1), at(ct, 2))
	copy(at(bad, 2), at(ct, 1))
	if _, err := decryptAll(bad, secret); !errors.Is(err, ErrCorrupt) {
		t.Errorf("reordered chunks: got %v", err)
	}
	// Drop chunk 1.
	bad = append(bytes.Clone(ct[:HeaderSize+chunk]), ct[HeaderSize+2*chunk:]...)
	if _, err := decryptAll(bad, secret); !errors.Is(err, ErrCorrupt) {
		t.Errorf("dropped chunk: got %v", err)
	}
	// Move the final chunk forward: it is no longer final.
	final := encryptChunk(t, secret, pt[:4*64-10], 64)
	last := final[len(final)-(54+TagSize):]
	bad = append(bytes.Clone(final[:HeaderSize+chunk]), last...)
	if _, err := decryptAll(bad, secret); !errors.Is(err, ErrCorrupt) {
		t.Errorf("final chunk moved: got %v", err)
	}
	// A chunk from another file with the same chunk size and index.
	other := encryptChunk(t, Secret{10}, pt, 64)
	bad = bytes.Clone(ct)
	copy(at(bad, 1), at(other, 1))
	if _, err := decryptAll(bad, secret); !errors.Is(err, ErrCorrupt) {
		t.Errorf("chunk from another file: got %v", err)
	}
	// Same secret, different chunk size: the header hash differs.
	ct128 := encryptChunk(t, secret, pt, 128)
	bad = append(bytes.Clone(ct[:HeaderSize]), ct128[HeaderSize:]...)
	if _, err := decryptAll(bad, secret); !errors.Is(err, ErrCorrupt) {
		t.Errorf("header swapped: got %v", err)
	}
}

// TestKeyCommitment: a ciphertext opens under exactly one secret. Whatever
// second secret an attacker chooses, decryption stops at the commitment
// check before any chunk is processed — even when the attacker rewrites
// every chunk so that it authenticates under the second secret.
func TestKeyCommitment(t *testing.T) {
	secret := Secret{11}
	pt := randBytes(6, 3*64+1)
	ct := encryptChunk(t, secret, pt, 64)
	r := detRand(12)
	for range 200 {
		var other Secret
		r.Read(other[:])
		if _, err := decryptAll(ct, other); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("other secret: got %v", err)
		}
	}
	// The attacker's best try: keep the victim's header (and so its
	// commitment) and encrypt a different file under a key of its choosing.
	// Every chunk is valid under the attacker's key, yet the commitment check
	// fails for the attacker's key and the chunks fail for the real one.
	var attacker Secret
	attacker[0] = 0xee
	evil := encryptChunk(t, attacker, bytes.Repeat([]byte("evil"), 49), 64)
	spliced := append(bytes.Clone(ct[:HeaderSize]), evil[HeaderSize:]...)
	if _, err := decryptAll(spliced, attacker); !errors.Is(err, ErrWrongKey) {
		t.Errorf("attacker key on spliced file: got %v", err)
	}
	if _, err := decryptAll(spliced, secret); !errors.Is(err, ErrCorrupt) {
		t.Errorf("real key on spliced file: got %v", err)
	}
	// With the attacker's own header it decrypts, but only under the
	// attacker's secret: the header names one secret.
	if _, err := decryptAll(evil, attacker); err != nil {
		t.Fatal(err)
	}
	if _, err := decryptAll(evil, secret); !errors.Is(err, ErrWrongKey) {
		t.Errorf("victim key on attacker file: got %v", err)
	}
	var out bytes.Buffer
	if err := Decrypt(&out, bytes.NewReader(ct), Secret{12}, sha256.Sum256(pt)); !errors.Is(err, ErrWrongKey) || out.Len() != 0 {
		t.Errorf("Decrypt with wrong key: %v, wrote %d bytes", err, out.Len())
	}
}

func TestDigestMismatch(t *testing.T) {
	pt := []byte("a picture of a cat")
	var ct bytes.Buffer
	ptr, err := Encrypt(&ct, bytes.NewReader(pt), detRand(13))
	if err != nil {
		t.Fatal(err)
	}
	wrong := ptr.PlaintextDigest
	wrong[0] ^= 1
	if err := Decrypt(io.Discard, bytes.NewReader(ct.Bytes()), ptr.Secret, wrong); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("Decrypt: got %v", err)
	}
	for name, f := range map[string]func(p *Pointer){
		"plaintext digest":  func(p *Pointer) { p.PlaintextDigest[31] ^= 1 },
		"ciphertext digest": func(p *Pointer) { p.CiphertextDigest[0] ^= 1 },
		"plaintext size":    func(p *Pointer) { p.PlaintextSize++ },
		"ciphertext size":   func(p *Pointer) { p.CiphertextSize-- },
	} {
		p := *ptr
		f(&p)
		if err := VerifyReported(io.Discard, bytes.NewReader(ct.Bytes()), &p); !errors.Is(err, ErrDigestMismatch) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	p := *ptr
	p.Secret[0] ^= 1
	if err := VerifyReported(io.Discard, bytes.NewReader(ct.Bytes()), &p); !errors.Is(err, ErrWrongKey) {
		t.Errorf("secret: got %v", err)
	}
}

func TestHeader(t *testing.T) {
	h := Header{Version: 1, ChunkSize: DefaultChunkSize, KeyCommitment: [32]byte{1, 2}}
	b := h.Marshal()
	if len(b) != HeaderSize {
		t.Fatalf("header of %d bytes", len(b))
	}
	got, err := ParseHeader(b)
	if err != nil || *got != h {
		t.Fatalf("round trip: %v", err)
	}
	for _, tc := range []struct {
		name string
		h    Header
	}{
		{"version 0", Header{Version: 0, ChunkSize: 64}},
		{"version 2", Header{Version: 2, ChunkSize: 64}},
		{"chunk too small", Header{Version: 1, ChunkSize: MinChunkSize - 1}},
		{"chunk too large", Header{Version: 1, ChunkSize: MaxChunkSize + 1}},
	} {
		if _, err := ParseHeader(tc.h.Marshal()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", tc.name, err)
		}
		if _, err := NewDecryptor(bytes.NewReader(tc.h.Marshal()), Secret{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: NewDecryptor got %v", tc.name, err)
		}
	}
	for n := range HeaderSize {
		if _, err := ParseHeader(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated to %d: got %v", n, err)
		}
	}
	if _, err := ParseHeader(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Error("trailing byte accepted")
	}
	if _, err := NewEncryptorChunkSize(io.Discard, Secret{}, MinChunkSize-1); err == nil {
		t.Error("tiny chunk size accepted")
	}
}

// TestKeyDerivation pins the key schedule to docs/PROTOCOL.md (Attachments) by
// recomputing the key commitment with HKDF from x/crypto.
func TestKeyDerivation(t *testing.T) {
	secret := Secret{0x42}
	ct := encryptChunk(t, secret, nil, 64)
	h, err := ParseHeader(ct[:HeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	want := hkdfExpandLabel(secret[:], "ward/attachment/v1/key commitment")
	if !bytes.Equal(h.KeyCommitment[:], want) {
		t.Errorf("key commitment %x, want %x", h.KeyCommitment, want)
	}
}

func TestPointerEncoding(t *testing.T) {
	p := &Pointer{Secret: Secret{1}, PlaintextDigest: Digest{2}, CiphertextDigest: Digest{3},
		PlaintextSize: 10, CiphertextSize: 79, ContentType: "image/png", FileName: "chat — ☺.png",
		BlobID: bytes.Repeat([]byte{9}, 64)}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePointer(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := got.Marshal()
	if !bytes.Equal(b, b2) || got.FileName != p.FileName || !bytes.Equal(got.BlobID, p.BlobID) {
		t.Fatal("pointer does not round-trip")
	}
	for n := range len(b) {
		if _, err := ParsePointer(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: got %v", n, err)
		}
	}
	if _, err := ParsePointer(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Error("trailing byte accepted")
	}
	bad := bytes.Clone(b)
	bad[0] = 2
	if _, err := ParsePointer(bad); !errors.Is(err, ErrMalformed) {
		t.Error("version 2 accepted")
	}
	for name, f := range map[string]func(p *Pointer){
		"blob id too long":      func(p *Pointer) { p.BlobID = make([]byte, 65) },
		"file name too long":    func(p *Pointer) { p.FileName = string(make([]byte, 1025)) },
		"content type too long": func(p *Pointer) { p.ContentType = string(make([]byte, 256)) },
		"file name not utf-8":   func(p *Pointer) { p.FileName = "\xff" },
		"content type not utf8": func(p *Pointer) { p.ContentType = "\xc0" },
	} {
		q := *p
		f(&q)
		if _, err := q.Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Marshal got %v", name, err)
		}
	}
	// A blob id over the limit is rejected by the decoder too.
	q := *p
	q.BlobID = nil
	b, _ = q.Marshal()
	b = append(b[:len(b)-1], 65)
	b = append(b, make([]byte, 65)...)
	if _, err := ParsePointer(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("65-byte blob id: got %v", err)
	}
	// Empty optional fields round-trip.
	empty, _ := (&Pointer{}).Marshal()
	if got, err := ParsePointer(empty); err != nil || got.BlobID != nil {
		t.Errorf("empty pointer: %v", err)
	}
}

func TestEncryptErrors(t *testing.T) {
	if _, err := Encrypt(io.Discard, bytes.NewReader(nil), bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("short randomness accepted")
	}
	failing := errors.New("disk full")
	if _, err := Encrypt(errWriter{failing}, bytes.NewReader([]byte("x")), detRand(1)); !errors.Is(err, failing) {
		t.Errorf("write error: got %v", err)
	}
	if _, err := Encrypt(io.Discard, io.MultiReader(bytes.NewReader([]byte("x")), errReader{failing}), detRand(1)); !errors.Is(err, failing) {
		t.Errorf("read error: got %v", err)
	}
	var out bytes.Buffer
	e, _ := NewEncryptor(&out, Secret{})
	e.Close()
	if _, err := e.Write([]byte("late")); err == nil {
		t.Error("write after close accepted")
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestFormatVector rebuilds a two-chunk ciphertext from
// docs/PROTOCOL.md (Attachments) with independent code (x/crypto HKDF, the
// standard library's AES-CTR and HMAC) and compares it byte for byte.
func TestFormatVector(t *testing.T) {
	secret := Secret{0x01, 0x02}
	pt := randBytes(21, 64+10)
	got := encryptChunk(t, secret, pt, 64)

	encKey := hkdfExpandLabel(secret[:], "ward/attachment/v1/aes-256-ctr key")
	macKey := hkdfExpandLabel(secret[:], "ward/attachment/v1/hmac-sha256 key")
	commitment := hkdfExpandLabel(secret[:], "ward/attachment/v1/key commitment")
	header := append([]byte{1, 0, 0, 0, 64}, commitment...)
	headerHash := sha256.Sum256(header)
	want := bytes.Clone(header)
	block, _ := aes.NewCipher(encKey)
	for i, p := range [][]byte{pt[:64], pt[64:]} {
		iv := make([]byte, 16)
		iv[7] = byte(i)
		ct := make([]byte, len(p))
		cipher.NewCTR(block, iv).XORKeyStream(ct, p)
		m := hmac.New(sha256.New, macKey)
		m.Write(headerHash[:])
		m.Write([]byte{0, 0, 0, 0, 0, 0, 0, byte(i)})
		m.Write([]byte{byte(i)}) // final flag: chunk 1 is final
		m.Write(ct)
		want = append(append(want, ct...), m.Sum(nil)...)
	}
	if !bytes.Equal(got, want) {
		t.Error("ciphertext differs from the specification")
	}
}
