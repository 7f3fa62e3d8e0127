-- The activity log in chunks: one row holds the entries of one organisation from one batch of
-- the log writer, as a JSON array. A row per request cost the writer an insert into the table
-- and two indexes for every SCIM request; a chunk costs one insert per batch.
-- Every chunk spans at most a few seconds of `at` (the writer splits longer ones), so a query
-- from a time on can start at the first chunk that begins shortly before it.
CREATE TABLE activity_chunks (
    seq      INTEGER PRIMARY KEY,
    org_id   BLOB NOT NULL,       -- the nil UUID: no organisation could be named
    first_at INTEGER NOT NULL,    -- the earliest and latest `at` of the entries
    last_at  INTEGER NOT NULL,
    entries  INTEGER NOT NULL,    -- how many
    body     TEXT NOT NULL        -- [{"at": micros, "token": hex, "actor", "action", "target",
                                  --   "status", "us", "resource", "detail"}, ...] in `at` order
);
CREATE INDEX activity_chunks_org ON activity_chunks (org_id, first_at);
CREATE INDEX activity_chunks_first ON activity_chunks (first_at);

INSERT INTO activity_chunks (org_id, first_at, last_at, entries, body)
SELECT org_id, at, at, 1, json_array(json_object(
    'at', at,
    'token', CASE WHEN token_id IS NULL THEN NULL ELSE lower(hex(token_id)) END,
    'actor', actor, 'action', action, 'target', target, 'status', status,
    'us', duration_us, 'resource', resource, 'detail', detail))
FROM activity ORDER BY seq;

DROP TABLE activity;
