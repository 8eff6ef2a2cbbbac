-- This installation's id: random, made once here and kept with the stores it owns. Every store
-- namespace is labelled with it, and the orphan sweep deletes only namespaces that carry it, so
-- another installation on the same cluster (even one with the same --instance name, or an empty
-- database pointed at the wrong cluster) never sweeps this one's namespaces: it cannot know the
-- id without reading this database.
CREATE TABLE installation (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    installation_id  TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
INSERT INTO installation (id, installation_id, created_at)
VALUES (1, lower(hex(randomblob(16))), CAST(strftime('%s', 'now') AS INTEGER) * 1000);
