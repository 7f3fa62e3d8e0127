-- The directory (docs/contract.md, "Directory semantics"): sources, SCIM deletion with a userName hold, local
-- properties, conflicts, domains, administrators' sessions. Mirrors the SQLite migration.

ALTER TABLE resources ADD COLUMN deleted bigint;
ALTER TABLE resources ADD COLUMN hold_until bigint;
ALTER TABLE resources ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE resources ADD COLUMN local jsonb;
UPDATE resources SET active = false WHERE doc->'active' = 'false'::jsonb;
-- What SCIM sees: owned by directory sync and not deleted.
CREATE INDEX resources_scim_seq ON resources (org_id, kind, seq) WHERE source = 'scim' AND deleted IS NULL;
CREATE INDEX resources_held ON resources (hold_until) WHERE deleted IS NOT NULL;

ALTER TABLE organisations ADD COLUMN auto_merge boolean NOT NULL DEFAULT false;

CREATE TABLE conflicts (
    org_id     uuid NOT NULL REFERENCES organisations (id),
    name_ci    text COLLATE "C" NOT NULL,
    user_name  text NOT NULL,
    account_id uuid NOT NULL,
    incoming   jsonb NOT NULL,
    first_seen bigint NOT NULL,
    last_seen  bigint NOT NULL,
    attempts   bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (org_id, name_ci)
);

CREATE TABLE domains (
    org_id      uuid NOT NULL REFERENCES organisations (id),
    name        text NOT NULL,
    txt         text NOT NULL,
    created     bigint NOT NULL,
    verified    bigint,
    verified_by text,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE sessions (
    org_id   uuid NOT NULL REFERENCES organisations (id),
    id       uuid NOT NULL,
    hash     bytea NOT NULL,
    admin_id uuid NOT NULL,
    created  bigint NOT NULL,
    expires  bigint NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX sessions_hash ON sessions (hash);
