-- Secrets of the deployment, made once by the first process that needs one and shared by
-- every process on the database, so they survive restarts: `cursor` seals the paging cursors.
CREATE TABLE deployment_keys (
    name TEXT PRIMARY KEY,
    key  BLOB NOT NULL
) WITHOUT ROWID;
