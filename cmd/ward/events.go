package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wardchat/ward/attachment"
	"github.com/wardchat/ward/client"
	"github.com/wardchat/ward/identity"
)

// printer prints the SDK's events for listen and chat.
type printer struct {
	a       *app
	c       *client.Client
	saveDir string
	peer    string // chat: the contact, whose messages --count counts
	self    identity.AccountID
	now     func() time.Time
}

// fileJSON describes an attachment in --json output.
type fileJSON struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type,omitempty"`
	Size        uint64 `json:"size"`
	SavedTo     string `json:"saved_to,omitempty"`
	Error       string `json:"error,omitempty"`
}

// eventJSON is one line of `ward listen --json`. Type says which fields
// are set.
type eventJSON struct {
	Type             string     `json:"type"`
	From             string     `json:"from,omitempty"`
	FromAccount      string     `json:"from_account,omitempty"`
	FromDevice       uint32     `json:"from_device,omitempty"`
	To               string     `json:"to,omitempty"`
	ToAccount        string     `json:"to_account,omitempty"`
	Handle           string     `json:"handle,omitempty"`
	Account          string     `json:"account,omitempty"`
	Device           uint32     `json:"device,omitempty"`
	Name             string     `json:"name,omitempty"`
	Own              bool       `json:"own,omitempty"`
	ID               string     `json:"id,omitempty"`
	IDs              []string   `json:"ids,omitempty"`
	Time             *time.Time `json:"time,omitempty"`
	Text             *string    `json:"text,omitempty"`
	Attachments      []fileJSON `json:"attachments,omitempty"`
	FrankingVerified *bool      `json:"franking_verified,omitempty"`
	Reason           string     `json:"reason,omitempty"`
}

// print prints one event and reports whether it counts as a received
// message for --count.
func (p *printer) print(ctx context.Context, ev client.Event) (bool, error) {
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	var j eventJSON
	var line string
	counts := false
	switch ev := ev.(type) {
	case *client.MessageEvent:
		counts = p.peer == "" || strings.EqualFold(ev.FromHandle, p.peer)
		files := p.save(ctx, ev.Attachments)
		text, verified, t := ev.Text, ev.FrankingVerified, ev.Timestamp.UTC()
		j = eventJSON{Type: "message", From: ev.FromHandle, FromAccount: ev.From.String(), FromDevice: uint32(ev.FromDevice),
			ID: hex.EncodeToString(ev.MessageID[:]), Time: &t, Text: &text, Attachments: files, FrankingVerified: &verified}
		line = clock(ev.Timestamp) + " " + safeText(ev.FromHandle) + ": " + body(ev.Text, files)
	case *client.SentSyncEvent:
		files := p.save(ctx, ev.Attachments)
		text, t := ev.Text, ev.Timestamp.UTC()
		j = eventJSON{Type: "sent", To: ev.ToHandle, ToAccount: ev.To.String(), FromDevice: uint32(ev.FromDevice),
			ID: hex.EncodeToString(ev.MessageID[:]), Time: &t, Text: &text, Attachments: files}
		line = fmt.Sprintf("%s you (device %d) to %s: %s", clock(ev.Timestamp), ev.FromDevice, safeText(ev.ToHandle), body(ev.Text, files))
	case *client.DeliveryReceiptEvent:
		t := ev.Timestamp.UTC()
		j = eventJSON{Type: "receipt", From: ev.FromHandle, FromAccount: ev.From.String(), FromDevice: uint32(ev.FromDevice), Time: &t}
		for _, id := range ev.MessageIDs {
			j.IDs = append(j.IDs, hex.EncodeToString(id[:]))
		}
		if p.peer != "" && !p.a.json {
			return false, nil // chat shows the conversation, not receipts
		}
		n := "1 message"
		if len(ev.MessageIDs) != 1 {
			n = fmt.Sprintf("%d messages", len(ev.MessageIDs))
		}
		line = fmt.Sprintf("%s delivered to %s (device %d): %s", clock(ev.Timestamp), safeText(ev.FromHandle), ev.FromDevice, n)
	case *client.SafetyNumberChangedEvent:
		j = eventJSON{Type: "safety_number_changed", Handle: ev.Handle, Account: ev.Account.String()}
		h := safeText(ev.Handle)
		line = fmt.Sprintf("%s ! %s's safety number changed: compare it with `ward verify %s`, then `ward verify --trust %s`; until then nothing is sent to %s", clock(now()), h, h, h, h)
	case *client.DeviceAddedEvent:
		own := ev.Account == p.self
		j = eventJSON{Type: "device_added", Handle: ev.Handle, Account: ev.Account.String(), Device: uint32(ev.Device), Name: ev.Name, Own: own}
		who := safeText(ev.Handle) + " has"
		if own {
			who = "your account has"
		}
		line = fmt.Sprintf("%s %s a new device %d (%s)", clock(now()), who, ev.Device, orDash(safeText(ev.Name)))
	case *client.DeviceRemovedEvent:
		own := ev.Account == p.self
		j = eventJSON{Type: "device_removed", Handle: ev.Handle, Account: ev.Account.String(), Device: uint32(ev.Device), Own: own}
		who := safeText(ev.Handle)
		if own {
			who = "your account"
		}
		line = fmt.Sprintf("%s %s removed device %d", clock(now()), who, ev.Device)
	case *client.MessageRefusedEvent:
		j = eventJSON{Type: "refused", FromAccount: ev.From.String(), FromDevice: uint32(ev.FromDevice), ID: hex.EncodeToString(ev.MessageID[:]), Reason: ev.Reason}
		line = fmt.Sprintf("%s ! dropped a message from device %d of account %s: %s", clock(now()), ev.FromDevice, ev.From, safeText(ev.Reason))
	default:
		return false, nil
	}
	if p.a.json {
		return counts, p.a.printJSON(j)
	}
	_, err := fmt.Fprintln(p.a.stdout, line)
	return counts, err
}

// save downloads attachments into the save directory, if there is one.
func (p *printer) save(ctx context.Context, ptrs []*attachment.Pointer) []fileJSON {
	var out []fileJSON
	for _, ptr := range ptrs {
		f := fileJSON{Name: ptr.FileName, ContentType: ptr.ContentType, Size: ptr.PlaintextSize}
		if p.saveDir != "" {
			path, err := p.download(ctx, ptr)
			if err != nil {
				f.Error = p.a.explain(err, opOther, "").Error()
			} else {
				f.SavedTo = path
			}
		}
		out = append(out, f)
	}
	return out
}

// download saves one attachment under a fresh name in the save directory.
// The file is created exclusively, so nothing is overwritten, and removed
// if the attachment does not verify.
func (p *printer) download(ctx context.Context, ptr *attachment.Pointer) (string, error) {
	base := safeFileName(ptr.FileName)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for i := 0; ; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		path := filepath.Join(p.saveDir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && i < 1000 {
			continue
		}
		if err != nil {
			return "", err
		}
		err = p.c.DownloadAttachment(ctx, ptr, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return "", err
		}
		return path, nil
	}
}

// safeFileName makes a sender's file name safe to create in a directory:
// no path, no leading dot, no control characters, at most 200 bytes.
func safeFileName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = name[strings.LastIndex(name, "/")+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError || r == ':' {
			return '_'
		}
		return r
	}, name)
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	name = strings.TrimRightFunc(strings.TrimLeftFunc(name, func(r rune) bool { return r == '.' || unicode.IsSpace(r) }), unicode.IsSpace)
	if name == "" {
		return "attachment"
	}
	return name
}

// safeText neutralises terminal control sequences in text a contact
// chose, so a message cannot move the cursor, change colours or rewrite
// what the terminal shows. Newlines indent the next line.
func safeText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString("\n    ")
		case r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Bidi_Control, r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// body is a message's text with its attachments listed.
func body(text string, files []fileJSON) string {
	var parts []string
	for _, f := range files {
		d := fmt.Sprintf("[file %s, %s", safeText(orDash(f.Name)), size(f.Size))
		if f.ContentType != "" {
			d += ", " + safeText(f.ContentType)
		}
		switch {
		case f.SavedTo != "":
			d += ", saved to " + f.SavedTo
		case f.Error != "":
			d += ", not saved: " + f.Error
		default:
			d += ", not saved: use --save-dir"
		}
		parts = append(parts, d+"]")
	}
	if text != "" || len(parts) == 0 {
		parts = append(parts, safeText(text))
	}
	return strings.Join(parts, " ")
}

func size(n uint64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
	}
}

func clock(t time.Time) string { return t.Local().Format("15:04:05") }
