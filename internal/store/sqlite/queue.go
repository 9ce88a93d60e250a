package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/internal/plan"
)

// chunk is the most rows one multi-row statement of the send path handles
// (at most 10 parameters a row: far below SQLite's 32766 limit).
const chunk = 64

// expireChunk bounds the rows one ExpireBefore transaction deletes.
const expireChunk = 2000

// Prepared statements of the queue's hot paths, by kind; the multi-row
// kinds are prepared for every row count 1..chunk.
const (
	stLookup  = iota // idempotency records of n keys
	stHeads          // existence, depth and largest seq of n devices
	stEntries        // insert n queue entries
	stSends          // insert n idempotency records
	stSetNext        // store the next sequence number (n = 1 only)
	stAckUpTo        // delete a device's entries up to a seq (n = 1 only)
	stAckOne         // delete one entry (n = 1 only)
	numStmtKinds
)

func buildStmt(kind, n int) string {
	rows := func(row string) string { return strings.Repeat(row+", ", n-1) + row }
	switch kind {
	case stLookup:
		return `SELECT sender_account, sender_device, client_message_id, message_id, server_ts FROM sends
			WHERE (sender_account, sender_device, client_message_id) IN (VALUES ` + rows("(?, ?, ?)") + `)`
	case stHeads:
		return `SELECT d.account_id, d.device_id,
			(SELECT count(*) FROM queue q WHERE q.account_id = d.account_id AND q.device_id = d.device_id),
			(SELECT coalesce(max(seq), 0) FROM queue q WHERE q.account_id = d.account_id AND q.device_id = d.device_id)
			FROM devices d WHERE (d.account_id, d.device_id) IN (VALUES ` + rows("(?, ?)") + `)`
	case stEntries:
		return `INSERT INTO queue (account_id, device_id, seq, message_id, sender_account, sender_device,
			server_ts, envelope, franking_tag, expires_at) VALUES ` + rows("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	case stSends:
		return `INSERT INTO sends (sender_account, sender_device, client_message_id, message_id, server_ts, expires_at)
			VALUES ` + rows("(?, ?, ?, ?, ?, ?)")
	case stSetNext:
		return `UPDATE queue_meta SET next_seq = ? WHERE id = 1`
	case stAckUpTo:
		return `DELETE FROM queue WHERE account_id = ? AND device_id = ? AND seq <= ?`
	case stAckOne:
		return `DELETE FROM queue WHERE account_id = ? AND device_id = ? AND seq = ?`
	}
	panic("sqlite: unknown statement kind")
}

// prepare prepares every multi-row statement of the send path on the
// writer connection. It runs at Open: preparing inside a write transaction
// would wait for the single writer connection the transaction holds.
func (s *Store) prepare(ctx context.Context) error {
	for kind := range numStmtKinds {
		rows := chunk
		if kind >= stSetNext {
			rows = 1
		}
		for n := 1; n <= rows; n++ {
			st, err := s.w.PrepareContext(ctx, buildStmt(kind, n))
			if err != nil {
				return fmt.Errorf("sqlite: prepare: %w", err)
			}
			s.stmts[kind][n-1] = st
		}
	}
	// Point reads of the request path, on the reader pool (database/sql
	// prepares each once per reader connection). Statements whose plan
	// depends on their parameters gain nothing here: the driver clears
	// bindings after each query, which expires them (see fetch.go).
	var err error
	if s.account, err = s.r.PrepareContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE account_id = ?`); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if s.device, err = s.r.PrepareContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE account_id = ? AND device_id = ?`); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	return nil
}

// stmt returns the prepared statement of the given kind for n rows, bound
// to tx.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, kind, n int) (*sql.Stmt, error) {
	return tx.StmtContext(ctx, s.stmts[kind][n-1]), nil
}

// chunked calls fn for consecutive slices of at most chunk of n items.
func chunked(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += chunk {
		if err := fn(lo, min(lo+chunk, n)); err != nil {
			return err
		}
	}
	return nil
}

// EnqueueBatch implements [store.Queue]. The whole batch is one write
// transaction on the single writer connection, so one fsync commits all of
// it, and every step is a handful of multi-row statements. Queue heads come
// from the in-memory cache (see heads.go).
func (s *Store) EnqueueBatch(ctx context.Context, sends []store.Send) []store.Result {
	p := plan.New(sends)
	var (
		states map[store.Address]*plan.DeviceState
		next   uint64
	)
	err := s.writeThen(ctx, func(tx *sql.Tx) error {
		var err error
		states, next, err = s.enqueue(ctx, tx, p)
		return err
	}, func() {
		s.heads.next = next
		for a, st := range states {
			s.heads.set(a, st.Depth, st.Prev)
		}
	})
	return p.Finish(err)
}

func (s *Store) enqueue(ctx context.Context, tx *sql.Tx, p *plan.Plan) (map[store.Address]*plan.DeviceState, uint64, error) {
	sends := p.Sends
	args := make([]any, 0, 10*chunk)

	keys := p.Keys()
	err := chunked(len(keys), func(lo, hi int) error {
		args = args[:0]
		for _, k := range keys[lo:hi] {
			args = append(args, k.Sender.Account[:], int64(k.Sender.Device), k.Client[:])
		}
		st, err := s.stmt(ctx, tx, stLookup, hi-lo)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return dbErr("enqueue: idempotency lookup", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				acct, cid, mid []byte
				dev, ts        int64
			)
			if err := rows.Scan(&acct, &dev, &cid, &mid, &ts); err != nil {
				return dbErr("enqueue: idempotency lookup", err)
			}
			p.MarkDuplicate(plan.Key{
				Sender: store.Address{Account: store.AccountID(acct), Device: store.DeviceID(dev)},
				Client: store.ClientMessageID(cid),
			}, store.MessageID(mid), store.FromMillis(ts))
		}
		return dbErr("enqueue: idempotency lookup", rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}

	// Queue heads: copies of the cached depths (the cache changes only
	// after commit), and for devices not cached yet, existence and depth
	// and largest seq from the database. Every device starts at the
	// store-wide next seq.
	rcpts := p.Recipients()
	states := make(map[store.Address]*plan.DeviceState, len(rcpts))
	var missing []store.Address
	for _, a := range rcpts {
		if h, ok := s.heads.depth[a]; ok {
			states[a] = &plan.DeviceState{NextSeq: s.heads.next, Prev: h.last, Depth: h.depth}
		} else {
			missing = append(missing, a)
		}
	}
	err = chunked(len(missing), func(lo, hi int) error {
		args = args[:0]
		for _, a := range missing[lo:hi] {
			args = append(args, a.Account[:], int64(a.Device))
		}
		st, err := s.stmt(ctx, tx, stHeads, hi-lo)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return dbErr("enqueue: queue heads", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				acct             []byte
				dev, depth, last int64
			)
			if err := rows.Scan(&acct, &dev, &depth, &last); err != nil {
				return dbErr("enqueue: queue heads", err)
			}
			states[store.Address{Account: store.AccountID(acct), Device: store.DeviceID(dev)}] =
				&plan.DeviceState{NextSeq: s.heads.next, Prev: uint64(last), Depth: int(depth)}
		}
		return dbErr("enqueue: queue heads", rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}

	rows := p.Assign(states, s.maxDepth)
	next := s.heads.next
	for _, r := range rows {
		next = max(next, r.Seq+1)
	}
	err = chunked(len(rows), func(lo, hi int) error {
		args = args[:0]
		for _, r := range rows[lo:hi] {
			sd := &sends[r.Send]
			c := &sd.Copies[r.Copy]
			args = append(args, r.To.Account[:], int64(r.To.Device), int64(r.Seq), sd.MessageID[:],
				sd.Sender.Account[:], int64(sd.Sender.Device), ms(sd.Timestamp), c.Envelope, nonNil(c.FrankingTag), ms(sd.ExpiresAt))
		}
		st, err := s.stmt(ctx, tx, stEntries, hi-lo)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, args...)
		return dbErr("enqueue: insert", err)
	})
	if err != nil {
		return nil, 0, err
	}

	acc := p.Accepted()
	err = chunked(len(acc), func(lo, hi int) error {
		args = args[:0]
		for _, i := range acc[lo:hi] {
			sd := &sends[i]
			args = append(args, sd.Sender.Account[:], int64(sd.Sender.Device), sd.ClientMessageID[:],
				sd.MessageID[:], ms(sd.Timestamp), ms(sd.ExpiresAt))
		}
		st, err := s.stmt(ctx, tx, stSends, hi-lo)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, args...)
		return dbErr("enqueue: idempotency record", err)
	})
	if err != nil {
		return nil, 0, err
	}
	if next != s.heads.next {
		if next > store.MaxInt64 {
			return nil, 0, fmt.Errorf("sqlite: enqueue: sequence numbers exhausted")
		}
		st, _ := s.stmt(ctx, tx, stSetNext, 1)
		if _, err := st.ExecContext(ctx, int64(next)); err != nil {
			return nil, 0, dbErr("enqueue: next seq", err)
		}
	}
	return states, next, nil
}

// nonNil stores an absent franking tag as an empty blob (the column is NOT
// NULL), so it reads back as empty rather than nil either way.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Ack implements [store.Queue]. Concurrent Ack and AckSeqs calls share
// transactions: they go through an internal [store.Batcher] into AckBatch,
// so a server acking for thousands of connected devices does not pay one
// fsync per ack. A lone ack is committed at once.
func (s *Store) Ack(ctx context.Context, addr store.Address, uptoSeq uint64) (int, error) {
	if uptoSeq == 0 {
		return 0, nil
	}
	return s.acks.Ack(ctx, store.AckRequest{Device: addr, UpTo: uptoSeq})
}

// AckSeqs implements [store.Queue], batched like Ack.
func (s *Store) AckSeqs(ctx context.Context, addr store.Address, seqs []uint64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	return s.acks.Ack(ctx, store.AckRequest{Device: addr, Seqs: seqs})
}

// AckBatch implements [store.Queue]: one write transaction for all acks.
func (s *Store) AckBatch(ctx context.Context, acks []store.AckRequest) ([]int, error) {
	ns := make([]int, len(acks))
	if len(acks) == 0 {
		return ns, nil
	}
	err := s.writeThen(ctx, func(tx *sql.Tx) error {
		clear(ns)
		upto := tx.StmtContext(ctx, s.stmts[stAckUpTo][0])
		one := tx.StmtContext(ctx, s.stmts[stAckOne][0])
		for i, a := range acks {
			acct, dev := a.Device.Account[:], int64(a.Device.Device)
			if a.UpTo > 0 {
				k, err := affected("ack")(upto.ExecContext(ctx, acct, dev, int64(min(a.UpTo, store.MaxInt64))))
				if err != nil {
					return err
				}
				ns[i] += k
			}
			for _, q := range a.Seqs {
				if q == 0 || q > store.MaxInt64 {
					continue
				}
				k, err := affected("ack")(one.ExecContext(ctx, acct, dev, int64(q)))
				if err != nil {
					return err
				}
				ns[i] += k
			}
		}
		return nil
	}, func() {
		for i, a := range acks {
			s.heads.drop(a.Device, ns[i])
		}
	})
	if err != nil {
		return nil, err
	}
	return ns, nil
}

// QueueDepth implements [store.Queue].
func (s *Store) QueueDepth(ctx context.Context, addr store.Address) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx,
		`SELECT count(*) FROM queue WHERE account_id = ? AND device_id = ?`,
		addr.Account[:], int64(addr.Device)).Scan(&n)
	return n, dbErr("queue depth", err)
}

// ExpireBefore implements [store.Queue].
func (s *Store) ExpireBefore(ctx context.Context, now time.Time) (int, error) {
	cut := ms(now)
	total := 0
	for {
		var (
			n   int
			per map[store.Address]int
		)
		err := s.writeThen(ctx, func(tx *sql.Tx) error {
			n = 0
			rows, err := tx.QueryContext(ctx,
				`DELETE FROM queue WHERE rowid IN (
				     SELECT rowid FROM queue WHERE expires_at <= ? LIMIT ?)
				 RETURNING account_id, device_id`, cut, expireChunk)
			if err != nil {
				return dbErr("expire", err)
			}
			per = make(map[store.Address]int)
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
			rows.Close()
			if err := rows.Err(); err != nil {
				return dbErr("expire", err)
			}
			for _, k := range per {
				n += k
			}
			return nil
		}, func() {
			for a, k := range per {
				s.heads.drop(a, k)
			}
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
		var n int
		err := s.write(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = affected("expire sends")(tx.ExecContext(ctx,
				`DELETE FROM sends WHERE (sender_account, sender_device, client_message_id) IN (
				     SELECT sender_account, sender_device, client_message_id FROM sends WHERE expires_at <= ? LIMIT ?)`,
				cut, expireChunk))
			return err
		})
		if err != nil {
			return total, err
		}
		if n < expireChunk {
			return total, nil
		}
	}
}
