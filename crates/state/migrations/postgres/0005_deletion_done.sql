-- How far a deletion has come, as explicit state: the last deletion step that finished
-- (`delete_namespace`, `await_namespace_gone`), NULL until one has. Before this column the
-- orchestrator read it from the NamespaceReady condition's reason (`Deleting`); stores deleting
-- at upgrade time carry it over from there, so none deletes its namespace twice.
ALTER TABLE stores ADD COLUMN deletion_done TEXT;
UPDATE stores SET deletion_done = 'delete_namespace'
WHERE phase = 'deleting'
  AND conditions LIKE '%"type":"NamespaceReady","status":"False","reason":"Deleting"%';
