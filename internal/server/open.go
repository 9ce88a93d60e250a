package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wardchat/ward/internal/server/blob"
	"github.com/wardchat/ward/internal/store"
	"github.com/wardchat/ward/internal/store/postgres"
	"github.com/wardchat/ward/internal/store/sqlite"
)

// OpenStore opens the database the configuration selects and returns it
// with its kind ("sqlite" or "postgres"). The data directory is created
// (0700) first.
func OpenStore(ctx context.Context, cfg Config) (store.Store, string, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("server: data directory: %w", err)
	}
	if p := cfg.SQLitePath(); p != "" {
		st, err := sqlite.Open(ctx, sqlite.Config{Path: p, MaxQueueDepth: cfg.QueueCap})
		if err != nil {
			return nil, "", err
		}
		// The database holds the server's secrets (token key, franking
		// keyring): readable by the server's user only.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Chmod(p+suffix, 0o600); err != nil && !os.IsNotExist(err) {
				st.Close()
				return nil, "", fmt.Errorf("server: %w", err)
			}
		}
		return st, "sqlite", nil
	}
	st, err := postgres.Open(ctx, postgres.Config{URL: cfg.StoreURL, MaxQueueDepth: cfg.QueueCap})
	if err != nil {
		return nil, "", err
	}
	return st, "postgres", nil
}

// OpenBlobs opens the default blob store, DataDir/blobs on the local file
// system.
func OpenBlobs(cfg Config) (blob.Store, error) {
	return blob.NewFS(filepath.Join(cfg.DataDir, "blobs"))
}

// BeginShutdown makes the server refuse new streams, report not ready and
// close every open stream with an Error frame. Call it before shutting the
// HTTP server down, then Close.
func (s *Server) BeginShutdown() {
	s.closing.Store(true)
	s.closeStreams()
}
