-- Storefleet state store, PostgreSQL dialect. Times are Unix milliseconds; ids are UUID text.
CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE stores (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    owner               TEXT NOT NULL,
    engine              TEXT NOT NULL,
    plan                TEXT NOT NULL,
    phase               TEXT NOT NULL,
    conditions          TEXT NOT NULL,
    namespace           TEXT NOT NULL,
    cluster             TEXT NOT NULL,
    message             TEXT,
    storefront_url      TEXT,
    admin_url           TEXT,
    expires_at          BIGINT,
    deadline_at         BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    generation          BIGINT NOT NULL,
    observed_generation BIGINT NOT NULL,
    touched_cluster     BIGINT NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_expires_at    BIGINT,
    next_attempt_at     BIGINT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX stores_work ON stores (phase, next_attempt_at);
CREATE INDEX stores_owner ON stores (owner, id);
CREATE UNIQUE INDEX stores_live_name ON stores (owner, name) WHERE phase <> 'deleted';

CREATE TABLE store_events (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id  TEXT NOT NULL,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    message   TEXT NOT NULL
);
CREATE INDEX store_events_store ON store_events (store_id, id);

CREATE TABLE idempotency_keys (
    owner         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    store_id      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (owner, key)
);

CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    source_ip   TEXT,
    request_id  TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT
);

-- One row every create updates first: it serializes creates so quota checks cannot overshoot.
CREATE TABLE create_gate (
    id   INTEGER PRIMARY KEY,
    seq  BIGINT NOT NULL
);
INSERT INTO create_gate (id, seq) VALUES (1, 0);
