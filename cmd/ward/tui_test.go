package main

import (
	"bytes"
	"testing"

	tea "charm.land/bubbletea/v2"
)

func typeText(m tea.Model, s string) tea.Model {
	for _, r := range s {
		m, _ = m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	return m
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestChatModel(t *testing.T) {
	lines := make(chan string, 4)
	var m tea.Model = newChatModel("bob", lines)
	m = typeText(m, "hello bob")
	m, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	if isQuit(cmd) {
		t.Fatal("enter quit")
	}
	if got := <-lines; got != "hello bob" {
		t.Errorf("sent %q, want %q", got, "hello bob")
	}
	if v := m.(chatModel).input.Value(); v != "" {
		t.Errorf("input not cleared after enter: %q", v)
	}
	// Blank lines are not sent.
	m = typeText(m, "   ")
	m, _ = m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	select {
	case l := <-lines:
		t.Errorf("blank line sent: %q", l)
	default:
	}
	// /quit and Ctrl-D leave; the sender asking to quit does too.
	m = typeText(m, "/quit")
	if _, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter}); !isQuit(cmd) {
		t.Error("/quit did not quit")
	}
	if _, cmd := m.Update(tea.KeyPressMsg{Code: 'd', Mod: tea.ModCtrl}); !isQuit(cmd) {
		t.Error("ctrl+d did not quit")
	}
	if _, cmd := m.Update(sentMsg{quit: true}); !isQuit(cmd) {
		t.Error("sentMsg{quit} did not quit")
	}
	if _, cmd := m.Update(sentMsg{}); isQuit(cmd) {
		t.Error("sentMsg{} quit")
	}
}

func TestTUIWriterFallback(t *testing.T) {
	done := make(chan struct{})
	close(done)
	var out bytes.Buffer
	w := &tuiWriter{done: done, fallback: &out}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\n"))
	if out.String() != "one\ntwo\n" {
		t.Errorf("got %q", out.String())
	}
}
