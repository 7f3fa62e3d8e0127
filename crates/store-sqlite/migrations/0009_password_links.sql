-- Console sign-in by e-mail alone (docs/architecture.md, "The console").
--
-- Set-up links become password links with a purpose: `setup` (the first administrator),
-- `reset` (a forgotten password), `invite` (a colleague sets a first password) and `signin`
-- (the pending choice of organisation after one password matched in several). Only the hash
-- of each secret is kept; `admin_id` names the administrator a reset, invite or sign-in link
-- is for (no foreign key: a removed administrator's link simply stops working).
CREATE TABLE password_links (
    org_id   BLOB NOT NULL REFERENCES organisations (id),
    hash     BLOB NOT NULL,
    purpose  TEXT NOT NULL,
    admin_id BLOB,
    created  INTEGER NOT NULL,
    expires  INTEGER NOT NULL,
    used     INTEGER,
    PRIMARY KEY (org_id, hash)
) WITHOUT ROWID;
INSERT INTO password_links (org_id, hash, purpose, admin_id, created, expires, used)
    SELECT org_id, hash, 'setup', NULL, created, expires, used FROM setup_links;
DROP TABLE setup_links;
-- The rows of one pending sign-in share a secret across organisations.
CREATE INDEX password_links_hash ON password_links (hash);

-- The lock-out is per address across organisations: the counts are keyed by the folded
-- address alone (counts in flight are short-lived and start again).
DROP TABLE signin_failures;
CREATE TABLE signin_failures (
    email_ci     TEXT NOT NULL PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER
) WITHOUT ROWID;

-- Sign-in finds an address's administrators in every organisation.
CREATE INDEX administrators_email_ci ON administrators (email_ci);
