package sqlite

import "context"

// Pragmas reads the durability pragmas from the writer connection (tests
// only).
func (s *Store) Pragmas(ctx context.Context) map[string]string { return s.pragmas(ctx) }
