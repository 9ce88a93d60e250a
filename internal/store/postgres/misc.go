package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wardchat/ward/internal/store"
)

// PutChallenge implements [store.Challenges].
func (s *Store) PutChallenge(ctx context.Context, c store.Challenge) error {
	if err := store.ValidateChallenge(&c); err != nil {
		return fmt.Errorf("postgres: put challenge: %w", err)
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO challenges (nonce, account_id, device_id, expires_at) VALUES ($1, $2, $3, $4)`,
		c.Nonce, c.Device.Account[:], int64(c.Device.Device), ms(c.ExpiresAt))
	return dbErr("put challenge", err)
}

// ConsumeChallenge implements [store.Challenges]. DELETE ... RETURNING
// makes consumption single-use: a concurrent second DELETE finds no row.
func (s *Store) ConsumeChallenge(ctx context.Context, nonce []byte, now time.Time) (*store.Challenge, error) {
	var (
		acct     []byte
		dev, exp int64
	)
	err := s.pool.QueryRow(ctx,
		`DELETE FROM challenges WHERE nonce = $1 RETURNING account_id, device_id, expires_at`, nonce).
		Scan(&acct, &dev, &exp)
	if err != nil {
		return nil, dbErr("consume challenge", err)
	}
	if exp <= ms(now) {
		return nil, notFound("consume challenge: expired")
	}
	return &store.Challenge{
		Nonce:     nonce,
		Device:    store.Address{Account: store.AccountID(acct), Device: store.DeviceID(dev)},
		ExpiresAt: store.FromMillis(exp),
	}, nil
}

// DeleteExpiredChallenges implements [store.Challenges].
func (s *Store) DeleteExpiredChallenges(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM challenges WHERE expires_at <= $1`, ms(now))
	if err != nil {
		return 0, dbErr("delete expired challenges", err)
	}
	return int(tag.RowsAffected()), nil
}

// CreateBlob implements [store.Blobs].
func (s *Store) CreateBlob(ctx context.Context, b store.Blob) error {
	if err := store.ValidateBlob(&b); err != nil {
		return fmt.Errorf("postgres: create blob: %w", err)
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO blobs (blob_id, uploader, size, sha256, state, created_at, expires_at)
		 VALUES ($1, $2, $3, NULL, 'uploading', $4, $5)`,
		b.ID[:], b.Uploader[:], b.Size, ms(b.CreatedAt), ms(b.ExpiresAt))
	return dbErr("create blob", err)
}

// CompleteBlob implements [store.Blobs].
func (s *Store) CompleteBlob(ctx context.Context, id store.BlobID, size int64, sum [32]byte) error {
	if size < 0 {
		return fmt.Errorf("postgres: complete blob: %w: negative size", store.ErrInvalid)
	}
	tag, err := s.pool.Exec(ctx,
		`UPDATE blobs SET size = $1, sha256 = $2, state = 'complete' WHERE blob_id = $3 AND state = 'uploading'`,
		size, sum[:], id[:])
	if err != nil {
		return dbErr("complete blob", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.Blob(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("postgres: complete blob: already complete: %w", store.ErrConflict)
}

const blobCols = `blob_id, uploader, size, sha256, state, created_at, expires_at`

func scanBlob(row pgx.Row) (store.Blob, error) {
	var (
		b                store.Blob
		id, up, sum      []byte
		state            string
		created, expires int64
	)
	if err := row.Scan(&id, &up, &b.Size, &sum, &state, &created, &expires); err != nil {
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
	b, err := scanBlob(s.pool.QueryRow(ctx, `SELECT `+blobCols+` FROM blobs WHERE blob_id = $1`, id[:]))
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
	rows, err := s.pool.Query(ctx,
		`SELECT `+blobCols+` FROM blobs WHERE expires_at <= $1 ORDER BY expires_at, blob_id LIMIT $2`, ms(now), limit)
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM blobs WHERE blob_id = $1`, id[:])
	if err != nil {
		return dbErr("delete blob", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete blob")
	}
	return nil
}

// Secret implements [store.Secrets].
func (s *Store) Secret(ctx context.Context, name string) ([]byte, uint64, error) {
	var (
		v   []byte
		ver int64
	)
	err := s.pool.QueryRow(ctx, `SELECT value, version FROM server_secrets WHERE name = $1`, name).Scan(&v, &ver)
	if err != nil {
		return nil, 0, dbErr("secret", err)
	}
	return v, uint64(ver), nil
}

// PutSecret implements [store.Secrets] as a single conditional statement:
// INSERT ... ON CONFLICT DO NOTHING to create, UPDATE ... WHERE version = $n
// to replace. Zero rows changed means the version did not match.
func (s *Store) PutSecret(ctx context.Context, name string, value []byte, expectVersion uint64) (uint64, error) {
	if expectVersion >= store.MaxInt64 {
		return 0, fmt.Errorf("postgres: put secret: %w: version out of range", store.ErrInvalid)
	}
	value = nonNil(value)
	var (
		tag pgconn.CommandTag
		err error
	)
	if expectVersion == 0 {
		tag, err = s.pool.Exec(ctx,
			`INSERT INTO server_secrets (name, value, version) VALUES ($1, $2, 1) ON CONFLICT DO NOTHING`, name, value)
	} else {
		tag, err = s.pool.Exec(ctx,
			`UPDATE server_secrets SET value = $1, version = version + 1 WHERE name = $2 AND version = $3`,
			value, name, int64(expectVersion))
	}
	if err != nil {
		return 0, dbErr("put secret", err)
	}
	if tag.RowsAffected() == 0 {
		return 0, fmt.Errorf("postgres: put secret: version is not %d: %w", expectVersion, store.ErrConflict)
	}
	return expectVersion + 1, nil
}
