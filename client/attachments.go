package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wardchat/ward/attachment"
	"github.com/wardchat/ward/client/internal/transport"
)

// uploadAttempts bounds the retries of one blob upload. A failed PUT stores
// nothing on the server, so each retry simply starts over (docs/API.md,
// "Blobs").
const uploadAttempts = 4

// SendFile encrypts the contents of r with a fresh attachment secret
// (package attachment: AES-256-CTR and HMAC-SHA256, key-committing),
// uploads the ciphertext as a blob, and sends a message carrying the
// attachment's pointer (secret, digests, sizes, name, content type, blob
// id) to handle. caption may be empty. The plaintext is streamed through
// an encrypted temporary file in the data directory; it is never held in
// memory whole.
func (c *Client) SendFile(ctx context.Context, handle string, r io.Reader, name, contentType, caption string) (*SentMessage, error) {
	c.mu.Lock()
	_, err := c.requireSelf()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ptr, err := c.Upload(ctx, r, name, contentType)
	if err != nil {
		return nil, err
	}
	return c.sendContent(ctx, handle, &Content{Kind: KindAttachment, Text: caption, Attachments: []*attachment.Pointer{ptr}})
}

// Upload encrypts r and uploads the ciphertext, returning the pointer to
// put in a message. SendFile is Upload followed by a send.
func (c *Client) Upload(ctx context.Context, r io.Reader, name, contentType string) (*attachment.Pointer, error) {
	f, err := c.tempFile("upload-*")
	if err != nil {
		return nil, err
	}
	defer removeTemp(f)
	ptr, err := attachment.Encrypt(f, r, c.rand)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	ptr.FileName, ptr.ContentType = name, contentType
	id, maxBytes, err := c.conn.CreateBlob(ctx)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if maxBytes > 0 && ptr.CiphertextSize > uint64(maxBytes) {
		return nil, fmt.Errorf("client: attachment of %d encrypted bytes exceeds the server's limit of %d", ptr.CiphertextSize, maxBytes)
	}
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if _, err = f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		err = c.conn.PutBlob(ctx, id, io.NopCloser(f), int64(ptr.CiphertextSize))
		if err == nil {
			break
		}
		var he *transport.HTTPError
		if attempt == uploadAttempts || errors.As(err, &he) && !transport.Temporary(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("client: upload: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	ptr.BlobID = id
	return ptr, nil
}

// ErrAttachment means a downloaded attachment failed verification: its
// ciphertext digest or size differs from the pointer's, its key commitment
// does not match, a chunk failed authentication, or the plaintext digest
// differs. Nothing was written to the destination.
var ErrAttachment = errors.New("client: attachment failed verification")

// DownloadAttachment downloads the blob a pointer names, verifies the
// ciphertext digest and size, decrypts it and verifies the plaintext
// digest, and only then copies the plaintext to dst: on any error dst has
// received nothing.
func (c *Client) DownloadAttachment(ctx context.Context, ptr *attachment.Pointer, dst io.Writer) error {
	if ptr == nil || len(ptr.BlobID) != 32 {
		return errors.New("client: attachment pointer without a blob id")
	}
	ct, err := c.tempFile("download-*")
	if err != nil {
		return err
	}
	defer removeTemp(ct)
	h := sha256.New()
	if err := c.conn.GetBlob(ctx, ptr.BlobID, io.MultiWriter(ct, h)); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	n, err := ct.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if uint64(n) != ptr.CiphertextSize || subtle.ConstantTimeCompare(h.Sum(nil), ptr.CiphertextDigest[:]) != 1 {
		return fmt.Errorf("%w: ciphertext digest mismatch", ErrAttachment)
	}
	pt, err := c.tempFile("plain-*")
	if err != nil {
		return err
	}
	defer removeTemp(pt)
	if _, err := ct.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := attachment.VerifyReported(pt, ct, ptr); err != nil {
		return fmt.Errorf("%w: %v", ErrAttachment, err)
	}
	if _, err := pt.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if _, err := io.Copy(dst, pt); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}
