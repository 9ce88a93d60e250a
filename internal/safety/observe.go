package safety

import "time"

// currentEvent returns the counters of the actor that the event under
// decision adds whatever the outcome. The engine adds them to the signals
// the rules see, so that "signals.outreach_attempts_1h >= 10" reads "this is
// at least the tenth attempt in the last hour" and "blocks_received_24h >= 3"
// at the block point counts this block. Counters that depend on the outcome
// (deliveries, refusals) count only earlier events.
func currentEvent(p Point, in *Input) []Kind {
	switch p {
	case FirstContact, GroupAdd:
		if in.Relation.IsContact {
			return nil
		}
		if in.Target != nil && in.Target.AgeBand.isTeen() {
			return kindsOutreachTeen
		}
		return kindsOutreach
	case Lookup:
		return kindsLookup
	case Accept:
		return kindsAccept
	case Decline:
		return kindsDecline
	case Block:
		return kindsBlock
	case Report:
		if in.Report != nil && in.Report.Verified {
			return kindsReportVerified
		}
		return kindsReport
	}
	return nil
}

var (
	kindsOutreach       = []Kind{OutreachAttempts}
	kindsOutreachTeen   = []Kind{OutreachAttempts, TeenOutreachAttempts}
	kindsLookup         = []Kind{HandleLookups}
	kindsAccept         = []Kind{RepliesReceived}
	kindsDecline        = []Kind{RequestsDeclined}
	kindsBlock          = []Kind{BlocksReceived}
	kindsReport         = []Kind{ReportsReceived}
	kindsReportVerified = []Kind{ReportsReceived, ReportsReceivedVerified}
)

// Observe returns the counter increments that a decided event causes, for
// the caller to apply with [SignalStore.Increment] once the event has been
// carried out (or refused). in and d are the input and the decision of
// [Engine.Decide] at point p; bucket is the bucket start of the event
// ([Buckets.Start] of in.Now).
//
//	point          actor counters                                      target counters
//	first_contact  outreach_attempts, teen_outreach_attempts (always);  requests_received (delivered,
//	               conversations_started, first_contacts_to_non_contacts,  non-contact)
//	               first_contacts_to_teens (delivered); refused_outreach (refused)
//	group_add      outreach_attempts, teen_outreach_attempts (always);  requests_received (delivered,
//	               group_adds_of_non_contacts, group_adds_of_teens         non-contact)
//	               (delivered); refused_outreach (refused)
//	lookup         handle_lookups; handle_lookups_refused (refused)
//	accept         replies_received
//	decline        requests_declined
//	block          blocks_received
//	report         reports_received; reports_received_verified (verified)
//	sweep          none
//
// Events that are not decision points are counted by the caller directly:
// replies_received when someone the account contacted first replies without
// an explicit accept (once per conversation), devices_added and
// devices_removed when the account's device list changes.
func Observe(p Point, in Input, d Decision, bucket time.Time) []Delta {
	var out []Delta
	add := func(acct AccountID, k Kind) {
		out = append(out, Delta{Account: acct, Kind: k, Start: bucket, N: 1})
	}
	for _, k := range currentEvent(p, &in) {
		add(in.Actor.ID, k)
	}
	refused := d.Outcome.Refuses()
	nonContact := !in.Relation.IsContact
	teen := nonContact && in.Target != nil && in.Target.AgeBand.isTeen()
	switch p {
	case FirstContact, GroupAdd:
		if refused {
			add(in.Actor.ID, RefusedOutreach)
			break
		}
		if p == FirstContact {
			add(in.Actor.ID, ConversationsStarted)
			if nonContact {
				add(in.Actor.ID, FirstContactsToNonContacts)
			}
			if teen {
				add(in.Actor.ID, FirstContactsToTeens)
			}
		} else {
			if nonContact {
				add(in.Actor.ID, GroupAddsOfNonContacts)
			}
			if teen {
				add(in.Actor.ID, GroupAddsOfTeens)
			}
		}
		if nonContact && in.Target != nil {
			add(in.Target.ID, RequestsReceived)
		}
	case Lookup:
		if refused {
			add(in.Actor.ID, HandleLookupsRefused)
		}
	}
	return out
}
