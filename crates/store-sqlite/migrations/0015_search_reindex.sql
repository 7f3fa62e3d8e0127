-- Account search (migration 0011): an update of an account re-indexes it only when the text
-- the index holds changes. Most updates an identity provider sends change something else
-- (`active`, a title, a department, a manager); re-indexing those wrote a deletion and a new
-- entry into the FTS5 index for nothing, and flushing and merging that index was a quarter of
-- the server's time under a mix of reads and writes.
DROP TRIGGER account_search_update;

CREATE TRIGGER account_search_update AFTER UPDATE OF doc, org_id, kind ON resources
WHEN (OLD.kind = 0 OR NEW.kind = 0)
    AND (OLD.kind IS NOT NEW.kind OR OLD.org_id IS NOT NEW.org_id OR OLD.seq IS NOT NEW.seq
         OR (coalesce(json_extract(OLD.doc, '$.userName'), '') || char(10)
                    || coalesce(json_extract(OLD.doc, '$.displayName'), '') || char(10)
                    || coalesce(json_extract(OLD.doc, '$.name.givenName'), '') || ' '
                    || coalesce(json_extract(OLD.doc, '$.name.familyName'), '') || char(10)
                    || coalesce((SELECT group_concat(json_extract(e.value, '$.value'), char(10))
                                 FROM json_each(OLD.doc, '$.emails') e WHERE e.type = 'object'), ''))
            IS NOT (coalesce(json_extract(NEW.doc, '$.userName'), '') || char(10)
                    || coalesce(json_extract(NEW.doc, '$.displayName'), '') || char(10)
                    || coalesce(json_extract(NEW.doc, '$.name.givenName'), '') || ' '
                    || coalesce(json_extract(NEW.doc, '$.name.familyName'), '') || char(10)
                    || coalesce((SELECT group_concat(json_extract(e.value, '$.value'), char(10))
                                 FROM json_each(NEW.doc, '$.emails') e WHERE e.type = 'object'), '')))
BEGIN
    DELETE FROM account_search WHERE OLD.kind = 0 AND rowid =
        (SELECT n FROM search_orgs WHERE org_id = OLD.org_id) * 1099511627776 + OLD.seq;
    INSERT OR IGNORE INTO search_orgs (org_id) SELECT NEW.org_id WHERE NEW.kind = 0;
    INSERT INTO account_search (rowid, body)
    SELECT o.n * 1099511627776 + NEW.seq,
           coalesce(json_extract(NEW.doc, '$.userName'), '') || char(10)
           || coalesce(json_extract(NEW.doc, '$.displayName'), '') || char(10)
           || coalesce(json_extract(NEW.doc, '$.name.givenName'), '') || ' '
           || coalesce(json_extract(NEW.doc, '$.name.familyName'), '') || char(10)
           || coalesce((SELECT group_concat(json_extract(e.value, '$.value'), char(10))
                        FROM json_each(NEW.doc, '$.emails') e WHERE e.type = 'object'), '')
    FROM search_orgs o WHERE o.org_id = NEW.org_id AND NEW.kind = 0;
END;
