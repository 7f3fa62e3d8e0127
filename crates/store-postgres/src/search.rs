//! Account search on PostgreSQL (docs/contract.md, "Account search"): the trigram index
//! `resources_account_search` over the stored `search_text`, `scimd_search(doc)` (migrations
//! 0009 and 0013), serves both a substring and a prefix of the `userName` (the text's start).

use store_sql::search::{SearchTerm, like_escaped};
use store_sql::{Sql, Value};

/// The condition on the resource row `r` that it is an account `search` finds; `None` for an
/// empty search. The organisation is the plan's own condition, which leads the same index.
pub(crate) fn condition(search: &str) -> Option<Sql> {
    let pattern = match SearchTerm::parse(search)? {
        SearchTerm::Prefix(p) => format!("{}%", like_escaped(&p)),
        SearchTerm::Substring(s) => format!("%{}%", like_escaped(&s)),
    };
    let mut sql = Sql::new("r.search_text LIKE ");
    sql.bind(Value::Text(pattern));
    Some(sql)
}
