-- Dashboard sessions (issue 10 item 7): the browser's cookie holds a random session id, no longer
-- the user's permanent API token. Only the id's SHA-256 is kept, with its user and its end; a
-- session is deleted on logout and when its user's token is rotated or the user removed, and
-- expired ones are deleted whenever someone logs in.
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
