-- Applications (docs/contract.md, "Applications"): keys, the event log, webhook endpoints and
-- their delivery log.

CREATE TABLE apps (
    org_id    BLOB NOT NULL REFERENCES organisations (id),
    id        BLOB NOT NULL,
    name      TEXT NOT NULL,
    prefix    TEXT NOT NULL,
    hash      BLOB NOT NULL,
    created   INTEGER NOT NULL,
    last_used INTEGER,
    revoked   INTEGER,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
-- The one lookup across organisations: a presented key's hash finds its application.
CREATE UNIQUE INDEX apps_hash ON apps (hash);
-- A live application's name is unique in its organisation.
CREATE UNIQUE INDEX apps_name ON apps (org_id, name) WHERE revoked IS NULL;

-- The last sequence number each organisation handed out: kept apart from the events, so that
-- the numbering carries on when old events are purged.
CREATE TABLE event_counters (
    org_id   BLOB PRIMARY KEY,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;

-- `seq` is per organisation, gapless, assigned by the write that appends the event, in the
-- transaction of the change; `data` is the object after the change, as JSON.
CREATE TABLE events (
    org_id  BLOB NOT NULL,
    seq     INTEGER NOT NULL,
    id      BLOB NOT NULL,
    type    TEXT NOT NULL,
    created INTEGER NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_id ON events (id);
CREATE INDEX events_created ON events (created);

-- `types` is a comma-separated list (empty: every type); `secrets` a JSON list, the current
-- secret first; `cursor` the sequence of the last event delivered.
CREATE TABLE webhooks (
    org_id        BLOB NOT NULL REFERENCES organisations (id),
    id            BLOB NOT NULL,
    url           TEXT NOT NULL,
    types         TEXT NOT NULL,
    secrets       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('active', 'failing')),
    cursor        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER,
    failing_since INTEGER,
    created       INTEGER NOT NULL,
    last_delivery INTEGER,
    last_status   INTEGER,
    lease_owner   TEXT,
    lease_until   INTEGER,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      BLOB NOT NULL,
    endpoint_id BLOB NOT NULL,
    event_id    BLOB NOT NULL,
    event_seq   INTEGER NOT NULL,
    event_type  TEXT NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    latency_ms  INTEGER NOT NULL,
    ok          INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (org_id, endpoint_id, seq);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);

-- When the object applications see last changed: a local property or the source moves it as
-- well as the SCIM document (`last_modified` is SCIM's `meta.lastModified` alone).
ALTER TABLE resources ADD COLUMN updated INTEGER;
