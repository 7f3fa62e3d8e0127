-- Token lifecycle, connection state, administrators, activity log and the notice outbox.
-- Keyed by organisation first, like every table.

CREATE TABLE connections (
    org_id  BLOB PRIMARY KEY REFERENCES organisations (id),
    state   TEXT NOT NULL CHECK (state IN ('not connected', 'pending', 'active', 'disconnected')),
    changed INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE administrators (
    org_id        BLOB NOT NULL REFERENCES organisations (id),
    id            BLOB NOT NULL,
    email         TEXT NOT NULL,
    email_ci      TEXT NOT NULL,                -- lower-cased, for the unique index
    role          TEXT NOT NULL CHECK (role IN ('administrator', 'people-manager', 'site-manager')),
    password_hash TEXT,                         -- Argon2id PHC string
    created       INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX administrators_email ON administrators (org_id, email_ci);

-- Entries no organisation could be named for (unknown tokens) carry the nil UUID.
CREATE TABLE activity (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      BLOB NOT NULL,
    at          INTEGER NOT NULL,
    token_id    BLOB,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    status      INTEGER,
    duration_us INTEGER,
    resource    TEXT,
    detail      TEXT
);
CREATE INDEX activity_org_at ON activity (org_id, at);
CREATE INDEX activity_at ON activity (at);

-- The outbox: one row per notice; the unique key makes each notice happen once.
CREATE TABLE notices (
    org_id       BLOB NOT NULL REFERENCES organisations (id),
    id           BLOB NOT NULL,
    key          TEXT NOT NULL,
    kind         TEXT NOT NULL,
    token_id     BLOB,
    threshold    INTEGER,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    created      INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    sent         INTEGER,
    last_error   TEXT,
    PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX notices_key ON notices (org_id, key);
CREATE INDEX notices_due ON notices (next_attempt) WHERE sent IS NULL;
