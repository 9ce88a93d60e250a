// Package db is the client SDK's local state store: one SQLite database
// (github.com/ncruces/go-sqlite3, WAL, synchronous=FULL) in the client's
// data directory. It is the only package of the SDK that speaks SQL, so a
// WebAssembly build can swap it for IndexedDB behind the same methods.
//
// Contract: every method of Tx runs inside one SQLite transaction opened by
// DB.Update or DB.View; an Update either commits every write or none, and
// a committed Update is durable (synchronous=FULL) before Update returns.
// Values are opaque bytes to this package: encodings belong to the callers.
// A DB is safe for concurrent use; writers are serialised.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "github.com/ncruces/go-sqlite3/driver" // registers the "sqlite3" database/sql driver
)

// ErrNotFound is returned by getters when no row matches. Callers branch
// on it to tell "absent" from a failure.
var ErrNotFound = errors.New("db: not found")

// SchemaVersion is stored in the database's user_version. Open refuses a
// database with a higher version (written by a newer SDK); later versions
// migrate from the lower ones here.
const SchemaVersion = 1

// FileName is the database file inside the data directory.
const FileName = "client.db"

// DB is the open database.
type DB struct {
	sql *sql.DB
}

// Tx is one transaction.
type Tx struct {
	tx *sql.Tx
}

const schema = `
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS prekeys (
	kind INTEGER NOT NULL, id INTEGER NOT NULL, priv BLOB NOT NULL,
	PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS peers (
	account BLOB NOT NULL, device INTEGER NOT NULL, state BLOB NOT NULL,
	PRIMARY KEY (account, device));
CREATE TABLE IF NOT EXISTS contacts (
	account BLOB PRIMARY KEY, handle TEXT NOT NULL, aik BLOB NOT NULL,
	list BLOB NOT NULL, pending_aik BLOB, blocked INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS contacts_handle ON contacts (handle);
CREATE TABLE IF NOT EXISTS chains (
	peer BLOB PRIMARY KEY, own_prev BLOB NOT NULL, last_seen BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
	message_id BLOB PRIMARY KEY, outgoing INTEGER NOT NULL,
	sender_account BLOB NOT NULL, sender_device INTEGER NOT NULL,
	conversation BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
	plaintext BLOB NOT NULL, commitment BLOB NOT NULL, tag BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS seen (message_id BLOB PRIMARY KEY);
CREATE TABLE IF NOT EXISTS receipts (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, peer BLOB NOT NULL, message_id BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, client_id BLOB NOT NULL UNIQUE,
	peer BLOB NOT NULL, plaintext BLOB NOT NULL, commitment BLOB NOT NULL);
`

// Open opens (creating if needed) the database in dir. The directory is
// created with mode 0700 and the files are created with mode 0600: they hold
// private keys.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	// Create the file ourselves so that it gets mode 0600; SQLite gives
	// its -wal and -shm files the main file's permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "synchronous(full)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	s, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	s.SetMaxOpenConns(1)
	s.SetMaxIdleConns(1)
	s.SetConnMaxLifetime(0)
	s.SetConnMaxIdleTime(0)
	var version int
	if err := s.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		s.Close()
		return nil, fmt.Errorf("db: %w", err)
	}
	if version > SchemaVersion {
		s.Close()
		return nil, fmt.Errorf("db: %s was written by a newer SDK (schema %d, this one knows %d)", path, version, SchemaVersion)
	}
	if _, err := s.ExecContext(ctx, schema+fmt.Sprintf("PRAGMA user_version = %d;", SchemaVersion)); err != nil {
		s.Close()
		return nil, fmt.Errorf("db: schema: %w", err)
	}
	return &DB{sql: s}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.sql.Close() }

// Update runs fn in a write transaction and commits it if fn returns nil.
func (d *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	if err := fn(&Tx{tx: tx}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// View runs fn in a transaction that is rolled back afterwards.
func (d *DB) View(ctx context.Context, fn func(*Tx) error) error {
	tx, err := d.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer tx.Rollback()
	return fn(&Tx{tx: tx})
}

func (t *Tx) exec(q string, args ...any) error {
	if _, err := t.tx.Exec(q, args...); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	return nil
}

func (t *Tx) row(q string, args []any, dst ...any) error {
	err := t.tx.QueryRow(q, args...).Scan(dst...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("db: %w", err)
	}
	return nil
}

// Get returns the value stored under key, or ErrNotFound.
func (t *Tx) Get(key string) ([]byte, error) {
	var v []byte
	err := t.row(`SELECT v FROM kv WHERE k = ?`, []any{key}, &v)
	return v, err
}

// Put stores value under key, replacing any previous value.
func (t *Tx) Put(key string, value []byte) error {
	return t.exec(`INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, key, value)
}

// Prekey kinds.
const (
	SignedPrekey  = 1 // pqxdh.SignedPrekeyPrivate
	OneTimePrekey = 2 // pqxdh.OneTimePrekeyPrivate
	KEMPrekey     = 3 // pqxdh.KEMPrekeyPrivate (one-time or last-resort)
)

// PutPrekey stores a private prekey.
func (t *Tx) PutPrekey(kind int, id uint32, priv []byte) error {
	return t.exec(`INSERT INTO prekeys (kind, id, priv) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET priv = excluded.priv`, kind, id, priv)
}

// Prekey returns a private prekey, or ErrNotFound.
func (t *Tx) Prekey(kind int, id uint32) ([]byte, error) {
	var v []byte
	err := t.row(`SELECT priv FROM prekeys WHERE kind = ? AND id = ?`, []any{kind, id}, &v)
	return v, err
}

// DeletePrekey deletes a private prekey; deleting an absent one is not an
// error.
func (t *Tx) DeletePrekey(kind int, id uint32) error {
	return t.exec(`DELETE FROM prekeys WHERE kind = ? AND id = ?`, kind, id)
}

// DeletePrekeysBelow deletes the prekeys of kind with an id below id.
func (t *Tx) DeletePrekeysBelow(kind int, id uint32) error {
	return t.exec(`DELETE FROM prekeys WHERE kind = ? AND id < ?`, kind, id)
}

// CountPrekeys returns how many prekeys of kind are stored.
func (t *Tx) CountPrekeys(kind int) (int, error) {
	var n int
	err := t.row(`SELECT count(*) FROM prekeys WHERE kind = ?`, []any{kind}, &n)
	return n, err
}

// Peer returns the serialised session.Peer of a remote device, or
// ErrNotFound.
func (t *Tx) Peer(account []byte, device uint32) ([]byte, error) {
	var v []byte
	err := t.row(`SELECT state FROM peers WHERE account = ? AND device = ?`, []any{account, device}, &v)
	return v, err
}

// PutPeer stores the serialised session.Peer of a remote device.
func (t *Tx) PutPeer(account []byte, device uint32, state []byte) error {
	return t.exec(`INSERT INTO peers (account, device, state) VALUES (?, ?, ?) ON CONFLICT (account, device) DO UPDATE SET state = excluded.state`, account, device, state)
}

// DeletePeer forgets the sessions with a remote device.
func (t *Tx) DeletePeer(account []byte, device uint32) error {
	return t.exec(`DELETE FROM peers WHERE account = ? AND device = ?`, account, device)
}

// Contact is an account the client has looked up: its pinned AIK and the
// last device list verified under it.
type Contact struct {
	Account    []byte
	Handle     string
	AIK        []byte // pinned (trusted) account identity key
	List       []byte // last verified SignedDeviceList encoding
	PendingAIK []byte // a different AIK seen and not yet trusted, or nil
	Blocked    bool
}

const contactCols = `account, handle, aik, list, pending_aik, blocked`

func scanContact(r interface{ Scan(...any) error }) (*Contact, error) {
	var c Contact
	var blocked int
	err := r.Scan(&c.Account, &c.Handle, &c.AIK, &c.List, &c.PendingAIK, &blocked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	c.Blocked = blocked != 0
	return &c, nil
}

// Contact returns the contact with the given account id, or ErrNotFound.
func (t *Tx) Contact(account []byte) (*Contact, error) {
	return scanContact(t.tx.QueryRow(`SELECT `+contactCols+` FROM contacts WHERE account = ?`, account))
}

// ContactByHandle returns the contact with the given handle, or
// ErrNotFound.
func (t *Tx) ContactByHandle(handle string) (*Contact, error) {
	return scanContact(t.tx.QueryRow(`SELECT `+contactCols+` FROM contacts WHERE handle = ?`, handle))
}

// Contacts returns every contact, ordered by handle.
func (t *Tx) Contacts() ([]*Contact, error) {
	rows, err := t.tx.Query(`SELECT ` + contactCols + ` FROM contacts ORDER BY handle`)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer rows.Close()
	var out []*Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	return out, nil
}

// PutContact stores c, replacing the row with the same account id (and any
// other row that held the same handle: handles are unique).
func (t *Tx) PutContact(c *Contact) error {
	if err := t.exec(`DELETE FROM contacts WHERE handle = ? AND account <> ?`, c.Handle, c.Account); err != nil {
		return err
	}
	blocked := 0
	if c.Blocked {
		blocked = 1
	}
	return t.exec(`INSERT INTO contacts (`+contactCols+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (account) DO UPDATE SET handle = excluded.handle, aik = excluded.aik, list = excluded.list,
		pending_aik = excluded.pending_aik, blocked = excluded.blocked`,
		c.Account, c.Handle, c.AIK, c.List, c.PendingAIK, blocked)
}

// Chain returns the franking chain state with a peer account: the
// commitment of this device's previous message to it and of the last
// message received from it (zero-filled if none).
func (t *Tx) Chain(peer []byte) (ownPrev, lastSeen []byte, err error) {
	err = t.row(`SELECT own_prev, last_seen FROM chains WHERE peer = ?`, []any{peer}, &ownPrev, &lastSeen)
	if errors.Is(err, ErrNotFound) {
		return make([]byte, 32), make([]byte, 32), nil
	}
	return ownPrev, lastSeen, err
}

// PutChain stores the franking chain state with a peer account.
func (t *Tx) PutChain(peer, ownPrev, lastSeen []byte) error {
	return t.exec(`INSERT INTO chains (peer, own_prev, last_seen) VALUES (?, ?, ?) ON CONFLICT (peer) DO UPDATE SET own_prev = excluded.own_prev, last_seen = excluded.last_seen`, peer, ownPrev, lastSeen)
}

// Message is a sent or received message as kept for dedupe and reports:
// the franking opening (franked plaintext, commitment, tag) and the delivery
// context the tag was made for.
type Message struct {
	ID            []byte
	Outgoing      bool
	SenderAccount []byte
	SenderDevice  uint32
	Conversation  []byte
	TimestampMs   int64
	Plaintext     []byte
	Commitment    []byte
	Tag           []byte
}

// Seen reports whether a message id has been processed (recorded by
// MarkSeen or PutMessage): the dedupe of at-least-once delivery.
func (t *Tx) Seen(id []byte) (bool, error) {
	var n int
	err := t.row(`SELECT count(*) FROM seen WHERE message_id = ?`, []any{id}, &n)
	return n > 0, err
}

// MarkSeen records a message id as processed.
func (t *Tx) MarkSeen(id []byte) error {
	return t.exec(`INSERT INTO seen (message_id) VALUES (?) ON CONFLICT DO NOTHING`, id)
}

// PutMessage records m and marks its id seen. Recording an id twice keeps
// the first record.
func (t *Tx) PutMessage(m *Message) error {
	if err := t.MarkSeen(m.ID); err != nil {
		return err
	}
	out := 0
	if m.Outgoing {
		out = 1
	}
	tag := m.Tag
	if tag == nil {
		tag = []byte{}
	}
	return t.exec(`INSERT INTO messages (message_id, outgoing, sender_account, sender_device, conversation, timestamp_ms, plaintext, commitment, tag)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
		m.ID, out, m.SenderAccount, m.SenderDevice, m.Conversation, m.TimestampMs, m.Plaintext, m.Commitment, tag)
}

// Messages returns the recorded messages of a conversation between this
// account and peer (both directions), oldest first.
func (t *Tx) Messages(self, peer []byte) ([]*Message, error) {
	rows, err := t.tx.Query(`SELECT message_id, outgoing, sender_account, sender_device, conversation, timestamp_ms, plaintext, commitment, tag
		FROM messages WHERE (conversation = ? AND sender_account = ?) OR (conversation = ? AND sender_account = ?)
		ORDER BY timestamp_ms, message_id`, peer, self, self, peer)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer rows.Close()
	var out []*Message
	for rows.Next() {
		var m Message
		var o int
		if err := rows.Scan(&m.ID, &o, &m.SenderAccount, &m.SenderDevice, &m.Conversation, &m.TimestampMs, &m.Plaintext, &m.Commitment, &m.Tag); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		m.Outgoing = o != 0
		out = append(out, &m)
	}
	return out, rows.Err()
}

// Outgoing is a franked message waiting in the outbox. Its client id and
// franked plaintext are fixed when it is queued, so every retry is the
// same logical send (the server deduplicates by client id).
type Outgoing struct {
	Seq        int64
	ClientID   []byte
	Peer       []byte
	Plaintext  []byte
	Commitment []byte
}

// PutOutgoing queues m and returns its sequence number.
func (t *Tx) PutOutgoing(m *Outgoing) (int64, error) {
	res, err := t.tx.Exec(`INSERT INTO outbox (client_id, peer, plaintext, commitment) VALUES (?, ?, ?, ?)`, m.ClientID, m.Peer, m.Plaintext, m.Commitment)
	if err != nil {
		return 0, fmt.Errorf("db: %w", err)
	}
	return res.LastInsertId()
}

// Outbox returns the queued messages in the order they were queued.
func (t *Tx) Outbox() ([]*Outgoing, error) {
	rows, err := t.tx.Query(`SELECT seq, client_id, peer, plaintext, commitment FROM outbox ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer rows.Close()
	var out []*Outgoing
	for rows.Next() {
		var m Outgoing
		if err := rows.Scan(&m.Seq, &m.ClientID, &m.Peer, &m.Plaintext, &m.Commitment); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		out = append(out, &m)
	}
	return out, rows.Err()
}

// DeleteOutgoing removes a message from the outbox.
func (t *Tx) DeleteOutgoing(seq int64) error {
	return t.exec(`DELETE FROM outbox WHERE seq = ?`, seq)
}

// Unsent returns how many messages wait in the outbox plus how many
// delivery receipts are owed (not yet queued as receipt messages).
func (t *Tx) Unsent() (int, error) {
	var n int
	err := t.row(`SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM receipts)`, nil, &n)
	return n, err
}

// AddReceipt records that a delivery receipt for message id is owed to the
// account peer.
func (t *Tx) AddReceipt(peer, id []byte) error {
	return t.exec(`INSERT INTO receipts (peer, message_id) VALUES (?, ?)`, peer, id)
}

// TakeReceipts removes and returns the owed receipts, grouped by peer
// account in the order they were added, at most max ids per peer.
func (t *Tx) TakeReceipts(max int) (map[string][][]byte, []string, error) {
	rows, err := t.tx.Query(`SELECT seq, peer, message_id FROM receipts ORDER BY seq`)
	if err != nil {
		return nil, nil, fmt.Errorf("db: %w", err)
	}
	byPeer := map[string][][]byte{}
	var order []string
	var taken []int64
	for rows.Next() {
		var seq int64
		var peer, id []byte
		if err := rows.Scan(&seq, &peer, &id); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("db: %w", err)
		}
		k := string(peer)
		if len(byPeer[k]) == max {
			continue
		}
		if byPeer[k] == nil {
			order = append(order, k)
		}
		byPeer[k] = append(byPeer[k], id)
		taken = append(taken, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("db: %w", err)
	}
	for _, seq := range taken {
		if err := t.exec(`DELETE FROM receipts WHERE seq = ?`, seq); err != nil {
			return nil, nil, err
		}
	}
	return byPeer, order, nil
}
