package attachment

import (
	"crypto/sha256"
	"io"
	"runtime"
	"testing"
)

// memSampler is an io.Writer that discards, and every few MiB records the
// heap in use.
type memSampler struct {
	n, next     int64
	maxHeapUsed uint64
	samples     int
}

func (m *memSampler) Write(p []byte) (int, error) {
	m.n += int64(len(p))
	if m.n >= m.next {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m.maxHeapUsed = max(m.maxHeapUsed, ms.HeapInuse)
		m.samples++
		m.next += 4 << 20
	}
	return len(p), nil
}

// TestStream100MiB streams 100 MiB through Encrypt and Decrypt, connected by
// a pipe, and checks that memory stays bounded: the heap in use grows by
// less than 4 MiB and less than 4 MiB is allocated in total. This is a
// memory bound, not a timing assertion.
func TestStream100MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MiB")
	}
	const size = 100 << 20
	plaintext := func() io.Reader { return io.LimitReader(detRand(77), size) }
	h := sha256.New()
	if _, err := io.Copy(h, plaintext()); err != nil {
		t.Fatal(err)
	}
	var digest Digest
	h.Sum(digest[:0])
	var secret Secret
	detRand(78).Read(secret[:])

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	pr, pw := io.Pipe()
	done := make(chan *Pointer, 1)
	go func() {
		ptr, err := Encrypt(pw, plaintext(), detRand(78))
		pw.CloseWithError(err)
		done <- ptr
	}()
	sink := &memSampler{}
	err := Decrypt(sink, pr, secret, digest)
	ptr := <-done
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if ptr == nil || ptr.PlaintextDigest != digest || ptr.PlaintextSize != size || ptr.CiphertextSize != CiphertextSize(size) {
		t.Fatal("pointer does not describe the stream")
	}
	if sink.n != size || sink.samples < 20 {
		t.Fatalf("decrypted %d bytes, %d samples", sink.n, sink.samples)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	grew := int64(sink.maxHeapUsed) - int64(before.HeapInuse)
	t.Logf("100 MiB streamed: %d KiB allocated in total, heap in use grew by at most %d KiB", allocated>>10, grew>>10)
	if allocated > 4<<20 {
		t.Errorf("allocated %d bytes for a 100 MiB stream", allocated)
	}
	if grew > 4<<20 {
		t.Errorf("heap in use grew by %d bytes", grew)
	}
}
