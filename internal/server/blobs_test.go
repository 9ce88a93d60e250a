package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (c *client) blobRequest(method, path string, body io.Reader) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.e.http.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Ward "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (c *client) createBlob() string {
	c.t.Helper()
	resp := c.blobRequest("POST", "/v1/blobs", nil)
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("POST /v1/blobs = %d", resp.StatusCode)
	}
	var b blobJSON
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		c.t.Fatal(err)
	}
	if len(b.ID) != 64 {
		c.t.Fatalf("blob id %q", b.ID)
	}
	return b.ID
}

// brokenBody yields n bytes then fails, like a dropped connection.
type brokenBody struct{ n int }

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, errors.New("connection lost")
	}
	k := min(len(p), b.n)
	clear(p[:k])
	b.n -= k
	return k, nil
}

func TestBlobs(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBlobBytes = 1 << 20; c.BlobRetention = time.Hour })
	a := e.newClient("alice").register()
	b := e.newClient("bob").register()
	data := bytes.Repeat([]byte("opaque ciphertext "), 30000) // 540 KB

	id := a.createBlob()
	// An interrupted upload leaves nothing downloadable; retrying the PUT
	// completes it.
	req, _ := http.NewRequest("PUT", e.http.URL+"/v1/blobs/"+id, &brokenBody{n: 100000})
	req.Header.Set("Authorization", "Ward "+a.token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("interrupted upload answered %d", resp.StatusCode)
		}
	}
	if r := b.blobRequest("GET", "/v1/blobs/"+id, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("download of an incomplete blob = %d", r.StatusCode)
	}
	// Only the creator may upload.
	if r := b.blobRequest("PUT", "/v1/blobs/"+id, bytes.NewReader(data)); r.StatusCode != http.StatusForbidden {
		t.Fatalf("upload by another account = %d", r.StatusCode)
	}
	r := a.blobRequest("PUT", "/v1/blobs/"+id, bytes.NewReader(data))
	if r.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(r.Body)
		t.Fatalf("upload = %d %s", r.StatusCode, body)
	}
	var meta blobJSON
	json.NewDecoder(r.Body).Decode(&meta)
	sum := sha256.Sum256(data)
	if meta.Size != int64(len(data)) || meta.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("upload result %+v", meta)
	}
	// A completed blob cannot be overwritten.
	if r := a.blobRequest("PUT", "/v1/blobs/"+id, strings.NewReader("other")); r.StatusCode != http.StatusConflict {
		t.Fatalf("overwrite = %d", r.StatusCode)
	}
	// Recipients download by id; ranges work for resumed downloads.
	r = b.blobRequest("GET", "/v1/blobs/"+id, nil)
	got, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("download = %d, %d bytes", r.StatusCode, len(got))
	}
	rreq, _ := http.NewRequest("GET", e.http.URL+"/v1/blobs/"+id, nil)
	rreq.Header.Set("Authorization", "Ward "+b.token)
	rreq.Header.Set("Range", "bytes=100-")
	rr, err := http.DefaultClient.Do(rreq)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rr.Body)
	rr.Body.Close()
	if rr.StatusCode != http.StatusPartialContent || !bytes.Equal(got, data[100:]) {
		t.Fatalf("range download = %d, %d bytes", rr.StatusCode, len(got))
	}
	// Without a token: 401.
	anon := *b
	anon.token = ""
	if r := anon.blobRequest("GET", "/v1/blobs/"+id, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous download = %d", r.StatusCode)
	}
	// Over the size limit: 413, and nothing stored.
	big := a.createBlob()
	if r := a.blobRequest("PUT", "/v1/blobs/"+big, io.MultiReader(bytes.NewReader(data), bytes.NewReader(data))); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized upload = %d", r.StatusCode)
	}
	if r := b.blobRequest("GET", "/v1/blobs/"+big, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("oversized blob downloadable: %d", r.StatusCode)
	}
	// Expiry: after the retention period the sweeper deletes the blob.
	e.advance(time.Hour + time.Minute)
	if st := e.srv.Sweep(context.Background()); st.Blobs != 2 {
		t.Fatalf("sweep deleted %d blobs, want 2", st.Blobs)
	}
	e.clock.Store(0)
	if r := b.blobRequest("GET", "/v1/blobs/"+id, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("expired blob = %d", r.StatusCode)
	}
	if _, _, err := e.srv.blobs.Open(context.Background(), id); err == nil {
		t.Fatal("expired blob bytes remain on disk")
	}
}
