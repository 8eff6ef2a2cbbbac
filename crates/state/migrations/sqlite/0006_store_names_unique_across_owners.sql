-- A store is served at `<name>.<store domain>`, so a live name must belong to one store across
-- every owner (it was unique per owner only: two tenants' `shop` claimed one host). The database
-- enforces it, so two concurrent creates cannot both win.
--
-- An existing install may already hold live duplicates. The migration must not fail on them and
-- must not delete anyone's store: the oldest live store of each name keeps the name; each younger
-- one is marked `shares_host` (left out of the index) and told so in its events. Its owner should
-- recreate it under another name; no new store can take the name while any of them is live.
ALTER TABLE stores ADD COLUMN shares_host BIGINT NOT NULL DEFAULT 0;
UPDATE stores SET shares_host = 1
WHERE phase <> 'deleted'
  AND EXISTS (
    SELECT 1 FROM stores older
    WHERE older.name = stores.name AND older.phase <> 'deleted' AND older.id < stores.id
  );
INSERT INTO store_events (store_id, at, kind, reason, message)
SELECT id, CAST(strftime('%s', 'now') AS INTEGER) * 1000, 'Warning', 'HostShared',
       'another tenant''s older store has the same name, so both claim one host and visitors may reach the other store; store names are now unique across the platform: delete this store and create it under another name'
FROM stores WHERE shares_host = 1;
DROP INDEX stores_live_name;
CREATE UNIQUE INDEX stores_live_name ON stores (name) WHERE phase <> 'deleted' AND shares_host = 0;
-- The create check looks a name up among every row (the partial index above cannot serve a query
-- that does not repeat its predicate): without this, each create scans the table, deleted stores
-- included (3-5 ms at 50,000 rows on SQLite, inside the create gate; 0.02 ms with it).
CREATE INDEX stores_name ON stores (name);
