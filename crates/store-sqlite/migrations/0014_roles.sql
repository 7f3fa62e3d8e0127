-- Roles by rule (docs/contract.md, "Roles and rules"): the roles an organisation adds to its
-- kind's defaults, and its ordered rules. Where each role of an account came from is kept in
-- the account's local properties (`resources.local`), beside the roles themselves.
CREATE TABLE org_roles (
    org_id  BLOB NOT NULL REFERENCES organisations (id),
    name_ci TEXT NOT NULL,
    name    TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (org_id, name_ci)
);

CREATE TABLE role_rules (
    org_id    BLOB NOT NULL REFERENCES organisations (id),
    id        BLOB NOT NULL,
    position  INTEGER NOT NULL,
    name      TEXT NOT NULL,
    attribute TEXT NOT NULL,
    op        TEXT NOT NULL CHECK (op IN ('equals', 'startsWith', 'memberOf')),
    value     TEXT NOT NULL,
    roles     TEXT NOT NULL,
    locations TEXT NOT NULL,
    created   INTEGER NOT NULL,
    updated   INTEGER NOT NULL,
    PRIMARY KEY (org_id, id)
);
