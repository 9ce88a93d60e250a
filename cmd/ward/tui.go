package main

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/wardchat/ward/client"
)

// The terminal UI of `ward chat`: when standard input and output are both
// terminals, chat keeps an input line at the bottom of the screen and
// prints the conversation above it (in the terminal's own scrollback, no
// alternate screen). Everything else (pipes, files, --plain, --json) uses
// the line mode, which is what the tests drive.

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// chatModel is the input line.
type chatModel struct {
	input textinput.Model
	lines chan<- string // to the sender, in order
}

// sentMsg reports one line handled by the sender.
type sentMsg struct{ quit bool }

func newChatModel(peer string, lines chan<- string) chatModel {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "message to " + peer + " (Enter sends; /file PATH [caption]; Ctrl-D leaves)"
	in.CharLimit = client.MaxTextSize
	in.SetWidth(72)
	in.Focus()
	return chatModel{input: in, lines: lines}
}

func (m chatModel) Init() tea.Cmd { return nil }

func (m chatModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.input.SetWidth(max(msg.Width-len(m.input.Prompt)-1, 10))
	case tea.KeyPressMsg:
		switch msg.String() {
		case "ctrl+c", "ctrl+d", "esc":
			return m, tea.Quit
		case "enter":
			line := m.input.Value()
			m.input.Reset()
			if strings.TrimSpace(line) == "" {
				return m, nil
			}
			if line == "/quit" {
				return m, tea.Quit
			}
			m.lines <- line
			return m, nil
		}
	case sentMsg:
		if msg.quit {
			return m, tea.Quit
		}
		return m, nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func (m chatModel) View() tea.View { return tea.NewView(m.input.View()) }

// tuiWriter prints whole lines above the program while it runs, and to
// the terminal directly once it has ended.
type tuiWriter struct {
	mu       sync.Mutex
	prog     *tea.Program
	done     <-chan struct{}
	fallback io.Writer
	buf      []byte
}

func (w *tuiWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		select {
		case <-w.done:
			io.WriteString(w.fallback, line+"\n")
		default:
			w.prog.Send(tea.Println(line)())
		}
	}
}

// startTUI runs the chat UI. It returns the writer that prints above the
// input line, and a stop function that ends the UI and restores the
// terminal. inputDone receives the result when the user leaves.
func (a *app) startTUI(ctx context.Context, c *client.Client, peer string, inputDone chan<- error) (io.Writer, func()) {
	lines := make(chan string, 256)
	prog := tea.NewProgram(newChatModel(peer, lines), tea.WithContext(ctx), tea.WithoutSignalHandler(),
		tea.WithInput(a.stdin), tea.WithOutput(a.stdout))
	done := make(chan struct{})
	w := &tuiWriter{prog: prog, done: done, fallback: a.stdout}

	// The sender sends lines one at a time, in the order they were typed.
	go func() {
		for {
			select {
			case <-done:
				return
			case line := <-lines:
				sent, quit, err := a.chatLine(ctx, c, peer, line, w)
				if sent && (!strings.HasPrefix(line, "/") || strings.HasPrefix(line, "//")) {
					text := line
					if strings.HasPrefix(line, "//") {
						text = line[1:]
					}
					io.WriteString(w, clock(time.Now())+" you: "+safeText(text)+"\n")
				}
				if err != nil {
					io.WriteString(w, "ward: "+err.Error()+"\n")
				}
				if quit || err != nil {
					prog.Send(sentMsg{quit: true})
				}
			}
		}
	}()
	go func() {
		_, err := prog.Run()
		close(done)
		if ctx.Err() != nil {
			err = nil
		}
		inputDone <- err
	}()
	stop := func() {
		prog.Quit()
		<-done
	}
	return w, stop
}
