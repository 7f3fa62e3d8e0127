-- Applications (docs/contract.md, "Applications"): keys, the event log, webhook endpoints and
-- their delivery log. Mirrors the SQLite migration 0008.

CREATE TABLE apps (
    org_id    uuid NOT NULL REFERENCES organisations (id),
    id        uuid NOT NULL,
    name      text NOT NULL,
    prefix    text NOT NULL,
    hash      bytea NOT NULL,
    created   bigint NOT NULL,
    last_used bigint,
    revoked   bigint,
    PRIMARY KEY (org_id, id)
);
-- The one lookup across organisations: a presented key's hash finds its application.
CREATE UNIQUE INDEX apps_hash ON apps (hash);
-- A live application's name is unique in its organisation (the store maps this index's name
-- to `Conflict("name")`).
CREATE UNIQUE INDEX apps_name ON apps (org_id, name) WHERE revoked IS NULL;

-- The last sequence number each organisation handed out: kept apart from the events, so that
-- the numbering carries on when old events are purged. Its row lock, taken by the last
-- statement of a write that appends events, orders those writes' commits: sequence N + 1 is
-- drawn only once the write holding N has committed or rolled back.
CREATE TABLE event_counters (
    org_id   uuid PRIMARY KEY,
    last_seq bigint NOT NULL
);

-- `seq` is per organisation, gapless, assigned by the write that appends the event, in the
-- transaction of the change; `data` is the object after the change. `json`, not `jsonb`: the
-- log is never searched by content, and `json` keeps the object's text as it was built (field
-- order included), so events and webhook bodies read the same as on SQLite.
CREATE TABLE events (
    org_id  uuid NOT NULL,
    seq     bigint NOT NULL,
    id      uuid NOT NULL,
    type    text NOT NULL,
    created bigint NOT NULL,
    data    json NOT NULL,
    PRIMARY KEY (org_id, seq)
);
CREATE UNIQUE INDEX events_id ON events (id);
-- The retention purge, across organisations.
CREATE INDEX events_created ON events (created);

-- `types` lists the event types delivered (empty: every type); `secrets` is a JSON list, the
-- current secret first; `cursor` the sequence of the last event delivered. The lease says
-- which instance delivers to the endpoint, until when.
CREATE TABLE webhooks (
    org_id        uuid NOT NULL REFERENCES organisations (id),
    id            uuid NOT NULL,
    url           text NOT NULL,
    types         text[] NOT NULL,
    secrets       jsonb NOT NULL,
    state         text NOT NULL CHECK (state IN ('active', 'failing')),
    cursor        bigint NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt  bigint,
    failing_since bigint,
    created       bigint NOT NULL,
    last_delivery bigint,
    last_status   integer,
    lease_owner   text,
    lease_until   bigint,
    PRIMARY KEY (org_id, id)
);
-- The claim across organisations looks only at active endpoints, oldest due first.
CREATE INDEX webhooks_due ON webhooks (next_attempt NULLS FIRST) WHERE state = 'active';

-- One row per attempt; `seq` orders an endpoint's attempts (newest first when listed).
CREATE TABLE webhook_deliveries (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id    uuid NOT NULL,
    event_seq   bigint NOT NULL,
    event_type  text NOT NULL,
    at          bigint NOT NULL,
    status      integer,
    error       text,
    latency_ms  bigint NOT NULL,
    ok          boolean NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (org_id, endpoint_id, seq);
CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at);

-- When the object applications see last changed: a local property or the source moves it as
-- well as the SCIM document (`last_modified` is SCIM's `meta.lastModified` alone).
ALTER TABLE resources ADD COLUMN updated bigint;
