//! An administrator's account search (docs/contract.md, "Account search"), as both stores
//! mean it: case-insensitive; 3 or more characters match anywhere in the `userName`,
//! `displayName`, given and family name or an e-mail address; 1 or 2 characters match the
//! start of the `userName`. Each store answers it from its own index and writes the
//! condition on the resource row `r` (`SqliteStore`: FTS5 trigram, `PgStore`: pg_trgm).

use scim_core::filter::fold_case;

/// The shortest search that matches anywhere in the text (a trigram).
pub const SUBSTRING_MIN: usize = 3;

/// What a search asks for, folded as `scim_core::filter::fold_case` folds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchTerm {
    /// 1 or 2 characters: the start of the `userName`.
    Prefix(String),
    /// 3 or more characters: anywhere in the searched text.
    Substring(String),
}

impl SearchTerm {
    /// The term of a search box's text; `None` when it is empty (or only spaces).
    pub fn parse(search: &str) -> Option<Self> {
        let s = fold_case(search.trim());
        if s.is_empty() {
            None
        } else if s.chars().count() < SUBSTRING_MIN {
            Some(SearchTerm::Prefix(s))
        } else {
            Some(SearchTerm::Substring(s))
        }
    }
}

/// `s` for a `LIKE` pattern with `\` as its escape.
pub fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// `s` as one FTS5 phrase (a quoted string; the trigram tokenizer makes it a substring).
pub fn fts_phrase(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The least string above every string that starts with `prefix` (code point order): the
/// end of a prefix range.
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_searches_are_prefixes_and_longer_ones_substrings() {
        assert_eq!(SearchTerm::parse("  "), None);
        assert_eq!(
            SearchTerm::parse(" Jo "),
            Some(SearchTerm::Prefix("jo".into()))
        );
        assert_eq!(
            SearchTerm::parse("ÉÀ"),
            Some(SearchTerm::Prefix("éà".into()))
        );
        assert_eq!(
            SearchTerm::parse("SMITH"),
            Some(SearchTerm::Substring("smith".into()))
        );
    }

    #[test]
    fn quoting_keeps_the_search_literal() {
        assert_eq!(fts_phrase("a\"b"), "\"a\"\"b\"");
        assert_eq!(like_escaped("50%_a\\"), "50\\%\\_a\\\\");
        assert!(prefix_end("ab").as_str() > "abzzz");
    }
}
