package plan

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

var t0 = time.UnixMilli(1_800_000_000_000).UTC()

func ad(acct byte, dev store.DeviceID) store.Address {
	return store.Address{Account: store.AccountID{acct}, Device: dev}
}

func mk(client byte, to ...store.Address) store.Send {
	s := store.Send{
		Sender:          ad(9, 1),
		ClientMessageID: store.ClientMessageID{client},
		MessageID:       store.MessageID{client},
		Timestamp:       t0,
		ExpiresAt:       t0.Add(time.Hour),
	}
	for _, a := range to {
		s.Copies = append(s.Copies, store.Copy{To: a, Envelope: []byte{client}})
	}
	return s
}

func TestAssign(t *testing.T) {
	a1, a2, a3, gone := ad(1, 1), ad(1, 2), ad(2, 1), ad(3, 3)
	tests := []struct {
		name     string
		sends    []store.Send
		depth    map[store.Address]int // initial depths; absent = no device
		maxDepth int
		wantErr  []error // per send
		wantSeqs [][]uint64
	}{
		{
			name:     "fan-out",
			sends:    []store.Send{mk(1, a1, a2, a3), mk(2, a1)},
			depth:    map[store.Address]int{a1: 0, a2: 0, a3: 0},
			maxDepth: 10,
			wantErr:  []error{nil, nil},
			wantSeqs: [][]uint64{{100, 100, 100}, {101}},
		},
		{
			name:     "cap fails the whole send only",
			sends:    []store.Send{mk(1, a1, a2), mk(2, a1), mk(3, a2)},
			depth:    map[store.Address]int{a1: 0, a2: 2},
			maxDepth: 2,
			wantErr:  []error{store.ErrQueueFull, nil, store.ErrQueueFull},
			wantSeqs: [][]uint64{nil, {100}, nil},
		},
		{
			name:     "cap counts earlier sends of the batch",
			sends:    []store.Send{mk(1, a1), mk(2, a1), mk(3, a1)},
			depth:    map[store.Address]int{a1: 0},
			maxDepth: 2,
			wantErr:  []error{nil, nil, store.ErrQueueFull},
			wantSeqs: [][]uint64{{100}, {101}, nil},
		},
		{
			name:     "cap counts copies within a send",
			sends:    []store.Send{mk(1, a1, a1, a1), mk(2, a1, a1)},
			depth:    map[store.Address]int{a1: 0},
			maxDepth: 2,
			wantErr:  []error{store.ErrQueueFull, nil},
			wantSeqs: [][]uint64{nil, {100, 101}},
		},
		{
			name:     "unknown device",
			sends:    []store.Send{mk(1, a1, gone), mk(2, a1)},
			depth:    map[store.Address]int{a1: 0},
			maxDepth: 2,
			wantErr:  []error{store.ErrNotFound, nil},
			wantSeqs: [][]uint64{nil, {100}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.sends)
			states := map[store.Address]*DeviceState{}
			for a, d := range tc.depth {
				states[a] = &DeviceState{NextSeq: 100, Depth: d}
			}
			before := map[store.Address]DeviceState{}
			for a, st := range states {
				before[a] = *st
			}
			rows := p.Assign(states, tc.maxDepth)
			rs := p.Finish(nil)
			inserted := map[store.Address]int{}
			for _, r := range rows {
				inserted[r.To]++
			}
			for i, r := range rs {
				if !errors.Is(r.Err, tc.wantErr[i]) || (tc.wantErr[i] == nil) != (r.Err == nil) {
					t.Errorf("send %d: err %v, want %v", i, r.Err, tc.wantErr[i])
				}
				if !slices.Equal(r.Seqs, tc.wantSeqs[i]) {
					t.Errorf("send %d: seqs %v, want %v", i, r.Seqs, tc.wantSeqs[i])
				}
				var de *store.DeviceError
				if r.Err != nil && !errors.As(r.Err, &de) {
					t.Errorf("send %d: error %v names no device", i, r.Err)
				}
			}
			// States advanced by exactly the rows inserted.
			for a, st := range states {
				b := before[a]
				if st.Depth != b.Depth+inserted[a] || st.NextSeq != b.NextSeq+uint64(inserted[a]) || st.Changed != (inserted[a] > 0) {
					t.Errorf("%s: state %+v from %+v after %d rows", a, st, b, inserted[a])
				}
			}
		})
	}
}

func TestDuplicates(t *testing.T) {
	a1 := ad(1, 1)
	invalid := mk(4, a1)
	invalid.ExpiresAt = t0
	sends := []store.Send{mk(1, a1), mk(2, a1), mk(1, a1), invalid, mk(3, a1)}
	sends[2].MessageID = store.MessageID{77} // retry with a new server id
	p := New(sends)
	keys := p.Keys()
	if len(keys) != 3 || !slices.IsSortedFunc(keys, Key.Compare) {
		t.Fatalf("Keys = %v, want 3 sorted keys (retry and invalid excluded)", keys)
	}
	p.MarkDuplicate(Key{sends[1].Sender, sends[1].ClientMessageID}, store.MessageID{42}, t0.Add(-time.Hour))
	if rcpts := p.Recipients(); len(rcpts) != 1 || rcpts[0] != a1 {
		t.Fatalf("Recipients = %v", rcpts)
	}
	states := map[store.Address]*DeviceState{a1: {NextSeq: 1}}
	rows := p.Assign(states, 10)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2 (sends 0 and 4)", len(rows))
	}
	if acc := p.Accepted(); !slices.Equal(acc, []int{0, 4}) {
		t.Fatalf("Accepted = %v", acc)
	}
	rs := p.Finish(nil)
	if rs[0].Duplicate || rs[0].Err != nil || rs[0].MessageID != (store.MessageID{1}) {
		t.Errorf("send 0 = %+v", rs[0])
	}
	if !rs[1].Duplicate || rs[1].MessageID != (store.MessageID{42}) || !rs[1].Timestamp.Equal(t0.Add(-time.Hour)) {
		t.Errorf("committed duplicate = %+v", rs[1])
	}
	if !rs[2].Duplicate || rs[2].MessageID != (store.MessageID{1}) || rs[2].Seqs != nil {
		t.Errorf("in-batch retry = %+v, want duplicate of send 0", rs[2])
	}
	if !errors.Is(rs[3].Err, store.ErrInvalid) {
		t.Errorf("invalid send = %+v", rs[3])
	}

	// A failed transaction fails every send but keeps validation errors.
	p = New(sends)
	p.Assign(map[store.Address]*DeviceState{a1: {NextSeq: 1}}, 10)
	boom := errors.New("disk")
	for i, r := range p.Finish(boom) {
		want := boom
		if i == 3 {
			want = store.ErrInvalid
		}
		if !errors.Is(r.Err, want) {
			t.Errorf("send %d after failed tx: %v, want %v", i, r.Err, want)
		}
	}
}

func TestInBatchRetryOfFailedSend(t *testing.T) {
	a1 := ad(1, 1)
	p := New([]store.Send{mk(1, a1), mk(1, a1)})
	p.Assign(map[store.Address]*DeviceState{}, 10) // device unknown
	rs := p.Finish(nil)
	for i, r := range rs {
		if !errors.Is(r.Err, store.ErrNotFound) || r.Duplicate {
			t.Errorf("send %d = %+v, want the first send's error", i, r)
		}
	}
}

func TestDiffDevices(t *testing.T) {
	k := func(id store.DeviceID, b byte) store.DeviceKeys {
		return store.DeviceKeys{ID: id, SigningKey: []byte{b}, IdentityKey: []byte{b, b}}
	}
	add, remove, err := DiffDevices([]store.DeviceKeys{k(1, 1), k(2, 2)}, []store.DeviceKeys{k(2, 2), k(3, 3)})
	if err != nil || len(add) != 1 || add[0].ID != 3 || !slices.Equal(remove, []store.DeviceID{1}) {
		t.Fatalf("DiffDevices = %v %v %v", add, remove, err)
	}
	changed := k(2, 2)
	changed.IdentityKey = []byte{9}
	if _, _, err := DiffDevices([]store.DeviceKeys{k(2, 2)}, []store.DeviceKeys{changed}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("key change: %v, want ErrConflict", err)
	}
}

func BenchmarkPlan1000(b *testing.B) {
	var sends []store.Send
	var addrs []store.Address
	for i := range 256 {
		addrs = append(addrs, ad(byte(i), store.DeviceID(i%8)))
	}
	for i := range 1000 {
		s := mk(0, addrs[i*4%256], addrs[(i*4+1)%256], addrs[(i*4+2)%256], addrs[(i*4+3)%256])
		s.ClientMessageID = store.ClientMessageID{byte(i), byte(i >> 8)}
		sends = append(sends, s)
	}
	b.ReportAllocs()
	for b.Loop() {
		p := New(sends)
		p.Keys()
		states := map[store.Address]*DeviceState{}
		for _, a := range p.Recipients() {
			states[a] = &DeviceState{NextSeq: 1}
		}
		p.Assign(states, 1<<30)
		p.Accepted()
		p.Finish(nil)
	}
}
