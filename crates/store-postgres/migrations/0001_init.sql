-- The PostgreSQL schema mirrors the SQLite one (crates/store-sqlite/migrations/0001_init.sql):
-- every table is keyed by organisation first, so organisations can later be spread across
-- databases; timestamps are unix microseconds in bigint columns, so both backends compare and
-- round them identically; `seq` is a monotonically increasing locator for stable ordering and
-- keyset cursors, the logical key is (org_id, id).

-- Case folding for filters on attributes that are not caseExact. ICU's root locale applies the
-- full Unicode lower-case mapping (final sigma, dotted capital I), as Rust's `str::to_lowercase`
-- does; the database's own `lower()` depends on its LC_CTYPE and folds only ASCII under "C".
CREATE FUNCTION scim_fold(s text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT lower(s COLLATE "und-x-icu") $$;

CREATE TABLE organisations (
    id       uuid PRIMARY KEY,
    name     text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('business', 'school')),
    created  bigint NOT NULL
);

CREATE TABLE tokens (
    org_id     uuid NOT NULL REFERENCES organisations (id),
    id         uuid NOT NULL,
    prefix     text NOT NULL,
    hash       bytea NOT NULL,
    created    bigint NOT NULL,
    expires    bigint NOT NULL,
    first_used bigint,
    last_used  bigint,
    revoked    bigint,
    PRIMARY KEY (org_id, id)
);
-- The one lookup across organisations: a presented secret's hash finds its organisation.
CREATE UNIQUE INDEX tokens_hash ON tokens (hash);

CREATE TABLE resources (
    org_id        uuid NOT NULL,
    id            uuid NOT NULL,
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    kind          smallint NOT NULL,          -- 0 User, 1 Group
    version       bigint NOT NULL,
    created       bigint NOT NULL,            -- unix microseconds
    last_modified bigint NOT NULL,
    source        text NOT NULL DEFAULT 'scim',
    -- User userName / Group displayName, lower-cased by the application (Rust's Unicode
    -- `to_lowercase`, the same function as the SQLite store), compared byte-wise.
    name_ci       text COLLATE "C",
    external_id   text COLLATE "C",
    doc           jsonb NOT NULL,             -- canonical SCIM JSON without id, meta, members, groups
    PRIMARY KEY (org_id, id)
);
CREATE INDEX resources_kind_seq ON resources (org_id, kind, seq);
-- userName is unique per organisation, case-insensitively: the database decides, not code.
CREATE UNIQUE INDEX resources_user_name ON resources (org_id, name_ci) WHERE kind = 0;
CREATE INDEX resources_group_name ON resources (org_id, name_ci) WHERE kind = 1;
CREATE INDEX resources_external_id ON resources (org_id, kind, external_id) WHERE external_id IS NOT NULL;

-- Membership as rows: adding or removing one member touches one row, whatever the group size.
-- The foreign keys keep membership consistent when several instances race: a member being
-- deleted cannot be added to a group at the same moment (the insert waits for the delete and
-- then fails), and a deleted group or member takes its rows with it.
CREATE TABLE group_members (
    org_id      uuid NOT NULL,
    group_id    uuid NOT NULL,
    member_id   uuid NOT NULL,
    member_kind smallint NOT NULL,
    PRIMARY KEY (org_id, group_id, member_id),
    FOREIGN KEY (org_id, group_id) REFERENCES resources (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, member_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_member ON group_members (org_id, member_id);
