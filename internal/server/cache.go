package server

import (
	"context"
	"sync"
	"time"

	"github.com/wardchat/ward/internal/store"
)

// accountCache keeps recently used accounts with their current devices, so
// that the send path (which must check every copy against the current
// device lists of two accounts) does not read the database per message.
//
// Freshness: this node drops an account's entry whenever it accepts a new
// device list for it, so on a single node the cache is exact. Entries also
// expire after accountCacheTTL, which bounds how long another node's
// device-list change or a moderation status change can go unseen here.
type accountCache struct {
	mu sync.Mutex
	m  map[store.AccountID]*cachedAccount
}

type cachedAccount struct {
	acc     *store.Account
	devices []store.Device
	at      time.Time
}

const (
	accountCacheTTL = 2 * time.Second
	accountCacheMax = 100_000
)

func (c *accountCache) get(ctx context.Context, st store.Store, id store.AccountID) (*store.Account, []store.Device, error) {
	now := time.Now()
	c.mu.Lock()
	e := c.m[id]
	c.mu.Unlock()
	if e != nil && now.Sub(e.at) < accountCacheTTL {
		return e.acc, e.devices, nil
	}
	acc, err := st.Account(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	devs, err := st.Devices(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= accountCacheMax {
		c.m = make(map[store.AccountID]*cachedAccount)
	}
	c.m[id] = &cachedAccount{acc: acc, devices: devs, at: now}
	c.mu.Unlock()
	return acc, devs, nil
}

func (c *accountCache) forget(id store.AccountID) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// AccountChanged tells the server that an account's status or devices were
// changed behind its back (for example by moderation through the store), so
// that this node stops serving from its cached copy at once. Other nodes
// catch up within two seconds.
func (s *Server) AccountChanged(id store.AccountID) { s.accounts.forget(id) }
