-- Every table is keyed by organisation first, so organisations can later be spread across
-- databases. `seq` is SQLite's rowid: a physical, monotonically increasing locator used for
-- stable ordering and keyset cursors; the logical key is (org_id, id).

CREATE TABLE organisations (
    id       BLOB PRIMARY KEY,
    name     TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('business', 'school')),
    created  INTEGER NOT NULL
);

CREATE TABLE tokens (
    org_id     BLOB NOT NULL REFERENCES organisations (id),
    id         BLOB NOT NULL,
    prefix     TEXT NOT NULL,
    hash       BLOB NOT NULL,
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL,
    first_used INTEGER,
    last_used  INTEGER,
    revoked    INTEGER,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
-- The one lookup across organisations: a presented secret's hash finds its organisation.
CREATE UNIQUE INDEX tokens_hash ON tokens (hash);

CREATE TABLE resources (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id        BLOB NOT NULL,
    id            BLOB NOT NULL,
    kind          INTEGER NOT NULL,           -- 0 User, 1 Group
    version       INTEGER NOT NULL,
    created       INTEGER NOT NULL,           -- unix microseconds
    last_modified INTEGER NOT NULL,
    source        TEXT NOT NULL DEFAULT 'scim',
    name_ci       TEXT,                       -- User userName / Group displayName, lower-cased
    external_id   TEXT,
    doc           TEXT NOT NULL               -- canonical SCIM JSON without id, meta, members, groups
);
CREATE UNIQUE INDEX resources_id ON resources (org_id, id);
CREATE INDEX resources_kind_seq ON resources (org_id, kind, seq);
-- userName is unique per organisation, case-insensitively: the database decides, not code.
CREATE UNIQUE INDEX resources_user_name ON resources (org_id, name_ci) WHERE kind = 0;
CREATE INDEX resources_group_name ON resources (org_id, name_ci) WHERE kind = 1;
CREATE INDEX resources_external_id ON resources (org_id, kind, external_id) WHERE external_id IS NOT NULL;

-- Membership as rows: adding or removing one member touches one row, whatever the group size.
CREATE TABLE group_members (
    org_id      BLOB NOT NULL,
    group_id    BLOB NOT NULL,
    member_id   BLOB NOT NULL,
    member_kind INTEGER NOT NULL,
    PRIMARY KEY (org_id, group_id, member_id)
) WITHOUT ROWID;
CREATE INDEX group_members_member ON group_members (org_id, member_id);
