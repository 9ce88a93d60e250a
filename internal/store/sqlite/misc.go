package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wardchat/ward/internal/store"
)

// PutChallenge implements [store.Challenges].
func (s *Store) PutChallenge(ctx context.Context, c store.Challenge) error {
	if err := store.ValidateChallenge(&c); err != nil {
		return fmt.Errorf("sqlite: put challenge: %w", err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO challenges (nonce, account_id, device_id, expires_at) VALUES (?, ?, ?, ?)`,
			c.Nonce, c.Device.Account[:], int64(c.Device.Device), ms(c.ExpiresAt))
		return dbErr("put challenge", err)
	})
}

// ConsumeChallenge implements [store.Challenges].
func (s *Store) ConsumeChallenge(ctx context.Context, nonce []byte, now time.Time) (*store.Challenge, error) {
	var (
		c        store.Challenge
		acct     []byte
		dev, exp int64
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			`DELETE FROM challenges WHERE nonce = ? RETURNING account_id, device_id, expires_at`, nonce).
			Scan(&acct, &dev, &exp)
		return dbErr("consume challenge", err)
	})
	if err != nil {
		return nil, err
	}
	if exp <= ms(now) {
		return nil, notFound("consume challenge: expired")
	}
	c.Nonce = nonce
	copy(c.Device.Account[:], acct)
	c.Device.Device = store.DeviceID(dev)
	c.ExpiresAt = store.FromMillis(exp)
	return &c, nil
}

// DeleteExpiredChallenges implements [store.Challenges].
func (s *Store) DeleteExpiredChallenges(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = affected("delete expired challenges")(tx.ExecContext(ctx,
			`DELETE FROM challenges WHERE expires_at <= ?`, ms(now)))
		return err
	})
	return n, err
}

// CreateBlob implements [store.Blobs].
func (s *Store) CreateBlob(ctx context.Context, b store.Blob) error {
	if err := store.ValidateBlob(&b); err != nil {
		return fmt.Errorf("sqlite: create blob: %w", err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO blobs (blob_id, uploader, size, sha256, state, created_at, expires_at)
			 VALUES (?, ?, ?, NULL, 'uploading', ?, ?)`,
			b.ID[:], b.Uploader[:], b.Size, ms(b.CreatedAt), ms(b.ExpiresAt))
		return dbErr("create blob", err)
	})
}

// CompleteBlob implements [store.Blobs].
func (s *Store) CompleteBlob(ctx context.Context, id store.BlobID, size int64, sum [32]byte) error {
	if size < 0 {
		return fmt.Errorf("sqlite: complete blob: %w: negative size", store.ErrInvalid)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM blobs WHERE blob_id = ?`, id[:]).Scan(&state)
		if err != nil {
			return dbErr("complete blob", err)
		}
		if state != string(store.BlobUploading) {
			return fmt.Errorf("sqlite: complete blob: already %s: %w", state, store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE blobs SET size = ?, sha256 = ?, state = 'complete' WHERE blob_id = ?`, size, sum[:], id[:])
		return dbErr("complete blob", err)
	})
}

const blobCols = `blob_id, uploader, size, sha256, state, created_at, expires_at`

func scanBlob(sc scanner) (store.Blob, error) {
	var (
		b                store.Blob
		id, up, sum      []byte
		state            string
		created, expires int64
	)
	if err := sc.Scan(&id, &up, &b.Size, &sum, &state, &created, &expires); err != nil {
		return b, dbErr("blob", err)
	}
	copy(b.ID[:], id)
	copy(b.Uploader[:], up)
	copy(b.SHA256[:], sum)
	b.State = store.BlobState(state)
	b.CreatedAt = store.FromMillis(created)
	b.ExpiresAt = store.FromMillis(expires)
	return b, nil
}

// Blob implements [store.Blobs].
func (s *Store) Blob(ctx context.Context, id store.BlobID) (*store.Blob, error) {
	b, err := scanBlob(s.r.QueryRowContext(ctx, `SELECT `+blobCols+` FROM blobs WHERE blob_id = ?`, id[:]))
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// ExpiredBlobs implements [store.Blobs].
func (s *Store) ExpiredBlobs(ctx context.Context, now time.Time, limit int) ([]store.Blob, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+blobCols+` FROM blobs WHERE expires_at <= ? ORDER BY expires_at, blob_id LIMIT ?`, ms(now), limit)
	if err != nil {
		return nil, dbErr("expired blobs", err)
	}
	defer rows.Close()
	var out []store.Blob
	for rows.Next() {
		b, err := scanBlob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, dbErr("expired blobs", rows.Err())
}

// DeleteBlob implements [store.Blobs].
func (s *Store) DeleteBlob(ctx context.Context, id store.BlobID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		n, err := affected("delete blob")(tx.ExecContext(ctx, `DELETE FROM blobs WHERE blob_id = ?`, id[:]))
		if err == nil && n == 0 {
			err = notFound("delete blob")
		}
		return err
	})
}

// Secret implements [store.Secrets].
func (s *Store) Secret(ctx context.Context, name string) ([]byte, uint64, error) {
	var (
		v   []byte
		ver int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT value, version FROM server_secrets WHERE name = ?`, name).Scan(&v, &ver)
	if err != nil {
		return nil, 0, dbErr("secret", err)
	}
	return v, uint64(ver), nil
}

// PutSecret implements [store.Secrets].
func (s *Store) PutSecret(ctx context.Context, name string, value []byte, expectVersion uint64) (uint64, error) {
	if expectVersion >= store.MaxInt64 {
		return 0, fmt.Errorf("sqlite: put secret: %w: version out of range", store.ErrInvalid)
	}
	value = nonNil(value)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var cur int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM server_secrets WHERE name = ?`, name).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return dbErr("put secret", err)
		}
		if uint64(cur) != expectVersion {
			return fmt.Errorf("sqlite: put secret: version is %d, not %d: %w", cur, expectVersion, store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO server_secrets (name, value, version) VALUES (?, ?, ?)
			 ON CONFLICT (name) DO UPDATE SET value = excluded.value, version = excluded.version`,
			name, value, int64(expectVersion+1))
		return dbErr("put secret", err)
	})
	if err != nil {
		return 0, err
	}
	return expectVersion + 1, nil
}
