package sqlite

import (
	"context"
	"database/sql"
)

// Pragmas reads the durability pragmas from the writer connection (tests
// only).
func (s *Store) Pragmas(ctx context.Context) map[string]string {
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
