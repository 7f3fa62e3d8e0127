-- Account search (docs/contract.md, "Account search"): an FTS5 index with the trigram
-- tokenizer over each account's userName, displayName, given and family name and e-mail
-- addresses, so that a case-insensitive substring of 3 or more characters is an index lookup
-- instead of a scan of every account's document.
--
-- The organisation leads the index: an entry's rowid is the organisation's number (below)
-- times 2^40 plus the account's `seq`, so a search reads only its own organisation's range
-- of every trigram's list. Contentless (the text is in `resources.doc` already) and kept by
-- triggers on `resources`, inside the transaction of every write, whatever writes it.
CREATE TABLE search_orgs (
    n      INTEGER PRIMARY KEY,
    org_id BLOB NOT NULL UNIQUE
);

CREATE VIRTUAL TABLE account_search USING fts5 (
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'trigram case_sensitive 0'
);

INSERT INTO search_orgs (org_id) SELECT DISTINCT org_id FROM resources WHERE kind = 0;

INSERT INTO account_search (rowid, body)
SELECT o.n * 1099511627776 + r.seq,
       coalesce(json_extract(r.doc, '$.userName'), '') || char(10)
       || coalesce(json_extract(r.doc, '$.displayName'), '') || char(10)
       || coalesce(json_extract(r.doc, '$.name.givenName'), '') || ' '
       || coalesce(json_extract(r.doc, '$.name.familyName'), '') || char(10)
       || coalesce((SELECT group_concat(json_extract(e.value, '$.value'), char(10))
                    FROM json_each(r.doc, '$.emails') e WHERE e.type = 'object'), '')
FROM resources r JOIN search_orgs o ON o.org_id = r.org_id
WHERE r.kind = 0;

CREATE TRIGGER account_search_insert AFTER INSERT ON resources
WHEN NEW.kind = 0
BEGIN
    INSERT OR IGNORE INTO search_orgs (org_id) VALUES (NEW.org_id);
    INSERT INTO account_search (rowid, body)
    SELECT o.n * 1099511627776 + NEW.seq,
           coalesce(json_extract(NEW.doc, '$.userName'), '') || char(10)
           || coalesce(json_extract(NEW.doc, '$.displayName'), '') || char(10)
           || coalesce(json_extract(NEW.doc, '$.name.givenName'), '') || ' '
           || coalesce(json_extract(NEW.doc, '$.name.familyName'), '') || char(10)
           || coalesce((SELECT group_concat(json_extract(e.value, '$.value'), char(10))
                        FROM json_each(NEW.doc, '$.emails') e WHERE e.type = 'object'), '')
    FROM search_orgs o WHERE o.org_id = NEW.org_id;
END;

CREATE TRIGGER account_search_delete AFTER DELETE ON resources
WHEN OLD.kind = 0
BEGIN
    DELETE FROM account_search WHERE rowid =
        (SELECT n FROM search_orgs WHERE org_id = OLD.org_id) * 1099511627776 + OLD.seq;
END;

CREATE TRIGGER account_search_update AFTER UPDATE OF doc, org_id, kind ON resources
WHEN OLD.kind = 0 OR NEW.kind = 0
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
