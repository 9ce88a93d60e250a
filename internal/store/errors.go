package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with errors.Is; implementations
// wrap them with context.
var (
	// ErrNotFound: the account, device, invite, challenge, blob or secret
	// does not exist (or, for a challenge, has expired or was consumed).
	ErrNotFound = errors.New("store: not found")

	// ErrConflict: a unique value is taken (account id, handle, blob id,
	// nonce, invite), a device id is reused with different keys, a blob is
	// already complete, or a compare-and-swap version did not match.
	ErrConflict = errors.New("store: conflict")

	// ErrStaleVersion: a device list version is not greater than the
	// current one.
	ErrStaleVersion = errors.New("store: device list version not greater than current")

	// ErrInviteInvalid: the invite presented at registration does not
	// exist, is used up or has expired.
	ErrInviteInvalid = errors.New("store: invite invalid")

	// ErrQueueFull: a recipient device's queue is at its cap. Returned
	// inside a *DeviceError naming the device.
	ErrQueueFull = errors.New("store: queue full")

	// ErrNoPrekey: the device has no signed prekey or no PQ prekey, so no
	// bundle can be built.
	ErrNoPrekey = errors.New("store: no prekey")

	// ErrInvalid: malformed input (wrong key length, version 0, zero time,
	// unknown enum value). It is a caller bug, never a transient failure.
	ErrInvalid = errors.New("store: invalid argument")
)

// DeviceError reports a per-device failure of a send: the queue of Device is
// full (Err is ErrQueueFull) or Device does not exist (Err is ErrNotFound).
type DeviceError struct {
	Device Address
	Err    error
}

// Error returns "store: device <addr>: <cause>".
func (e *DeviceError) Error() string {
	return fmt.Sprintf("store: device %s: %v", e.Device, e.Err)
}

// Unwrap returns the sentinel.
func (e *DeviceError) Unwrap() error { return e.Err }
