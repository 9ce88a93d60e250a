-- Ward store schema, SQLite dialect. Times are Unix milliseconds; ids are
-- blobs of fixed length; device ids, versions and sequence numbers are
-- integers. Keep in step with ../../postgres/migrations.

-- +goose Up
CREATE TABLE accounts (
    account_id          BLOB    PRIMARY KEY CHECK (length(account_id) = 16),
    handle              TEXT    NOT NULL,
    handle_norm         TEXT    NOT NULL UNIQUE,
    age_band            TEXT    NOT NULL CHECK (age_band IN ('adult', 'teen')),
    status              TEXT    NOT NULL CHECK (status IN ('active', 'restricted', 'suspended', 'banned')),
    identity_key        BLOB    NOT NULL CHECK (length(identity_key) = 32),
    device_list_version INTEGER NOT NULL CHECK (device_list_version > 0),
    device_list         BLOB    NOT NULL,
    created_at          INTEGER NOT NULL
) STRICT;

-- Every accepted device list, append-only (key transparency builds on it).
CREATE TABLE device_lists (
    account_id  BLOB    NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    signed      BLOB    NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE invites (
    code_hash  BLOB    PRIMARY KEY,
    created_by BLOB,
    uses_left  INTEGER NOT NULL CHECK (uses_left >= 0),
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- next_seq and queue_depth are the head of the device's delivery queue:
-- next_seq only grows, so sequence numbers never repeat.
CREATE TABLE devices (
    account_id   BLOB    NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    device_id    INTEGER NOT NULL CHECK (device_id BETWEEN 0 AND 4294967295),
    signing_key  BLOB    NOT NULL CHECK (length(signing_key) = 32),
    identity_key BLOB    NOT NULL CHECK (length(identity_key) = 32),
    created_at   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    next_seq     INTEGER NOT NULL DEFAULT 1,
    queue_depth  INTEGER NOT NULL DEFAULT 0 CHECK (queue_depth >= 0),
    PRIMARY KEY (account_id, device_id)
) STRICT, WITHOUT ROWID;

-- kind: 0 = signed prekey, 1 = last-resort PQ prekey (one row each per
-- device); 2 = one-time X25519 prekey, 3 = one-time PQ prekey.
CREATE TABLE prekeys (
    account_id BLOB    NOT NULL,
    device_id  INTEGER NOT NULL,
    kind       INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 3),
    key_id     INTEGER NOT NULL,
    key        BLOB    NOT NULL,
    PRIMARY KEY (account_id, device_id, kind, key_id),
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE challenges (
    nonce      BLOB    PRIMARY KEY,
    account_id BLOB    NOT NULL,
    device_id  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, device_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
CREATE INDEX challenges_expiry ON challenges (expires_at);

-- The queue has no foreign key: the store checks the device when it reads
-- the queue head, and deletes a removed device's entries itself (one index
-- probe less per entry). It stays a rowid table: clustering it on
-- (device, seq) measured 2-3x slower inserts with envelopes inline.
CREATE TABLE queue (
    account_id     BLOB    NOT NULL,
    device_id      INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    message_id     BLOB    NOT NULL,
    sender_account BLOB    NOT NULL,
    sender_device  INTEGER NOT NULL,
    server_ts      INTEGER NOT NULL,
    envelope       BLOB    NOT NULL,
    franking_tag   BLOB    NOT NULL,
    expires_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, device_id, seq)
) STRICT;
CREATE INDEX queue_expiry ON queue (expires_at);

-- Idempotency records of committed sends, kept until the send expires.
CREATE TABLE sends (
    sender_account    BLOB    NOT NULL,
    sender_device     INTEGER NOT NULL,
    client_message_id BLOB    NOT NULL,
    message_id        BLOB    NOT NULL,
    server_ts         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    PRIMARY KEY (sender_account, sender_device, client_message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX sends_expiry ON sends (expires_at);

CREATE TABLE blobs (
    blob_id    BLOB    PRIMARY KEY CHECK (length(blob_id) = 32),
    uploader   BLOB    NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    size       INTEGER NOT NULL CHECK (size >= 0),
    sha256     BLOB,
    state      TEXT    NOT NULL CHECK (state IN ('uploading', 'complete')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX blobs_expiry ON blobs (expires_at);

CREATE TABLE server_secrets (
    name    TEXT    PRIMARY KEY,
    value   BLOB    NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0)
) STRICT, WITHOUT ROWID;

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
