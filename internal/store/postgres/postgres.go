// Package postgres implements [store.Store] on PostgreSQL through pgx's
// connection pool, for deployments where many wardd nodes share one
// database.
//
// # Portability
//
// The SQL is kept portable to CockroachDB: no advisory locks, no
// LISTEN/NOTIFY, no PL/pgSQL, no sequences for queue numbering. Row locks
// are taken with SELECT ... FOR UPDATE (in a sorted order, so concurrent
// transactions cannot deadlock on each other's devices), one-time prekeys
// are taken with DELETE ... RETURNING over a FOR UPDATE SKIP LOCKED
// sub-select, and bulk inserts use multi-row INSERT ... SELECT FROM
// unnest(...). Every transaction is retried on serialization failures and
// deadlocks (SQLSTATE 40001, 40P01), which CockroachDB requires.
//
// # Sequence numbers
//
// Each device row holds its queue head (next sequence number, depth).
// EnqueueBatch locks the recipients' rows, so sends to one device commit in
// sequence order and its sequence numbers are dense; a device removed and
// listed again continues where it stopped (device_seq_floor).
//
// # Schema
//
// Migrations (goose, embedded from migrations/) run when the store is
// opened, in the schema named by the connection's search_path. Nodes that
// start at the same time may race on the first migration; one of them fails
// to start and succeeds when restarted (no advisory lock is used, for
// CockroachDB's sake).
//
// # Connection string
//
// Config.URL is a pgx connection string; parameters pgx does not know are
// sent as run-time parameters, so "...&search_path=ward" puts the tables in
// schema ward.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/wardchat/ward/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultMaxQueueDepth is the per-device queue cap when Config leaves it 0.
const DefaultMaxQueueDepth = 10_000

// maxAttempts bounds the retries of a transaction that hit a serialization
// failure or deadlock.
const maxAttempts = 8

// Config configures [Open].
type Config struct {
	// URL is the pgx connection string, e.g.
	// "postgres://ward@db:5432/ward?sslmode=verify-full". Required.
	URL string

	// MaxConns caps the pool size. Default 16: every connected device's
	// fetches and the batchers' transactions share the pool, and pgxpool's
	// own default (max(4, NumCPU)) starves them on small machines.
	MaxConns int32

	// MaxQueueDepth caps the entries queued for one device
	// (store.ErrQueueFull beyond it). Default DefaultMaxQueueDepth.
	MaxQueueDepth int
}

// Store is the PostgreSQL implementation of [store.Store]. It is safe for
// concurrent use, also by many processes sharing one database.
type Store struct {
	pool     *pgxpool.Pool
	maxDepth int
}

var _ store.Store = (*Store)(nil)

// Open connects to the database and migrates it to the current schema.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: Config.URL is required")
	}
	if cfg.MaxQueueDepth <= 0 {
		cfg.MaxQueueDepth = DefaultMaxQueueDepth
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 16
	}
	pc.MaxConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, maxDepth: cfg.MaxQueueDepth}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if known := p.ListSources(); len(known) > 0 && cur > known[len(known)-1].Version {
		return fmt.Errorf("postgres: database schema version %d is newer than this binary's %d", cur, known[len(known)-1].Version)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	return nil
}

// Ping implements [store.Store].
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// errRetry asks tx to run the transaction again (a concurrent writer
// changed what it read).
var errRetry = errors.New("postgres: retry")

// tx runs fn in a transaction and commits it, retrying the whole
// transaction on serialization failures and deadlocks.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for range maxAttempts {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if !retryable(err) {
			return err
		}
	}
	return fmt.Errorf("postgres: gave up after %d attempts: %w", maxAttempts, err)
}

func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// dbErr maps driver errors to store sentinels: uniqueness violations become
// store.ErrConflict, foreign key violations and missing rows
// store.ErrNotFound. Retryable errors pass through unwrapped by a sentinel
// so that tx can see them.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("postgres: %s: %w", op, store.ErrConflict)
		case "23503":
			return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func notFound(op string) error { return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound) }

func ms(t time.Time) int64 { return store.Millis(t) }

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
