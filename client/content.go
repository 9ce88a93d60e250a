package client

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"github.com/wardchat/ward/attachment"
	"github.com/wardchat/ward/identity"
)

// ContentVersion is the first byte of every encoded Content.
const ContentVersion = 1

// ContentKind says what a Content carries.
type ContentKind uint8

// Content kinds (docs/protocol/content.md).
const (
	// KindText is a UTF-8 text message.
	KindText ContentKind = 1
	// KindAttachment is one or more attachments with an optional caption.
	KindAttachment ContentKind = 2
	// KindReceipt is a delivery receipt for one or more message ids.
	KindReceipt ContentKind = 3
)

// Limits of a Content, in bytes or items.
//
// MaxContentSize keeps every session envelope under the server's default
// envelope limit (64 KiB, docs/API.md) after franking (101 bytes), the
// ratchet header and tag, and a PQXDH initial header (about 1.3 KiB), so a
// message the SDK accepts is never refused by the server for its size;
// longer texts travel as attachments.
const (
	MaxContentSize = 56 << 10
	MaxTextSize    = 32 << 10 // text or caption
	MaxAttachments = 16
	MaxReceiptIDs  = 1024
	messageIDSize  = 16
)

// Content is the application message inside the franked plaintext (package
// franking), which is itself inside every session ciphertext of a send:
//
//	struct {
//	    uint8  version = 1;
//	    opaque to[16];                    // the conversation: destination account id
//	    uint8  kind;                      // 1 text, 2 attachment, 3 receipt
//	    select (kind) {
//	      case text:       opaque text<0..2^24-1>;             // UTF-8
//	      case attachment: opaque caption<0..2^24-1>;          // UTF-8
//	                       AttachmentPointerBytes pointers<1..2^24-1>;
//	      case receipt:    opaque message_ids<16..2^16-1>;     // n × 16 bytes
//	    };
//	} Content;
//	opaque AttachmentPointerBytes<1..2^16-1>;                  // attachment.Pointer encoding
//
// To names the destination account. Because every copy of a send carries
// the same franked plaintext (the server tags one commitment for all of
// them), the sender's own other devices read the destination from here: this
// is the "sent sync" of a message, and receivers check To against the
// delivery's conversation so a server cannot misdirect a copy.
type Content struct {
	To          identity.AccountID
	Kind        ContentKind
	Text        string                // KindText; the caption of KindAttachment
	Attachments []*attachment.Pointer // KindAttachment
	Receipts    [][16]byte            // KindReceipt: the acknowledged message ids
}

var errContent = errors.New("client: malformed message content")

// Marshal encodes c.
func (c *Content) Marshal() ([]byte, error) {
	if c.To.IsZero() {
		return nil, errors.New("client: content without a destination")
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddUint8(ContentVersion)
	b.AddBytes(c.To[:])
	b.AddUint8(uint8(c.Kind))
	switch c.Kind {
	case KindText, KindAttachment:
		if len(c.Text) > MaxTextSize || !utf8.ValidString(c.Text) {
			return nil, errors.New("client: text is not UTF-8 or too long")
		}
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.Text)) })
		if c.Kind == KindText {
			if len(c.Attachments) != 0 || len(c.Receipts) != 0 {
				return nil, errors.New("client: text content with other fields")
			}
			break
		}
		if len(c.Attachments) == 0 || len(c.Attachments) > MaxAttachments || len(c.Receipts) != 0 {
			return nil, errors.New("client: attachment content needs 1..16 pointers")
		}
		var perr error
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, p := range c.Attachments {
				enc, err := p.Marshal()
				if err != nil {
					perr = err
					return
				}
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(enc) })
			}
		})
		if perr != nil {
			return nil, fmt.Errorf("client: %w", perr)
		}
	case KindReceipt:
		if len(c.Receipts) == 0 || len(c.Receipts) > MaxReceiptIDs || c.Text != "" || len(c.Attachments) != 0 {
			return nil, errors.New("client: receipt content needs 1..1024 message ids")
		}
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, id := range c.Receipts {
				b.AddBytes(id[:])
			}
		})
	default:
		return nil, fmt.Errorf("client: unknown content kind %d", c.Kind)
	}
	enc, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if len(enc) > MaxContentSize {
		return nil, fmt.Errorf("client: message content of %d bytes exceeds %d; send long texts as attachments", len(enc), MaxContentSize)
	}
	return enc, nil
}

// ParseContent decodes a Content, rejecting unknown versions and kinds,
// invalid UTF-8, fields over their limits and trailing bytes.
func ParseContent(data []byte) (*Content, error) {
	if len(data) > MaxContentSize {
		return nil, errContent
	}
	s := cryptobyte.String(data)
	var version, kind uint8
	c := new(Content)
	var to []byte
	if !s.ReadUint8(&version) || version != ContentVersion ||
		!s.ReadBytes(&to, len(c.To)) || !s.ReadUint8(&kind) {
		return nil, errContent
	}
	copy(c.To[:], to)
	if c.To.IsZero() {
		return nil, errContent
	}
	c.Kind = ContentKind(kind)
	switch c.Kind {
	case KindText, KindAttachment:
		var text cryptobyte.String
		if !s.ReadUint24LengthPrefixed(&text) || len(text) > MaxTextSize || !utf8.Valid(text) {
			return nil, errContent
		}
		c.Text = string(text)
		if c.Kind == KindText {
			break
		}
		var ptrs cryptobyte.String
		if !s.ReadUint24LengthPrefixed(&ptrs) || ptrs.Empty() {
			return nil, errContent
		}
		for !ptrs.Empty() {
			var enc cryptobyte.String
			if !ptrs.ReadUint16LengthPrefixed(&enc) || enc.Empty() || len(c.Attachments) == MaxAttachments {
				return nil, errContent
			}
			p, err := attachment.ParsePointer(enc)
			if err != nil {
				return nil, errContent
			}
			c.Attachments = append(c.Attachments, p)
		}
	case KindReceipt:
		var ids cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&ids) || ids.Empty() || len(ids)%messageIDSize != 0 || len(ids)/messageIDSize > MaxReceiptIDs {
			return nil, errContent
		}
		for !ids.Empty() {
			var id [16]byte
			ids.CopyBytes(id[:])
			c.Receipts = append(c.Receipts, id)
		}
	default:
		return nil, errContent
	}
	if !s.Empty() {
		return nil, errContent
	}
	return c, nil
}
