package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/internal/plan"
)

// entryChunk is the number of rows in one multi-row INSERT into queue.
const entryChunk = 64

// expireChunk bounds the rows one ExpireBefore transaction deletes.
const expireChunk = 2000

const entryCols = `(account_id, device_id, seq, message_id, sender_account, sender_device, server_ts, envelope, franking_tag, expires_at)`

func (s *Store) prepare(ctx context.Context) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = s.w.PrepareContext(ctx, q)
		return st
	}
	s.stLockSend = prep(`SELECT message_id, server_ts FROM sends
		WHERE sender_account = ? AND sender_device = ? AND client_message_id = ?`)
	s.stInsSend = prep(`INSERT INTO sends (sender_account, sender_device, client_message_id, message_id, server_ts, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`)
	s.stHead = prep(`SELECT next_seq, queue_depth FROM devices WHERE account_id = ? AND device_id = ?`)
	s.stSetHead = prep(`UPDATE devices SET next_seq = ?, queue_depth = ? WHERE account_id = ? AND device_id = ?`)
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	s.stInsEntries = prep(`INSERT INTO queue ` + entryCols + ` VALUES ` + strings.Repeat(row+", ", entryChunk-1) + row)
	s.stInsEntry = prep(`INSERT INTO queue ` + entryCols + ` VALUES ` + row)
	if err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	return nil
}

// EnqueueBatch implements [store.Queue]. The whole batch is one write
// transaction on the single writer connection: one fsync for all of it.
func (s *Store) EnqueueBatch(ctx context.Context, sends []store.Send) []store.Result {
	p := plan.New(sends)
	err := s.write(ctx, func(tx *sql.Tx) error {
		lookup := tx.StmtContext(ctx, s.stLockSend)
		for _, k := range p.Keys() {
			var (
				id []byte
				ts int64
			)
			err := lookup.QueryRowContext(ctx, k.Sender.Account[:], int64(k.Sender.Device), k.Client[:]).Scan(&id, &ts)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return dbErr("enqueue: idempotency lookup", err)
			}
			p.MarkDuplicate(k, store.MessageID(id), store.FromMillis(ts))
		}

		head := tx.StmtContext(ctx, s.stHead)
		states := make(map[store.Address]*plan.DeviceState)
		for _, a := range p.Recipients() {
			var next, depth int64
			err := head.QueryRowContext(ctx, a.Account[:], int64(a.Device)).Scan(&next, &depth)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return dbErr("enqueue: queue head", err)
			}
			states[a] = &plan.DeviceState{NextSeq: uint64(next), Depth: int(depth)}
		}
		rows := p.Assign(states, s.maxDepth)

		if err := s.insertEntries(ctx, tx, sends, rows); err != nil {
			return err
		}
		ins := tx.StmtContext(ctx, s.stInsSend)
		for _, i := range p.Accepted() {
			sd := &sends[i]
			if _, err := ins.ExecContext(ctx, sd.Sender.Account[:], int64(sd.Sender.Device), sd.ClientMessageID[:],
				sd.MessageID[:], ms(sd.Timestamp), ms(sd.ExpiresAt)); err != nil {
				return dbErr("enqueue: idempotency record", err)
			}
		}
		set := tx.StmtContext(ctx, s.stSetHead)
		for a, st := range states {
			if !st.Changed {
				continue
			}
			if _, err := set.ExecContext(ctx, int64(st.NextSeq), st.Depth, a.Account[:], int64(a.Device)); err != nil {
				return dbErr("enqueue: queue head", err)
			}
		}
		return nil
	})
	return p.Finish(err)
}

func (s *Store) insertEntries(ctx context.Context, tx *sql.Tx, sends []store.Send, rows []plan.Row) error {
	args := make([]any, 0, 10*entryChunk)
	add := func(r plan.Row) {
		sd := &sends[r.Send]
		c := &sd.Copies[r.Copy]
		args = append(args, r.To.Account[:], int64(r.To.Device), int64(r.Seq), sd.MessageID[:],
			sd.Sender.Account[:], int64(sd.Sender.Device), ms(sd.Timestamp), c.Envelope, nonNil(c.FrankingTag), ms(sd.ExpiresAt))
	}
	many := tx.StmtContext(ctx, s.stInsEntries)
	for len(rows) >= entryChunk {
		args = args[:0]
		for _, r := range rows[:entryChunk] {
			add(r)
		}
		if _, err := many.ExecContext(ctx, args...); err != nil {
			return dbErr("enqueue: insert", err)
		}
		rows = rows[entryChunk:]
	}
	one := tx.StmtContext(ctx, s.stInsEntry)
	for _, r := range rows {
		args = args[:0]
		add(r)
		if _, err := one.ExecContext(ctx, args...); err != nil {
			return dbErr("enqueue: insert", err)
		}
	}
	return nil
}

// nonNil stores an absent franking tag as an empty blob (the column is NOT
// NULL), so it reads back as empty rather than nil either way.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Fetch implements [store.Queue].
func (s *Store) Fetch(ctx context.Context, addr store.Address, afterSeq uint64, limit int) ([]store.Entry, error) {
	if limit <= 0 || afterSeq >= store.MaxInt64 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT seq, message_id, sender_account, sender_device, server_ts, envelope, franking_tag, expires_at
		 FROM queue WHERE account_id = ? AND device_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
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
		copy(e.MessageID[:], mid)
		copy(e.Sender.Account[:], sacct)
		e.Sender.Device = store.DeviceID(sdev)
		e.Timestamp = store.FromMillis(ts)
		e.ExpiresAt = store.FromMillis(exp)
		out = append(out, e)
	}
	return out, dbErr("fetch", rows.Err())
}

// Ack implements [store.Queue].
func (s *Store) Ack(ctx context.Context, addr store.Address, uptoSeq uint64) (int, error) {
	if uptoSeq == 0 {
		return 0, nil
	}
	if uptoSeq > store.MaxInt64 {
		uptoSeq = store.MaxInt64
	}
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = affected("ack")(tx.ExecContext(ctx,
			`DELETE FROM queue WHERE account_id = ? AND device_id = ? AND seq <= ?`,
			addr.Account[:], int64(addr.Device), int64(uptoSeq)))
		if err != nil || n == 0 {
			return err
		}
		return decDepth(ctx, tx, addr, n)
	})
	return n, err
}

// AckSeqs implements [store.Queue].
func (s *Store) AckSeqs(ctx context.Context, addr store.Address, seqs []uint64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `DELETE FROM queue WHERE account_id = ? AND device_id = ? AND seq = ?`)
		if err != nil {
			return dbErr("ack", err)
		}
		defer st.Close()
		n = 0
		for _, seq := range seqs {
			if seq == 0 || seq > store.MaxInt64 {
				continue
			}
			k, err := affected("ack")(st.ExecContext(ctx, addr.Account[:], int64(addr.Device), int64(seq)))
			if err != nil {
				return err
			}
			n += k
		}
		if n == 0 {
			return nil
		}
		return decDepth(ctx, tx, addr, n)
	})
	return n, err
}

func decDepth(ctx context.Context, tx *sql.Tx, addr store.Address, n int) error {
	_, err := tx.ExecContext(ctx,
		`UPDATE devices SET queue_depth = queue_depth - ? WHERE account_id = ? AND device_id = ?`,
		n, addr.Account[:], int64(addr.Device))
	return dbErr("queue depth", err)
}

// QueueDepth implements [store.Queue].
func (s *Store) QueueDepth(ctx context.Context, addr store.Address) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx,
		`SELECT queue_depth FROM devices WHERE account_id = ? AND device_id = ?`,
		addr.Account[:], int64(addr.Device)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, dbErr("queue depth", err)
}

// ExpireBefore implements [store.Queue].
func (s *Store) ExpireBefore(ctx context.Context, now time.Time) (int, error) {
	cut := ms(now)
	total := 0
	for {
		var n int
		err := s.write(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx,
				`DELETE FROM queue WHERE rowid IN (
				     SELECT rowid FROM queue WHERE expires_at <= ? LIMIT ?)
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
			rows.Close()
			if err := rows.Err(); err != nil {
				return dbErr("expire", err)
			}
			for a, k := range per {
				if err := decDepth(ctx, tx, a, k); err != nil {
					return err
				}
				n += k
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
