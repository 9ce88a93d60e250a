package safety

import "strconv"

// Action is what a rule asks for when its condition holds.
//
// The first six are outcomes: a decision resolves to exactly one of them, the
// matching one that ranks highest (see [Action.Rank]):
//
//	suspend_pending_review  >  deny_contact_with_teens  >  restrict_new_conversations
//	  >  rate_limit  >  route_to_requests  >  allow
//
// The last two are side effects: every matching one is carried out,
// whatever the outcome.
type Action uint8

// Actions, lowest outcome first.
const (
	// Allow lets the event proceed (the outcome when no rule matches).
	Allow Action = iota
	// RouteToRequests delivers into the recipient's message requests rather
	// than the inbox (group adds become invitations).
	RouteToRequests
	// RateLimit refuses this attempt for now; the client may retry after the
	// rule's "for" duration. Nothing is queued.
	RateLimit
	// RestrictNewConversations refuses this attempt and, with "for", stops
	// the actor from starting conversations with non-contacts (and adding
	// them to groups) for that long.
	RestrictNewConversations
	// DenyContactWithTeens refuses contact with, or discovery of, a teen
	// account. Nothing is queued; at lookup the handle reads as not found.
	DenyContactWithTeens
	// SuspendPendingReview refuses this attempt and suspends the actor until
	// a moderator reviews the account.
	SuspendPendingReview
	// FlagForModerators puts the actor in the moderation queue with a
	// category and severity (side effect).
	FlagForModerators
	// SafetyNotice shows the rule's notice text to the target (side effect).
	SafetyNotice

	numActions int = iota
)

var actionNames = [numActions]string{
	Allow:                    "allow",
	RouteToRequests:          "route_to_requests",
	RateLimit:                "rate_limit",
	RestrictNewConversations: "restrict_new_conversations",
	DenyContactWithTeens:     "deny_contact_with_teens",
	SuspendPendingReview:     "suspend_pending_review",
	FlagForModerators:        "flag_for_moderators",
	SafetyNotice:             "safety_notice",
}

// String returns the action's name as written in policy files.
func (a Action) String() string {
	if int(a) < numActions {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// MarshalText encodes the action as its name.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// IsOutcome reports whether a is an outcome rather than a side effect.
func (a Action) IsOutcome() bool { return a <= SuspendPendingReview }

// Rank orders outcomes: a decision's outcome is the matching outcome of
// highest rank. Side effects rank -1.
func (a Action) Rank() int {
	if !a.IsOutcome() {
		return -1
	}
	return int(a)
}

// Refuses reports whether outcome a refuses the event under decision
// (nothing is delivered, queued or revealed).
func (a Action) Refuses() bool {
	return a >= RateLimit && a <= SuspendPendingReview
}

func parseAction(s string) (Action, bool) {
	for a, n := range actionNames {
		if n == s {
			return Action(a), true
		}
	}
	return 0, false
}

// actionPoints says at which points an action means something; a policy
// that uses an action elsewhere is rejected.
var actionPoints = [numActions]uint16{
	Allow:                    allPoints,
	RouteToRequests:          pointBit(FirstContact) | pointBit(GroupAdd),
	RateLimit:                gatingPoints,
	RestrictNewConversations: allPoints,
	DenyContactWithTeens:     gatingPoints,
	SuspendPendingReview:     allPoints,
	FlagForModerators:        allPoints,
	SafetyNotice:             pointBit(FirstContact) | pointBit(GroupAdd) | pointBit(Accept),
}

const (
	allPoints    = 1<<NumPoints - 1
	gatingPoints = 1<<FirstContact | 1<<GroupAdd | 1<<Lookup
)

func pointBit(p Point) uint16 { return 1 << p }

// Flag categories, in the order moderators review them (child safety first,
// DESIGN.md section 3, "Reports and moderation").
var flagCategories = []string{"child_safety", "harassment", "spam", "account_security", "other"}

// Report categories a reporter may choose; anything else reads as "other".
var reportCategories = []string{"child_safety", "harassment", "spam", "other"}

// Severities of flags, lowest first.
var severities = []string{"low", "medium", "high", "critical"}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
