//! Account search on PostgreSQL (docs/contract.md, "Account search"): the trigram index
//! `resources_account_search` over the stored `search_text`, `scimd_search(doc)` (migrations
//! 0009 and 0013), serves both a substring and a prefix of the `userName` (the text's start).

use directory::OrgId;
use directory::store::SEARCH_COUNT_CAP;
use store_sql::accounts::{ACCOUNT_COLS, AccountPlan, org_accounts};
use store_sql::search::{SearchTerm, like_escaped};
use store_sql::{RESOURCE_COLS, Sql, Value};

/// What an account `search` asks of the resource row `r`, in two forms that find the same
/// accounts. The organisation is the plan's own condition, which leads the same index.
pub(crate) struct Condition {
    /// Through the trigram index: to find the few matches of a rare term.
    pub indexed: Sql,
    /// Checked on each row, which no index serves: for walking the accounts in order when so
    /// many match that a page fills early ([`capped_page`]). Given it, the planner walks the
    /// sequence index (it guesses a third of the rows match); given the indexed form, it read
    /// every account of the organisation through the index and sorted them (85 ms for a
    /// common name among 100,000).
    pub checked: Sql,
}

/// The condition for `search`; `None` for an empty search.
pub(crate) fn condition(search: &str) -> Option<Condition> {
    let (mut indexed, mut checked) = (Sql::new("r.search_text LIKE "), Sql::default());
    match SearchTerm::parse(search)? {
        SearchTerm::Prefix(p) => {
            indexed.bind(Value::Text(format!("{}%", like_escaped(&p))));
            checked.push("starts_with(r.search_text, ");
            checked.bind(Value::Text(p));
            checked.push(")");
        }
        SearchTerm::Substring(s) => {
            let probe = self::probe(&s).unwrap_or(&s);
            indexed.bind(Value::Text(format!("%{}%", like_escaped(probe))));
            checked.push("strpos(r.search_text, ");
            checked.bind(Value::Text(s.clone()));
            checked.push(") > 0");
            if probe != s {
                indexed.push(" AND ");
                indexed.append(&checked);
            }
        }
    }
    Some(Condition { indexed, checked })
}

/// The part of an address-like term that the index is asked for, when it is not the whole
/// term: what comes before the `@`. An address's domain is shared by most of an
/// organisation's accounts, so its trigrams narrow nothing, and they are the index's longest
/// lists: at 1,000,000 accounts a whole address read 4,100 index pages (31 ms) where its
/// local part read 1,160 (10 ms) for the same single candidate. The whole term is then
/// checked on each candidate (`strpos`, which the index does not serve): every account that
/// holds the term holds its local part, so nothing is missed.
fn probe(term: &str) -> Option<&str> {
    let (local, domain) = term.split_once('@')?;
    (local.chars().count() >= store_sql::search::SUBSTRING_MIN && !domain.is_empty())
        .then_some(local)
}

/// The first statement of a search's page: at most [`SEARCH_COUNT_CAP`] + 1 matches, found
/// through the trigram index and read once as bare sequence numbers; their count in the last
/// column of every row; and, when that count is within the cap (so that they are every match),
/// the page after `after` cut from them, with only its rows read whole. An empty page is one
/// row of nulls with the count.
///
/// Why a cap: pg_trgm's index only narrows the candidates, so counting a common name's
/// 10,000 matches at 1,000,000 accounts means checking each one against its row, 40-80 ms and
/// far more when those rows are not cached. Past the cap, the page is walked in order instead
/// (see [`Condition::checked`]).
pub(crate) fn capped_page(org: OrgId, plan: &AccountPlan, after: Option<i64>) -> Sql {
    let mut sql = Sql::new("WITH m AS MATERIALIZED (SELECT r.seq ");
    sql.append(&org_accounts(org));
    sql.append(&plan.conditions);
    sql.push(&format!(
        " LIMIT {}), n AS (SELECT COUNT(*) AS n FROM m) \
         SELECT {RESOURCE_COLS}, {ACCOUNT_COLS}, r.seq, n.n FROM n \
         LEFT JOIN (SELECT m.seq FROM m WHERE (SELECT n FROM n) <= {SEARCH_COUNT_CAP}",
        SEARCH_COUNT_CAP + 1
    ));
    if let Some(seq) = after {
        sql.push(" AND m.seq > ");
        sql.bind(Value::Int(seq));
    }
    sql.push(&format!(
        " ORDER BY m.seq LIMIT {}) t ON true \
         LEFT JOIN resources r ON r.org_id = ",
        plan.per_page + 1
    ));
    sql.bind(Value::Uuid(org.0));
    sql.push(" AND r.kind = 0 AND r.seq = t.seq ORDER BY r.seq");
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_probes_the_index_with_its_local_part() {
        assert_eq!(super::probe("joseph.allen@a.example"), Some("joseph.allen"));
        assert_eq!(super::probe("jo@a.example"), None, "too short to narrow");
        assert_eq!(super::probe("joseph@"), None, "no domain to leave out");
        assert_eq!(super::probe("@a.example"), None);
        assert_eq!(super::probe("berg"), None);
    }
}
