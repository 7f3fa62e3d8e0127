//! Account search on SQLite (docs/contract.md, "Account search"): the FTS5 trigram index
//! `account_search` for 3 or more characters, the `userName` index for fewer. Migration 0011
//! builds the index and the triggers that keep it.

use crate::b;
use crate::runtime::internal;
use directory::{OrgId, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use store_sql::search::{SearchTerm, fts_phrase, prefix_end};
use store_sql::{Sql, Value};

/// The rowids of one organisation's entries: its number times this, plus the account's `seq`.
const ORG_SPAN: i64 = 1 << 40;

/// The condition on the resource row `r` that it is an account `search` finds in `org`;
/// `None` for an empty search.
pub(crate) fn condition(
    c: &Connection,
    org: OrgId,
    search: &str,
) -> Result<Option<Sql>, StoreError> {
    let Some(term) = SearchTerm::parse(search) else {
        return Ok(None);
    };
    let mut sql = Sql::new("");
    match term {
        SearchTerm::Prefix(p) => {
            sql.push("r.name_ci >= ");
            sql.bind(Value::Text(p.clone()));
            sql.push(" AND r.name_ci < ");
            sql.bind(Value::Text(prefix_end(&p)));
        }
        SearchTerm::Substring(s) => {
            let n: Option<i64> = c
                .prepare_cached("SELECT n FROM search_orgs WHERE org_id = ?1")
                .map_err(internal)?
                .query_row(params![b(&org.0)], |r| r.get(0))
                .optional()
                .map_err(internal)?;
            let Some(n) = n else {
                // No account was ever indexed for the organisation.
                sql.push("0");
                return Ok(Some(sql));
            };
            let base = n * ORG_SPAN;
            sql.push("r.seq IN (SELECT rowid - ");
            sql.bind(Value::Int(base));
            sql.push(" FROM account_search WHERE account_search MATCH ");
            sql.bind(Value::Text(fts_phrase(&s)));
            sql.push(" AND rowid >= ");
            sql.bind(Value::Int(base));
            sql.push(" AND rowid < ");
            sql.bind(Value::Int(base + ORG_SPAN));
            sql.push(")");
        }
    }
    Ok(Some(sql))
}
