package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wardchat/ward/internal/store"
)

// Prekey kinds in the prekeys table.
const (
	kindSigned     = 0
	kindLastResort = 1
	kindOneTime    = 2
	kindOneTimePQ  = 3
)

func (s *Store) setSingle(ctx context.Context, op string, addr store.Address, kind int, pk store.Prekey) error {
	if err := store.ValidatePrekey(&pk); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := deviceExists(ctx, tx, op, addr); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM prekeys WHERE account_id = ? AND device_id = ? AND kind = ?`,
			addr.Account[:], int64(addr.Device), kind); err != nil {
			return dbErr(op, err)
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO prekeys (account_id, device_id, kind, key_id, key) VALUES (?, ?, ?, ?, ?)`,
			addr.Account[:], int64(addr.Device), kind, int64(pk.ID), pk.Key)
		return dbErr(op, err)
	})
}

// SetSignedPrekey implements [store.Prekeys].
func (s *Store) SetSignedPrekey(ctx context.Context, addr store.Address, pk store.Prekey) error {
	return s.setSingle(ctx, "set signed prekey", addr, kindSigned, pk)
}

// SetLastResortPQPrekey implements [store.Prekeys].
func (s *Store) SetLastResortPQPrekey(ctx context.Context, addr store.Address, pk store.Prekey) error {
	return s.setSingle(ctx, "set last-resort pq prekey", addr, kindLastResort, pk)
}

// AddOneTimePrekeys implements [store.Prekeys].
func (s *Store) AddOneTimePrekeys(ctx context.Context, addr store.Address, x25519, pq []store.Prekey) error {
	const op = "add one-time prekeys"
	for _, set := range [][]store.Prekey{x25519, pq} {
		for i := range set {
			if err := store.ValidatePrekey(&set[i]); err != nil {
				return fmt.Errorf("sqlite: %s: %w", op, err)
			}
		}
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := deviceExists(ctx, tx, op, addr); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx,
			`INSERT INTO prekeys (account_id, device_id, kind, key_id, key) VALUES (?, ?, ?, ?, ?)
			 ON CONFLICT DO NOTHING`)
		if err != nil {
			return dbErr(op, err)
		}
		defer st.Close()
		for kind, set := range map[int][]store.Prekey{kindOneTime: x25519, kindOneTimePQ: pq} {
			for _, pk := range set {
				if _, err := st.ExecContext(ctx, addr.Account[:], int64(addr.Device), kind, int64(pk.ID), pk.Key); err != nil {
					return dbErr(op, err)
				}
			}
		}
		return nil
	})
}

// TakeBundle implements [store.Prekeys]. The single writer makes the
// read-and-delete of one-time prekeys atomic.
func (s *Store) TakeBundle(ctx context.Context, addr store.Address) (*store.Bundle, error) {
	const op = "take bundle"
	var b store.Bundle
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := deviceExists(ctx, tx, op, addr); err != nil {
			return err
		}
		sp, err := selectOne(ctx, tx, addr, kindSigned)
		if err != nil {
			return err
		}
		if sp == nil {
			return fmt.Errorf("sqlite: %s: no signed prekey: %w", op, store.ErrNoPrekey)
		}
		b.SignedPrekey = *sp
		if b.OneTime, err = takeOne(ctx, tx, addr, kindOneTime); err != nil {
			return err
		}
		pq, err := takeOne(ctx, tx, addr, kindOneTimePQ)
		if err != nil {
			return err
		}
		if pq == nil {
			if pq, err = selectOne(ctx, tx, addr, kindLastResort); err != nil {
				return err
			}
			if pq == nil {
				return fmt.Errorf("sqlite: %s: no pq prekey: %w", op, store.ErrNoPrekey)
			}
			b.PQLastResort = true
		}
		b.PQ = *pq
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func selectOne(ctx context.Context, tx *sql.Tx, addr store.Address, kind int) (*store.Prekey, error) {
	var (
		pk store.Prekey
		id int64
	)
	err := tx.QueryRowContext(ctx,
		`SELECT key_id, key FROM prekeys WHERE account_id = ? AND device_id = ? AND kind = ?
		 ORDER BY key_id LIMIT 1`,
		addr.Account[:], int64(addr.Device), kind).Scan(&id, &pk.Key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("prekey", err)
	}
	pk.ID = uint32(id)
	return &pk, nil
}

func takeOne(ctx context.Context, tx *sql.Tx, addr store.Address, kind int) (*store.Prekey, error) {
	var (
		pk store.Prekey
		id int64
	)
	err := tx.QueryRowContext(ctx,
		`DELETE FROM prekeys WHERE rowid = (
		     SELECT rowid FROM prekeys WHERE account_id = ? AND device_id = ? AND kind = ?
		     ORDER BY key_id LIMIT 1)
		 RETURNING key_id, key`,
		addr.Account[:], int64(addr.Device), kind).Scan(&id, &pk.Key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("take prekey", err)
	}
	pk.ID = uint32(id)
	return &pk, nil
}

// PrekeyCounts implements [store.Prekeys].
func (s *Store) PrekeyCounts(ctx context.Context, addr store.Address) (*store.PrekeyCounts, error) {
	const op = "prekey counts"
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer tx.Rollback()
	if err := deviceExists(ctx, tx, op, addr); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT kind, count(*), min(key_id) FROM prekeys WHERE account_id = ? AND device_id = ? GROUP BY kind`,
		addr.Account[:], int64(addr.Device))
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var c store.PrekeyCounts
	for rows.Next() {
		var kind, n, minID int64
		if err := rows.Scan(&kind, &n, &minID); err != nil {
			return nil, dbErr(op, err)
		}
		switch kind {
		case kindSigned:
			c.HasSignedPrekey, c.SignedPrekeyID = true, uint32(minID)
		case kindLastResort:
			c.HasLastResortPQ, c.LastResortPQKeyID = true, uint32(minID)
		case kindOneTime:
			c.OneTime = int(n)
		case kindOneTimePQ:
			c.OneTimePQ = int(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(op, err)
	}
	return &c, nil
}
