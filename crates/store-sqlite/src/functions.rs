//! SQL functions registered on every connection, so that SQL filters have exactly the
//! semantics of the in-memory evaluator in `scim_core` (Unicode case folding, not SQLite's
//! ASCII-only `lower`).

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

pub(crate) fn register(conn: &Connection) -> Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("scim_lower", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).to_lowercase()),
            _ => None,
        })
    })?;
    conn.create_scalar_function("uuid_str", 1, flags, |ctx| {
        Ok(match ctx.get_raw(0) {
            ValueRef::Blob(b) => uuid::Uuid::from_slice(b)
                .ok()
                .map(|u| u.hyphenated().to_string()),
            _ => None,
        })
    })?;
    Ok(())
}
