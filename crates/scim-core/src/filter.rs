//! SCIM filters (RFC 7644 section 3.4.2.2): the AST that stores translate to SQL, the parser,
//! the printer, and an in-memory evaluator with exactly the semantics the stores implement.

use crate::path::AttrPath;

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

pub use crate::filter_impl::{
    attribute_def, fold_case, matches, matches_value, parse_filter, parse_filter_raw,
    resolve_filter, resolve_value_filter,
};
