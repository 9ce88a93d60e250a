package plan

import (
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

// FuzzAssign builds a batch from the fuzzer's bytes (each byte pair is a
// send: client id and a bitmask of up to four recipient devices, one of which
// does not exist) and checks the planner's invariants: no send that fails
// gets rows, accepted sends get consecutive sequence numbers per device in
// batch order, no device passes the cap, and the device states advance by
// exactly the rows assigned.
func FuzzAssign(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint8(3))
	f.Add([]byte{1, 0x1}, uint8(0), uint8(1))
	f.Add([]byte{1, 0xf, 2, 0x7, 1, 0xf}, uint8(1), uint8(2))
	f.Add([]byte{5, 0x8, 6, 0x3, 7, 0x3, 8, 0x3}, uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, depth, maxDepth uint8) {
		if len(data) > 512 {
			return
		}
		devs := []store.Address{
			{Account: store.AccountID{1}, Device: 1},
			{Account: store.AccountID{1}, Device: 2},
			{Account: store.AccountID{2}, Device: 1},
			{Account: store.AccountID{3}, Device: 9}, // does not exist
		}
		t0 := time.UnixMilli(1_800_000_000_000)
		var sends []store.Send
		for i := 0; i+1 < len(data); i += 2 {
			s := store.Send{
				ClientMessageID: store.ClientMessageID{data[i]},
				MessageID:       store.MessageID{byte(i), byte(i >> 8)},
				Timestamp:       t0,
				ExpiresAt:       t0.Add(time.Hour),
			}
			for j, d := range devs {
				if data[i+1]>>j&1 == 1 {
					s.Copies = append(s.Copies, store.Copy{To: d})
				}
				if data[i+1]>>(4+j)&1 == 1 { // a second copy to the same device
					s.Copies = append(s.Copies, store.Copy{To: d})
				}
			}
			sends = append(sends, s)
		}
		p := New(sends)
		states := map[store.Address]*DeviceState{}
		for _, d := range devs[:3] {
			states[d] = &DeviceState{NextSeq: 7, Depth: int(depth % 8)}
		}
		start := map[store.Address]DeviceState{}
		for a, st := range states {
			start[a] = *st
		}
		limit := int(maxDepth % 16)
		rows := p.Assign(states, limit)
		rs := p.Finish(nil)
		if len(rs) != len(sends) {
			t.Fatalf("%d results for %d sends", len(rs), len(sends))
		}
		perSend := map[int]int{}
		next := map[store.Address]uint64{}
		for a, st := range start {
			next[a] = st.NextSeq
		}
		for _, r := range rows {
			perSend[r.Send]++
			if r.Seq != next[r.To] {
				t.Fatalf("row for %s has seq %d, want %d", r.To, r.Seq, next[r.To])
			}
			next[r.To]++
			if r.To == devs[3] {
				t.Fatal("row for a device that does not exist")
			}
		}
		for i, r := range rs {
			switch {
			case r.Err != nil:
				if perSend[i] != 0 {
					t.Fatalf("failed send %d got %d rows", i, perSend[i])
				}
			case r.Duplicate:
				if perSend[i] != 0 {
					t.Fatalf("duplicate send %d got rows", i)
				}
			default:
				if perSend[i] != len(sends[i].Copies) || len(r.Seqs) != len(sends[i].Copies) {
					t.Fatalf("send %d: %d rows, %d seqs, %d copies", i, perSend[i], len(r.Seqs), len(sends[i].Copies))
				}
			}
		}
		for a, st := range states {
			added := int(next[a] - start[a].NextSeq)
			if st.NextSeq != next[a] || st.Depth != start[a].Depth+added {
				t.Fatalf("%s: state %+v, started %+v, %d rows", a, st, start[a], added)
			}
			if added > 0 && st.Depth > limit {
				t.Fatalf("%s: depth %d over cap %d", a, st.Depth, limit)
			}
		}
	})
}
