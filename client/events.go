package client

import (
	"sync"
	"time"

	"github.com/wardchat/ward/attachment"
	"github.com/wardchat/ward/identity"
)

// Event is one of *MessageEvent, *SentSyncEvent, *DeliveryReceiptEvent,
// *SafetyNumberChangedEvent, *DeviceAddedEvent, *DeviceRemovedEvent,
// *MessageRefusedEvent, *OutboxSentEvent and *OutboxFailedEvent.
type Event interface{ isEvent() }

// MessageEvent is a message received from a contact.
type MessageEvent struct {
	FromHandle  string
	From        identity.AccountID
	FromDevice  identity.DeviceID
	MessageID   [16]byte
	Timestamp   time.Time // the server's acceptance time
	Text        string    // the text, or an attachment's caption
	Attachments []*attachment.Pointer
	// FrankingVerified reports that the franking commitment opened. The SDK
	// drops messages whose commitment does not open, so it is always true
	// on a delivered event; it is kept explicit for the UI.
	FrankingVerified bool
}

// SentSyncEvent is a message this account sent from another of its
// devices: "the sender's other device sees its own sent messages".
type SentSyncEvent struct {
	ToHandle    string
	To          identity.AccountID
	FromDevice  identity.DeviceID
	MessageID   [16]byte
	Timestamp   time.Time
	Text        string
	Attachments []*attachment.Pointer
}

// DeliveryReceiptEvent says that a device of a contact received messages
// this account sent.
type DeliveryReceiptEvent struct {
	FromHandle string
	From       identity.AccountID
	FromDevice identity.DeviceID
	MessageIDs [][16]byte
	Timestamp  time.Time
}

// SafetyNumberChangedEvent says that the server now presents another
// account identity key for a contact than the one pinned. Sending to the
// contact is refused until TrustIdentity.
type SafetyNumberChangedEvent struct {
	Handle  string
	Account identity.AccountID
}

// DeviceAddedEvent says that a contact (or this account) has a new device
// in its verified device list.
type DeviceAddedEvent struct {
	Handle  string
	Account identity.AccountID
	Device  identity.DeviceID
	Name    string
}

// DeviceRemovedEvent says that a device left a contact's (or this
// account's) verified device list.
type DeviceRemovedEvent struct {
	Handle  string
	Account identity.AccountID
	Device  identity.DeviceID
}

// MessageRefusedEvent says that a delivery was dropped: its sending device
// is not in the sender's verified list, it did not decrypt, its franking
// commitment did not open, or its content was malformed or misdirected.
// The reason is for diagnostics.
type MessageRefusedEvent struct {
	From       identity.AccountID
	FromDevice identity.DeviceID
	MessageID  [16]byte
	Reason     string
}

// OutboxSentEvent says that a message whose Send returned ErrQueued has
// now been accepted by the server; ClientMessageID matches the
// QueuedError's.
type OutboxSentEvent struct {
	ToHandle        string
	To              identity.AccountID
	ClientMessageID [16]byte
	MessageID       [16]byte
	Timestamp       time.Time
	Text            string
	Attachments     []*attachment.Pointer
}

// OutboxFailedEvent says that a queued message was given up: the server
// refused it for good, or the recipient's identity or devices can no
// longer be verified. It was not sent.
type OutboxFailedEvent struct {
	ToHandle        string
	To              identity.AccountID
	ClientMessageID [16]byte
	Text            string
	Attachments     []*attachment.Pointer
	Reason          string
}

func (*OutboxSentEvent) isEvent()          {}
func (*OutboxFailedEvent) isEvent()        {}
func (*MessageEvent) isEvent()             {}
func (*SentSyncEvent) isEvent()            {}
func (*DeliveryReceiptEvent) isEvent()     {}
func (*SafetyNumberChangedEvent) isEvent() {}
func (*DeviceAddedEvent) isEvent()         {}
func (*DeviceRemovedEvent) isEvent()       {}
func (*MessageRefusedEvent) isEvent()      {}

// Events returns the channel of events. Events are emitted after the state
// they describe is durably stored; the queue in front of the channel is
// unbounded, so a slow reader never stalls delivery. The channel is closed
// by Drain and by Close; Close drops the events not yet read, Drain returns
// them.
func (c *Client) Events() <-chan Event { return c.ev.out }

// Drain ends the event stream and returns, in order, the events raised and
// not yet received from Events (none is lost: one that a concurrent reader
// receives is not returned). Call it after Run has returned and after
// Flush, so that nothing raises events any more: events raised after Drain
// are dropped. Events is closed when Drain returns; a second Drain returns
// nothing.
func (c *Client) Drain() []Event { return c.ev.drain() }

// eventQueue is an unbounded queue in front of a channel.
type eventQueue struct {
	mu      sync.Mutex
	pending []Event
	signal  chan struct{}
	out     chan Event
	done    chan struct{}
	stopped chan struct{} // closed when pump has returned
	closed  bool
}

func newEventQueue() *eventQueue {
	q := &eventQueue{signal: make(chan struct{}, 1), out: make(chan Event), done: make(chan struct{}), stopped: make(chan struct{})}
	go q.pump()
	return q
}

func (q *eventQueue) push(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	if !q.closed {
		q.pending = append(q.pending, evs...)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *eventQueue) pump() {
	defer close(q.stopped)
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.mu.Unlock()
			select {
			case <-q.signal:
				continue
			case <-q.done:
				return
			}
		}
		ev := q.pending[0]
		q.pending[0] = nil
		q.pending = q.pending[1:]
		q.mu.Unlock()
		select {
		case q.out <- ev:
		case <-q.done:
			// Not delivered: back to the front, for drain.
			q.mu.Lock()
			q.pending = append([]Event{ev}, q.pending...)
			q.mu.Unlock()
			return
		}
	}
}

func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}

// drain closes the queue, waits for pump to return and takes what it did
// not deliver.
func (q *eventQueue) drain() []Event {
	q.close()
	<-q.stopped
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.pending
	q.pending = nil
	return evs
}
