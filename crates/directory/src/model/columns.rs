//! The storage model's derived columns, shared by every store so that they agree on them: the
//! resource kind code, timestamps as unix microseconds, the folded unique name, the indexed
//! `externalId`.

use scim_core::schema::ResourceKind;
use serde_json::Value;
use time::OffsetDateTime;

/// 0 for User, 1 for Group.
pub fn kind_code(kind: ResourceKind) -> i16 {
    match kind {
        ResourceKind::User => 0,
        ResourceKind::Group => 1,
    }
}

pub fn kind_from(code: impl Into<i64>) -> ResourceKind {
    if code.into() == 0 {
        ResourceKind::User
    } else {
        ResourceKind::Group
    }
}

/// A timestamp as stored: unix microseconds (filters on `meta.created` compare these).
pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

pub fn from_micros(m: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The lower-cased (Unicode) unique name: User `userName`, Group `displayName`.
pub fn name_ci(kind: ResourceKind, doc: &Value) -> Option<String> {
    let key = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    doc.get(key).and_then(Value::as_str).map(str::to_lowercase)
}

pub fn external_id(doc: &Value) -> Option<&str> {
    doc.get("externalId").and_then(Value::as_str)
}

/// A case-insensitive substring pattern for `LIKE ... ESCAPE '\\'`; `None` for a blank search.
pub fn like_pattern(search: &str) -> Option<String> {
    let s = search.trim();
    (!s.is_empty()).then(|| {
        let escaped = s
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    })
}

/// A User's `active` (absent counts as active).
pub fn active(doc: &Value) -> bool {
    doc.get("active").and_then(Value::as_bool) != Some(false)
}
