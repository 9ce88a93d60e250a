package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"net/http"

	"github.com/wardchat/ward/internal/server/blob"
	"github.com/wardchat/ward/internal/store"
)

// Attachments (docs/API.md, "Blobs"): the client creates a blob id with
// POST /v1/blobs, uploads the ciphertext with PUT /v1/blobs/{id} (streamed,
// size-limited, retry-safe: a PUT to a blob whose upload never completed
// replaces whatever an earlier attempt left), and recipients download it
// with GET /v1/blobs/{id}. The id is 32 random bytes in hex: knowing it is
// the capability to download, as it travels inside end-to-end encrypted
// messages. Blobs expire BlobRetention after creation.

var errTooLarge = &Error{Code: CodeExhausted, Msg: "blob exceeds the size limit"}

// CreateBlob reserves a fresh blob id for the caller's account.
func (s *Server) CreateBlob(ctx context.Context, who store.Address) (store.BlobID, *store.Blob, error) {
	var id store.BlobID
	if !s.sendLimit.allow(acctKey(who.Account)) {
		s.metrics.rateLimited.WithLabelValues("account").Inc()
		return id, nil, s.rateErr("account", s.cfg.SendRate, s.cfg.SendBurst)
	}
	if _, err := io.ReadFull(s.rand, id[:]); err != nil {
		return id, nil, storeErr(err, "blob")
	}
	now := s.now()
	b := store.Blob{ID: id, Uploader: who.Account, State: store.BlobUploading, CreatedAt: now, ExpiresAt: now.Add(s.cfg.BlobRetention)}
	if err := s.st.CreateBlob(ctx, b); err != nil {
		return id, nil, storeErr(err, "blob")
	}
	return id, &b, nil
}

// PutBlob stores the ciphertext of an uploading blob of the caller's
// account, reading at most MaxBlobBytes from r.
func (s *Server) PutBlob(ctx context.Context, who store.Address, id store.BlobID, r io.Reader) (*store.Blob, error) {
	b, err := s.st.Blob(ctx, id)
	if err != nil {
		return nil, storeErr(err, "blob")
	}
	if b.Uploader != who.Account {
		return nil, errorf(CodePermission, "only the account that created a blob may upload it")
	}
	if b.State == store.BlobComplete {
		return nil, errorf(CodeFailedPrecondition, "blob upload is already complete; create a new blob")
	}
	if !s.now().Before(b.ExpiresAt) {
		return nil, errorf(CodeNotFound, "blob expired")
	}
	// One upload per blob at a time on this node, so that two concurrent
	// PUTs cannot leave one's bytes under the other's digest.
	if _, busy := s.uploads.LoadOrStore(id, struct{}{}); busy {
		return nil, errorf(CodeFailedPrecondition, "an upload of this blob is in progress; retry when it has ended")
	}
	defer s.uploads.Delete(id)
	h := sha256.New()
	lr := &limitedReader{r: r, left: s.cfg.MaxBlobBytes, h: h}
	n, err := s.blobs.Put(ctx, hex.EncodeToString(id[:]), lr)
	if lr.over {
		return nil, errTooLarge
	}
	if err != nil {
		if lr.readErr != nil {
			return nil, &Error{Code: CodeInvalid, Msg: "upload interrupted; retry the PUT", Err: err}
		}
		return nil, storeErr(err, "blob")
	}
	s.metrics.blobBytes.WithLabelValues("upload").Add(float64(n))
	var sum [32]byte
	h.Sum(sum[:0])
	if err := s.st.CompleteBlob(ctx, id, n, sum); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, errorf(CodeFailedPrecondition, "blob upload is already complete; create a new blob")
		}
		return nil, storeErr(err, "blob")
	}
	b.Size, b.SHA256, b.State = n, sum, store.BlobComplete
	return b, nil
}

// limitedReader fails once more than left bytes are read, and hashes what
// it passes on.
type limitedReader struct {
	r       io.Reader
	left    int64
	h       hash.Hash
	over    bool
	readErr error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		l.over = true
		return 0, errTooLarge
	}
	l.left -= int64(n)
	l.h.Write(p[:n])
	if err != nil && err != io.EOF {
		l.readErr = err
	}
	return n, err
}

func parseBlobID(s string) (store.BlobID, error) {
	var id store.BlobID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != store.BlobIDSize {
		return id, errorf(CodeInvalid, "blob id must be %d hex characters", 2*store.BlobIDSize)
	}
	copy(id[:], b)
	return id, nil
}

func (s *Server) httpCaller(r *http.Request) (store.Address, error) {
	return s.authorize(r.Context(), tokenFromHeader(r.Header.Get("Authorization")))
}

type blobJSON struct {
	ID          string `json:"id"`
	Size        int64  `json:"size,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
	ExpiresAtMs int64  `json:"expires_at_ms"`
	MaxBytes    int64  `json:"max_bytes,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) createBlob(w http.ResponseWriter, r *http.Request) {
	who, err := s.httpCaller(r)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	id, b, err := s.CreateBlob(r.Context(), who)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, blobJSON{ID: hex.EncodeToString(id[:]), ExpiresAtMs: b.ExpiresAt.UnixMilli(), MaxBytes: s.cfg.MaxBlobBytes})
}

func (s *Server) uploadBlob(w http.ResponseWriter, r *http.Request) {
	who, err := s.httpCaller(r)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	id, err := parseBlobID(r.PathValue("id"))
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	if r.ContentLength > s.cfg.MaxBlobBytes {
		writeHTTPError(w, errTooLarge)
		return
	}
	b, err := s.PutBlob(r.Context(), who, id, r.Body)
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, blobJSON{ID: hex.EncodeToString(id[:]), Size: b.Size, SHA256: hex.EncodeToString(b.SHA256[:]), ExpiresAtMs: b.ExpiresAt.UnixMilli()})
}

func (s *Server) downloadBlob(w http.ResponseWriter, r *http.Request) {
	if _, err := s.httpCaller(r); err != nil {
		writeHTTPError(w, err)
		return
	}
	id, err := parseBlobID(r.PathValue("id"))
	if err != nil {
		writeHTTPError(w, err)
		return
	}
	b, err := s.st.Blob(r.Context(), id)
	if err != nil {
		writeHTTPError(w, storeErr(err, "blob"))
		return
	}
	if b.State != store.BlobComplete || !s.now().Before(b.ExpiresAt) {
		writeHTTPError(w, errorf(CodeNotFound, "blob not found"))
		return
	}
	f, size, err := s.blobs.Open(r.Context(), hex.EncodeToString(id[:]))
	if errors.Is(err, blob.ErrNotFound) {
		writeHTTPError(w, errorf(CodeNotFound, "blob not found"))
		return
	}
	if err != nil {
		writeHTTPError(w, storeErr(err, "blob"))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Ward-Sha256", hex.EncodeToString(b.SHA256[:]))
	w.Header().Set("Cache-Control", "private, max-age=0")
	s.metrics.blobBytes.WithLabelValues("download").Add(float64(size))
	http.ServeContent(w, r, "", b.CreatedAt, f)
}
