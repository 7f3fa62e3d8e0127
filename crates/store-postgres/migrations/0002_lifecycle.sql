-- Token lifecycle, connection state, administrators, activity log and the notice outbox.
-- Keyed by organisation first, like every table. Mirrors the SQLite migration of the same number.

CREATE TABLE connections (
    org_id  uuid PRIMARY KEY REFERENCES organisations (id),
    state   text NOT NULL CHECK (state IN ('not connected', 'pending', 'active', 'disconnected')),
    changed bigint NOT NULL
);

CREATE TABLE administrators (
    org_id        uuid NOT NULL REFERENCES organisations (id),
    id            uuid NOT NULL,
    email         text NOT NULL,
    email_ci      text NOT NULL,                -- lower-cased, for the unique index
    role          text NOT NULL CHECK (role IN ('administrator', 'people-manager', 'site-manager')),
    password_hash text,                         -- Argon2id PHC string
    created       bigint NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX administrators_email ON administrators (org_id, email_ci);

-- Entries no organisation could be named for (unknown tokens) carry the nil UUID.
CREATE TABLE activity (
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    org_id      uuid NOT NULL,
    at          bigint NOT NULL,
    token_id    uuid,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    status      integer,
    duration_us bigint,
    resource    text,
    detail      text,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX activity_org_at ON activity (org_id, at);
CREATE INDEX activity_at ON activity (at);

-- The outbox: one row per notice; the unique key makes each notice happen once.
CREATE TABLE notices (
    org_id       uuid NOT NULL REFERENCES organisations (id),
    id           uuid NOT NULL,
    key          text NOT NULL,
    kind         text NOT NULL,
    token_id     uuid,
    threshold    integer,
    subject      text NOT NULL,
    body         text NOT NULL,
    created      bigint NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    next_attempt bigint NOT NULL,
    sent         bigint,
    last_error   text,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX notices_key ON notices (org_id, key);
CREATE INDEX notices_due ON notices (next_attempt) WHERE sent IS NULL;
