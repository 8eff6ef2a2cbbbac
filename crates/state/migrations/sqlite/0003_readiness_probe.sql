-- One row the readiness probe rewrites to prove the database takes writes. Its filler is
-- several pages long, so a write that only fits into slack at the end of a file (a WAL
-- frame on a full disk) does not pass for a healthy database.
CREATE TABLE readiness_probe (
    id          INTEGER PRIMARY KEY,
    filler      BLOB NOT NULL,
    checked_at  BIGINT NOT NULL
);
INSERT INTO readiness_probe (id, filler, checked_at) VALUES (1, X'00', 0);
