// Package client is the Ward client SDK: one Go API that hides sessions,
// fan-out, device lists, franking, retries and dedupe (DESIGN.md, section 4).
//
// # Quick start
//
//	c, err := client.Open(ctx, client.Config{DataDir: "alice", ServerURL: "http://127.0.0.1:8420"})
//	defer c.Close()
//	err = c.Register(ctx, "alice", client.AgeAdult, "")   // once per account
//	go c.Run(ctx)                                         // receive, reconnecting as needed
//	sent, err := c.Send(ctx, "bob", "hello")
//	for ev := range c.Events() {
//		switch ev := ev.(type) {
//		case *client.MessageEvent:
//			fmt.Println(ev.FromHandle, ev.Text)
//		}
//	}
//
// A second device of the same account links with BeginLink (on the new
// device), ApproveLink (on the primary, after the user checked that both
// screens show the same six-digit code) and CompleteLink (on the new
// device, with the approval the primary returned).
//
// # What the SDK does for every message
//
// Send looks the recipient up, verifies its signed device list against the
// account identity key (AIK) pinned on first use and against the previous
// list (no rollback), starts PQXDH sessions with the devices it has none
// with, franks the content (package franking), encrypts it once per
// recipient device and once per other device of the sender's own account,
// and submits all copies in one call with a client message id fixed for the
// logical send, so retries are idempotent.
//
// Run keeps the delivery stream open. For each delivery it drops duplicates
// (by message id), checks that the sending device is in the sender's
// verified device list, decrypts, opens the franking commitment, stores the
// session, the message and its franking opening in one SQLite transaction,
// and only then acknowledges the delivery. Events then reach Events().
//
// # What the SDK refuses
//
//   - A device not in a device list signed by the pinned AIK (a "ghost
//     device"), as a recipient or as a sender.
//   - A device list older than one already accepted (rollback), or a second
//     list with the same version (equivocation).
//   - A contact whose AIK changed: a SafetyNumberChangedEvent is raised and
//     Send fails with ErrIdentityChanged until TrustIdentity is called
//     (trust on first use, then explicit consent).
//   - A message whose franking commitment does not open, or whose content
//     names another destination than the delivery's conversation.
//
// # State at rest
//
// The data directory holds the device's private keys, its sessions, and
// the received messages with their franking openings, in a SQLite database
// (client.db, WAL). The SDK creates the directory with mode 0700 and the
// database with mode 0600; protect it like a private key.
//
// # Randomness
//
// Keys and nonces come from Config.Rand. ML-KEM encapsulation inside PQXDH
// draws from the system's secure source (crypto/mlkem offers no way to
// inject randomness); tests that need determinism use
// testing/cryptotest.SetGlobalRandom.
package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wardchat/ward/client/internal/db"
	"github.com/wardchat/ward/client/internal/transport"
	"github.com/wardchat/ward/identity"
	"github.com/wardchat/ward/pqxdh"
)

// Config configures a Client.
type Config struct {
	// DataDir holds the local state (client.db). Required. Created with mode
	// 0700; it contains private keys.
	DataDir string
	// ServerURL is the server's base URL, such as "http://127.0.0.1:8420".
	// Required.
	ServerURL string
	// Logger receives diagnostics (never plaintext or keys). Default: discard.
	Logger *slog.Logger
	// Rand is the source of keys and nonces. Default crypto/rand.Reader.
	Rand io.Reader
	// HTTPClient carries the API calls, blob transfers and the stream.
	// Default http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock (device "added at" times). Default time.Now.
	Now func() time.Time
}

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrNotRegistered means the client has no account yet: call Register or
	// link the device first.
	ErrNotRegistered = errors.New("client: no account on this device yet")
	// ErrAlreadyRegistered means the data directory already holds an
	// account.
	ErrAlreadyRegistered = errors.New("client: this device already has an account")
	// ErrIdentityChanged means a contact's account identity key differs from
	// the pinned one. Nothing is sent to the contact until the user has
	// compared safety numbers and called TrustIdentity.
	ErrIdentityChanged = errors.New("client: the contact's identity key changed")
	// ErrUntrustedDevice means the server named or served a device that is
	// not in the contact's verified device list, or keys that differ from it.
	ErrUntrustedDevice = errors.New("client: device not in the verified device list")
	// ErrBlocked means the contact is blocked on this device.
	ErrBlocked = errors.New("client: contact is blocked")
	// ErrNotPrimary means the call needs the account identity key, which
	// only the primary device holds.
	ErrNotPrimary = errors.New("client: only the primary device can do this")
	// ErrLinkCode means the code typed does not match the link offer.
	ErrLinkCode = errors.New("client: link code does not match")
	// ErrDeviceRemoved means the server removed this device from its
	// account; Run stops.
	ErrDeviceRemoved = errors.New("client: this device was removed from its account")
	// ErrQueued means a send could not reach the server yet. The message
	// stays in the local outbox and Run retries it with the same client
	// message id, so it is delivered at most once. The error is a
	// *QueuedError carrying that id.
	ErrQueued = errors.New("client: message queued for retry")
	// ErrDataDirInUse means another Client (in this process or another
	// one, such as a running `ward listen`) has the data directory open.
	// Open returns it rather than let two clients share one directory:
	// each would queue and send the other's outbox entries and receipts,
	// and hand out the same prekey ids. Stop the other client or use
	// another directory.
	ErrDataDirInUse = errors.New("client: the data directory is in use by another client")
)

// lockFileName is the advisory lock in DataDir held while a Client is open.
const lockFileName = "lock"

// AgeBand is declared at registration.
type AgeBand int

// Age bands.
const (
	AgeAdult AgeBand = 1
	AgeTeen  AgeBand = 2
)

// Client is one device's view of its account. Its methods are safe for
// concurrent use; state changes are serialised.
type Client struct {
	cfg  Config
	log  *slog.Logger
	rand io.Reader
	now  func() time.Time
	db   *db.DB
	conn *transport.Conn
	lock *os.File // DataDir/lock, held until Close (nil where unsupported)

	mu   sync.Mutex // serialises every state change
	self *self      // nil until registered or linked

	ev      *eventQueue
	kick    chan struct{} // wakes the outbox flusher
	closing chan struct{}
	once    sync.Once
	running sync.WaitGroup // Run calls in progress
}

// self is this device's identity.
type self struct {
	aid    identity.AccountID
	handle string
	device identity.DeviceID
	keys   *identity.DeviceKeys
	aik    *identity.AccountKey // primary only
}

func (s *self) Address() ([]byte, uint32) { return s.aid[:], uint32(s.device) }

func (s *self) SignChallenge(nonce []byte) []byte { return s.keys.SignChallenge(nonce) }

func (s *self) pair() pqxdh.IdentityKeyPair {
	return pqxdh.IdentityKeyPair{SigningKey: s.keys.SigningKey(), IdentityKey: s.keys.IdentityKey()}
}

// kv keys of the local state.
const (
	kvAccountID    = "account_id"
	kvHandle       = "handle"
	kvDeviceID     = "device_id"
	kvDeviceKeys   = "device_keys"
	kvAIK          = "aik"
	kvLinkKeys     = "link_device_keys"
	kvLinkHandle   = "link_handle"
	kvNextOTK      = "next_one_time_prekey_id"
	kvNextKEM      = "next_kem_prekey_id"
	kvNextSPK      = "next_signed_prekey_id"
	kvSPKRotatedAt = "signed_prekey_rotated_at"
)

// Open opens (or creates) the client state in cfg.DataDir. Only one Client
// may have a data directory open at a time: Open takes an advisory lock on
// DataDir/lock and fails with ErrDataDirInUse while another Client, in
// this process or another, holds it (on systems without flock, such as
// Windows and WebAssembly, the caller must ensure it).
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.DataDir == "" || cfg.ServerURL == "" {
		return nil, errors.New("client: Config needs DataDir and ServerURL")
	}
	c := &Client{cfg: cfg, log: cfg.Logger, rand: cfg.Rand, now: cfg.Now,
		kick: make(chan struct{}, 1), closing: make(chan struct{})}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.now == nil {
		c.now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, cfg.DataDir)
	if err != nil {
		unlock(lock)
		return nil, fmt.Errorf("client: %w", err)
	}
	c.db = d
	c.lock = lock
	c.conn = transport.New(cfg.ServerURL, cfg.HTTPClient)
	if err := c.loadSelf(ctx); err != nil {
		d.Close()
		unlock(lock)
		return nil, err
	}
	c.ev = newEventQueue()
	return c, nil
}

func (c *Client) loadSelf(ctx context.Context) error {
	return c.db.View(ctx, func(tx *db.Tx) error {
		aidb, err := tx.Get(kvAccountID)
		if errors.Is(err, db.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		s := &self{}
		copy(s.aid[:], aidb)
		h, err := tx.Get(kvHandle)
		if err != nil {
			return err
		}
		s.handle = string(h)
		dev, err := getUint(tx, kvDeviceID)
		if err != nil {
			return err
		}
		s.device = identity.DeviceID(dev)
		kb, err := tx.Get(kvDeviceKeys)
		if err != nil {
			return err
		}
		if s.keys, err = identity.ParseDeviceKeys(kb); err != nil {
			return fmt.Errorf("client: stored device keys: %w", err)
		}
		if ab, err := tx.Get(kvAIK); err == nil {
			if s.aik, err = identity.ParseAccountKey(ab); err != nil {
				return fmt.Errorf("client: stored account key: %w", err)
			}
		} else if !errors.Is(err, db.ErrNotFound) {
			return err
		}
		c.self = s
		c.conn.SetSigner(s)
		return nil
	})
}

// Close stops Run (waiting for it to return), stops the event stream and
// closes the local database.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.closing) })
	c.running.Wait()
	c.ev.close()
	err := c.db.Close()
	unlock(c.lock)
	c.lock = nil
	return err
}

// unlock releases the data directory lock (closing the file drops the
// flock).
func unlock(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// AccountID returns the account id, or the zero id before registration.
func (c *Client) AccountID() identity.AccountID {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self == nil {
		return identity.AccountID{}
	}
	return c.self.aid
}

// DeviceID returns this device's id, or 0 before registration or linking.
func (c *Client) DeviceID() identity.DeviceID {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self == nil {
		return 0
	}
	return c.self.device
}

// Handle returns the account's handle, or "" before registration.
func (c *Client) Handle() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.self == nil {
		return ""
	}
	return c.self.handle
}

func (c *Client) requireSelf() (*self, error) {
	if c.self == nil {
		return nil, ErrNotRegistered
	}
	return c.self, nil
}

func getUint(tx *db.Tx, key string) (uint64, error) {
	v, err := tx.Get(key)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, b := range v {
		n = n<<8 | uint64(b)
	}
	return n, nil
}

func putUint(tx *db.Tx, key string, n uint64) error {
	var b [8]byte
	for i := range b {
		b[7-i] = byte(n >> (8 * i))
	}
	return tx.Put(key, b[:])
}

// tempFile creates a private temporary file in the data directory.
func (c *Client) tempFile(pattern string) (*os.File, error) {
	dir := filepath.Join(c.cfg.DataDir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return f, nil
}

func removeTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}
