-- Secrets of the deployment, made once by the first instance that needs one and shared by
-- every instance on the database, so they survive restarts: `cursor` seals the paging cursors.
CREATE TABLE deployment_keys (
    name text PRIMARY KEY,
    key  bytea NOT NULL
);
