-- Values the console shows once after a redirect (a new token, application key or webhook
-- secret): keyed by the hash of a handle only the browser holds, sealed with a key derived
-- from it, owned by one administrator, deleted on first read and dropped after 10 minutes.

CREATE TABLE reveals (
    org_id   BLOB NOT NULL REFERENCES organisations (id),
    hash     BLOB NOT NULL,
    admin_id BLOB NOT NULL,
    sealed   BLOB NOT NULL,
    expires  INTEGER NOT NULL,
    PRIMARY KEY (org_id, hash)
) WITHOUT ROWID;
