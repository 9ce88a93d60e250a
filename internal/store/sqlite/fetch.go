package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/wardchat/ward/internal/store"
)

// fetchSQL reads a page of one device's queue.
const fetchSQL = `SELECT seq, message_id, sender_account, sender_device, server_ts, envelope, franking_tag, expires_at
	FROM queue WHERE account_id = ? AND device_id = ? AND seq > ? ORDER BY seq LIMIT ?`

// fetchers are reader connections that each hold the fetch statement,
// prepared once and used through the driver's raw connection. Fetch is
// the stream's store read, and database/sql would cost it a re-prepare on
// every call: the driver clears a statement's bindings after each query,
// and SQLite expires a statement whose plan looked at its parameters (this
// one's does: its ORDER BY over the primary key) when they are cleared, so
// the next step re-parsed and re-planned it (16% of the server's CPU under
// load). Bound afresh without clearing, the statement stays prepared.
type fetchers struct {
	db   *sql.DB
	idle chan *fetcher
}

type fetcher struct {
	c  *sql.Conn
	st *sqlite3.Stmt
}

func openFetchers(ctx context.Context, path string, q map[string][]string, n int) (*fetchers, error) {
	db, err := sql.Open("sqlite3", dsn(path, q))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	f := &fetchers{db: db, idle: make(chan *fetcher, n)}
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("sqlite: fetch connection: %w", err)
		}
		fc := &fetcher{c: c}
		err = c.Raw(func(dc any) error {
			raw, ok := dc.(interface{ Raw() *sqlite3.Conn })
			if !ok {
				return errors.New("driver connection has no Raw method")
			}
			fc.st, _, err = raw.Raw().Prepare(fetchSQL)
			return err
		})
		f.idle <- fc
		if err != nil {
			f.close()
			return nil, fmt.Errorf("sqlite: prepare fetch: %w", err)
		}
	}
	return f, nil
}

// close closes every fetcher; it runs when no Fetch is in progress.
func (f *fetchers) close() error {
	var errs []error
	for {
		select {
		case fc := <-f.idle:
			if fc.st != nil {
				errs = append(errs, fc.c.Raw(func(any) error { return fc.st.Close() }))
			}
			errs = append(errs, fc.c.Close())
			continue
		default:
		}
		break
	}
	errs = append(errs, f.db.Close())
	return errors.Join(errs...)
}

// Fetch implements [store.Queue].
func (s *Store) Fetch(ctx context.Context, addr store.Address, afterSeq uint64, limit int) ([]store.Entry, error) {
	if limit <= 0 || afterSeq >= store.MaxInt64 {
		return nil, nil
	}
	var fc *fetcher
	select {
	case fc = <-s.fetchers.idle:
	case <-ctx.Done():
		return nil, dbErr("fetch", ctx.Err())
	}
	defer func() { s.fetchers.idle <- fc }()
	var out []store.Entry
	err := fc.c.Raw(func(dc any) error {
		st := fc.st
		conn := st.Conn()
		old := conn.SetInterrupt(ctx)
		defer conn.SetInterrupt(old)
		defer st.Reset()
		err := errors.Join(
			st.BindBlob(1, addr.Account[:]),
			st.BindInt64(2, int64(addr.Device)),
			st.BindInt64(3, int64(afterSeq)),
			st.BindInt64(4, int64(limit)))
		if err != nil {
			return err
		}
		for st.Step() {
			var e store.Entry
			e.Seq = uint64(st.ColumnInt64(0))
			copy(e.MessageID[:], st.ColumnRawBlob(1))
			copy(e.Sender.Account[:], st.ColumnRawBlob(2))
			e.Sender.Device = store.DeviceID(st.ColumnInt64(3))
			e.Timestamp = store.FromMillis(st.ColumnInt64(4))
			e.Envelope = st.ColumnBlob(5, []byte{})
			e.FrankingTag = st.ColumnBlob(6, []byte{})
			e.ExpiresAt = store.FromMillis(st.ColumnInt64(7))
			out = append(out, e)
		}
		return st.Err()
	})
	if err != nil {
		return nil, dbErr("fetch", err)
	}
	return out, nil
}
