-- The console: one-time links that create an organisation's first
-- administrator, and failed sign-ins per organisation and e-mail address for the lock-out.
-- Mirrors the SQLite migration; in the database so that every instance sees one count.

CREATE TABLE setup_links (
    org_id  uuid NOT NULL REFERENCES organisations (id),
    hash    bytea NOT NULL,
    created bigint NOT NULL,
    expires bigint NOT NULL,
    used    bigint,
    PRIMARY KEY (org_id, hash)
);

CREATE TABLE signin_failures (
    org_id       uuid NOT NULL REFERENCES organisations (id),
    email_ci     text COLLATE "C" NOT NULL,
    window_start bigint NOT NULL,
    failures     integer NOT NULL,
    locked_until bigint,
    PRIMARY KEY (org_id, email_ci)
);
