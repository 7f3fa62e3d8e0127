//! What differs in the SQL the stores write, as one trait each backend implements.

use crate::Value;

/// The syntax of one database, for the statements built in this crate.
pub trait Dialect {
    /// The placeholder for the `n`th parameter (from 1), which holds `v` (PostgreSQL casts it
    /// to the value's type, so it never guesses one from the context).
    fn placeholder(&self, n: usize, v: &Value) -> String;

    /// What follows `ASC` / `DESC` so that NULL sort keys come first ascending and last
    /// descending (SQLite's order, which cursors were first written for).
    fn nulls(&self, desc: bool) -> &'static str;
}
