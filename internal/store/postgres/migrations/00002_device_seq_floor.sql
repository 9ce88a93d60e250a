-- A device removed from its account's device list loses its row (and its
-- queue), but if the same device id is listed again its sequence numbers
-- must keep growing: the client's cursor from before the removal would
-- otherwise hide the new entries. The next sequence number of a removed
-- device is kept here and restored when the device comes back.

-- +goose Up
CREATE TABLE device_seq_floor (
    account_id BYTEA  NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    device_id  BIGINT NOT NULL,
    next_seq   BIGINT NOT NULL,
    PRIMARY KEY (account_id, device_id)
);

-- +goose Down
DROP TABLE device_seq_floor;
