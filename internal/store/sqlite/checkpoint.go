package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"
)

// Checkpointing. In WAL mode a commit appends pages to the WAL; a
// checkpoint copies them back into the database file and fsyncs it. By
// default SQLite runs that checkpoint inside whichever commit pushes the WAL
// past 1000 pages, so every few batches one unlucky commit also pays for
// copying and syncing the database. The writer instead runs with
// wal_autocheckpoint(0) and this goroutine checkpoints on its own
// connection every checkpointEvery, in parallel with the writer (a PASSIVE
// checkpoint never blocks writers or readers). The period trades WAL length
// against database fsyncs competing with the writer's WAL fsyncs.
//
// A checkpoint can only start the WAL over from its beginning when no reader
// still uses it. With fetches running all the time that moment may never
// come and the WAL file grows without bound (measured before this existed:
// 36 MB after 54,000 sends with 8 busy readers). Past walRestartFrames the
// checkpointer therefore asks for a RESTART checkpoint, which waits up to 50
// ms for the current readers (and holds off new writers meanwhile) so that
// the next commit starts the WAL over; journal_size_limit then truncates
// the file.
const (
	checkpointEvery  = 250 * time.Millisecond
	walRestartFrames = 4096 // 16 MiB of 4 KiB pages
)

type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
}

func startCheckpointer(path string) (*checkpointer, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(50)")
	q.Add("_pragma", "synchronous(full)")
	q.Add("_pragma", "journal_size_limit(67108864)")
	db, err := sql.Open("sqlite3", dsn(path, q))
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: checkpointer: %w", err)
	}
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.checkpoint()
	}
}

// checkpoint runs one PASSIVE checkpoint, and a RESTART if the WAL is
// long. Errors are ignored: the next tick retries, and a long WAL costs
// space and read time, not correctness.
func (c *checkpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var busy, frames, done int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
		return
	}
	if frames > walRestartFrames {
		c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &frames, &done)
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
