// Package store is the storage layer of the Ward server (wardd): the
// directory (accounts, handles, devices, signed device lists, prekeys),
// device authentication challenges, the durable per-device delivery queue,
// attachment blob metadata and a small key/value table for server-private
// state.
//
// # What is stored
//
// The server never stores plaintext or private keys (DESIGN.md, section 1).
// Everything this package keeps is either public (identity and prekey public
// keys, signed device lists), metadata the server needs for delivery and
// safety (who sent to whom and when, sizes), or opaque ciphertext (queue
// envelopes). Signed device lists and prekeys are opaque bytes here: the
// server layer verifies signatures before it calls the store, and the store
// only enforces the invariants that need a transaction (version monotonicity,
// atomic one-time prekey handout, all-or-none fan-out).
//
// # Implementations
//
// [Store] is implemented twice, and one contract suite (package storetest)
// runs against both:
//
//   - internal/store/sqlite: embedded SQLite in WAL mode, one writer
//     connection and a pool of readers. This is the single-node default.
//   - internal/store/postgres: PostgreSQL through pgxpool, with SQL kept
//     portable to CockroachDB, for many server nodes sharing one database.
//
// Both apply their versioned schema migrations (goose, embedded) when opened.
//
// # Using it
//
//	st, err := sqlite.Open(ctx, sqlite.Config{Path: "ward-data/ward.db"})
//	if err != nil { ... }
//	defer st.Close()
//
//	b := store.NewBatcher(st, store.BatcherConfig{})
//	defer b.Close()
//	res, err := b.Enqueue(ctx, send) // committed when it returns nil
//
// Sends (and acks) should go through a [Batcher]: it gathers concurrent
// sends and commits them in one transaction ([Queue.EnqueueBatch]; acks with
// [Queue.AckBatch]) so that a durable commit (one fsync on SQLite) is shared
// by many messages. A lone send is committed at once; under load the batch
// is whatever arrived while the previous one committed.
//
// # Errors
//
// Methods return the sentinel errors below, possibly wrapped; branch on them
// with [errors.Is]. Per-device failures of a send are reported as a
// [*DeviceError] that names the device and wraps the sentinel. Any other
// error is an I/O or database failure: the operation may or may not have
// taken effect, and the caller should retry it. Writes are idempotent or
// answer a retry of a committed write with a precise sentinel (ErrConflict,
// ErrStaleVersion, a Duplicate result); the exception is TakeBundle, whose
// retry hands out another one-time prekey.
//
// # Times and identifiers
//
// Times are stored with millisecond precision (Unix milliseconds) and are
// returned in UTC; a time passed in is truncated to the millisecond.
// Identifiers are fixed-size byte arrays ([AccountID], [MessageID], [BlobID]);
// device ids are uint32 and versions and sequence numbers uint64 limited to
// 1..2^63-1 (both databases store them as signed 64-bit integers).
package store

import (
	"context"
	"time"
)

// Store is the whole storage layer. Implementations are safe for concurrent
// use by many goroutines.
type Store interface {
	Directory
	Prekeys
	Challenges
	Queue
	Blobs
	Secrets

	// Ping checks that the database answers (for readiness probes).
	Ping(ctx context.Context) error

	// Close releases the database handles. Operations in flight may fail.
	Close() error
}

// Directory holds accounts, handles, invites, devices and device lists.
//
// Durability: every method that returns nil has committed its change.
type Directory interface {
	// CreateInvite stores a registration invite. It returns ErrConflict if
	// an invite with the same code hash exists and ErrInvalid if Uses < 1 or
	// the code hash is empty.
	CreateInvite(ctx context.Context, inv Invite) error

	// Invite returns the invite with the given code hash, or ErrNotFound.
	Invite(ctx context.Context, codeHash []byte) (*Invite, error)

	// CreateAccount registers an account together with its first device
	// list and devices, in one transaction. When a.InviteCodeHash is set,
	// one use of that invite is consumed in the same transaction: the
	// account is created if and only if a use was taken, so an invite with
	// n uses admits at most n accounts under any concurrency.
	//
	// Errors: ErrConflict if the account id or the handle (compared in its
	// normalised form, see [NormalizeHandle]) is taken; ErrInviteInvalid if
	// the invite does not exist, is used up or has expired at a.CreatedAt;
	// ErrInvalid for malformed input. On error nothing is stored and no
	// invite use is consumed.
	CreateAccount(ctx context.Context, a NewAccount) error

	// Account returns the account with the given id, or ErrNotFound.
	Account(ctx context.Context, id AccountID) (*Account, error)

	// AccountByHandle looks an account up by handle, case-insensitively
	// (the handle is normalised with [NormalizeHandle]), or ErrNotFound.
	AccountByHandle(ctx context.Context, handle string) (*Account, error)

	// SetAccountStatus changes the moderation status of an account.
	// It returns ErrNotFound for an unknown account.
	SetAccountStatus(ctx context.Context, id AccountID, status Status) error

	// PublishDeviceList replaces the account's current signed device list
	// and, in the same transaction, makes the device table match it: devices
	// the list names are added (with CreatedAt = u.At) and devices it no
	// longer names are removed together with their prekeys and queued
	// messages. The list is appended to the account's device-list history.
	//
	// The version MUST increase: a version not greater than the current one
	// returns ErrStaleVersion and changes nothing. A device id that is
	// already registered with different keys returns ErrConflict (device ids
	// are never reused for new keys). ErrNotFound for an unknown account.
	PublishDeviceList(ctx context.Context, id AccountID, u DeviceListUpdate) error

	// DeviceListHistory returns the accepted device lists of an account with
	// version > afterVersion, in increasing version order, at most limit of
	// them (limit <= 0 means no limit). History is append-only: an entry
	// once returned is returned unchanged forever. An unknown account has an
	// empty history.
	DeviceListHistory(ctx context.Context, id AccountID, afterVersion uint64, limit int) ([]DeviceListVersion, error)

	// Devices returns the current devices of an account ordered by device
	// id. An unknown account has no devices.
	Devices(ctx context.Context, id AccountID) ([]Device, error)

	// Device returns one device, or ErrNotFound.
	Device(ctx context.Context, addr Address) (*Device, error)

	// TouchDevice records that the device was seen at the given time.
	// It returns ErrNotFound for an unknown device.
	TouchDevice(ctx context.Context, addr Address, at time.Time) error
}

// Prekeys holds the prekeys each device publishes for PQXDH.
//
// Concurrency: TakeBundle hands out every one-time prekey at most once, under
// any number of concurrent callers on any number of server nodes.
type Prekeys interface {
	// SetSignedPrekey replaces the device's current signed prekey.
	// ErrNotFound for an unknown device.
	SetSignedPrekey(ctx context.Context, addr Address, pk Prekey) error

	// SetLastResortPQPrekey replaces the device's last-resort PQ prekey,
	// the one handed out when no one-time PQ prekey is left.
	// ErrNotFound for an unknown device.
	SetLastResortPQPrekey(ctx context.Context, addr Address, pk Prekey) error

	// AddOneTimePrekeys adds one-time X25519 prekeys and one-time PQ
	// prekeys. A prekey whose id is already stored for the device (in the
	// same kind) is ignored, so a retried upload is harmless. ErrNotFound
	// for an unknown device.
	AddOneTimePrekeys(ctx context.Context, addr Address, x25519, pq []Prekey) error

	// TakeBundle returns the device's signed prekey, at most one one-time
	// X25519 prekey and one PQ prekey (a one-time PQ prekey if any is left,
	// else the last-resort one), and deletes the one-time prekeys it returns
	// in the same transaction. Keys are handed out lowest id first.
	//
	// ErrNotFound for an unknown device; ErrNoPrekey if the device has no
	// signed prekey or no PQ prekey at all (nothing is consumed then).
	TakeBundle(ctx context.Context, addr Address) (*Bundle, error)

	// PrekeyCounts reports how many prekeys the device has left, so the
	// server can tell it to upload more. ErrNotFound for an unknown device.
	PrekeyCounts(ctx context.Context, addr Address) (*PrekeyCounts, error)
}

// Challenges holds device authentication challenges (DESIGN.md section 3,
// Auth): a nonce the server issued to a device, to be signed once.
type Challenges interface {
	// PutChallenge stores a challenge. ErrConflict if the nonce exists.
	PutChallenge(ctx context.Context, c Challenge) error

	// ConsumeChallenge deletes the challenge with the given nonce and
	// returns it if it had not expired at now. A challenge is consumed at
	// most once, even under concurrent calls. ErrNotFound if the nonce is
	// unknown, already consumed or expired (expires_at <= now).
	ConsumeChallenge(ctx context.Context, nonce []byte, now time.Time) (*Challenge, error)

	// DeleteExpiredChallenges deletes challenges with expires_at <= now and
	// returns how many it deleted.
	DeleteExpiredChallenges(ctx context.Context, now time.Time) (int, error)
}

// Queue is the durable delivery queue: one queue per device, entries ordered
// by a per-device sequence number that the store assigns and that only
// grows for a device, even after the queue is emptied, the store is
// restarted, or the device is removed from its device list and listed
// again. Sequence numbers need not be consecutive. Entries become visible
// to Fetch in sequence order: once an entry with sequence n is visible, no
// entry with a smaller sequence number appears later, so a client's cursor
// ("everything up to n received") never skips one.
//
// Durability: an entry is committed when EnqueueBatch returns a nil Err for
// it, and stays until it is acknowledged, expires or its device is removed.
// Delivery is at-least-once: Fetch does not remove anything; only Ack does.
type Queue interface {
	// EnqueueBatch commits many independent sends in one transaction. Each
	// send is all-or-nothing: either every device copy is enqueued or none.
	// A send that fails (validation, queue cap, unknown recipient device,
	// duplicate) does not fail the others; its Result.Err says why. If the
	// transaction itself fails, every Result carries that error and nothing
	// is stored. len(result) == len(sends), in the same order.
	//
	// Idempotency: a send whose (Sender, ClientMessageID) was already
	// committed, by an earlier call or earlier in the same batch, enqueues
	// nothing and returns the ORIGINAL MessageID and Timestamp with
	// Duplicate set. Idempotency records are kept until the original send's
	// ExpiresAt, so retries within the queue TTL are always recognised.
	//
	// Caps: a send that would take any recipient device's queue past the
	// store's maximum depth fails as a whole with a *DeviceError wrapping
	// ErrQueueFull and naming the device. A copy to a device that does not
	// exist fails the send with a *DeviceError wrapping ErrNotFound.
	EnqueueBatch(ctx context.Context, sends []Send) []Result

	// Fetch returns up to limit entries of the device's queue with
	// Seq > afterSeq, in increasing Seq order. An unknown device has an
	// empty queue. Entries past their ExpiresAt are returned until
	// ExpireBefore sweeps them; callers that must not deliver them compare
	// Entry.ExpiresAt with their clock.
	Fetch(ctx context.Context, addr Address, afterSeq uint64, limit int) ([]Entry, error)

	// Ack deletes the device's entries with Seq <= uptoSeq and returns how
	// many it deleted. Entries with a greater Seq are untouched.
	Ack(ctx context.Context, addr Address, uptoSeq uint64) (int, error)

	// AckSeqs deletes the device's entries whose Seq is listed and returns
	// how many it deleted; unknown sequence numbers are ignored.
	AckSeqs(ctx context.Context, addr Address, seqs []uint64) (int, error)

	// AckBatch applies many acknowledgements, of any devices, in one
	// transaction and returns how many entries each deleted (an entry
	// matched by two requests counts for the first). On error nothing is
	// deleted. A [Batcher] uses it to share one commit between the acks of
	// many connected devices.
	AckBatch(ctx context.Context, acks []AckRequest) ([]int, error)

	// QueueDepth returns the number of entries in the device's queue.
	QueueDepth(ctx context.Context, addr Address) (int, error)

	// ExpireBefore deletes queue entries and idempotency records with
	// ExpiresAt <= now and returns the number of queue entries deleted. It
	// works in bounded chunks, each its own transaction, so it never holds
	// the write lock for long.
	ExpireBefore(ctx context.Context, now time.Time) (int, error)
}

// Blobs holds metadata of encrypted attachments; the bytes live elsewhere
// (local files or an S3-compatible store).
type Blobs interface {
	// CreateBlob records a blob in state BlobUploading. ErrConflict if the
	// id exists; ErrNotFound if the uploader account does not exist.
	CreateBlob(ctx context.Context, b Blob) error

	// CompleteBlob marks an uploading blob complete with its final size and
	// ciphertext SHA-256. ErrNotFound for an unknown blob, ErrConflict if it
	// is already complete.
	CompleteBlob(ctx context.Context, id BlobID, size int64, sha256 [32]byte) error

	// Blob returns a blob's metadata, or ErrNotFound.
	Blob(ctx context.Context, id BlobID) (*Blob, error)

	// ExpiredBlobs lists up to limit blobs with ExpiresAt <= now, oldest
	// expiry first, for the caller to delete their bytes and then call
	// DeleteBlob.
	ExpiredBlobs(ctx context.Context, now time.Time, limit int) ([]Blob, error)

	// DeleteBlob deletes a blob's metadata. ErrNotFound if it is unknown.
	DeleteBlob(ctx context.Context, id BlobID) error
}

// Secrets is a tiny versioned key/value table for server-private state such
// as the franking tag keyring. Values are opaque; the caller encrypts or
// protects them as it sees fit.
type Secrets interface {
	// Secret returns the value and version stored under name, or
	// ErrNotFound.
	Secret(ctx context.Context, name string) (value []byte, version uint64, err error)

	// PutSecret stores value under name if the current version is
	// expectVersion (0 meaning "absent") and returns the new version
	// (expectVersion+1). A mismatch returns ErrConflict and changes
	// nothing: concurrent writers cannot overwrite each other silently.
	PutSecret(ctx context.Context, name string, value []byte, expectVersion uint64) (uint64, error)
}
