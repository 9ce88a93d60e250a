package safety

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// AccountIDSize is the length of an account id in bytes (the same as
// store.AccountIDSize; this package does not import the store so that the
// store can implement [SignalStore]).
const AccountIDSize = 16

// AccountID identifies an account. It converts directly to and from
// store.AccountID.
type AccountID [AccountIDSize]byte

// String returns the id in hex.
func (id AccountID) String() string { return hex.EncodeToString(id[:]) }

// Kind is one kind of per-account signal: a counter of content-blind events
// (DESIGN.md, section 3, "Safety engine"). Every kind is counted per account
// in time buckets and seen by policy rules as signals.<kind>_<window>, for
// example signals.outreach_attempts_24h.
type Kind uint8

// Signal kinds. The "actor" of a count is the account whose counter it is.
// "Non-contact" means the other party had not accepted a request from, or
// sent one that was accepted by, the actor; "teen" means an account whose
// age band is not "adult" (an unknown age band counts as teen, so a missing
// fact never weakens teen protections).
const (
	// ConversationsStarted counts 1:1 conversations the account opened that
	// were delivered, with contacts or not.
	ConversationsStarted Kind = iota
	// OutreachAttempts counts attempts to start a conversation with, or add
	// to a group, an account that is not a contact, whatever the outcome
	// (refused attempts count too).
	OutreachAttempts
	// FirstContactsToNonContacts counts first messages to non-contacts that
	// were delivered (to the inbox or to message requests).
	FirstContactsToNonContacts
	// TeenOutreachAttempts counts attempts to start a conversation with, or
	// add to a group, a teen account that is not a contact, whatever the
	// outcome.
	TeenOutreachAttempts
	// FirstContactsToTeens counts delivered first messages to teen accounts
	// that are not contacts.
	FirstContactsToTeens
	// GroupAddsOfNonContacts counts delivered group adds of non-contacts.
	GroupAddsOfNonContacts
	// GroupAddsOfTeens counts delivered group adds of teen accounts that are
	// not contacts.
	GroupAddsOfTeens
	// RefusedOutreach counts first contacts and group adds the engine refused
	// (rate-limited, restricted, denied or suspended).
	RefusedOutreach
	// RepliesReceived counts conversations the account started in which the
	// other party accepted the request or replied (once per conversation).
	RepliesReceived
	// RequestsReceived counts message requests the account received from
	// non-contacts.
	RequestsReceived
	// RequestsDeclined counts the account's message requests that the
	// recipient declined.
	RequestsDeclined
	// BlocksReceived counts accounts that blocked this account.
	BlocksReceived
	// ReportsReceived counts reports filed against this account.
	ReportsReceived
	// ReportsReceivedVerified counts reports against this account whose
	// franked content the server verified (DESIGN.md, section 2, "Message
	// franking").
	ReportsReceivedVerified
	// HandleLookups counts handle look-ups the account made.
	HandleLookups
	// HandleLookupsRefused counts handle look-ups the engine refused.
	HandleLookupsRefused
	// DevicesAdded counts devices added to the account's device list.
	DevicesAdded
	// DevicesRemoved counts devices removed from the account's device list.
	DevicesRemoved

	// NumKinds is the number of signal kinds.
	NumKinds int = iota
)

var kindNames = [NumKinds]string{
	ConversationsStarted:       "conversations_started",
	OutreachAttempts:           "outreach_attempts",
	FirstContactsToNonContacts: "first_contacts_to_non_contacts",
	TeenOutreachAttempts:       "teen_outreach_attempts",
	FirstContactsToTeens:       "first_contacts_to_teens",
	GroupAddsOfNonContacts:     "group_adds_of_non_contacts",
	GroupAddsOfTeens:           "group_adds_of_teens",
	RefusedOutreach:            "refused_outreach",
	RepliesReceived:            "replies_received",
	RequestsReceived:           "requests_received",
	RequestsDeclined:           "requests_declined",
	BlocksReceived:             "blocks_received",
	ReportsReceived:            "reports_received",
	ReportsReceivedVerified:    "reports_received_verified",
	HandleLookups:              "handle_lookups",
	HandleLookupsRefused:       "handle_lookups_refused",
	DevicesAdded:               "devices_added",
	DevicesRemoved:             "devices_removed",
}

// String returns the kind's name as used in policy files and storage
// ("outreach_attempts").
func (k Kind) String() string {
	if int(k) < NumKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return int(k) < NumKinds }

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("safety: unknown signal kind %q", s)
}

// Window is a look-back window over which counters are summed.
type Window uint8

// Windows. Policy rules see each kind over each window, as
// signals.<kind>_1h, signals.<kind>_24h and signals.<kind>_7d.
const (
	Hour Window = iota // the last hour: suffix _1h
	Day                // the last 24 hours: suffix _24h
	Week               // the last 7 days: suffix _7d

	// NumWindows is the number of windows.
	NumWindows int = iota
)

var windowInfo = [NumWindows]struct {
	suffix string
	d      time.Duration
}{
	Hour: {"1h", time.Hour},
	Day:  {"24h", 24 * time.Hour},
	Week: {"7d", 7 * 24 * time.Hour},
}

// Duration returns the window's length.
func (w Window) Duration() time.Duration { return windowInfo[w].d }

// String returns the window's suffix ("1h", "24h", "7d").
func (w Window) String() string {
	if int(w) < NumWindows {
		return windowInfo[w].suffix
	}
	return "window(" + strconv.Itoa(int(w)) + ")"
}

// longestWindow is the longest window; retention must cover it.
const longestWindow = 7 * 24 * time.Hour

// Signals are one account's windowed counters at one instant: Signals[k][w]
// is the number of events of kind k in window w. It is what the engine sees;
// [Buckets.Fold] computes it from stored bucket rows.
type Signals [NumKinds][NumWindows]int64

// Get returns the count of kind k over window w.
func (s *Signals) Get(k Kind, w Window) int64 { return s[k][w] }

// Add adds n ≥ 0 events of kind k that happened now: it adds n to every
// window, saturating at the largest int64.
func (s *Signals) Add(k Kind, n int64) {
	for w := range s[k] {
		s[k][w] = satAdd(s[k][w], n)
	}
}

// Name returns the policy name of counter (k, w): "outreach_attempts_24h".
func SignalName(k Kind, w Window) string { return k.String() + "_" + w.String() }

// MarshalJSON encodes the signals as an object with one member per non-zero
// counter, named as in policy files without the "signals." prefix
// ({"outreach_attempts_24h": 3}); a counter that is absent is zero.
func (s Signals) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	for k := range NumKinds {
		for w := range NumWindows {
			if s[k][w] == 0 {
				continue
			}
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, SignalName(Kind(k), Window(w))...)
			b = append(b, '"', ':')
			b = strconv.AppendInt(b, s[k][w], 10)
		}
	}
	return append(b, '}'), nil
}

// Row is one stored counter: the number of events of one kind for one
// account in the bucket that starts at Start.
type Row struct {
	Kind  Kind
	Start time.Time // bucket start, see [Buckets.Start]
	Count int64
}

// Delta is one counter increment: add N to the (Account, Kind, Start)
// counter, creating it at zero if it does not exist.
type Delta struct {
	Account AccountID
	Kind    Kind
	Start   time.Time // bucket start, see [Buckets.Start]
	N       int64
}

// SignalStore keeps the per-account counters. The SQLite and PostgreSQL
// implementations live in internal/store; package safetytest holds the
// contract suite they must pass.
//
// Contract:
//
//   - A counter is identified by (account, kind, bucket start). Bucket starts
//     are produced by [Buckets.Start]; the store treats them as opaque
//     instants and must keep at least millisecond precision.
//   - Increment applies every delta of one call atomically (all or none) and
//     durably once it returns nil; concurrent Increments of the same counter
//     from any number of goroutines or server nodes add up exactly (an
//     upsert of count = count + n, never read-modify-write in the caller).
//     On error the call may be retried; a retried call may count twice,
//     which the engine tolerates (counters are signals, not money).
//   - Window returns every row of account whose bucket start is at or after
//     since (rows of other accounts never), in any order, with one row per
//     (kind, start). Rows with a zero count may be omitted.
//   - Prune deletes every row, of every account, whose bucket start is before
//     before. It may run concurrently with Increment and Window.
//   - Implementations are safe for concurrent use. Unknown kinds read back
//     from storage (written by a newer server) are returned as they are; the
//     engine ignores them.
type SignalStore interface {
	Increment(ctx context.Context, deltas []Delta) error
	Window(ctx context.Context, account AccountID, since time.Time) ([]Row, error)
	Prune(ctx context.Context, before time.Time) error
}

// Buckets configures how counters are bucketed in time and for how long they
// are kept. The zero value is not valid; start from [DefaultBuckets].
type Buckets struct {
	// Width is the length of one bucket. It must divide one hour exactly and
	// be at least one minute. Default: 1h.
	Width time.Duration
	// Retention is how long rows are kept before [Buckets.PruneBefore]
	// drops them. It must be at least 7 days (the longest window).
	// Default: 8 days.
	Retention time.Duration
}

// DefaultBuckets are one-hour buckets kept for eight days.
var DefaultBuckets = Buckets{Width: time.Hour, Retention: 8 * 24 * time.Hour}

// Validate reports whether b is usable.
func (b Buckets) Validate() error {
	switch {
	case b.Width < time.Minute:
		return fmt.Errorf("safety: bucket width %v is shorter than one minute", b.Width)
	case time.Hour%b.Width != 0:
		return fmt.Errorf("safety: bucket width %v does not divide one hour", b.Width)
	case b.Retention < longestWindow:
		return fmt.Errorf("safety: retention %v is shorter than the longest window (%v)", b.Retention, longestWindow)
	}
	return nil
}

// Start returns the start of the bucket that holds t: t rounded down to a
// multiple of Width since the Unix epoch, in UTC. (Width should be valid;
// a Width below one minute reads as one hour rather than failing.)
func (b Buckets) Start(t time.Time) time.Time {
	w := b.Width.Nanoseconds()
	if b.Width < time.Minute {
		w = time.Hour.Nanoseconds()
	}
	ns := t.UnixNano()
	r := ns % w
	if r < 0 {
		r += w
	}
	return time.Unix(0, ns-r).UTC()
}

// Since returns the oldest bucket start that [Buckets.Fold] reads at now: the
// since argument for [SignalStore.Window].
func (b Buckets) Since(now time.Time) time.Time {
	return b.Start(now).Add(-longestWindow)
}

// PruneBefore returns the before argument for [SignalStore.Prune] at now:
// rows older than the retention, aligned to a bucket start.
func (b Buckets) PruneBefore(now time.Time) time.Time {
	return b.Start(now).Add(-b.Retention)
}

// Fold sums bucket rows into windowed counters at now. A window of length W
// includes the current bucket (the one holding now) and the W/Width buckets
// before it, so it always covers the last W entirely and at most one bucket
// width more: with one-hour buckets at 10:20, the 1h window sums the 09:00
// and 10:00 buckets. Over-counting by up to one bucket errs on the side of
// restricting sooner, never later. Rows of unknown kinds, rows in buckets
// after now's, rows older than the longest window and negative counts are
// ignored. Fold is a pure function of its arguments.
func (b Buckets) Fold(rows []Row, now time.Time) Signals {
	var s Signals
	cur := b.Start(now).UnixNano()
	for _, r := range rows {
		if !r.Kind.Valid() || r.Count <= 0 {
			continue
		}
		age := cur - r.Start.UnixNano() // distance from the current bucket's start
		if age < 0 {
			continue
		}
		for w := range NumWindows {
			if age <= windowInfo[w].d.Nanoseconds() {
				s[r.Kind][w] = satAdd(s[r.Kind][w], r.Count)
			}
		}
	}
	return s
}

func satAdd(a, b int64) int64 {
	if c := a + b; c >= a {
		return c
	}
	return 1<<63 - 1
}

// LoadSignals reads account's rows from st and folds them at now: the
// [Input.Signals] for a decision about account.
func LoadSignals(ctx context.Context, st SignalStore, b Buckets, account AccountID, now time.Time) (Signals, error) {
	rows, err := st.Window(ctx, account, b.Since(now))
	if err != nil {
		return Signals{}, fmt.Errorf("safety: loading signals: %w", err)
	}
	return b.Fold(rows, now), nil
}
