-- Two-step verification (TOTP, RFC 6238) for console administrators.
--
-- `second_factors`: one row per administrator who began enrolling; `confirmed` is set once a
-- first code proved the authenticator app holds the secret, and `last_step` is the newest
-- time step (Unix time / 30 s) a code was accepted for: a code whose step is not later is
-- refused, so no code works twice. No foreign key to the administrator: removing one removes
-- these rows in the same transaction.
CREATE TABLE second_factors (
    org_id    uuid NOT NULL REFERENCES organisations (id),
    admin_id  uuid NOT NULL,
    secret    bytea NOT NULL,
    created   bigint NOT NULL,
    confirmed bigint,
    last_step bigint,
    PRIMARY KEY (org_id, admin_id)
);

-- Recovery codes: only their SHA-256 hashes, each spent once (`used`).
CREATE TABLE recovery_codes (
    org_id   uuid NOT NULL REFERENCES organisations (id),
    admin_id uuid NOT NULL,
    hash     bytea NOT NULL,
    used     bigint,
    PRIMARY KEY (org_id, admin_id, hash)
);

-- The organisation's rule: every administrator must have a second factor.
ALTER TABLE organisations ADD COLUMN require_second_factor boolean NOT NULL DEFAULT false;
