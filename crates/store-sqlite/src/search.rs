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

/// A search as SQL: its condition on the resource row `r`, and for a substring the count of
/// its matches read from the index alone.
pub(crate) struct Search {
    pub(crate) condition: Sql,
    /// `SELECT COUNT(*)` of the organisation's entries the search matches. Every account of
    /// the organisation has exactly one entry (the triggers keep them), so without another
    /// filter this is the number of accounts found, without a probe of each one's row: at
    /// 1M accounts and 75,000 matches, 4 ms instead of 90.
    pub(crate) index_count: Option<Sql>,
}

/// The account search `search` in `org` as SQL; `None` for an empty search.
pub(crate) fn condition(
    c: &Connection, org: OrgId, search: &str,
) -> Result<Option<Search>, StoreError> {
    let Some(term) = SearchTerm::parse(search) else {
        return Ok(None);
    };
    let mut sql = Sql::new("");
    let mut index_count = None;
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
                return Ok(Some(Search {
                    condition: sql,
                    index_count: None,
                }));
            };
            let base = n * ORG_SPAN;
            let mut matches = Sql::new(" FROM account_search WHERE account_search MATCH ");
            matches.bind(Value::Text(fts_phrase(&s)));
            matches.push(" AND rowid >= ");
            matches.bind(Value::Int(base));
            matches.push(" AND rowid < ");
            matches.bind(Value::Int(base + ORG_SPAN));
            sql.push("r.seq IN (SELECT rowid - ");
            sql.bind(Value::Int(base));
            sql.append(&matches);
            sql.push(")");
            let mut count = Sql::new("SELECT COUNT(*)");
            count.append(&matches);
            index_count = Some(count);
        }
    }
    Ok(Some(Search {
        condition: sql,
        index_count,
    }))
}
