package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"connectrpc.com/connect"

	"github.com/wardchat/ward/client"
)

// op says what a command was doing when an error happened, so the error
// can be told in the user's terms.
type op int

const (
	opOther    op = iota
	opRegister    // creating an account
	opContact     // looking a contact up, or sending to one
	opLink        // linking a device
)

// explain turns an SDK or server error into a sentence a person
// understands, with a hint of what to do. handle is the contact (or the
// handle being registered) the command was about, if any.
func (a *app) explain(err error, what op, handle string) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	switch {
	case errors.Is(err, client.ErrNotRegistered):
		return a.noAccount()
	case errors.Is(err, client.ErrAlreadyRegistered):
		return fmt.Errorf("%s already holds an account: use another --data-dir for another account or device", a.dataDir)
	case errors.Is(err, client.ErrIdentityChanged):
		return fmt.Errorf("%s's safety number changed: compare it with `ward verify %s`, then `ward verify --trust %s`", handle, handle, handle)
	case errors.Is(err, client.ErrBlocked):
		return fmt.Errorf("you blocked %s on this device: run `ward unblock %s` to message them again", handle, handle)
	case errors.Is(err, client.ErrNotPrimary):
		return errors.New("only the primary device (device 1, the one that registered the account) can do this")
	case errors.Is(err, client.ErrLinkCode):
		return errors.New("the code does not match the offer: type the six digits that `ward link` shows on the new device")
	case errors.Is(err, client.ErrDeviceRemoved):
		return fmt.Errorf("this device was removed from its account; the state in %s can no longer send or receive (link it again with an empty --data-dir)", a.dataDir)
	case errors.Is(err, client.ErrUntrustedDevice):
		who := handle
		if who == "" {
			who = "the account"
		}
		return fmt.Errorf("the server presented a device or key for %s that %s's identity key did not sign, so nothing was sent or accepted (this may be an attack; compare safety numbers with `ward verify %s`)", who, who, who)
	case errors.Is(err, client.ErrAttachment):
		return errors.New("the attachment failed verification (it was altered or damaged) and was not saved")
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("timed out")
	case unreachable(err):
		return a.unreachable()
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return errors.New(plain(err.Error()))
	}
	msg := plain(ce.Message())
	switch ce.Code() {
	case connect.CodeAlreadyExists:
		if what == opRegister {
			return fmt.Errorf("handle %s is taken: pick another", handle)
		}
		return fmt.Errorf("the server says it already exists: %s", msg)
	case connect.CodeNotFound:
		if what == opContact && handle != "" {
			return fmt.Errorf("there is no account called %s on %s: check the spelling", handle, a.server)
		}
		return fmt.Errorf("the server has no such thing: %s", msg)
	case connect.CodePermissionDenied:
		if what == opRegister && strings.Contains(msg, "invite") {
			return fmt.Errorf("the server at %s only admits accounts with an invite, and %s: ask its operator for a code (`wardd invite`) and pass --invite CODE", a.server, msg)
		}
		return fmt.Errorf("the server refused: %s", msg)
	case connect.CodeUnauthenticated:
		return fmt.Errorf("the server did not accept this device's credentials (%s): if this device was removed from its account, link it again with an empty --data-dir", msg)
	case connect.CodeResourceExhausted:
		return fmt.Errorf("the server refused for now (%s): wait a moment and try again", msg)
	case connect.CodeInvalidArgument:
		if what == opRegister {
			return fmt.Errorf("the server does not accept the handle %q: %s", handle, msg)
		}
		return fmt.Errorf("the server rejected the request: %s", msg)
	case connect.CodeFailedPrecondition:
		return fmt.Errorf("the server refused because things changed meanwhile (%s): try again", msg)
	case connect.CodeUnavailable:
		return fmt.Errorf("the server at %s is unavailable right now (%s): try again shortly", a.server, msg)
	}
	return fmt.Errorf("the server answered: %s (%s)", msg, ce.Code())
}

// unreachable reports whether err means the server could not be reached
// at all (nothing listening, DNS failure, connection reset).
func unreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var dns *net.DNSError
	var op *net.OpError
	if errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) && !errors.As(err, new(*connect.Error)) {
		return true
	}
	return false
}

// plain drops the Go package prefixes ("client: lookup: ") from a
// message; people do not need them.
func plain(s string) string {
	for _, p := range []string{"client: ", "server: ", "lookup: ", "register: "} {
		for strings.HasPrefix(s, p) {
			s = strings.TrimPrefix(s, p)
		}
	}
	return s
}
