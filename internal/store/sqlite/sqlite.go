// Package sqlite implements [store.Store] on an embedded SQLite database,
// the single-node default of wardd.
//
// # Durability and concurrency
//
// The database runs in WAL mode with synchronous=FULL: a transaction that
// returned from commit survives a crash or power loss. Foreign keys are on,
// so removing a device removes its prekeys and queue in the same
// transaction.
//
// SQLite allows one writer at a time. The store keeps ONE writer connection
// and serialises every write transaction in-process on it (so writers never
// meet SQLITE_BUSY among themselves), and a separate pool of read-only
// connections that read committed snapshots concurrently with the writer.
// Because each commit costs an fsync, throughput comes from batching: send
// messages through a [store.Batcher], which commits many sends per
// transaction with [Store.EnqueueBatch].
//
// A third connection checkpoints the WAL in the background (see
// checkpoint.go), so commits never pay for copying the WAL back into the
// database, and keeps the WAL from growing without bound while readers are
// always active.
//
// The store must be the database's only writer: it keeps queue heads in
// memory. Open takes an advisory lock on "<Path>.lock" and fails if another
// store, in this or another process, holds it.
//
// # Schema
//
// Migrations (goose, embedded from migrations/) run when the store is
// opened; a database written by a newer schema than this binary knows is
// refused.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers the "sqlite3" database/sql driver
	"github.com/pressly/goose/v3"

	"github.com/wardchat/ward/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultMaxQueueDepth is the per-device queue cap when Config leaves it 0.
const DefaultMaxQueueDepth = 10_000

// Config configures [Open].
type Config struct {
	// Path is the database file; it and its directory are created if
	// missing. Required.
	Path string

	// Readers is the size of the read-only connection pool.
	// Default max(4, GOMAXPROCS).
	Readers int

	// BusyTimeout is how long a connection waits for a lock held by another
	// process before failing. Default 5s.
	BusyTimeout time.Duration

	// MaxQueueDepth caps the entries queued for one device
	// (store.ErrQueueFull beyond it). Default DefaultMaxQueueDepth.
	MaxQueueDepth int
}

// Store is the SQLite implementation of [store.Store]. It is safe for
// concurrent use.
type Store struct {
	w        *sql.DB    // exactly one connection; every write goes here
	wmu      sync.Mutex // serialises write transactions on w
	r        *sql.DB    // read-only pool
	maxDepth int

	// Prepared multi-row statements of the send path on the writer
	// connection, by kind and row count; guarded by wmu.
	stmts    [numStmtKinds][chunk]*sql.Stmt
	fetchers *fetchers // reader connections for Fetch (fetch.go)
	account  *sql.Stmt // Account, on r
	device   *sql.Stmt // Device, on r
	ckpt     *checkpointer
	heads    heads          // queue heads of the single writer; guarded by wmu
	lock     *os.File       // advisory lock on the database, held until Close
	acks     *store.Batcher // group commit for Ack and AckSeqs
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at cfg.Path and migrates it
// to the current schema.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: Config.Path is required")
	}
	if cfg.Readers <= 0 {
		cfg.Readers = max(4, runtime.GOMAXPROCS(0))
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	if cfg.MaxQueueDepth <= 0 {
		cfg.MaxQueueDepth = DefaultMaxQueueDepth
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	s, err := open(ctx, cfg, path)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func open(ctx context.Context, cfg Config, path string) (*Store, error) {
	busy := fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds())
	wq := url.Values{}
	wq.Add("_pragma", busy)
	wq.Add("_pragma", "journal_mode(wal)")
	wq.Add("_pragma", "synchronous(full)")
	wq.Add("_pragma", "foreign_keys(on)")
	wq.Add("_pragma", "temp_store(memory)")
	wq.Add("_pragma", "cache_size(-32768)")
	wq.Add("_pragma", "journal_size_limit(67108864)")
	wq.Add("_pragma", "wal_autocheckpoint(0)") // the checkpointer does it, off the commit path
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite3", dsn(path, wq))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, maxDepth: cfg.MaxQueueDepth}
	if err := s.checkPragmas(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := s.loadHeads(ctx); err != nil {
		w.Close()
		return nil, err
	}

	rq := url.Values{}
	rq.Add("_pragma", busy)
	rq.Add("_pragma", "query_only(1)")
	rq.Add("_pragma", "foreign_keys(on)")
	rq.Set("_txlock", "deferred")
	r, err := sql.Open("sqlite3", dsn(path, rq))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r.SetMaxOpenConns(cfg.Readers)
	r.SetMaxIdleConns(cfg.Readers)
	s.r = r
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.fetchers, err = openFetchers(ctx, path, rq, cfg.Readers); err != nil {
		s.Close()
		return nil, err
	}
	if s.ckpt, err = startCheckpointer(path); err != nil {
		s.Close()
		return nil, err
	}
	s.acks = store.NewBatcher(s, store.BatcherConfig{})
	return s, nil
}

// wantPragmas are the writer settings the store's guarantees rest on.
var wantPragmas = map[string]string{
	"journal_mode": "wal", // readers alongside the writer
	"synchronous":  "2",   // FULL: a returned commit survives power loss
	"foreign_keys": "1",   // device removal cascades to prekeys and challenges
}

// checkPragmas refuses to run with weaker settings than asked for: SQLite
// silently keeps another journal mode where WAL is unavailable (some
// network file systems).
func (s *Store) checkPragmas(ctx context.Context) error {
	got := s.pragmas(ctx)
	for k, v := range wantPragmas {
		if got[k] != v {
			return fmt.Errorf("sqlite: PRAGMA %s is %q, want %q (is the file system supported?)", k, got[k], v)
		}
	}
	return nil
}

// pragmas reads the durability-related pragmas of the writer connection.
func (s *Store) pragmas(ctx context.Context) map[string]string {
	out := map[string]string{}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, p := range []string{"journal_mode", "synchronous", "foreign_keys", "busy_timeout"} {
		var v sql.NullString
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+p).Scan(&v); err == nil {
			out[p] = v.String
		}
	}
	return out
}

func dsn(path string, q url.Values) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if known := p.ListSources(); len(known) > 0 && cur > known[len(known)-1].Version {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary's %d", cur, known[len(known)-1].Version)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	return nil
}

// Ping implements [store.Store]: it runs a query on a reader and, under the
// write lock, on the writer connection.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.acks != nil {
		errs = append(errs, s.acks.Close())
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	s.wmu.Lock()
	for _, kind := range s.stmts {
		for _, st := range kind {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
	}
	s.wmu.Unlock()
	for _, st := range []*sql.Stmt{s.account, s.device} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.fetchers != nil {
		errs = append(errs, s.fetchers.close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if s.lock != nil {
		errs = append(errs, s.lock.Close()) // releases the lock
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// write runs fn in a write transaction on the writer connection and commits
// it; any error from fn rolls it back.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.commit(ctx, fn)
}

// commit runs fn in a write transaction and commits it; wmu must be held.
func (s *Store) commit(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// dbErr maps driver errors to store sentinels: uniqueness violations become
// store.ErrConflict, foreign key violations store.ErrNotFound.
func dbErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sqlite3.CONSTRAINT_UNIQUE), errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrConflict)
	case errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func notFound(op string) error { return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound) }

// affected returns the rows a statement changed.
//
//	n, err := affected("op")(tx.ExecContext(...))
func affected(op string) func(sql.Result, error) (int, error) {
	return func(r sql.Result, err error) (int, error) {
		if err != nil {
			return 0, dbErr(op, err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return 0, dbErr(op, err)
		}
		return int(n), nil
	}
}

func ms(t time.Time) int64 { return store.Millis(t) }
