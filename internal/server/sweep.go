package server

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/wardchat/ward/internal/server/blob"
	"github.com/wardchat/ward/internal/store"
)

// Run runs the periodic maintenance until ctx ends: queue TTL, expired
// challenges, expired blobs, rate-limiter eviction and franking key
// rotation, every SweepInterval.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SweepStats reports what one sweep removed.
type SweepStats struct {
	QueueEntries, Challenges, Blobs, LimiterKeys int
	Rotated                                      bool
}

// Sweep runs one round of maintenance. Errors are logged; the next round
// retries.
func (s *Server) Sweep(ctx context.Context) SweepStats {
	var st SweepStats
	now := s.now()
	var err error
	if st.QueueEntries, err = s.st.ExpireBefore(ctx, now); err != nil {
		s.log.Warn("sweep queue", "err", err)
	}
	s.metrics.expired.Add(float64(st.QueueEntries))
	if st.Challenges, err = s.st.DeleteExpiredChallenges(ctx, now); err != nil {
		s.log.Warn("sweep challenges", "err", err)
	}
	for {
		list, err := s.st.ExpiredBlobs(ctx, now, 256)
		if err != nil {
			s.log.Warn("sweep blobs", "err", err)
			break
		}
		before := st.Blobs
		for _, b := range list {
			if err := s.blobs.Delete(ctx, hex.EncodeToString(b.ID[:])); err != nil && !errors.Is(err, blob.ErrNotFound) {
				s.log.Warn("sweep blob bytes", "err", err)
				continue
			}
			if err := s.st.DeleteBlob(ctx, b.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("sweep blob", "err", err)
				continue
			}
			st.Blobs++
		}
		if len(list) < 256 || st.Blobs == before || ctx.Err() != nil {
			break
		}
	}
	st.LimiterKeys = s.sendLimit.sweep(time.Now()) + s.addrLimit.sweep(time.Now())
	if st.Rotated, err = s.maintainKeyring(ctx); err != nil {
		s.log.Warn("franking keyring", "err", err)
	}
	if st.QueueEntries+st.Challenges+st.Blobs > 0 {
		s.log.Info("sweep", "queue_entries", st.QueueEntries, "challenges", st.Challenges, "blobs", st.Blobs)
	}
	return st
}
