package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/wardchat/ward/attachment"
	"github.com/wardchat/ward/client"
	"github.com/wardchat/ward/identity"
)

// runWard runs ward in-process and returns its exit status and output.
func runWard(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"HOME": t.TempDir()}
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--help"}, exitOK, ""},
		{[]string{}, exitOK, ""},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate" for "ward"`},
		{[]string{"--frob"}, exitUsage, "unknown flag: --frob"},
		{[]string{"send"}, exitUsage, "ward send needs a handle"},
		{[]string{"register"}, exitUsage, "needs one handle"},
		{[]string{"register", "a", "b"}, exitUsage, "needs one handle"},
		{[]string{"verify"}, exitUsage, "needs one handle"},
		{[]string{"link", "a", "b"}, exitUsage, "at most one handle"},
		{[]string{"link", "approve", "x"}, exitUsage, `required flag(s) "code" not set`},
		{[]string{"devices", "remove", "x"}, exitUsage, "is not a device id"},
		{[]string{"devices", "bogus"}, exitUsage, `unknown command "bogus" for "ward devices"`},
		{[]string{"listen", "--count", "x"}, exitUsage, "invalid argument"},
		{[]string{"--data-dir", dir, "whoami"}, exitError, "no account in " + dir},
		{[]string{"--data-dir", dir, "send", "bob", "hi"}, exitError, "no account in " + dir},
		{[]string{"--data-dir", dir, "--server", "localhost:1", "register", "alice"}, exitUsage, "must start with http:// or https://"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runWard(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "client.db")); err == nil {
		t.Error("a command that needs an account created state in an empty data directory")
	}
}

// TestHelpEverywhere walks the command tree: every command has a short
// and long description and an example, and --help works on it.
func TestHelpEverywhere(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }}
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" {
				continue
			}
			n++
			path := strings.Fields(sub.CommandPath())[1:]
			if sub.Short == "" || sub.Long == "" || sub.Example == "" {
				t.Errorf("%s: missing Short, Long or Example", sub.CommandPath())
			}
			code, stdout, stderr := runWard(t, "", append(path, "--help")...)
			if code != exitOK || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, "Examples:") {
				t.Errorf("%s --help: status %d, stdout %q, stderr %q", sub.CommandPath(), code, stdout, stderr)
			}
			walk(sub)
		}
	}
	walk(a.rootCommand())
	if n < 12 {
		t.Errorf("walked %d commands, want at least 12", n)
	}
}

func TestExplain(t *testing.T) {
	a := &app{server: "http://127.0.0.1:8420", dataDir: "/home/a/.local/share/ward"}
	connErr := func(code connect.Code, msg string) error {
		return fmt.Errorf("client: lookup: %w", connect.NewError(code, errors.New(msg)))
	}
	tests := []struct {
		name   string
		err    error
		op     op
		handle string
		want   string
	}{
		{"not registered", client.ErrNotRegistered, opOther, "", "no account in /home/a/.local/share/ward: run `ward register <handle>` first"},
		{"identity changed", fmt.Errorf("%w: alice", client.ErrIdentityChanged), opContact, "alice", "alice's safety number changed: compare it with `ward verify alice`, then `ward verify --trust alice`"},
		{"blocked", client.ErrBlocked, opContact, "bob", "you blocked bob on this device: run `ward unblock bob`"},
		{"not primary", client.ErrNotPrimary, opOther, "", "only the primary device"},
		{"link code", client.ErrLinkCode, opLink, "", "the code does not match the offer"},
		{"untrusted", fmt.Errorf("%w: bundle", client.ErrUntrustedDevice), opContact, "bob", "bob's identity key did not sign"},
		{"attachment", client.ErrAttachment, opOther, "", "failed verification"},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, opOther, "", "cannot reach the server at http://127.0.0.1:8420: is wardd running? (start it with: go run ./cmd/wardd)"},
		{"refused in connect", connect.NewError(connect.CodeUnavailable, &url.Error{Op: "Post", URL: "x", Err: syscall.ECONNREFUSED}), opOther, "", "cannot reach the server"},
		{"dns", &net.DNSError{Err: "no such host", Name: "x"}, opOther, "", "cannot reach the server"},
		{"taken", connErr(connect.CodeAlreadyExists, "handle already exists"), opRegister, "alice", "handle alice is taken: pick another"},
		{"unknown handle", connErr(connect.CodeNotFound, "account not found"), opContact, "zed", "there is no account called zed on http://127.0.0.1:8420: check the spelling"},
		{"invite", connErr(connect.CodePermissionDenied, "invite code is invalid, used up or expired"), opRegister, "alice", "pass --invite CODE"},
		{"bad handle", connErr(connect.CodeInvalidArgument, "handle must be 1..32 bytes"), opRegister, "x", `the server does not accept the handle "x": handle must be 1..32 bytes`},
		{"rate", connErr(connect.CodeResourceExhausted, "rate limited"), opContact, "bob", "wait a moment and try again"},
		{"unavailable", connErr(connect.CodeUnavailable, "server is shutting down"), opOther, "", "unavailable right now (server is shutting down)"},
		{"plain", errors.New("client: lookup: the server answered for another account"), opContact, "bob", "the server answered for another account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a.explain(tt.err, tt.op, tt.handle)
			if got == nil || !strings.Contains(got.Error(), tt.want) {
				t.Errorf("explain = %v, want it to contain %q", got, tt.want)
			}
			if got != nil && strings.Contains(got.Error(), "client: ") {
				t.Errorf("explain kept a package prefix: %v", got)
			}
		})
	}
	if a.explain(nil, opOther, "") != nil {
		t.Error("explain(nil) != nil")
	}
}

func TestSafeFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"photo.jpg", "photo.jpg"},
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system.ini`, "system.ini"},
		{".bashrc", "bashrc"},
		{"..", "attachment"},
		{"", "attachment"},
		{"/", "attachment"},
		{"a\x1b[2Jb.txt", "a_[2Jb.txt"},
		{"c:evil", "c_evil"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100)},
	}
	for _, tt := range tests {
		if got := safeFileName(tt.in); got != tt.want {
			t.Errorf("safeFileName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSafeText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"a\x1b[31mred", `a\u001b[31mred`},
		{"two\nlines", "two\n    lines"},
		{"bell\a", `bell\u0007`},
		{"rtl\u202eevil", `rtl\u202eevil`},
		{"tab\tok", "tab\tok"},
	}
	for _, tt := range tests {
		if got := safeText(tt.in); got != tt.want {
			t.Errorf("safeText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompareSafety(t *testing.T) {
	digits := strings.Repeat("0123456789", 6)
	qr := []byte{1, 2, 3, 4}
	cmpQR := func(b []byte) (bool, error) {
		if len(b) != len(qr) {
			return false, errors.New("bad payload")
		}
		return bytes.Equal(b, qr), nil
	}
	tests := []struct {
		given   string
		want    bool
		wantErr bool
	}{
		{digits, true, false},
		{"01234 56789 01234 56789 01234 56789 01234 56789 01234 56789 01234 56789", true, false},
		{strings.Repeat("1", 60), false, false},
		{"01020304", true, false},
		{"01020305", false, false},
		{"AQIDBA==", true, false},
		{"AQIDBQ==", false, false},
		{"AQID", false, true},
		{"not a number", false, true},
	}
	for _, tt := range tests {
		got, err := compareSafety(digits, qr, tt.given, cmpQR)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("compareSafety(%q) = %v, %v; want %v, error %v", tt.given, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestPrintEvents(t *testing.T) {
	self := identity.AccountID{1}
	bob := identity.AccountID{2}
	at := time.Date(2026, 11, 23, 18, 0, 5, 0, time.UTC)
	id := [16]byte{0xab}
	ptr := &attachment.Pointer{FileName: "../x.txt", ContentType: "text/plain", PlaintextSize: 2048}
	tests := []struct {
		ev       client.Event
		peer     string
		text     string // regexp-free substring of the text line
		jsonType string
		counts   bool
	}{
		{&client.MessageEvent{FromHandle: "bob", From: bob, FromDevice: 1, MessageID: id, Timestamp: at, Text: "hi\x1b[2J", FrankingVerified: true}, "", "bob: hi\\u001b[2J", "message", true},
		{&client.MessageEvent{FromHandle: "carol", From: bob, FromDevice: 1, Timestamp: at, Text: "x"}, "bob", "carol: x", "message", false},
		{&client.MessageEvent{FromHandle: "bob", From: bob, FromDevice: 1, Timestamp: at, Text: "cap", Attachments: []*attachment.Pointer{ptr}}, "", "bob: [file ../x.txt, 2.0 KiB, text/plain, not saved: use --save-dir] cap", "message", true},
		{&client.SentSyncEvent{ToHandle: "bob", To: bob, FromDevice: 2, Timestamp: at, Text: "yo"}, "", "you (device 2) to bob: yo", "sent", false},
		{&client.DeliveryReceiptEvent{FromHandle: "bob", From: bob, FromDevice: 1, MessageIDs: [][16]byte{id, id}, Timestamp: at}, "", "delivered to bob (device 1): 2 messages", "receipt", false},
		{&client.SafetyNumberChangedEvent{Handle: "bob", Account: bob}, "", "bob's safety number changed: compare it with `ward verify bob`, then `ward verify --trust bob`", "safety_number_changed", false},
		{&client.DeviceAddedEvent{Handle: "alice", Account: self, Device: 2, Name: "laptop"}, "", "your account has a new device 2 (laptop)", "device_added", false},
		{&client.DeviceAddedEvent{Handle: "bob", Account: bob, Device: 3}, "", "bob has a new device 3 (-)", "device_added", false},
		{&client.DeviceRemovedEvent{Handle: "bob", Account: bob, Device: 3}, "", "bob removed device 3", "device_removed", false},
		{&client.MessageRefusedEvent{From: bob, FromDevice: 9, Reason: "does not decrypt"}, "", "! dropped a message from device 9 of account 02000000000000000000000000000000: does not decrypt", "refused", false},
	}
	for _, tt := range tests {
		for _, asJSON := range []bool{false, true} {
			var out bytes.Buffer
			a := &app{stdout: &out, stderr: &out, json: asJSON}
			p := &printer{a: a, peer: tt.peer, self: self, now: func() time.Time { return at }}
			counts, err := p.print(context.Background(), tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if counts != tt.counts {
				t.Errorf("%T: counts = %v, want %v", tt.ev, counts, tt.counts)
			}
			line := out.String()
			if strings.Count(line, "\n") != 1 {
				t.Errorf("%T: %q is not one line", tt.ev, line)
			}
			if asJSON {
				var obj map[string]any
				if err := json.Unmarshal([]byte(line), &obj); err != nil || obj["type"] != tt.jsonType {
					t.Errorf("%T: JSON %q (%v), want type %q", tt.ev, line, err, tt.jsonType)
				}
			} else if !strings.Contains(line, tt.text) {
				t.Errorf("%T: %q does not contain %q", tt.ev, line, tt.text)
			}
		}
	}
}

// TestDataDirInUse checks that a command on a data directory another
// client holds says what to do.
func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	c, err := client.Open(context.Background(), client.Config{DataDir: dir, ServerURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code, _, stderr := runWard(t, "", "--data-dir", dir, "--server", "http://127.0.0.1:1", "register", "alice")
	if code != exitError {
		t.Errorf("exit status %d, want %d", code, exitError)
	}
	if want := "another ward command is using " + dir + " (e.g. `ward listen`); stop it or use another --data-dir"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not contain %q", stderr, want)
	}
}
