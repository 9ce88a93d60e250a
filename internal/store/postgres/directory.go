package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/internal/plan"
)

// CreateInvite implements [store.Directory].
func (s *Store) CreateInvite(ctx context.Context, inv store.Invite) error {
	if err := store.ValidateInvite(&inv); err != nil {
		return fmt.Errorf("postgres: create invite: %w", err)
	}
	var by []byte
	if inv.CreatedBy != nil {
		by = inv.CreatedBy[:]
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO invites (code_hash, created_by, uses_left, expires_at) VALUES ($1, $2, $3, $4)`,
		inv.CodeHash, by, inv.UsesLeft, ms(inv.ExpiresAt))
	return dbErr("create invite", err)
}

// Invite implements [store.Directory].
func (s *Store) Invite(ctx context.Context, codeHash []byte) (*store.Invite, error) {
	var (
		inv  store.Invite
		by   []byte
		exp  int64
		uses int64
	)
	err := s.pool.QueryRow(ctx,
		`SELECT code_hash, created_by, uses_left, expires_at FROM invites WHERE code_hash = $1`, codeHash).
		Scan(&inv.CodeHash, &by, &uses, &exp)
	if err != nil {
		return nil, dbErr("invite", err)
	}
	if len(by) == store.AccountIDSize {
		id := store.AccountID(by)
		inv.CreatedBy = &id
	}
	inv.UsesLeft = int(uses)
	inv.ExpiresAt = store.FromMillis(exp)
	return &inv, nil
}

// CreateAccount implements [store.Directory].
func (s *Store) CreateAccount(ctx context.Context, a store.NewAccount) error {
	if err := store.ValidateNewAccount(&a); err != nil {
		return fmt.Errorf("postgres: create account: %w", err)
	}
	now := ms(a.CreatedAt)
	return s.tx(ctx, func(tx pgx.Tx) error {
		if a.InviteCodeHash != nil {
			tag, err := tx.Exec(ctx,
				`UPDATE invites SET uses_left = uses_left - 1
				 WHERE code_hash = $1 AND uses_left > 0 AND expires_at > $2`,
				a.InviteCodeHash, now)
			if err != nil {
				return dbErr("consume invite", err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("postgres: create account: %w", store.ErrInviteInvalid)
			}
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO accounts (account_id, handle, handle_norm, age_band, status, identity_key,
			                       device_list_version, device_list, created_at)
			 VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8)`,
			a.ID[:], a.Handle, store.NormalizeHandle(a.Handle), string(a.AgeBand), a.IdentityKey,
			int64(a.DeviceList.Version), a.DeviceList.Signed, now)
		if err != nil {
			return dbErr("create account", err)
		}
		if err := insertHistory(ctx, tx, a.ID, a.DeviceList.Version, a.DeviceList.Signed, now); err != nil {
			return err
		}
		return insertDevices(ctx, tx, a.ID, a.DeviceList.Devices, now)
	})
}

func insertHistory(ctx context.Context, tx pgx.Tx, id store.AccountID, version uint64, signed []byte, at int64) error {
	_, err := tx.Exec(ctx,
		`INSERT INTO device_lists (account_id, version, signed, accepted_at) VALUES ($1, $2, $3, $4)`,
		id[:], int64(version), signed, at)
	return dbErr("device list history", err)
}

func insertDevices(ctx context.Context, tx pgx.Tx, id store.AccountID, ds []store.DeviceKeys, at int64) error {
	for _, d := range ds {
		// A device listed again continues the sequence numbers it had
		// when it was removed (see migration 00002).
		_, err := tx.Exec(ctx,
			`INSERT INTO devices (account_id, device_id, signing_key, identity_key, created_at, last_seen, next_seq)
			 VALUES ($1, $2, $3, $4, $5, $5, coalesce(
			     (SELECT next_seq FROM device_seq_floor WHERE account_id = $1 AND device_id = $2), 1))`,
			id[:], int64(d.ID), d.SigningKey, d.IdentityKey, at)
		if err != nil {
			return dbErr("add device", err)
		}
	}
	return nil
}

const accountCols = `account_id, handle, age_band, status, identity_key, device_list_version, device_list, created_at`

func scanAccount(row pgx.Row) (*store.Account, error) {
	var (
		a       store.Account
		id      []byte
		band    string
		status  string
		version int64
		created int64
	)
	if err := row.Scan(&id, &a.Handle, &band, &status, &a.IdentityKey, &version, &a.DeviceList, &created); err != nil {
		return nil, dbErr("account", err)
	}
	a.ID = store.AccountID(id)
	a.AgeBand = store.AgeBand(band)
	a.Status = store.Status(status)
	a.DeviceListVersion = uint64(version)
	a.CreatedAt = store.FromMillis(created)
	return &a, nil
}

// Account implements [store.Directory].
func (s *Store) Account(ctx context.Context, id store.AccountID) (*store.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE account_id = $1`, id[:]))
}

// AccountByHandle implements [store.Directory].
func (s *Store) AccountByHandle(ctx context.Context, handle string) (*store.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx,
		`SELECT `+accountCols+` FROM accounts WHERE handle_norm = $1`, store.NormalizeHandle(handle)))
}

// SetAccountStatus implements [store.Directory].
func (s *Store) SetAccountStatus(ctx context.Context, id store.AccountID, status store.Status) error {
	if !status.Valid() {
		return fmt.Errorf("postgres: set account status: %w: unknown status %q", store.ErrInvalid, status)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE accounts SET status = $1 WHERE account_id = $2`, string(status), id[:])
	if err != nil {
		return dbErr("set account status", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("set account status")
	}
	return nil
}

// PublishDeviceList implements [store.Directory]. The account row is locked
// first, so concurrent publishers are serialised and exactly one of two
// publishers of the same version wins.
func (s *Store) PublishDeviceList(ctx context.Context, id store.AccountID, u store.DeviceListUpdate) error {
	if err := store.ValidateDeviceListUpdate(&u); err != nil {
		return fmt.Errorf("postgres: publish device list: %w", err)
	}
	at := ms(u.At)
	return s.tx(ctx, func(tx pgx.Tx) error {
		var cur int64
		err := tx.QueryRow(ctx,
			`SELECT device_list_version FROM accounts WHERE account_id = $1 FOR UPDATE`, id[:]).Scan(&cur)
		if err != nil {
			return dbErr("publish device list", err)
		}
		if u.Version <= uint64(cur) {
			return fmt.Errorf("postgres: publish device list: version %d after %d: %w", u.Version, cur, store.ErrStaleVersion)
		}
		current, err := deviceKeys(ctx, tx, id)
		if err != nil {
			return err
		}
		add, remove, err := plan.DiffDevices(current, u.Devices)
		if err != nil {
			return fmt.Errorf("postgres: publish device list: %w", err)
		}
		for _, d := range remove {
			if _, err := tx.Exec(ctx,
				`INSERT INTO device_seq_floor (account_id, device_id, next_seq)
				 SELECT account_id, device_id, next_seq FROM devices WHERE account_id = $1 AND device_id = $2
				 ON CONFLICT (account_id, device_id) DO UPDATE SET next_seq = excluded.next_seq`,
				id[:], int64(d)); err != nil {
				return dbErr("remove device", err)
			}
			if _, err := tx.Exec(ctx,
				`DELETE FROM devices WHERE account_id = $1 AND device_id = $2`, id[:], int64(d)); err != nil {
				return dbErr("remove device", err)
			}
		}
		if err := insertDevices(ctx, tx, id, add, at); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`UPDATE accounts SET device_list_version = $1, device_list = $2 WHERE account_id = $3`,
			int64(u.Version), u.Signed, id[:]); err != nil {
			return dbErr("publish device list", err)
		}
		return insertHistory(ctx, tx, id, u.Version, u.Signed, at)
	})
}

func deviceKeys(ctx context.Context, tx pgx.Tx, id store.AccountID) ([]store.DeviceKeys, error) {
	rows, err := tx.Query(ctx,
		`SELECT device_id, signing_key, identity_key FROM devices WHERE account_id = $1`, id[:])
	if err != nil {
		return nil, dbErr("devices", err)
	}
	var ds []store.DeviceKeys
	for rows.Next() {
		var (
			d   store.DeviceKeys
			did int64
		)
		if err := rows.Scan(&did, &d.SigningKey, &d.IdentityKey); err != nil {
			rows.Close()
			return nil, dbErr("devices", err)
		}
		d.ID = store.DeviceID(did)
		ds = append(ds, d)
	}
	return ds, dbErr("devices", rows.Err())
}

// DeviceListHistory implements [store.Directory].
func (s *Store) DeviceListHistory(ctx context.Context, id store.AccountID, afterVersion uint64, limit int) ([]store.DeviceListVersion, error) {
	if afterVersion > store.MaxInt64 {
		return nil, nil
	}
	var lim *int64
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	rows, err := s.pool.Query(ctx,
		`SELECT version, signed, accepted_at FROM device_lists
		 WHERE account_id = $1 AND version > $2 ORDER BY version LIMIT $3`,
		id[:], int64(afterVersion), lim)
	if err != nil {
		return nil, dbErr("device list history", err)
	}
	defer rows.Close()
	var out []store.DeviceListVersion
	for rows.Next() {
		var (
			v           store.DeviceListVersion
			version, at int64
		)
		if err := rows.Scan(&version, &v.Signed, &at); err != nil {
			return nil, dbErr("device list history", err)
		}
		v.Version = uint64(version)
		v.AcceptedAt = store.FromMillis(at)
		out = append(out, v)
	}
	return out, dbErr("device list history", rows.Err())
}

const deviceCols = `device_id, signing_key, identity_key, created_at, last_seen`

func scanDevice(row pgx.Row) (store.Device, error) {
	var (
		d             store.Device
		did           int64
		created, seen int64
	)
	if err := row.Scan(&did, &d.SigningKey, &d.IdentityKey, &created, &seen); err != nil {
		return d, dbErr("device", err)
	}
	d.ID = store.DeviceID(did)
	d.CreatedAt = store.FromMillis(created)
	d.LastSeen = store.FromMillis(seen)
	return d, nil
}

// Devices implements [store.Directory].
func (s *Store) Devices(ctx context.Context, id store.AccountID) ([]store.Device, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+deviceCols+` FROM devices WHERE account_id = $1 ORDER BY device_id`, id[:])
	if err != nil {
		return nil, dbErr("devices", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, dbErr("devices", rows.Err())
}

// Device implements [store.Directory].
func (s *Store) Device(ctx context.Context, addr store.Address) (*store.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx,
		`SELECT `+deviceCols+` FROM devices WHERE account_id = $1 AND device_id = $2`,
		addr.Account[:], int64(addr.Device)))
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// TouchDevice implements [store.Directory].
func (s *Store) TouchDevice(ctx context.Context, addr store.Address, at time.Time) error {
	if err := store.CheckTime(at); err != nil {
		return fmt.Errorf("postgres: touch device: %w", err)
	}
	tag, err := s.pool.Exec(ctx,
		`UPDATE devices SET last_seen = $1 WHERE account_id = $2 AND device_id = $3`,
		ms(at), addr.Account[:], int64(addr.Device))
	if err != nil {
		return dbErr("touch device", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("touch device")
	}
	return nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// deviceExists reports ErrNotFound for an unknown device.
func deviceExists(ctx context.Context, q querier, op string, addr store.Address) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM devices WHERE account_id = $1 AND device_id = $2`,
		addr.Account[:], int64(addr.Device)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(op)
	}
	return dbErr(op, err)
}
