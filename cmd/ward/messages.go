package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardchat/ward/client"
)

type sentJSON struct {
	To     string     `json:"to"`
	ID     string     `json:"id,omitempty"`
	Time   *time.Time `json:"time,omitempty"`
	Queued bool       `json:"queued"`
	File   string     `json:"file,omitempty"`
}

func (a *app) sendCommand() *cobra.Command {
	var file, caption string
	cmd := &cobra.Command{
		Use:   "send <handle> [text...]",
		Short: "Send a message or a file",
		Long: `Send a text message to <handle>: the words after the handle, or standard
input if there are none. With --file, send a file (encrypted before it
leaves this device) with an optional --caption.

The message goes to every device of the contact and, as a copy, to this
account's other devices. If the server cannot be reached and the contact
was verified before, the message waits in this device's outbox and the
next ` + "`ward listen`" + ` or ` + "`ward chat`" + ` sends it.`,
		Example: `  ward --data-dir ~/bob send alice hello there
  echo "hello from a script" | ward --data-dir ~/bob send alice
  ward --data-dir ~/bob send alice --file photo.jpg --caption "the view"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return &usageError{errors.New("ward send needs a handle, as in `ward send alice hello`")}
			}
			if file != "" && len(args) > 1 {
				return &usageError{errors.New("with --file, give the text as --caption")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			handle := args[0]
			text := strings.Join(args[1:], " ")
			var f *os.File
			if file != "" {
				var err error
				if f, err = os.Open(file); err != nil {
					return fmt.Errorf("cannot read %s: %v", file, errors.Unwrap(err))
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil && st.IsDir() {
					return fmt.Errorf("%s is a directory: --file sends one file", file)
				}
			} else if len(args) == 1 {
				if isTerminal(a.stdin) {
					fmt.Fprintln(a.stderr, "type the message, then press Ctrl-D on a line of its own")
				}
				b, err := io.ReadAll(io.LimitReader(a.stdin, client.MaxTextSize+1))
				if err != nil {
					return fmt.Errorf("reading the message from standard input: %v", err)
				}
				text = strings.TrimRight(string(b), "\r\n")
			}
			if file == "" && strings.TrimSpace(text) == "" {
				return &usageError{errors.New("the message is empty: give the text after the handle, or on standard input")}
			}
			if len(text) > client.MaxTextSize {
				return fmt.Errorf("the message is longer than %d bytes: send it as a file with --file", client.MaxTextSize)
			}
			c, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer c.Close()
			var sent *client.SentMessage
			if f != nil {
				sent, err = c.SendFile(ctx, handle, f, filepath.Base(file), contentType(f), caption)
			} else {
				sent, err = c.Send(ctx, handle, text)
			}
			out := sentJSON{To: handle}
			if f != nil {
				out.File = filepath.Base(file)
			}
			if errors.Is(err, client.ErrQueued) {
				out.Queued = true
				if a.json {
					if err := a.printJSON(out); err != nil {
						return err
					}
				}
				why := fmt.Sprintf("cannot reach the server at %s now", a.server)
				if ctx.Err() != nil {
					why = "interrupted"
				}
				fmt.Fprintf(a.stderr, "%s: the message to %s is queued on this device; the next `ward listen` or `ward chat` sends it\n", why, handle)
				return nil
			}
			if err != nil && strings.EqualFold(handle, c.Handle()) && strings.Contains(err.Error(), "no device to send to") {
				return fmt.Errorf("%s is this account: a message to yourself goes to your other devices, and this account has none (see `ward devices`)", handle)
			}
			if err != nil {
				return a.explain(err, opContact, handle)
			}
			out.ID = hex.EncodeToString(sent.ID[:])
			t := sent.Timestamp.UTC()
			out.Time = &t
			if a.json {
				return a.printJSON(out)
			}
			what := "message"
			if f != nil {
				what = filepath.Base(file)
			}
			a.say("sent %s to %s", what, handle)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "send the file at `PATH` as an attachment")
	cmd.Flags().StringVar(&caption, "caption", "", "a caption for --file")
	return cmd
}

// contentType guesses a file's MIME type from its extension, else from
// its first bytes.
func contentType(f *os.File) string {
	if t := mime.TypeByExtension(filepath.Ext(f.Name())); t != "" {
		return t
	}
	buf := make([]byte, 512)
	n, _ := io.ReadFull(f, buf)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "application/octet-stream"
	}
	return http.DetectContentType(buf[:n])
}

// streamOptions are the flags shared by listen and chat.
type streamOptions struct {
	count   int
	timeout time.Duration
	saveDir string
	plain   bool // chat: line mode even on a terminal

	endOnInput bool // the end of input ends the stream even with --count
}

func (o *streamOptions) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&o.count, "count", 0, "exit after `N` messages received (0: no limit)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "exit after this long, e.g. 30s (0: no limit); with --count, not receiving N messages in time is an error")
	cmd.Flags().StringVar(&o.saveDir, "save-dir", "", "save received attachments in `DIR` (verified before they are written)")
}

func (a *app) listenCommand() *cobra.Command {
	var o streamOptions
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Print messages and events as they arrive",
		Long: `Receive messages and print each event on one line as it arrives: messages,
copies of messages sent from this account's other devices, delivery
receipts, contacts' device changes and safety number changes. Messages
that waited on the server while no ward was running arrive first.

With --json each event is one JSON object per line, with a "type" field:
message, sent, receipt, safety_number_changed, device_added,
device_removed, refused. Attachments are saved with --save-dir; without
it they are listed but not downloaded.

Stop with Ctrl-C, or let --count / --timeout end it.`,
		Example: `  ward --data-dir ~/alice listen
  ward --data-dir ~/alice listen --json --save-dir ~/Downloads
  ward --data-dir ~/alice listen --count 1 --timeout 30s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.stream(cmd.Context(), o, "", nil)
		},
	}
	o.register(cmd)
	return cmd
}

func (a *app) chatCommand() *cobra.Command {
	var o streamOptions
	cmd := &cobra.Command{
		Use:   "chat <handle>",
		Short: "Chat with one contact: send lines you type, print their messages",
		Long: `Chat with <handle> line by line: each line read from standard input is
sent as a message, and messages from <handle> (and copies of what your
other devices send to them) are printed as they arrive.

Lines starting with a slash are commands:
  /file PATH [caption]   send a file
  /quit                  leave (as does Ctrl-D or Ctrl-C)

On a terminal, chat keeps an input line at the bottom of the screen and
prints the conversation above it; --plain (or a pipe) gives the line
mode. At the end of standard input chat exits, unless --count asks it to
wait for that many messages from <handle> first.`,
		Example: `  ward --data-dir ~/bob chat alice
  printf 'hi\nhow are you?\n' | ward --data-dir ~/bob chat alice --count 1 --timeout 1m`,
		Args: exactArgs(1, "one handle, as in `ward chat alice`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.stream(cmd.Context(), o, args[0], a.stdin)
		},
	}
	o.register(cmd)
	cmd.Flags().BoolVar(&o.plain, "plain", false, "line mode even on a terminal (no input line at the bottom)")
	return cmd
}

// stream runs the client and prints events. With peer set (chat), it
// shows only that contact's conversation and sends the lines read from
// in.
func (a *app) stream(parent context.Context, o streamOptions, peer string, in io.Reader) error {
	if o.count < 0 {
		return &usageError{errors.New("--count must be 0 or more")}
	}
	if o.saveDir != "" {
		if err := os.MkdirAll(o.saveDir, 0o700); err != nil {
			return fmt.Errorf("cannot use --save-dir %s: %v", o.saveDir, errors.Unwrap(err))
		}
	}
	c, err := a.open(parent, true)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := a.checkServer(parent); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if o.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	if peer != "" {
		// Resolve the contact first, so that a typo fails at once.
		if _, err := c.SafetyNumber(ctx, peer); err != nil {
			return a.explain(err, opContact, peer)
		}
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(runCtx) }()

	inputDone := make(chan error, 1)
	p := &printer{a: a, c: c, saveDir: o.saveDir, peer: peer, self: c.AccountID()}
	switch {
	case in != nil && !o.plain && !a.json && isTerminal(in) && isTerminal(a.stdout):
		fmt.Fprintf(a.stderr, "chatting with %s\n", peer)
		o.endOnInput = true // the user left the UI
		w, stop := a.startTUI(ctx, c, peer, inputDone)
		defer stop()
		ui := *a
		ui.stdout, ui.stderr = w, w
		p.a = &ui
	case in != nil:
		fmt.Fprintf(a.stderr, "chatting with %s: type a message and press Enter; /file PATH [caption] sends a file; /quit or Ctrl-D leaves\n", peer)
		go func() { inputDone <- a.chatInput(ctx, c, peer, in) }()
	case !a.json:
		fmt.Fprintf(a.stderr, "listening as %s (device %d) on %s; Ctrl-C stops\n", c.Handle(), c.DeviceID(), a.server)
	}
	received := 0
	runDone, result := a.streamLoop(ctx, parent, o, c, p, runErr, inputDone, &received)

	// Messages the SDK stored (and acknowledged) before Run stopped are
	// still in the event queue: print them rather than lose them, so
	// --count N may print more than N. First send what Run left in the
	// outbox (the delivery receipts of what it received, messages queued
	// while the server was away), so that the sender sees them delivered.
	stopRun()
	if !runDone {
		if err := <-runErr; err != nil && result == nil {
			result = a.explain(err, opOther, "")
		}
	}
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(parent), flushTimeout)
	defer fcancel()
	if err := c.Flush(fctx); err != nil {
		fmt.Fprintf(a.stderr, "could not send delivery receipts (or queued messages) before exiting; they are sent the next time ward runs on %s\n", a.dataDir)
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 30*time.Second)
	defer cancel()
	for _, ev := range c.Drain() {
		if _, err := p.print(dctx, ev); err != nil && result == nil {
			result = err
		}
	}
	return result
}

// flushTimeout bounds how long listen and chat try to send the outbox
// before they exit.
const flushTimeout = 5 * time.Second

// streamLoop prints events until --count is reached, the input ends (chat
// without --count), Run fails or ctx ends. runDone reports whether Run's
// result was consumed.
func (a *app) streamLoop(ctx, parent context.Context, o streamOptions, c *client.Client, p *printer, runErr, inputDone <-chan error, received *int) (runDone bool, err error) {
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return false, nil
			}
			msg, err := p.print(ctx, ev)
			if err != nil {
				return false, err
			}
			if msg {
				*received++
				if o.count > 0 && *received >= o.count {
					return false, nil
				}
			}
		case err := <-inputDone:
			inputDone = nil
			if err != nil {
				return false, err
			}
			if o.count == 0 || o.endOnInput {
				return false, nil
			}
		case err := <-runErr:
			if err != nil {
				return true, a.explain(err, opOther, "")
			}
			return true, a.streamEnded(parent, ctx, o, *received)
		case <-ctx.Done():
			return false, a.streamEnded(parent, ctx, o, *received)
		}
	}
}

// streamEnded decides the outcome when the context of a stream ended: a
// Ctrl-C or a plain --timeout is success; a --count not reached in time is
// an error.
func (a *app) streamEnded(parent, ctx context.Context, o streamOptions, received int) error {
	if parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && o.count > 0 && received < o.count {
		return fmt.Errorf("timed out after %s: received %d of %d messages", o.timeout, received, o.count)
	}
	return nil
}

// chatInput sends each line read from in to peer until the end of input,
// /quit, or ctx ends.
func (a *app) chatInput(ctx context.Context, c *client.Client, peer string, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), client.MaxTextSize)
	for sc.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		_, quit, err := a.chatLine(ctx, c, peer, strings.TrimRight(sc.Text(), "\r"), a.stderr)
		if quit || err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading standard input: %v", err)
	}
	return nil
}

// chatLine handles one line typed in a chat: a message, or a command
// (/file, /quit). Notices go to notes. It reports whether a message was
// sent (or queued) and whether the chat should end, and returns the errors
// that end it (a changed safety number, a blocked contact).
func (a *app) chatLine(ctx context.Context, c *client.Client, peer, line string, notes io.Writer) (sent, quit bool, err error) {
	if strings.TrimSpace(line) == "" {
		return false, false, nil
	}
	switch {
	case line == "/quit":
		return false, true, nil
	case strings.HasPrefix(line, "/file "):
		path, caption, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "/file ")), " ")
		err = a.chatFile(ctx, c, peer, path, caption, notes)
	case strings.HasPrefix(line, "//"):
		_, err = c.Send(ctx, peer, line[1:])
	case strings.HasPrefix(line, "/"):
		fmt.Fprintf(notes, "unknown command %s: /file PATH [caption] sends a file, /quit leaves (start a message with // to send a slash)\n", strings.Fields(line)[0])
		return false, false, nil
	default:
		_, err = c.Send(ctx, peer, line)
	}
	switch {
	case errors.Is(err, client.ErrQueued):
		fmt.Fprintf(notes, "cannot reach the server now: queued, it is sent when the server is back\n")
	case errors.Is(err, client.ErrIdentityChanged), errors.Is(err, client.ErrBlocked):
		return false, true, a.explain(err, opContact, peer)
	case err != nil && ctx.Err() != nil:
		return false, true, nil
	case err != nil:
		fmt.Fprintf(notes, "not sent: %v\n", a.explain(err, opContact, peer))
		return false, false, nil
	}
	return true, false, nil
}

func (a *app) chatFile(ctx context.Context, c *client.Client, peer, path, caption string, notes io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	_, err = c.SendFile(ctx, peer, f, filepath.Base(path), contentType(f), caption)
	if err == nil {
		fmt.Fprintf(notes, "sent %s\n", filepath.Base(path))
	}
	return err
}
