-- Console sign-in by e-mail alone; mirrors the SQLite migration (see there).
CREATE TABLE password_links (
    org_id   uuid NOT NULL REFERENCES organisations (id),
    hash     bytea NOT NULL,
    purpose  text NOT NULL,
    admin_id uuid,
    created  bigint NOT NULL,
    expires  bigint NOT NULL,
    used     bigint,
    PRIMARY KEY (org_id, hash)
);
INSERT INTO password_links (org_id, hash, purpose, admin_id, created, expires, used)
    SELECT org_id, hash, 'setup', NULL, created, expires, used FROM setup_links;
DROP TABLE setup_links;
-- The rows of one pending sign-in share a secret across organisations.
CREATE INDEX password_links_hash ON password_links (hash);

DROP TABLE signin_failures;
CREATE TABLE signin_failures (
    email_ci     text COLLATE "C" NOT NULL PRIMARY KEY,
    window_start bigint NOT NULL,
    failures     integer NOT NULL,
    locked_until bigint
);

CREATE INDEX administrators_email_ci ON administrators (email_ci);
