//! SCIM filters (RFC 7644 section 3.4.2.2): the AST that stores translate to SQL, the parser,
//! the resolver, the printer, and an in-memory evaluator with exactly the semantics the stores
//! implement.
//!
//! # Syntax
//!
//! ```text
//! filter    = orExp
//! orExp     = andExp *("or" andExp)
//! andExp    = unary *("and" unary)
//! unary     = "not" "(" filter ")" / "(" filter ")" / valuePath / attrExp
//! valuePath = attrPath "[" filter "]"      ; no value path inside, no ".sub" after it
//! attrExp   = attrPath "pr" / attrPath compareOp compValue
//! compValue = JSON string / JSON number / "true" / "false" / "null" / bare word
//! ```
//!
//! `attrPath` is the attribute path of RFC 7644 section 3.10 (the `path` module).
//! Keywords, operators and attribute names are case-insensitive; tokens are separated by
//! whitespace or by the delimiters `( ) [ ] "`. Precedence is `not` > `and` > `or`; `and` and
//! `or` associate to the left. A *bare word* (a word starting with a letter that is not a
//! keyword) is accepted as a string value, because Entra's documentation shows
//! `externalId eq jyoung`; words starting with `-` or a digit must be valid JSON numbers.
//! `emails[type eq "work"].value eq "x"` is accepted too, although the RFC's grammar has no
//! `.sub` after a value path: Entra matches users with it. It is parsed as
//! `emails[type eq "work" and value eq "x"]`.
//!
//! # Limits
//!
//! Input longer than [`MAX_FILTER_LEN`] bytes is rejected before parsing. Each parenthesised
//! group, `not ( )` and value-path bracket adds one level of nesting, and more than
//! [`MAX_FILTER_DEPTH`] levels are rejected *before* the parser recurses, so no input can
//! exhaust the stack. A run of `and`/`or` at one level is parsed by a loop, not by recursion,
//! and counts as one level: `id eq "1" or id eq "2" or ...` is how clients look up batches.
//!
//! # Resolution
//!
//! [`parse_filter`] resolves every path against the registry so that the AST carries
//! canonical names (see [`resolve_filter`] for the rules); stores translate only resolved
//! filters.
//!
//! # Evaluation
//!
//! [`matches()`] and [`matches_value`] evaluate a resolved filter against a canonical document;
//! [`matches()`] lists the semantics, which the SQL translations of the stores implement too.
//!
//! # Layout
//!
//! `parse` holds the grammar (the tokens come from the shared lexer, `crate::syntax`),
//! `resolve` the name resolution, `eval` the evaluator and `display` the printer.

mod display;
mod eval;
mod parse;
mod resolve;

pub use eval::{fold_case, matches, matches_value};
pub use parse::{parse_filter, parse_filter_raw};
pub use resolve::{attribute_def, resolve_filter, resolve_value_filter};

pub(crate) use parse::value_filter;
pub(crate) use resolve::{canonical_path, locate, resolve_in_element, takes_value_filter_def};

use crate::syntax::AttrPath;

/// Attribute operators of RFC 7644 Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A comparison value: JSON string, number, boolean or null.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Null,
}

/// The filter AST. Paths inside a [`Filter::ValuePath`] are relative to its attribute (their
/// `attr` names a sub-attribute of it).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, CompareOp, CompValue),
    ValuePath(AttrPath, Box<Filter>),
}

/// Longest filter text accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value-path brackets accepted. A run of `and` or
/// `or` at one level is one level however long it is (the length limit bounds it).
pub const MAX_FILTER_DEPTH: usize = 32;

/// The operands of a left-nested run of one logical operator, leftmost first: `a or b or c`
/// is `Or(Or(a, b), c)` and gives `[a, b, c]`. Walking runs in a loop keeps recursion depth
/// proportional to nesting (bounded by [`MAX_FILTER_DEPTH`]) rather than to filter length,
/// so a 4 KiB chain of `or`s needs no more stack than a short one.
fn chain(f: &Filter) -> Vec<&Filter> {
    let is_and = matches!(f, Filter::And(..));
    let mut operands = Vec::new();
    let mut cur = f;
    loop {
        match cur {
            Filter::And(l, r) if is_and => {
                operands.push(&**r);
                cur = l;
            }
            Filter::Or(l, r) if !is_and => {
                operands.push(&**r);
                cur = l;
            }
            _ => break,
        }
    }
    operands.push(cur);
    operands.reverse();
    operands
}
