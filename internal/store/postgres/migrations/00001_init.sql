-- Ward store schema, PostgreSQL dialect (portable to CockroachDB). Times
-- are Unix milliseconds; ids are byte strings of fixed length; device ids,
-- versions and sequence numbers are BIGINT. Keep in step with
-- ../../sqlite/migrations.

-- +goose Up
CREATE TABLE accounts (
    account_id          BYTEA    PRIMARY KEY CHECK (octet_length(account_id) = 16),
    handle              TEXT    NOT NULL,
    handle_norm         TEXT    NOT NULL UNIQUE,
    age_band            TEXT    NOT NULL CHECK (age_band IN ('adult', 'teen')),
    status              TEXT    NOT NULL CHECK (status IN ('active', 'restricted', 'suspended', 'banned')),
    identity_key        BYTEA    NOT NULL CHECK (octet_length(identity_key) = 32),
    device_list_version BIGINT NOT NULL CHECK (device_list_version > 0),
    device_list         BYTEA    NOT NULL,
    created_at          BIGINT NOT NULL
);

-- Every accepted device list, append-only (key transparency builds on it).
CREATE TABLE device_lists (
    account_id  BYTEA    NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    signed      BYTEA    NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
);

CREATE TABLE invites (
    code_hash  BYTEA    PRIMARY KEY,
    created_by BYTEA,
    uses_left  BIGINT NOT NULL CHECK (uses_left >= 0),
    expires_at BIGINT NOT NULL
);

-- next_seq and queue_depth are the head of the device's delivery queue:
-- next_seq only grows, so sequence numbers never repeat.
CREATE TABLE devices (
    account_id   BYTEA    NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    device_id    BIGINT NOT NULL CHECK (device_id BETWEEN 0 AND 4294967295),
    signing_key  BYTEA    NOT NULL CHECK (octet_length(signing_key) = 32),
    identity_key BYTEA    NOT NULL CHECK (octet_length(identity_key) = 32),
    created_at   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    next_seq     BIGINT NOT NULL DEFAULT 1,
    queue_depth  BIGINT NOT NULL DEFAULT 0 CHECK (queue_depth >= 0),
    PRIMARY KEY (account_id, device_id)
);

-- kind: 0 = signed prekey, 1 = last-resort PQ prekey (one row each per
-- device); 2 = one-time X25519 prekey, 3 = one-time PQ prekey.
CREATE TABLE prekeys (
    account_id BYTEA    NOT NULL,
    device_id  BIGINT NOT NULL,
    kind       BIGINT NOT NULL CHECK (kind BETWEEN 0 AND 3),
    key_id     BIGINT NOT NULL,
    key        BYTEA    NOT NULL,
    PRIMARY KEY (account_id, device_id, kind, key_id),
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
);

CREATE TABLE challenges (
    nonce      BYTEA    PRIMARY KEY,
    account_id BYTEA    NOT NULL,
    device_id  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
);
CREATE INDEX challenges_expiry ON challenges (expires_at);

-- Unlike the SQLite schema, the queue keeps its foreign key here: device
-- removal and EnqueueBatch meet on the device row's lock, and the cascade
-- removes the entries in the same transaction.
CREATE TABLE queue (
    account_id     BYTEA    NOT NULL,
    device_id      BIGINT NOT NULL,
    seq            BIGINT NOT NULL,
    message_id     BYTEA    NOT NULL,
    sender_account BYTEA    NOT NULL,
    sender_device  BIGINT NOT NULL,
    server_ts      BIGINT NOT NULL,
    envelope       BYTEA    NOT NULL,
    franking_tag   BYTEA    NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, device_id, seq),
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
);
CREATE INDEX queue_expiry ON queue (expires_at);

-- Idempotency records of committed sends, kept until the send expires.
CREATE TABLE sends (
    sender_account    BYTEA    NOT NULL,
    sender_device     BIGINT NOT NULL,
    client_message_id BYTEA    NOT NULL,
    message_id        BYTEA    NOT NULL,
    server_ts         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    PRIMARY KEY (sender_account, sender_device, client_message_id)
);
CREATE INDEX sends_expiry ON sends (expires_at);

CREATE TABLE blobs (
    blob_id    BYTEA    PRIMARY KEY CHECK (octet_length(blob_id) = 32),
    uploader   BYTEA    NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    size       BIGINT NOT NULL CHECK (size >= 0),
    sha256     BYTEA,
    state      TEXT    NOT NULL CHECK (state IN ('uploading', 'complete')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX blobs_expiry ON blobs (expires_at);

CREATE TABLE server_secrets (
    name    TEXT    PRIMARY KEY,
    value   BYTEA    NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0)
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE blobs;
DROP TABLE sends;
DROP TABLE queue;
DROP TABLE challenges;
DROP TABLE prekeys;
DROP TABLE devices;
DROP TABLE invites;
DROP TABLE device_lists;
DROP TABLE accounts;
