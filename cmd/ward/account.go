package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardchat/ward/client"
	"github.com/wardchat/ward/identity"
)

func (a *app) registerCommand() *cobra.Command {
	var teen bool
	var invite string
	cmd := &cobra.Command{
		Use:   "register <handle>",
		Short: "Create an account with this device as its primary device",
		Long: `Create an account called <handle> on the server, with this data directory
as its primary device (device 1, which holds the account identity key).

Handles are unique on a server and compared without regard to case.
Declare --teen for a teen account: the server then applies its teen
protections (for example, adults who are not contacts cannot start a
conversation). Invite-only servers need --invite with a code from the
operator (wardd invite).`,
		Example: `  ward --data-dir ~/alice register alice
  ward --data-dir ~/sam register sam --teen
  ward register carol --invite 7Q2M-4XKD-93TF`,
		Args: exactArgs(1, "one handle, as in `ward register alice`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			handle := args[0]
			if a.hasState() {
				c, err := a.open(cmd.Context(), false)
				if err != nil {
					return err
				}
				h := c.Handle()
				c.Close()
				if h != "" {
					return fmt.Errorf("%s already holds the account %s: use another --data-dir for another account", a.dataDir, h)
				}
			}
			c, err := a.open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			band := client.AgeAdult
			if teen {
				band = client.AgeTeen
			}
			if err := c.Register(cmd.Context(), handle, band, invite); err != nil {
				return a.explain(err, opRegister, handle)
			}
			if a.json {
				return a.printJSON(a.whoami(c))
			}
			a.say("registered %s (account %s, device %d) on %s", c.Handle(), c.AccountID(), c.DeviceID(), a.server)
			a.say("this device's keys are in %s: keep it private", a.dataDir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&teen, "teen", false, "declare a teen account (under 18)")
	cmd.Flags().StringVar(&invite, "invite", "", "invite `CODE` for an invite-only server")
	return cmd
}

type whoamiJSON struct {
	Handle  string `json:"handle"`
	Account string `json:"account"`
	Device  uint32 `json:"device"`
	Primary bool   `json:"primary"`
	Server  string `json:"server"`
	DataDir string `json:"data_dir"`
}

func (a *app) whoami(c *client.Client) whoamiJSON {
	return whoamiJSON{Handle: c.Handle(), Account: c.AccountID().String(), Device: uint32(c.DeviceID()),
		Primary: c.DeviceID() == identity.PrimaryDevice, Server: a.server, DataDir: a.dataDir}
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the account and device of this data directory",
		Long: `Show the handle, account id and device id stored in the data directory.
It does not contact the server.`,
		Example: `  ward --data-dir ~/alice whoami
  ward --data-dir ~/alice whoami --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer c.Close()
			w := a.whoami(c)
			if a.json {
				return a.printJSON(w)
			}
			role := "linked device"
			if w.Primary {
				role = "primary device"
			}
			fmt.Fprintf(a.stdout, "%s (account %s), device %d (%s)\nserver: %s\ndata:   %s\n", w.Handle, w.Account, w.Device, role, w.Server, w.DataDir)
			return nil
		},
	}
}

func (a *app) linkCommand() *cobra.Command {
	var name, approval string
	var noWait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "link [handle]",
		Short: "Add this (new, empty) data directory as another device of your account",
		Long: `Link a new device to an account you already have, in three steps:

  1. On the new device (an empty --data-dir): ward link alice
     It prints an offer and a six-digit code, then waits for the approval.
  2. On the primary device: ward link approve <offer> --code <code>
     Check that the code matches what the new device shows. It prints an
     approval.
  3. Back on the new device: paste the approval and press Enter (or run
     ward link --approval <approval> later; the offer's keys are kept).

The new device then receives every message sent to the account and copies
of the messages the account's other devices send.`,
		Example: `  ward --data-dir ~/alice-laptop link alice --name laptop
  ward --data-dir ~/alice link approve 'AQAg…' --code 123456
  ward --data-dir ~/alice-laptop link --approval 'AQ3f…'`,
		Args: rangeArgs(0, 1, "at most one handle, as in `ward link alice`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			handle := ""
			if len(args) == 1 {
				handle = args[0]
			}
			if approval != "" {
				return a.completeLink(ctx, approval, timeout)
			}
			c, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			offer, code, err := c.BeginLink(ctx, handle, name)
			c.Close()
			if err != nil {
				if errors.Is(err, client.ErrAlreadyRegistered) {
					return fmt.Errorf("%s already holds an account: linking needs an empty --data-dir", a.dataDir)
				}
				return a.explain(err, opLink, handle)
			}
			if a.json {
				if err := a.printJSON(map[string]string{"offer": offer, "code": code}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "offer: %s\ncode:  %s\n", offer, code)
				fmt.Fprintf(a.stdout, "On the primary device run:\n  ward link approve %s --code %s\n", offer, code)
			}
			if noWait {
				a.say("when the primary device has approved, run: ward link --approval <approval>")
				return nil
			}
			fmt.Fprintln(a.stderr, "Paste the approval the primary device prints, then press Enter:")
			line, err := bufio.NewReader(a.stdin).ReadString('\n')
			line = strings.TrimSpace(line)
			if line == "" {
				if err != nil {
					a.say("no approval read; when the primary device has approved, run: ward link --approval <approval>")
					return nil
				}
				return errors.New("the approval is empty: run `ward link --approval <approval>` with the text the primary device printed")
			}
			return a.completeLink(ctx, line, timeout)
		},
	}
	cmd.Flags().StringVar(&name, "name", hostname(), "a `NAME` for this device, shown in `ward devices`")
	cmd.Flags().StringVar(&approval, "approval", "", "finish linking with the `APPROVAL` the primary device printed")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the offer and code, and exit without waiting for the approval")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the server to list this device")
	cmd.AddCommand(a.linkApproveCommand())
	return cmd
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

func (a *app) completeLink(ctx context.Context, approval string, timeout time.Duration) error {
	c, err := a.open(ctx, false)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.CompleteLink(ctx, strings.TrimSpace(approval)); err != nil {
		switch {
		case errors.Is(err, client.ErrAlreadyRegistered):
			return fmt.Errorf("%s already holds an account: nothing to link", a.dataDir)
		case strings.Contains(err.Error(), "without BeginLink"):
			return fmt.Errorf("no link in progress in %s: run `ward link` first", a.dataDir)
		case strings.Contains(err.Error(), "malformed link approval"):
			return errors.New("the approval is not valid: copy the whole text that `ward link approve` printed")
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("the server did not list this device within %s: check that the primary device approved this offer (`ward link approve`)", timeout)
		}
		return a.explain(err, opLink, "")
	}
	if a.json {
		return a.printJSON(a.whoami(c))
	}
	a.say("linked: this is device %d of %s", c.DeviceID(), c.Handle())
	return nil
}

func (a *app) linkApproveCommand() *cobra.Command {
	var code string
	cmd := &cobra.Command{
		Use:   "approve <offer> --code <code>",
		Short: "On the primary device, approve a new device's link offer",
		Long: `Approve the offer that ` + "`ward link`" + ` printed on the new device. Check that
the six-digit code you type is the one the new device shows: it binds the
offer to that device, so a swapped offer is refused. The account's device
list, signed by the account identity key, then includes the new device.
The approval printed on standard output goes back to the new device.`,
		Example: `  ward --data-dir ~/alice link approve 'AQAg…' --code 123456`,
		Args:    exactArgs(1, "the offer printed by `ward link` on the new device"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer c.Close()
			approval, err := c.ApproveLink(cmd.Context(), args[0], code)
			if err != nil {
				if strings.Contains(err.Error(), "offer") && !errors.Is(err, client.ErrLinkCode) {
					return errors.New("the offer is not valid: copy the whole offer that `ward link` printed on the new device")
				}
				return a.explain(err, opLink, "")
			}
			if a.json {
				return a.printJSON(map[string]string{"approval": approval})
			}
			fmt.Fprintln(a.stderr, "approved; give the new device this approval:")
			fmt.Fprintln(a.stdout, approval)
			return nil
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "the six-digit `CODE` the new device shows")
	cmd.MarkFlagRequired("code")
	return cmd
}

type deviceJSON struct {
	ID      uint32     `json:"id"`
	Name    string     `json:"name"`
	AddedAt *time.Time `json:"added_at,omitempty"`
	Current bool       `json:"current"`
}

func (a *app) devicesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List this account's devices",
		Long: `List the devices in this account's device list, as signed by the account
identity key and verified by this device.`,
		Example: `  ward --data-dir ~/alice devices
  ward --data-dir ~/alice devices --json
  ward --data-dir ~/alice devices remove 2`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer c.Close()
			devs, err := c.Devices(cmd.Context())
			if err != nil {
				return a.explain(err, opOther, "")
			}
			if a.json {
				out := make([]deviceJSON, 0, len(devs))
				for _, d := range devs {
					j := deviceJSON{ID: uint32(d.ID), Name: d.Name, Current: d.Current}
					if !d.AddedAt.IsZero() {
						t := d.AddedAt.UTC()
						j.AddedAt = &t
					}
					out = append(out, j)
				}
				return a.printJSON(map[string]any{"devices": out})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tADDED\t")
			for _, d := range devs {
				added := "-"
				if !d.AddedAt.IsZero() {
					added = d.AddedAt.Local().Format("2006-01-02 15:04")
				}
				note := ""
				if d.Current {
					note = "(this device)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", d.ID, orDash(d.Name), added, note)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "remove <id>",
		Short: "On the primary device, remove a device from the account",
		Long: `Remove a device from the account's device list (primary device only). The
server drops its queue and it can no longer send or receive; contacts see
that the device left.`,
		Example: `  ward --data-dir ~/alice devices remove 2`,
		Args:    exactArgs(1, "a device id from `ward devices`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil || id == 0 {
				return &usageError{fmt.Errorf("%q is not a device id: use a number from `ward devices`", args[0])}
			}
			if id == uint64(identity.PrimaryDevice) {
				return errors.New("device 1 is the primary device, which holds the account identity key: it cannot be removed")
			}
			c, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RemoveDevice(cmd.Context(), identity.DeviceID(id)); err != nil {
				if strings.Contains(err.Error(), "not in") || strings.Contains(err.Error(), "no device") {
					return fmt.Errorf("the account has no device %d: see `ward devices`", id)
				}
				return a.explain(err, opOther, "")
			}
			if a.json {
				return a.printJSON(map[string]any{"removed": id})
			}
			a.say("removed device %d", id)
			return nil
		},
	})
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
