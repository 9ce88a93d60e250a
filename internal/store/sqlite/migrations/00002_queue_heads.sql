-- Queue heads move out of the devices table (SQLite only).
--
-- The single writer assigns sequence numbers from one store-wide counter
-- (per device they still only grow, and commits happen in sequence order,
-- so a reader never sees seq N+1 before N) and keeps each device's queue
-- depth in memory, counted from the queue on first use. That removes a
-- lookup and an update of a devices row per recipient per batch, which
-- dominated batches fanning out to thousands of devices. devices.next_seq
-- and devices.queue_depth are no longer maintained.

-- +goose Up
CREATE TABLE queue_meta (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq INTEGER NOT NULL CHECK (next_seq > 0)
) STRICT;
INSERT INTO queue_meta (id, next_seq)
    SELECT 1, max(coalesce((SELECT max(next_seq) FROM devices), 1),
                  coalesce((SELECT max(seq) + 1 FROM queue), 1));

-- +goose Down
DROP TABLE queue_meta;
