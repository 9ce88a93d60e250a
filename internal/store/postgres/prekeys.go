package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wardchat/ward/internal/store"
)

// Prekey kinds in the prekeys table (same values as the SQLite schema).
const (
	kindSigned     = 0
	kindLastResort = 1
	kindOneTime    = 2
	kindOneTimePQ  = 3
)

func (s *Store) setSingle(ctx context.Context, op string, addr store.Address, kind int, pk store.Prekey) error {
	if err := store.ValidatePrekey(&pk); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		// Lock the device row: concurrent setters serialise, and a device
		// removed meanwhile is reported as not found.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM devices WHERE account_id = $1 AND device_id = $2 FOR UPDATE`,
			addr.Account[:], int64(addr.Device)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(op)
		}
		if err != nil {
			return dbErr(op, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM prekeys WHERE account_id = $1 AND device_id = $2 AND kind = $3`,
			addr.Account[:], int64(addr.Device), kind); err != nil {
			return dbErr(op, err)
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO prekeys (account_id, device_id, kind, key_id, key) VALUES ($1, $2, $3, $4, $5)`,
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

// AddOneTimePrekeys implements [store.Prekeys]: one multi-row insert.
func (s *Store) AddOneTimePrekeys(ctx context.Context, addr store.Address, x25519, pq []store.Prekey) error {
	const op = "add one-time prekeys"
	var (
		kinds []int64
		ids   []int64
		keys  [][]byte
	)
	for kind, set := range map[int64][]store.Prekey{kindOneTime: x25519, kindOneTimePQ: pq} {
		for i := range set {
			if err := store.ValidatePrekey(&set[i]); err != nil {
				return fmt.Errorf("postgres: %s: %w", op, err)
			}
			kinds = append(kinds, kind)
			ids = append(ids, int64(set[i].ID))
			keys = append(keys, set[i].Key)
		}
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := deviceExists(ctx, tx, op, addr); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO prekeys (account_id, device_id, kind, key_id, key)
			 SELECT $1, $2, k.kind, k.key_id, k.key FROM unnest($3::bigint[], $4::bigint[], $5::bytea[]) AS k(kind, key_id, key)
			 ON CONFLICT DO NOTHING`,
			addr.Account[:], int64(addr.Device), kinds, ids, keys)
		return dbErr(op, err)
	})
}

// TakeBundle implements [store.Prekeys]. One-time prekeys are taken with
// DELETE ... RETURNING on a row picked FOR UPDATE SKIP LOCKED: concurrent
// takers each lock a different row, so no key is handed out twice and no
// taker comes back empty-handed while an unlocked key remains.
func (s *Store) TakeBundle(ctx context.Context, addr store.Address) (*store.Bundle, error) {
	const op = "take bundle"
	var b store.Bundle
	err := s.tx(ctx, func(tx pgx.Tx) error {
		b = store.Bundle{}
		if err := deviceExists(ctx, tx, op, addr); err != nil {
			return err
		}
		sp, err := selectOne(ctx, tx, addr, kindSigned)
		if err != nil {
			return err
		}
		if sp == nil {
			return fmt.Errorf("postgres: %s: no signed prekey: %w", op, store.ErrNoPrekey)
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
				return fmt.Errorf("postgres: %s: no pq prekey: %w", op, store.ErrNoPrekey)
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

func selectOne(ctx context.Context, tx pgx.Tx, addr store.Address, kind int) (*store.Prekey, error) {
	var (
		pk store.Prekey
		id int64
	)
	err := tx.QueryRow(ctx,
		`SELECT key_id, key FROM prekeys WHERE account_id = $1 AND device_id = $2 AND kind = $3
		 ORDER BY key_id LIMIT 1`,
		addr.Account[:], int64(addr.Device), kind).Scan(&id, &pk.Key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("prekey", err)
	}
	pk.ID = uint32(id)
	return &pk, nil
}

func takeOne(ctx context.Context, tx pgx.Tx, addr store.Address, kind int) (*store.Prekey, error) {
	var (
		pk store.Prekey
		id int64
	)
	err := tx.QueryRow(ctx,
		`DELETE FROM prekeys
		 WHERE account_id = $1 AND device_id = $2 AND kind = $3 AND key_id = (
		     SELECT key_id FROM prekeys WHERE account_id = $1 AND device_id = $2 AND kind = $3
		     ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
		 RETURNING key_id, key`,
		addr.Account[:], int64(addr.Device), kind).Scan(&id, &pk.Key)
	if errors.Is(err, pgx.ErrNoRows) {
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
	var c store.PrekeyCounts
	err := s.tx(ctx, func(tx pgx.Tx) error {
		c = store.PrekeyCounts{}
		if err := deviceExists(ctx, tx, op, addr); err != nil {
			return err
		}
		rows, err := tx.Query(ctx,
			`SELECT kind, count(*), min(key_id) FROM prekeys WHERE account_id = $1 AND device_id = $2 GROUP BY kind`,
			addr.Account[:], int64(addr.Device))
		if err != nil {
			return dbErr(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var kind, n, minID int64
			if err := rows.Scan(&kind, &n, &minID); err != nil {
				return dbErr(op, err)
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
		return dbErr(op, rows.Err())
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}
