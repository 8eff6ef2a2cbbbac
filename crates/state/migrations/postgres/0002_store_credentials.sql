-- The owner's credential view: each store's engine login, sealed with the platform key
-- (ChaCha20-Poly1305, store id as associated data). Removed when the store's deletion starts.
CREATE TABLE store_credentials (
    store_id    TEXT PRIMARY KEY,
    sealed      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
