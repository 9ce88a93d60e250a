package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/wardchat/ward/internal/store"
)

// heads is the writer's view of the delivery queues, kept in memory
// (migration 00002 explains why):
//
//   - next is the store-wide next sequence number, stored in queue_meta in
//     the same transaction as the entries that use it. Every device's
//     sequence numbers only grow, and since the one writer commits batches
//     in sequence order, a reader never sees seq N+1 committed before N.
//   - depth caches, per device, the number of queued entries and the last
//     sequence number assigned to it (the largest queued one when loaded,
//     0 for an empty queue: no entry lies between it and the next one
//     assigned, which is what [store.Result.PrevSeqs] promises); a device
//     not in the map is looked up (existence, count, largest seq) on first
//     use. An entry means the device existed when it was loaded; removing
//     a device drops its entry.
//
// Both are read and changed only with wmu held, and changed only after the
// transaction that justifies the change has committed, so a rollback
// leaves them untouched. They assume this process is the database's only
// writer (see the package documentation).
type heads struct {
	next  uint64
	depth map[store.Address]head
}

// head is one device's cached queue head.
type head struct {
	depth int
	last  uint64
}

// maxCachedHeads bounds the depth cache (about 60 bytes an entry); past it
// the cache is emptied and refilled on demand.
const maxCachedHeads = 1 << 18

// set records a device's depth and last assigned seq after a commit.
func (h *heads) set(a store.Address, depth int, last uint64) {
	if _, ok := h.depth[a]; !ok && len(h.depth) >= maxCachedHeads {
		clear(h.depth)
	}
	h.depth[a] = head{depth: depth, last: last}
}

// drop lowers a cached depth after n entries were deleted.
func (h *heads) drop(a store.Address, n int) {
	if d, ok := h.depth[a]; ok && n > 0 {
		d.depth = max(0, d.depth-n)
		h.depth[a] = d
	}
}

// loadHeads reads the next sequence number.
func (s *Store) loadHeads(ctx context.Context) error {
	var next int64
	if err := s.w.QueryRowContext(ctx, `SELECT next_seq FROM queue_meta WHERE id = 1`).Scan(&next); err != nil {
		return fmt.Errorf("sqlite: queue heads: %w", err)
	}
	s.heads = heads{next: uint64(next), depth: make(map[store.Address]head)}
	return nil
}

// writeThen is write with an after func run once the transaction has
// committed, still under wmu: the place to update in-memory state that
// must follow the database exactly.
func (s *Store) writeThen(ctx context.Context, fn func(tx *sql.Tx) error, after func()) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.commit(ctx, fn); err != nil {
		return err
	}
	after()
	return nil
}
