// Package plan holds the database-independent half of EnqueueBatch, shared
// by the SQLite and PostgreSQL stores so that both decide identically which
// sends of a batch are accepted.
//
// A backend runs one transaction:
//
//	p := plan.New(sends)                      // validate, dedupe within the batch
//	lock+read devices p.Recipients()          // sorted: no lock-order deadlocks
//	look up committed idempotency records for p.Keys(); p.MarkDuplicate(...)
//	rows := p.Assign(states, maxDepth)        // caps, unknown devices, seqs
//	insert rows, p.Accepted() idempotency records, write back changed states
//	commit; results := p.Finish(err)
package plan

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/wardchat/ward/internal/store"
)

// Key is an idempotency key: the sender device and its client message id.
type Key struct {
	Sender store.Address
	Client store.ClientMessageID
}

// Compare orders keys (sender, then client id).
func (k Key) Compare(o Key) int {
	if c := k.Sender.Compare(o.Sender); c != 0 {
		return c
	}
	return bytes.Compare(k.Client[:], o.Client[:])
}

// DeviceState is the queue head of one device: the next sequence number to
// assign, the current depth, and Prev, a sequence number such that the
// device's queue holds no entry in (Prev, NextSeq): its last assigned one
// where known, else 0.
type DeviceState struct {
	NextSeq uint64
	Prev    uint64
	Depth   int
	Changed bool // set by Assign when the state must be written back
}

// Row is one queue entry to insert: copy Copy of send Send, for device To,
// with sequence number Seq.
type Row struct {
	To   store.Address
	Seq  uint64
	Send int
	Copy int
}

type status uint8

const (
	pending   status = iota // still to be decided
	failed                  // Result.Err set
	duplicate               // already committed; Result holds the original
	inBatch                 // retry of an earlier send of this batch
	accepted                // rows assigned
)

// Plan is the state of one batch.
type Plan struct {
	Sends   []store.Send
	results []store.Result
	status  []status
	firstOf map[int]int // inBatch send -> index of the send it repeats
	index   map[Key]int // key -> first send carrying it
}

// New validates the sends and marks retries of an earlier send of the same
// batch.
func New(sends []store.Send) *Plan {
	p := &Plan{
		Sends:   sends,
		results: make([]store.Result, len(sends)),
		status:  make([]status, len(sends)),
	}
	first := make(map[Key]int, len(sends))
	p.index = first
	for i := range sends {
		s := &sends[i]
		if err := s.Validate(); err != nil {
			p.fail(i, err)
			continue
		}
		k := Key{s.Sender, s.ClientMessageID}
		if j, ok := first[k]; ok {
			if p.firstOf == nil {
				p.firstOf = make(map[int]int)
			}
			p.firstOf[i] = j
			p.status[i] = inBatch
			continue
		}
		first[k] = i
	}
	return p
}

func (p *Plan) fail(i int, err error) {
	p.status[i] = failed
	p.results[i] = store.Result{Err: err}
}

// Keys returns the idempotency keys of the undecided sends, sorted, without
// repeats.
func (p *Plan) Keys() []Key {
	var ks []Key
	for i, st := range p.status {
		if st == pending {
			ks = append(ks, Key{p.Sends[i].Sender, p.Sends[i].ClientMessageID})
		}
	}
	slices.SortFunc(ks, Key.Compare)
	return ks
}

// MarkDuplicate records that the send with key k was committed before, with
// the given message id and timestamp. Unknown keys are ignored.
func (p *Plan) MarkDuplicate(k Key, id store.MessageID, ts time.Time) {
	if i, ok := p.index[k]; ok && p.status[i] == pending {
		p.status[i] = duplicate
		p.results[i] = store.Result{MessageID: id, Timestamp: ts, Duplicate: true}
	}
}

// Recipients returns the devices the undecided sends go to, sorted, without
// repeats. Backends lock them in this order.
func (p *Plan) Recipients() []store.Address {
	seen := make(map[store.Address]struct{})
	var as []store.Address
	for i, st := range p.status {
		if st != pending {
			continue
		}
		for _, c := range p.Sends[i].Copies {
			if _, ok := seen[c.To]; !ok {
				seen[c.To] = struct{}{}
				as = append(as, c.To)
			}
		}
	}
	slices.SortFunc(as, store.Address.Compare)
	return as
}

// Assign decides the undecided sends in batch order against the device
// states (missing from states = device does not exist) and a per-device cap
// on queue depth, and returns the rows to insert. It updates states in place
// and sets Changed on those it modified.
func (p *Plan) Assign(states map[store.Address]*DeviceState, maxDepth int) []Row {
	var rows []Row
	extra := make(map[store.Address]int)
	for i, st := range p.status {
		if st != pending {
			continue
		}
		s := &p.Sends[i]
		clear(extra)
		var err error
		for _, c := range s.Copies {
			ds, ok := states[c.To]
			if !ok {
				err = &store.DeviceError{Device: c.To, Err: store.ErrNotFound}
				break
			}
			extra[c.To]++
			if ds.Depth+extra[c.To] > maxDepth {
				err = &store.DeviceError{Device: c.To, Err: fmt.Errorf("%w (cap %d)", store.ErrQueueFull, maxDepth)}
				break
			}
			if ds.NextSeq+uint64(extra[c.To])-1 > store.MaxInt64 {
				err = &store.DeviceError{Device: c.To, Err: fmt.Errorf("%w: sequence numbers exhausted", store.ErrQueueFull)}
				break
			}
		}
		if err != nil {
			p.fail(i, err)
			continue
		}
		seqs := make([]uint64, len(s.Copies))
		prevs := make([]uint64, len(s.Copies))
		for j, c := range s.Copies {
			ds := states[c.To]
			seqs[j] = ds.NextSeq
			prevs[j] = ds.Prev
			ds.Prev = ds.NextSeq
			ds.NextSeq++
			ds.Depth++
			ds.Changed = true
			rows = append(rows, Row{To: c.To, Seq: seqs[j], Send: i, Copy: j})
		}
		p.status[i] = accepted
		p.results[i] = store.Result{MessageID: s.MessageID, Timestamp: s.Timestamp, Seqs: seqs, PrevSeqs: prevs}
	}
	return rows
}

// Accepted returns the indexes of the sends Assign accepted, whose
// idempotency records must be inserted.
func (p *Plan) Accepted() []int {
	var idx []int
	for i, st := range p.status {
		if st == accepted {
			idx = append(idx, i)
		}
	}
	return idx
}

// Finish returns the results. If the transaction failed (err != nil), every
// send that was not rejected by validation gets err: nothing was stored.
func (p *Plan) Finish(err error) []store.Result {
	for i, st := range p.status {
		switch {
		case err != nil && st != failed:
			p.results[i] = store.Result{Err: err}
		case st == inBatch:
			j := p.firstOf[i]
			r := p.results[j]
			if r.Err == nil {
				r = store.Result{MessageID: r.MessageID, Timestamp: r.Timestamp, Duplicate: true}
			}
			p.results[i] = r
		}
	}
	return p.results
}

// FailAll returns results that all carry err (a batch that could not run).
func FailAll(n int, err error) []store.Result {
	rs := make([]store.Result, n)
	for i := range rs {
		rs[i].Err = err
	}
	return rs
}
