package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wardchat/ward/identity"
)

type verifyJSON struct {
	Handle       string `json:"handle"`
	SafetyNumber string `json:"safety_number"`
	Digits       string `json:"digits"`
	QRBase64     string `json:"qr_payload_base64"`
	QRHex        string `json:"qr_payload_hex"`
	Trusted      bool   `json:"trusted,omitempty"`
	Blocked      bool   `json:"blocked,omitempty"`
	// IdentityChangePending: the server presents another identity key
	// than the pinned one; Pending is the number for that key.
	IdentityChangePending bool        `json:"identity_change_pending,omitempty"`
	Pending               *numberJSON `json:"pending,omitempty"`
	// Match compares --compare with Pending when a change is pending
	// (that is the number the contact sees), else with the pinned number.
	Match *bool `json:"match,omitempty"`
}

// numberJSON is one safety number in its three forms.
type numberJSON struct {
	SafetyNumber string `json:"safety_number"`
	Digits       string `json:"digits"`
	QRBase64     string `json:"qr_payload_base64"`
	QRHex        string `json:"qr_payload_hex"`
}

func newNumberJSON(sn *identity.SafetyNumber) numberJSON {
	qr := sn.QRPayload()
	return numberJSON{SafetyNumber: sn.String(), Digits: sn.Digits(),
		QRBase64: base64.StdEncoding.EncodeToString(qr), QRHex: hex.EncodeToString(qr)}
}

func (a *app) verifyCommand() *cobra.Command {
	var trust bool
	var compare string
	cmd := &cobra.Command{
		Use:   "verify <handle>",
		Short: "Show the safety number you share with a contact",
		Long: `Show the safety number of your account and <handle>: 60 digits in 12
groups of 5, and the QR payload (base64 and hex). Both of you see the
same number. Compare it in person or over a channel you trust; if it
matches, nobody (the server included) sits between you.

The number comes from the identity keys this device pinned when it first
saw each account. If a contact's identity key changes (a new phone, or an
attack), ward stops sending to them and says so. verify then shows two
numbers: the NEW one, for the key the server now presents (the one your
contact sees, if the change is theirs), and the one of the key you
trusted before. Compare the new number, then accept it with --trust.

--compare checks the number (digits, with or without spaces) or the QR
payload (base64 or hex) your contact gave you, against the new number
when a change is pending; a mismatch exits with 1.`,
		Example: `  ward --data-dir ~/bob verify alice
  ward --data-dir ~/bob verify alice --compare "12345 67890 …"
  ward --data-dir ~/bob verify --trust alice`,
		Args: exactArgs(1, "one handle, as in `ward verify alice`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			handle := args[0]
			ctx := cmd.Context()
			c, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer c.Close()
			if strings.EqualFold(handle, c.Handle()) {
				return &usageError{fmt.Errorf("%s is this account: verify a contact's handle", handle)}
			}
			if trust {
				if err := c.TrustIdentity(ctx, handle); err != nil {
					return a.explain(err, opContact, handle)
				}
			}
			info, err := c.Contact(ctx, handle)
			if err != nil {
				return a.explain(err, opContact, handle)
			}
			pinned := newNumberJSON(info.SafetyNumber)
			out := verifyJSON{Handle: handle, SafetyNumber: pinned.SafetyNumber, Digits: pinned.Digits,
				QRBase64: pinned.QRBase64, QRHex: pinned.QRHex, Trusted: trust, Blocked: info.Blocked,
				IdentityChangePending: info.IdentityChangePending}
			check, checkNum := info.SafetyNumber, pinned
			if info.PendingSafetyNumber != nil {
				p := newNumberJSON(info.PendingSafetyNumber)
				out.Pending = &p
				check, checkNum = info.PendingSafetyNumber, p
			}
			if compare != "" {
				qr := check.QRPayload()
				m, err := compareSafety(checkNum.Digits, qr, compare, func(b []byte) (bool, error) { return check.CompareQR(b) })
				if err != nil {
					return err
				}
				out.Match = &m
			}
			if a.json {
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				if trust {
					fmt.Fprintf(a.stdout, "trusted %s's current identity key\n", handle)
				}
				if out.Pending != nil {
					fmt.Fprintf(a.stdout, "%s's identity key CHANGED and is not trusted yet: ward does not send to %s until you accept it.\n", handle, handle)
					fmt.Fprintf(a.stdout, "NEW safety number with %s (the key the server presents now; compare this one):\n  %s\nQR payload (base64): %s\nQR payload (hex):    %s\n", handle, out.Pending.SafetyNumber, out.Pending.QRBase64, out.Pending.QRHex)
					fmt.Fprintf(a.stdout, "previous safety number with %s (the key you trusted before; no longer matches what %s sees):\n  %s\n", handle, handle, out.SafetyNumber)
				} else {
					fmt.Fprintf(a.stdout, "safety number with %s:\n  %s\nQR payload (base64): %s\nQR payload (hex):    %s\n", handle, out.SafetyNumber, out.QRBase64, out.QRHex)
				}
				if out.Blocked {
					fmt.Fprintf(a.stdout, "%s is blocked on this device (`ward unblock %s` undoes it).\n", handle, handle)
				}
				switch {
				case out.Match == nil && out.Pending != nil:
					fmt.Fprintf(a.stdout, "Compare the NEW number with what `ward verify %s` shows %s; if it matches, run `ward verify --trust %s`.\n", c.Handle(), handle, handle)
				case out.Match == nil:
					fmt.Fprintf(a.stdout, "Compare it with what `ward verify %s` shows %s.\n", c.Handle(), handle)
				case *out.Match && out.Pending != nil:
					fmt.Fprintf(a.stdout, "MATCH: the NEW safety number is equal; run `ward verify --trust %s` to accept it.\n", handle)
				case *out.Match:
					fmt.Fprintln(a.stdout, "MATCH: the safety numbers are equal.")
				}
			}
			if out.Match != nil && !*out.Match {
				return fmt.Errorf("the safety numbers do NOT match: do not trust this conversation until you find out why (the server, or someone, may be in between)")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&trust, "trust", false, "accept the identity key the server now presents for the contact (after comparing)")
	cmd.Flags().StringVar(&compare, "compare", "", "check this safety number or QR payload (`NUMBER`) from the contact")
	return cmd
}

type contactJSON struct {
	Handle                string `json:"handle"`
	AccountID             string `json:"account_id"`
	Devices               int    `json:"devices"`
	Blocked               bool   `json:"blocked"`
	IdentityChangePending bool   `json:"identity_change_pending"`
	SafetyNumber          string `json:"safety_number"`
}

func (a *app) contactsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "contacts",
		Short: "List the contacts this device knows",
		Long: `List every account this device has exchanged messages with or looked up:
handle, account id, number of devices in its verified device list, and
whether it is blocked or its identity key changed (then run
` + "`ward verify <handle>`" + `). Local only: nothing is asked of the server.`,
		Example: `  ward --data-dir ~/alice contacts
  ward --data-dir ~/alice contacts --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer c.Close()
			list, err := c.Contacts(cmd.Context())
			if err != nil {
				return a.explain(err, opOther, "")
			}
			if a.json {
				for _, ct := range list {
					if err := a.printJSON(contactJSON{Handle: ct.Handle, AccountID: ct.AccountID.String(), Devices: ct.Devices,
						Blocked: ct.Blocked, IdentityChangePending: ct.IdentityChangePending, SafetyNumber: ct.SafetyNumber.String()}); err != nil {
						return err
					}
				}
				return nil
			}
			if len(list) == 0 {
				a.say("no contacts yet: `ward send <handle> <text>` starts a conversation")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HANDLE\tACCOUNT\tDEVICES\tSTATE\t")
			for _, ct := range list {
				var state []string
				if ct.Blocked {
					state = append(state, "blocked")
				}
				if ct.IdentityChangePending {
					state = append(state, "identity key changed: run `ward verify "+ct.Handle+"`")
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", ct.Handle, ct.AccountID, ct.Devices, orDash(strings.Join(state, ", ")))
			}
			return tw.Flush()
		},
	}
}

// compareSafety compares what the contact gave (digits or a QR payload in
// base64 or hex) with ours.
func compareSafety(digits string, qr []byte, given string, compareQR func([]byte) (bool, error)) (bool, error) {
	g := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '-' || r == '\n' {
			return -1
		}
		return r
	}, given)
	if len(g) == 60 && strings.Trim(g, "0123456789") == "" {
		return g == digits, nil
	}
	if b, err := hex.DecodeString(g); err == nil && len(b) == len(qr) {
		return compareQR(b)
	}
	if b, err := base64.StdEncoding.DecodeString(g); err == nil {
		ok, err := compareQR(b)
		if err != nil {
			return false, errors.New("--compare: that QR payload is not a Ward safety number payload")
		}
		return ok, nil
	}
	return false, &usageError{errors.New("--compare takes the 60 digits, or the QR payload in base64 or hex, that `ward verify` shows on the contact's side")}
}

func (a *app) blockCommand(block bool) *cobra.Command {
	use, short, long, example := "block <handle>", "Drop every message from a contact on this device",
		`Block <handle> on this device: their messages are dropped without a
receipt, and ward refuses to send to them. Blocking is local to this
device for now.`, `  ward --data-dir ~/alice block mallory`
	if !block {
		use, short, long, example = "unblock <handle>", "Receive messages from a blocked contact again",
			`Undo `+"`ward block`"+`: messages from <handle> are received again (messages
they sent while blocked were dropped and do not come back).`, `  ward --data-dir ~/alice unblock mallory`
	}
	return &cobra.Command{
		Use: use, Short: short, Long: long, Example: example,
		Args: exactArgs(1, "one handle"),
		RunE: func(cmd *cobra.Command, args []string) error {
			handle := args[0]
			c, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer c.Close()
			if strings.EqualFold(handle, c.Handle()) {
				return &usageError{fmt.Errorf("%s is this account", handle)}
			}
			if block {
				err = c.Block(cmd.Context(), handle)
			} else {
				err = c.Unblock(cmd.Context(), handle)
			}
			if err != nil {
				return a.explain(err, opContact, handle)
			}
			if a.json {
				return a.printJSON(map[string]any{"handle": handle, "blocked": block})
			}
			if block {
				a.say("blocked %s on this device: their messages are dropped, and you cannot send to them (`ward unblock %s` undoes it)", handle, handle)
			} else {
				a.say("unblocked %s", handle)
			}
			return nil
		},
	}
}
