-- Roles by rule (docs/contract.md, "Roles and rules"): the roles an organisation adds to its
-- kind's defaults, and its ordered rules. Where each role of an account came from is kept in
-- the account's local properties (`resources.local`), beside the roles themselves.
CREATE TABLE org_roles (
    org_id  uuid NOT NULL REFERENCES organisations (id),
    name_ci text NOT NULL,
    name    text NOT NULL,
    created bigint NOT NULL,
    PRIMARY KEY (org_id, name_ci)
);

CREATE TABLE role_rules (
    org_id    uuid NOT NULL REFERENCES organisations (id),
    id        uuid NOT NULL,
    position  bigint NOT NULL,
    name      text NOT NULL,
    attribute text NOT NULL,
    op        text NOT NULL CHECK (op IN ('equals', 'startsWith', 'memberOf')),
    value     text NOT NULL,
    roles     jsonb NOT NULL,
    locations jsonb NOT NULL,
    created   bigint NOT NULL,
    updated   bigint NOT NULL,
    PRIMARY KEY (org_id, id)
);
