// Package server is wardd: the Ward delivery server's API (Connect over
// HTTP), device authentication, the directory and prekey service, sends
// into the durable per-device queue, the WebSocket delivery stream,
// attachment blobs and the operational endpoints.
//
// # Shape
//
// A [Server] is built by [New] from a [Config], a logger, a [store.Store], a
// [bus.Bus] and a [blob.Store]. Every API call has a core method on Server
// (Register, Authenticate, Send, FetchBundles, ...) that takes the request
// message and the authenticated caller and returns a response or an
// [*Error] with a [Code]; the Connect handlers in connect.go only unwrap,
// call and map the code (docs/API.md has the table). [Server.Handler]
// returns the whole HTTP surface:
//
//	POST /ward.v1.<Service>/<Method>   Connect unary calls
//	GET  /v1/stream                    WebSocket delivery stream
//	POST /v1/blobs, PUT|GET /v1/blobs/{id}  attachments
//	GET  /healthz, /readyz, /metrics   operations
//
// # Delivery
//
// A Send is validated against the current device lists of both accounts
// (cached per account for at most two seconds, and dropped on this node as
// soon as it accepts a new list), tagged for franking, and committed through
// a store.Batcher (group commit: one transaction, one fsync, for many
// sends). The committed entries are then handed straight to the receiving
// devices' streams on this node; devices connected elsewhere are woken
// through the bus.Bus. Each stream pushes entries in sequence order, keeps
// at most 1024 unacknowledged, deletes entries only when the device acks
// them, and re-reads the queue on connect, on a gap, on a bus wake-up and
// on its periodic ping, so the durable queue stays the source of truth.
//
// # What the server knows
//
// DESIGN.md section 1: public keys, signed device lists, prekeys, opaque
// envelopes and metadata. No bearer secret is stored: a session token is an
// HMAC by the server over (account, device, expiry), and a device gets one
// by signing a challenge with its device key.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardchat/ward/internal/bus"
	"github.com/wardchat/ward/internal/server/blob"
	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/sqlite"
)

// Server is one wardd node. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	st     store.Store
	bus    bus.Bus
	blobs  blob.Store
	batch  *store.Batcher
	now    func() time.Time
	rand   io.Reader
	admins map[string]bool

	authKey []byte // HMAC-SHA256 key for tokens and registration challenges
	keyring atomic.Pointer[keyringState]
	krMu    sync.Mutex // serialises keyring rotation on this node

	accounts accountCache
	uploads  sync.Map // store.BlobID -> struct{}: blob uploads in progress on this node

	sendLimit *limiter // per account: Send and FetchBundles
	addrLimit *limiter // per client IP: unauthenticated calls

	metrics  *metrics
	upgrader websocket.Upgrader
	streams  streams

	closing atomic.Bool
}

// New builds a server on an opened store. It loads (or creates, on first
// start) the token key and the franking keyring from the store's Secrets.
// Close the server before closing the store.
func New(ctx context.Context, cfg Config, log *slog.Logger, st store.Store, b bus.Bus, blobs blob.Store) (*Server, error) {
	return newServer(ctx, cfg, log, st, b, blobs, timing{pingPeriod: defaultPingPeriod, pongWait: defaultPongWait})
}

// timing holds the stream keepalive periods; tests shorten them.
type timing struct {
	pingPeriod, pongWait time.Duration
}

func newServer(ctx context.Context, cfg Config, log *slog.Logger, st store.Store, b bus.Bus, blobs blob.Store, tm timing) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		st:        st,
		bus:       b,
		blobs:     blobs,
		now:       time.Now,
		rand:      rand.Reader,
		admins:    map[string]bool{},
		sendLimit: newLimiter(cfg.SendRate, cfg.SendBurst),
		addrLimit: newLimiter(cfg.AddrRate, cfg.AddrBurst),
		metrics:   newMetrics(),
	}
	for _, h := range cfg.AdminHandles() {
		s.admins[h] = true
	}
	key, err := s.loadOrCreateSecret(ctx, secretAuthKey, func() ([]byte, error) {
		k := make([]byte, 32)
		_, err := io.ReadFull(s.rand, k)
		return k, err
	})
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("server: stored %s has %d bytes, want 32", secretAuthKey, len(key))
	}
	s.authKey = key
	if err := s.loadKeyring(ctx); err != nil {
		return nil, err
	}
	// SQLite has one writer: one batch commits while the next gathers.
	// PostgreSQL commits in parallel, so more batches may be in flight.
	flushers := 4
	if _, ok := st.(*sqlite.Store); ok {
		flushers = 1
	}
	s.batch = store.NewBatcher(st, store.BatcherConfig{Flushers: flushers})
	s.initStreams(tm)
	return s, nil
}

// Close stops accepting sends, closes every delivery stream and waits for
// in-flight sends to commit. It does not close the store, bus or blob store.
func (s *Server) Close() error {
	s.BeginShutdown()
	return s.batch.Close()
}

// Registry returns the Prometheus registry holding this server's metrics
// (served at /metrics), for embedding in another exporter.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

const secretAuthKey = "server/auth-key/v1"

// loadOrCreateSecret returns the secret stored under name, creating it with
// gen if absent. Concurrent first starts of several nodes agree on one
// value through the store's compare-and-swap.
func (s *Server) loadOrCreateSecret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	for range 3 {
		v, _, err := s.st.Secret(ctx, name)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("server: loading %s: %w", name, err)
		}
		nv, err := gen()
		if err != nil {
			return nil, fmt.Errorf("server: generating %s: %w", name, err)
		}
		_, err = s.st.PutSecret(ctx, name, nv, 0)
		if err == nil {
			return nv, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("server: storing %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("server: could not load or create %s", name)
}
