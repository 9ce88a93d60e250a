package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/internal/plan"
)

// expireChunk bounds the rows one ExpireBefore transaction deletes.
const expireChunk = 2000

// EnqueueBatch implements [store.Queue] in one transaction:
//
//  1. lock the recipient devices' queue heads, sorted (SELECT ... FOR UPDATE),
//     so concurrent batches serialise per device and cannot deadlock;
//  2. look up committed idempotency records (after the locks, so a retry
//     racing its original sees it committed);
//  3. decide every send (plan.Assign) and insert all entries and
//     idempotency records with one multi-row INSERT ... unnest each;
//  4. write back the queue heads.
//
// If a concurrent batch inserted one of our idempotency keys first (a
// client reusing its id for a different device set), the transaction is run
// again and then sees that send as a duplicate.
func (s *Store) EnqueueBatch(ctx context.Context, sends []store.Send) []store.Result {
	var p *plan.Plan
	err := s.tx(ctx, func(tx pgx.Tx) error {
		p = plan.New(sends)
		return s.enqueue(ctx, tx, p)
	})
	if p == nil {
		return plan.FailAll(len(sends), err)
	}
	return p.Finish(err)
}

func (s *Store) enqueue(ctx context.Context, tx pgx.Tx, p *plan.Plan) error {
	sends := p.Sends
	rcpts := p.Recipients()
	states := make(map[store.Address]*plan.DeviceState, len(rcpts))
	keys := p.Keys()
	// Both reads go in one pipelined round trip. They run in order: the
	// idempotency lookup sees everything committed before the locks were
	// granted.
	var rd pgx.Batch
	if len(rcpts) > 0 {
		accts := make([][]byte, len(rcpts))
		devs := make([]int64, len(rcpts))
		for i, a := range rcpts {
			accts[i] = a.Account[:]
			devs[i] = int64(a.Device)
		}
		rd.Queue(`SELECT d.account_id, d.device_id, d.next_seq, d.queue_depth
			 FROM devices d JOIN unnest($1::bytea[], $2::bigint[]) AS k(account_id, device_id)
			   ON d.account_id = k.account_id AND d.device_id = k.device_id
			 ORDER BY d.account_id, d.device_id
			 FOR UPDATE OF d`, accts, devs)
	}
	if len(keys) > 0 {
		accts := make([][]byte, len(keys))
		devs := make([]int64, len(keys))
		cids := make([][]byte, len(keys))
		for i, k := range keys {
			accts[i] = k.Sender.Account[:]
			devs[i] = int64(k.Sender.Device)
			cids[i] = k.Client[:]
		}
		rd.Queue(`SELECT s.sender_account, s.sender_device, s.client_message_id, s.message_id, s.server_ts
			 FROM sends s JOIN unnest($1::bytea[], $2::bigint[], $3::bytea[]) AS k(a, d, c)
			   ON s.sender_account = k.a AND s.sender_device = k.d AND s.client_message_id = k.c`,
			accts, devs, cids)
	}
	if rd.Len() > 0 {
		br := tx.SendBatch(ctx, &rd)
		if err := readHeadsAndDups(br, p, states, len(rcpts) > 0, len(keys) > 0); err != nil {
			br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return dbErr("enqueue: read", err)
		}
	}

	rows := p.Assign(states, s.maxDepth)
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		acct, mid, sacct, env, tag = make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		dev, seq, sdev, ts, exp    = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	)
	for i, r := range rows {
		sd := &sends[r.Send]
		c := &sd.Copies[r.Copy]
		acct[i], dev[i], seq[i] = r.To.Account[:], int64(r.To.Device), int64(r.Seq)
		mid[i], sacct[i], sdev[i] = sd.MessageID[:], sd.Sender.Account[:], int64(sd.Sender.Device)
		ts[i], env[i], tag[i], exp[i] = ms(sd.Timestamp), c.Envelope, nonNil(c.FrankingTag), ms(sd.ExpiresAt)
	}
	// The three writes do not depend on each other's results: send them in
	// one pipelined round trip.
	var bt pgx.Batch
	bt.Queue(`INSERT INTO queue (account_id, device_id, seq, message_id, sender_account, sender_device,
		                    server_ts, envelope, franking_tag, expires_at)
		 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bigint[],
		                      $7::bigint[], $8::bytea[], $9::bytea[], $10::bigint[])`,
		acct, dev, seq, mid, sacct, sdev, ts, env, tag, exp)

	acc := p.Accepted()
	k := len(acc)
	var (
		ka, kc, km    = make([][]byte, k), make([][]byte, k), make([][]byte, k)
		kd, kts, kexp = make([]int64, k), make([]int64, k), make([]int64, k)
	)
	for i, j := range acc {
		sd := &sends[j]
		ka[i], kd[i], kc[i] = sd.Sender.Account[:], int64(sd.Sender.Device), sd.ClientMessageID[:]
		km[i], kts[i], kexp[i] = sd.MessageID[:], ms(sd.Timestamp), ms(sd.ExpiresAt)
	}
	bt.Queue(`INSERT INTO sends (sender_account, sender_device, client_message_id, message_id, server_ts, expires_at)
		 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[], $6::bigint[])
		 ON CONFLICT DO NOTHING`,
		ka, kd, kc, km, kts, kexp)

	var ha [][]byte
	var hd, hn, hq []int64
	for a, st := range states {
		if st.Changed {
			ha = append(ha, a.Account[:])
			hd = append(hd, int64(a.Device))
			hn = append(hn, int64(st.NextSeq))
			hq = append(hq, int64(st.Depth))
		}
	}
	bt.Queue(`UPDATE devices d SET next_seq = v.next_seq, queue_depth = v.depth
		 FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(account_id, device_id, next_seq, depth)
		 WHERE d.account_id = v.account_id AND d.device_id = v.device_id`,
		ha, hd, hn, hq)

	br := tx.SendBatch(ctx, &bt)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return dbErr("enqueue: insert", err)
	}
	tagIns, err := br.Exec()
	if err != nil {
		br.Close()
		return dbErr("enqueue: idempotency record", err)
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return dbErr("enqueue: queue heads", err)
	}
	if err := br.Close(); err != nil {
		return dbErr("enqueue", err)
	}
	if int(tagIns.RowsAffected()) != k {
		return errRetry // a concurrent batch committed one of these keys: run again
	}
	return nil
}

// readHeadsAndDups reads the pipelined results of enqueue's two reads:
// the locked queue heads into states, committed sends into p.
func readHeadsAndDups(br pgx.BatchResults, p *plan.Plan, states map[store.Address]*plan.DeviceState, heads, dups bool) error {
	if heads {
		rows, err := br.Query()
		if err != nil {
			return dbErr("enqueue: lock queue heads", err)
		}
		for rows.Next() {
			var (
				acct             []byte
				dev, next, depth int64
			)
			if err := rows.Scan(&acct, &dev, &next, &depth); err != nil {
				rows.Close()
				return dbErr("enqueue: lock queue heads", err)
			}
			states[store.Address{Account: store.AccountID(acct), Device: store.DeviceID(dev)}] =
				// Per-device sequence numbers are contiguous, so the last
				// assigned one is next-1.
				&plan.DeviceState{NextSeq: uint64(next), Prev: uint64(max(next-1, 0)), Depth: int(depth)}
		}
		if err := rows.Err(); err != nil {
			return dbErr("enqueue: lock queue heads", err)
		}
	}
	if dups {
		rows, err := br.Query()
		if err != nil {
			return dbErr("enqueue: idempotency lookup", err)
		}
		for rows.Next() {
			var (
				acct, cid, mid []byte
				dev, ts        int64
			)
			if err := rows.Scan(&acct, &dev, &cid, &mid, &ts); err != nil {
				rows.Close()
				return dbErr("enqueue: idempotency lookup", err)
			}
			p.MarkDuplicate(plan.Key{
				Sender: store.Address{Account: store.AccountID(acct), Device: store.DeviceID(dev)},
				Client: store.ClientMessageID(cid),
			}, store.MessageID(mid), store.FromMillis(ts))
		}
		if err := rows.Err(); err != nil {
			return dbErr("enqueue: idempotency lookup", err)
		}
	}
	return nil
}

// Fetch implements [store.Queue].
func (s *Store) Fetch(ctx context.Context, addr store.Address, afterSeq uint64, limit int) ([]store.Entry, error) {
	if limit <= 0 || afterSeq >= store.MaxInt64 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx,
		`SELECT seq, message_id, sender_account, sender_device, server_ts, envelope, franking_tag, expires_at
		 FROM queue WHERE account_id = $1 AND device_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
		addr.Account[:], int64(addr.Device), int64(afterSeq), limit)
	if err != nil {
		return nil, dbErr("fetch", err)
	}
	defer rows.Close()
	var out []store.Entry
	for rows.Next() {
		var (
			e                  store.Entry
			seq, sdev, ts, exp int64
			mid, sacct         []byte
		)
		if err := rows.Scan(&seq, &mid, &sacct, &sdev, &ts, &e.Envelope, &e.FrankingTag, &exp); err != nil {
			return nil, dbErr("fetch", err)
		}
		e.Seq = uint64(seq)
		e.MessageID = store.MessageID(mid)
		e.Sender = store.Address{Account: store.AccountID(sacct), Device: store.DeviceID(sdev)}
		e.Timestamp = store.FromMillis(ts)
		e.ExpiresAt = store.FromMillis(exp)
		out = append(out, e)
	}
	return out, dbErr("fetch", rows.Err())
}

// Ack implements [store.Queue].
func (s *Store) Ack(ctx context.Context, addr store.Address, uptoSeq uint64) (int, error) {
	ns, err := s.AckBatch(ctx, []store.AckRequest{{Device: addr, UpTo: uptoSeq}})
	if err != nil {
		return 0, err
	}
	return ns[0], nil
}

// AckSeqs implements [store.Queue].
func (s *Store) AckSeqs(ctx context.Context, addr store.Address, seqs []uint64) (int, error) {
	ns, err := s.AckBatch(ctx, []store.AckRequest{{Device: addr, Seqs: seqs}})
	if err != nil {
		return 0, err
	}
	return ns[0], nil
}

// AckBatch implements [store.Queue]: one transaction, requests applied in
// device order (the order EnqueueBatch locks queue heads in), so that
// concurrent batches cannot deadlock.
func (s *Store) AckBatch(ctx context.Context, acks []store.AckRequest) ([]int, error) {
	ns := make([]int, len(acks))
	if len(acks) == 0 {
		return ns, nil
	}
	order := make([]int, len(acks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return acks[i].Device.Compare(acks[j].Device) })
	err := s.tx(ctx, func(tx pgx.Tx) error {
		clear(ns)
		for _, i := range order {
			a := acks[i]
			acct, dev := a.Device.Account[:], int64(a.Device.Device)
			var seqs []int64
			for _, q := range a.Seqs {
				if q != 0 && q <= store.MaxInt64 {
					seqs = append(seqs, int64(q))
				}
			}
			if a.UpTo == 0 && len(seqs) == 0 {
				continue
			}
			tag, err := tx.Exec(ctx,
				`DELETE FROM queue WHERE account_id = $1 AND device_id = $2 AND (seq <= $3 OR seq = ANY($4::bigint[]))`,
				acct, dev, int64(min(a.UpTo, store.MaxInt64)), seqs)
			if err != nil {
				return dbErr("ack", err)
			}
			ns[i] = int(tag.RowsAffected())
			if ns[i] > 0 {
				if err := decDepth(ctx, tx, a.Device, ns[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ns, nil
}

func decDepth(ctx context.Context, tx pgx.Tx, addr store.Address, n int) error {
	_, err := tx.Exec(ctx,
		`UPDATE devices SET queue_depth = queue_depth - $1 WHERE account_id = $2 AND device_id = $3`,
		n, addr.Account[:], int64(addr.Device))
	return dbErr("queue depth", err)
}

// QueueDepth implements [store.Queue].
func (s *Store) QueueDepth(ctx context.Context, addr store.Address) (int, error) {
	var n int64
	err := s.pool.QueryRow(ctx,
		`SELECT queue_depth FROM devices WHERE account_id = $1 AND device_id = $2`,
		addr.Account[:], int64(addr.Device)).Scan(&n)
	if err == pgx.ErrNoRows {
		return 0, nil
	}
	return int(n), dbErr("queue depth", err)
}

// ExpireBefore implements [store.Queue]. Depth updates are applied in
// address order, the same order EnqueueBatch locks in.
func (s *Store) ExpireBefore(ctx context.Context, now time.Time) (int, error) {
	cut := ms(now)
	total := 0
	for {
		var n int
		err := s.tx(ctx, func(tx pgx.Tx) error {
			n = 0
			rows, err := tx.Query(ctx,
				`DELETE FROM queue WHERE (account_id, device_id, seq) IN (
				     SELECT account_id, device_id, seq FROM queue WHERE expires_at <= $1 LIMIT $2)
				 RETURNING account_id, device_id`, cut, expireChunk)
			if err != nil {
				return dbErr("expire", err)
			}
			per := make(map[store.Address]int)
			for rows.Next() {
				var (
					acct []byte
					dev  int64
				)
				if err := rows.Scan(&acct, &dev); err != nil {
					rows.Close()
					return dbErr("expire", err)
				}
				per[store.Address{Account: store.AccountID(acct), Device: store.DeviceID(dev)}]++
			}
			if err := rows.Err(); err != nil {
				return dbErr("expire", err)
			}
			addrs := make([]store.Address, 0, len(per))
			for a := range per {
				addrs = append(addrs, a)
			}
			slices.SortFunc(addrs, store.Address.Compare)
			for _, a := range addrs {
				if err := decDepth(ctx, tx, a, per[a]); err != nil {
					return err
				}
				n += per[a]
			}
			return nil
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < expireChunk {
			break
		}
	}
	for {
		tag, err := s.pool.Exec(ctx,
			`DELETE FROM sends WHERE (sender_account, sender_device, client_message_id) IN (
			     SELECT sender_account, sender_device, client_message_id FROM sends WHERE expires_at <= $1 LIMIT $2)`,
			cut, expireChunk)
		if err != nil {
			return total, dbErr("expire sends", err)
		}
		if tag.RowsAffected() < expireChunk {
			return total, nil
		}
	}
}
