package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/internal/plan"
)

// CreateInvite implements [store.Directory].
func (s *Store) CreateInvite(ctx context.Context, inv store.Invite) error {
	if err := store.ValidateInvite(&inv); err != nil {
		return fmt.Errorf("sqlite: create invite: %w", err)
	}
	var by []byte
	if inv.CreatedBy != nil {
		by = inv.CreatedBy[:]
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO invites (code_hash, created_by, uses_left, expires_at) VALUES (?, ?, ?, ?)`,
			inv.CodeHash, by, inv.UsesLeft, ms(inv.ExpiresAt))
		return dbErr("create invite", err)
	})
}

// Invite implements [store.Directory].
func (s *Store) Invite(ctx context.Context, codeHash []byte) (*store.Invite, error) {
	var (
		inv store.Invite
		by  []byte
		exp int64
	)
	err := s.r.QueryRowContext(ctx,
		`SELECT code_hash, created_by, uses_left, expires_at FROM invites WHERE code_hash = ?`, codeHash).
		Scan(&inv.CodeHash, &by, &inv.UsesLeft, &exp)
	if err != nil {
		return nil, dbErr("invite", err)
	}
	if len(by) == store.AccountIDSize {
		var id store.AccountID
		copy(id[:], by)
		inv.CreatedBy = &id
	}
	inv.ExpiresAt = store.FromMillis(exp)
	return &inv, nil
}

// CreateAccount implements [store.Directory].
func (s *Store) CreateAccount(ctx context.Context, a store.NewAccount) error {
	if err := store.ValidateNewAccount(&a); err != nil {
		return fmt.Errorf("sqlite: create account: %w", err)
	}
	now := ms(a.CreatedAt)
	return s.write(ctx, func(tx *sql.Tx) error {
		if a.InviteCodeHash != nil {
			n, err := affected("consume invite")(tx.ExecContext(ctx,
				`UPDATE invites SET uses_left = uses_left - 1
				 WHERE code_hash = ? AND uses_left > 0 AND expires_at > ?`,
				a.InviteCodeHash, now))
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("sqlite: create account: %w", store.ErrInviteInvalid)
			}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO accounts (account_id, handle, handle_norm, age_band, status, identity_key,
			                       device_list_version, device_list, created_at)
			 VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?)`,
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

func insertHistory(ctx context.Context, tx *sql.Tx, id store.AccountID, version uint64, signed []byte, at int64) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO device_lists (account_id, version, signed, accepted_at) VALUES (?, ?, ?, ?)`,
		id[:], int64(version), signed, at)
	return dbErr("device list history", err)
}

func insertDevices(ctx context.Context, tx *sql.Tx, id store.AccountID, ds []store.DeviceKeys, at int64) error {
	for _, d := range ds {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO devices (account_id, device_id, signing_key, identity_key, created_at, last_seen)
			 VALUES (?, ?, ?, ?, ?, ?)`,
			id[:], int64(d.ID), d.SigningKey, d.IdentityKey, at, at)
		if err != nil {
			return dbErr("add device", err)
		}
	}
	return nil
}

const accountCols = `account_id, handle, age_band, status, identity_key, device_list_version, device_list, created_at`

func scanAccount(row *sql.Row) (*store.Account, error) {
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
	copy(a.ID[:], id)
	a.AgeBand = store.AgeBand(band)
	a.Status = store.Status(status)
	a.DeviceListVersion = uint64(version)
	a.CreatedAt = store.FromMillis(created)
	return &a, nil
}

// Account implements [store.Directory].
func (s *Store) Account(ctx context.Context, id store.AccountID) (*store.Account, error) {
	return scanAccount(s.account.QueryRowContext(ctx, id[:]))
}

// AccountByHandle implements [store.Directory].
func (s *Store) AccountByHandle(ctx context.Context, handle string) (*store.Account, error) {
	return scanAccount(s.r.QueryRowContext(ctx,
		`SELECT `+accountCols+` FROM accounts WHERE handle_norm = ?`, store.NormalizeHandle(handle)))
}

// SetAccountStatus implements [store.Directory].
func (s *Store) SetAccountStatus(ctx context.Context, id store.AccountID, status store.Status) error {
	if !status.Valid() {
		return fmt.Errorf("sqlite: set account status: %w: unknown status %q", store.ErrInvalid, status)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		n, err := affected("set account status")(tx.ExecContext(ctx,
			`UPDATE accounts SET status = ? WHERE account_id = ?`, string(status), id[:]))
		if err == nil && n == 0 {
			err = notFound("set account status")
		}
		return err
	})
}

// PublishDeviceList implements [store.Directory].
func (s *Store) PublishDeviceList(ctx context.Context, id store.AccountID, u store.DeviceListUpdate) error {
	if err := store.ValidateDeviceListUpdate(&u); err != nil {
		return fmt.Errorf("sqlite: publish device list: %w", err)
	}
	at := ms(u.At)
	var removed []store.DeviceID
	return s.writeThen(ctx, func(tx *sql.Tx) error {
		removed = nil
		var cur int64
		err := tx.QueryRowContext(ctx,
			`SELECT device_list_version FROM accounts WHERE account_id = ?`, id[:]).Scan(&cur)
		if err != nil {
			return dbErr("publish device list", err)
		}
		if u.Version <= uint64(cur) {
			return fmt.Errorf("sqlite: publish device list: version %d after %d: %w", u.Version, cur, store.ErrStaleVersion)
		}
		current, err := deviceKeys(ctx, tx, id)
		if err != nil {
			return err
		}
		add, remove, err := plan.DiffDevices(current, u.Devices)
		if err != nil {
			return fmt.Errorf("sqlite: publish device list: %w", err)
		}
		removed = remove
		for _, d := range remove {
			// The queue has no foreign key (see the schema): delete its
			// entries explicitly; prekeys and challenges cascade.
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM queue WHERE account_id = ? AND device_id = ?`, id[:], int64(d)); err != nil {
				return dbErr("remove device", err)
			}
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM devices WHERE account_id = ? AND device_id = ?`, id[:], int64(d)); err != nil {
				return dbErr("remove device", err)
			}
		}
		if err := insertDevices(ctx, tx, id, add, at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE accounts SET device_list_version = ?, device_list = ? WHERE account_id = ?`,
			int64(u.Version), u.Signed, id[:]); err != nil {
			return dbErr("publish device list", err)
		}
		return insertHistory(ctx, tx, id, u.Version, u.Signed, at)
	}, func() {
		// The removed devices' queues are gone: forget their cached
		// heads, so a send to them finds the device missing.
		for _, d := range removed {
			delete(s.heads.depth, store.Address{Account: id, Device: d})
		}
	})
}

func deviceKeys(ctx context.Context, tx *sql.Tx, id store.AccountID) ([]store.DeviceKeys, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT device_id, signing_key, identity_key FROM devices WHERE account_id = ?`, id[:])
	if err != nil {
		return nil, dbErr("devices", err)
	}
	defer rows.Close()
	var ds []store.DeviceKeys
	for rows.Next() {
		var (
			d   store.DeviceKeys
			did int64
		)
		if err := rows.Scan(&did, &d.SigningKey, &d.IdentityKey); err != nil {
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
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT version, signed, accepted_at FROM device_lists
		 WHERE account_id = ? AND version > ? ORDER BY version LIMIT ?`,
		id[:], int64(afterVersion), limit)
	if err != nil {
		return nil, dbErr("device list history", err)
	}
	defer rows.Close()
	var out []store.DeviceListVersion
	for rows.Next() {
		var (
			v       store.DeviceListVersion
			version int64
			at      int64
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

type scanner interface{ Scan(...any) error }

func scanDevice(sc scanner) (store.Device, error) {
	var (
		d             store.Device
		did           int64
		created, seen int64
	)
	if err := sc.Scan(&did, &d.SigningKey, &d.IdentityKey, &created, &seen); err != nil {
		return d, dbErr("device", err)
	}
	d.ID = store.DeviceID(did)
	d.CreatedAt = store.FromMillis(created)
	d.LastSeen = store.FromMillis(seen)
	return d, nil
}

// Devices implements [store.Directory].
func (s *Store) Devices(ctx context.Context, id store.AccountID) ([]store.Device, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+deviceCols+` FROM devices WHERE account_id = ? ORDER BY device_id`, id[:])
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
	d, err := scanDevice(s.device.QueryRowContext(ctx, addr.Account[:], int64(addr.Device)))
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// TouchDevice implements [store.Directory].
func (s *Store) TouchDevice(ctx context.Context, addr store.Address, at time.Time) error {
	if err := store.CheckTime(at); err != nil {
		return fmt.Errorf("sqlite: touch device: %w", err)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		n, err := affected("touch device")(tx.ExecContext(ctx,
			`UPDATE devices SET last_seen = ? WHERE account_id = ? AND device_id = ?`,
			ms(at), addr.Account[:], int64(addr.Device)))
		if err == nil && n == 0 {
			err = notFound("touch device")
		}
		return err
	})
}

// deviceExists reports ErrNotFound for an unknown device, inside tx.
func deviceExists(ctx context.Context, tx *sql.Tx, op string, addr store.Address) error {
	var one int
	err := tx.QueryRowContext(ctx,
		`SELECT 1 FROM devices WHERE account_id = ? AND device_id = ?`,
		addr.Account[:], int64(addr.Device)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(op)
	}
	return dbErr(op, err)
}
