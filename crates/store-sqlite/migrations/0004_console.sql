-- The console: one-time links that create an organisation's first
-- administrator (only the hash of the secret is kept), and failed sign-ins counted per
-- organisation and e-mail address for the lock-out. Kept in the database, not in memory, so
-- that several instances share one count.

CREATE TABLE setup_links (
    org_id  BLOB NOT NULL REFERENCES organisations (id),
    hash    BLOB NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    used    INTEGER,
    PRIMARY KEY (org_id, hash)
) WITHOUT ROWID;

CREATE TABLE signin_failures (
    org_id       BLOB NOT NULL REFERENCES organisations (id),
    email_ci     TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    PRIMARY KEY (org_id, email_ci)
) WITHOUT ROWID;
