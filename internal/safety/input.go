package safety

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Point is a decision point: a moment at which the server asks the engine
// what to do (DESIGN.md, section 3, "Safety engine").
//
// At every point the "actor" is the account the decision is about, and the
// "target", when there is one, is the other party:
//
//	point          actor                        target
//	first_contact  the sender                   the recipient (not yet in a conversation with the sender)
//	group_add      the member adding            the account being added
//	lookup         the account looking up       the account whose handle was looked up
//	accept         the requester                the account that accepted the request
//	decline        the requester                the account that declined the request
//	block          the blocked account          the account that blocked
//	report         the reported account         the reporter
//	sweep          the account being swept      (none)
type Point uint8

// Decision points.
const (
	FirstContact Point = iota // first message to someone the sender has no conversation with
	GroupAdd                  // adding an account to a group
	Lookup                    // resolving a handle to an account
	Accept                    // a message request was accepted
	Decline                   // a message request was declined
	Block                     // an account was blocked
	Report                    // an account was reported
	Sweep                     // periodic review of an account with recent signals

	// NumPoints is the number of decision points.
	NumPoints int = iota
)

var pointNames = [NumPoints]string{
	FirstContact: "first_contact",
	GroupAdd:     "group_add",
	Lookup:       "lookup",
	Accept:       "accept",
	Decline:      "decline",
	Block:        "block",
	Report:       "report",
	Sweep:        "sweep",
}

// String returns the point's name as written in policy files.
func (p Point) String() string {
	if int(p) < NumPoints {
		return pointNames[p]
	}
	return "point(" + strconv.Itoa(int(p)) + ")"
}

// MarshalText encodes the point as its name.
func (p Point) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Valid reports whether p is a known point.
func (p Point) Valid() bool { return int(p) < NumPoints }

// HasTarget reports whether decisions at p have a target (every point but
// sweep).
func (p Point) HasTarget() bool { return p != Sweep }

// parsePoint returns the point named s.
func parsePoint(s string) (Point, bool) {
	for p, n := range pointNames {
		if n == s {
			return Point(p), true
		}
	}
	return 0, false
}

// AgeBand is an account's declared age band.
type AgeBand string

// Age bands (the same strings as store.AgeBand).
const (
	Adult AgeBand = "adult"
	Teen  AgeBand = "teen"
)

// isTeen and isAdult are the engine's reading of an age band. An unknown or
// missing band is read as both, so that every teen protection applies to
// such an account as a target and every restriction on adults applies to it
// as an actor: a missing fact never weakens a protection.
func (b AgeBand) isTeen() bool { return b != Adult }

func (b AgeBand) isAdult() bool { return b != Teen }

// Account is what the engine knows about one account: facts the server
// holds anyway (DESIGN.md, section 1), never content.
type Account struct {
	ID        AccountID `json:"id"`
	AgeBand   AgeBand   `json:"age_band"`
	Status    string    `json:"status"` // "active", "restricted", "suspended" or "banned"
	CreatedAt time.Time `json:"created_at"`
	Contacts  int       `json:"contacts"` // number of contacts (accepted requests)
	Devices   int       `json:"devices"`  // devices in the current device list
}

// Relation describes the actor and the target to each other.
type Relation struct {
	// IsContact is true when either side accepted a request from the other.
	IsContact bool `json:"is_contact"`
	// HasReplied is true when the target has ever sent the actor a message.
	HasReplied bool `json:"has_replied"`
	// Blocked is true when either side has blocked the other.
	Blocked bool `json:"blocked"`
	// SharedGroups is the number of groups both are members of.
	SharedGroups int `json:"shared_groups"`
}

// ReportInfo describes the report under decision at the report point.
type ReportInfo struct {
	// Verified is true when the reported content's franking commitment and
	// server tag both verified.
	Verified bool `json:"verified"`
	// Category is the reporter's category: "child_safety", "spam",
	// "harassment" or "other".
	Category string `json:"category"`
}

// Input is everything a decision may depend on. The caller builds it from
// the directory and [LoadSignals]; the engine never reads a clock or a
// database.
type Input struct {
	// Now is the time of the decision. It must not be zero.
	Now time.Time `json:"now"`
	// Actor is the account the decision is about.
	Actor Account `json:"actor"`
	// Target is the other party. It is required at every point but sweep,
	// and must be nil at sweep.
	Target *Account `json:"target,omitempty"`
	// Relation relates actor and target (zero at sweep).
	Relation Relation `json:"relation"`
	// Report describes the report at the report point (nil elsewhere; a nil
	// report at the report point reads as an unverified "other" report).
	Report *ReportInfo `json:"report,omitempty"`
	// Signals are the actor's counters folded at Now. They count events
	// recorded before this decision; the engine itself adds the event under
	// decision where its count does not depend on the outcome (see
	// [Observe]).
	Signals Signals `json:"signals"`
}

// ErrInput is returned (wrapped) by [Engine.Decide] for an input that cannot
// be decided on: an unknown point, a zero Now, a missing target at a point
// that has one. Callers must treat it as a refusal (fail closed).
var ErrInput = errors.New("safety: invalid input")

func (in *Input) check(p Point) error {
	switch {
	case !p.Valid():
		return fmt.Errorf("%w: unknown decision point %d", ErrInput, p)
	case in.Now.IsZero():
		return fmt.Errorf("%w: zero time", ErrInput)
	case p.HasTarget() && in.Target == nil:
		return fmt.Errorf("%w: %s needs a target", ErrInput, p)
	case !p.HasTarget() && in.Target != nil:
		return fmt.Errorf("%w: %s has no target", ErrInput, p)
	}
	return nil
}

// ageHours returns whole hours between created and now (0 if created is
// after now; a zero created reads as created now, so an account of unknown
// age is treated as brand new).
func ageHours(created, now time.Time) int64 {
	if created.IsZero() || !now.After(created) {
		return 0
	}
	return int64(now.Sub(created) / time.Hour)
}
