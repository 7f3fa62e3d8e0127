-- The token epoch (docs/architecture.md, "Tokens on PostgreSQL"): one number that every change
-- to whether a token is accepted moves, in the changing transaction, whichever instance makes
-- it. An instance keeps the tokens it has read with the epoch it read them at, and uses one
-- only after the request's own statement has read the same epoch again, so that a revocation
-- made anywhere takes effect on the next request without a lookup per request. A token's use
-- (`last_used`) does not move it.
CREATE TABLE token_epoch (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    epoch    bigint NOT NULL
);
INSERT INTO token_epoch (epoch) VALUES (1);

CREATE FUNCTION scimd_token_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE token_epoch SET epoch = epoch + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER tokens_epoch_on_change AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (OLD.revoked IS DISTINCT FROM NEW.revoked
          OR OLD.expires IS DISTINCT FROM NEW.expires
          OR OLD.first_used IS DISTINCT FROM NEW.first_used
          OR OLD.hash IS DISTINCT FROM NEW.hash
          OR OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION scimd_token_epoch_bump();

CREATE TRIGGER tokens_epoch_on_delete AFTER DELETE ON tokens FOR EACH ROW
    EXECUTE FUNCTION scimd_token_epoch_bump();
