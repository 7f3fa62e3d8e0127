-- Account search (docs/contract.md, "Account search"): a trigram index (pg_trgm) over each
-- account's userName, displayName, given and family name and e-mail addresses, folded as
-- `scim_fold` folds, so that a case-insensitive substring of 3 or more characters (and a
-- prefix of the userName) is an index lookup instead of a scan of every account's document.
-- btree_gin lets the organisation lead the same index. Both extensions ship with PostgreSQL
-- (contrib); a role that may not create extensions needs them created beforehand by one that
-- may (docs/operations.md, "PostgreSQL").
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- The searched text: userName first (a short search matches its start), then the names and
-- the e-mail addresses. An expression index is kept by PostgreSQL itself in the transaction
-- of every write, whatever writes it.
CREATE FUNCTION scimd_search(doc jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT scim_fold(concat_ws(E'\n',
        doc ->> 'userName',
        doc ->> 'displayName',
        concat_ws(' ', doc #>> '{name,givenName}', doc #>> '{name,familyName}'),
        jsonb_path_query_array(doc, '$.emails[*].value')::text)) $$;

CREATE INDEX resources_account_search ON resources
    USING gin (org_id, scimd_search(doc) gin_trgm_ops) WHERE kind = 0;
