-- The directory (docs/contract.md, "Directory semantics"): sources, SCIM deletion with a userName hold, local
-- properties, conflicts, domains, administrators' sessions.

-- When SCIM deleted the account (it is then invisible to SCIM), and until when its userName
-- stays reserved; `active` mirrors the document's, for status filters; `local` holds the
-- organisation's own properties as JSON, outside the SCIM document and its version.
ALTER TABLE resources ADD COLUMN deleted INTEGER;
ALTER TABLE resources ADD COLUMN hold_until INTEGER;
ALTER TABLE resources ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE resources ADD COLUMN local TEXT;
UPDATE resources SET active = 0 WHERE json_extract(doc, '$.active') = 0;
-- What SCIM sees: owned by directory sync and not deleted.
CREATE INDEX resources_scim_seq ON resources (org_id, kind, seq) WHERE source = 'scim' AND deleted IS NULL;
CREATE INDEX resources_held ON resources (hold_until) WHERE deleted IS NOT NULL;

ALTER TABLE organisations ADD COLUMN auto_merge INTEGER NOT NULL DEFAULT 0;

-- One row per (organisation, userName), however often the identity provider retries.
CREATE TABLE conflicts (
    org_id     BLOB NOT NULL REFERENCES organisations (id),
    name_ci    TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    account_id BLOB NOT NULL,
    incoming   TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (org_id, name_ci)
) WITHOUT ROWID;

CREATE TABLE domains (
    org_id      BLOB NOT NULL REFERENCES organisations (id),
    name        TEXT NOT NULL,
    txt         TEXT NOT NULL,
    created     INTEGER NOT NULL,
    verified    INTEGER,
    verified_by TEXT,
    PRIMARY KEY (org_id, name)
) WITHOUT ROWID;

CREATE TABLE sessions (
    org_id   BLOB NOT NULL REFERENCES organisations (id),
    id       BLOB NOT NULL,
    hash     BLOB NOT NULL,
    admin_id BLOB NOT NULL,
    created  INTEGER NOT NULL,
    expires  INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX sessions_hash ON sessions (hash);
