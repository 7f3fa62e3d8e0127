//! The filter printer: the canonical text of a filter, which the parser reads back to an
//! equal AST. Stores and logs show filters in this form.

use std::fmt;

use crate::syntax::write_json_str;

use super::{CompValue, CompareOp, Filter, chain};

/// Prints `eq`, `ne`, ...
impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Prints the value as JSON: strings double-quoted and escaped, `true`, `false`, `null`.
impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => write_json_str(f, s),
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// Prints the canonical form: lower-case keywords and operators, single spaces, JSON values,
/// `not (...)`, and parentheses only where precedence or left associativity needs them.
/// [`parse_filter_raw`](super::parse_filter_raw) reads it back to an equal AST (as long as it
/// fits the length limit: the canonical form of a bare word or `emails co` is a few bytes
/// longer than the input).
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Or(..) => {
                for (i, operand) in chain(self).into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    // Only a right operand can be an `or` (left ones are part of the run).
                    write_operand(f, operand, matches!(operand, Filter::Or(..)))?;
                }
                Ok(())
            }
            Filter::And(..) => {
                for (i, operand) in chain(self).into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    let group = matches!(operand, Filter::Or(..))
                        || (i > 0 && matches!(operand, Filter::And(..)));
                    write_operand(f, operand, group)?;
                }
                Ok(())
            }
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {op} {v}"),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, group: bool) -> fmt::Result {
    if group {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
}
