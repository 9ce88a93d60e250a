package main

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// File names and texts come from contacts (attacker-controlled): the
// sanitisers must never let a path separator, a leading dot or a control
// character through.

func FuzzSafeFileName(f *testing.F) {
	for _, s := range []string{"", ".", "..", "/", "a/b", `a\b`, "../../x", ".x", "a\x00b", "\xff", strings.Repeat("é", 300), "c:x", " . "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := safeFileName(name)
		if got == "" || len(got) > 200 {
			t.Fatalf("safeFileName(%q) = %q: empty or too long", name, got)
		}
		if strings.ContainsAny(got, `/\:`) || strings.HasPrefix(got, ".") {
			t.Fatalf("safeFileName(%q) = %q: separator or leading dot", name, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || r == utf8.RuneError {
				t.Fatalf("safeFileName(%q) = %q: control or invalid character", name, got)
			}
		}
		if safeFileName(got) != got {
			t.Fatalf("safeFileName is not idempotent on %q", got)
		}
	})
}

func FuzzSafeText(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[2J", "a\nb", "\r", "\u202e", "\xff\xfe", "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := safeText(text)
		for i, r := range got {
			switch {
			case r == '\n':
				if !strings.HasPrefix(got[i+1:], "    ") {
					t.Fatalf("safeText(%q) = %q: newline without indent", text, got)
				}
			case r == '\t':
			case unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Bidi_Control, r):
				t.Fatalf("safeText(%q) = %q: control character %U let through", text, got, r)
			}
		}
	})
}
