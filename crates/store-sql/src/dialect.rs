//! What differs in the SQL the stores write, as one trait each backend implements.

use crate::Sql;
use crate::Value;
use crate::filter::{Multi, Operand};
use scim_core::filter::{CompValue, CompareOp};

/// The syntax of one database, for the statements built in this crate: placeholders, JSON
/// access, typing and case folding. The shared code decides what is compared with what; the
/// dialect writes how one value is read and compared.
pub trait Dialect {
    /// The placeholder for the `n`th parameter (from 1), which holds `v` (PostgreSQL casts it
    /// to the value's type, so it never guesses one from the context).
    fn placeholder(&self, n: usize, v: &Value) -> String;

    /// What follows `ASC` / `DESC` so that NULL sort keys come first ascending and last
    /// descending (SQLite's order, which cursors were first written for).
    fn nulls(&self, desc: bool) -> &'static str;

    /// The literal for a condition known in advance.
    fn truth(&self, b: bool) -> &'static str;

    /// The text of the string at `path` (registry names) in the JSON document `doc`.
    fn json_text(&self, doc: &str, path: &[&str]) -> String;

    /// `expr` lower-cased with the full Unicode mapping, as `scim_core::filter::fold_case`.
    fn fold(&self, expr: &str) -> String;

    /// What follows a `LIKE` pattern so that `\` escapes `%` and `_` (as `like_pattern` writes).
    fn like_escape(&self) -> &'static str;

    /// The condition that the boolean column `col` is `value`.
    fn flag(&self, col: &str, value: bool) -> String;

    /// The `FROM` item for the elements of a document array (`Multi::Doc`, `Multi::Schemas`),
    /// each as `e.value`. `wrap_single`: a single value stands for an array of one.
    fn elements(&self, m: &Multi, wrap_single: bool, sql: &mut Sql);

    /// A condition that `e.value` is an object, where the backend needs one before a value
    /// filter reads its fields.
    fn element_is_object(&self) -> Option<&'static str>;

    /// `pr` of one value (RFC 7644 section 3.4.2.2), never NULL.
    fn present(&self, operand: &Operand, sql: &mut Sql);

    /// One comparison other than `ne` (and with a value other than `null`), never NULL. Strings
    /// compare case-insensitively unless the attribute is `caseExact`; a value of the wrong
    /// type for the attribute never matches.
    fn compare(&self, operand: &Operand, op: CompareOp, v: &CompValue, sql: &mut Sql);
}
