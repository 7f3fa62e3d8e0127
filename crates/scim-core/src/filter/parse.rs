//! The filter grammar of RFC 7644 section 3.4.2.2 (see the module docs of `filter` for the
//! grammar, the extensions and the limits), as a recursive descent over the shared lexer.
//!
//! Every function that recurses checks the nesting depth first ([`enter`]), which is what
//! bounds the parser's stack use; runs of `and` / `or` are loops.

use crate::error::{ScimError, ScimResult};
use crate::schema::ResourceKind;
use crate::syntax::{AttrPath, Lexer, PResult, Syntax, SyntaxError, parse_number, split_attr_path};

use super::resolve::resolve_filter;
use super::{CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN};

/// Parses a filter without resolving its paths: names stay as written, URNs as written, and
/// unknown attributes are not detected. Syntax errors and the length and depth limits are
/// 400 `invalidFilter` with the byte offset of the problem, e.g.
/// `invalid filter at offset 9: expected a comparison operator or 'pr', found "eqq"`.
pub fn parse_filter_raw(s: &str) -> ScimResult<Filter> {
    if s.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter is {} bytes long; at most {MAX_FILTER_LEN} are accepted",
            s.len()
        )));
    }
    parse_syntax(s).map_err(|e| e.into_scim(Syntax::Filter))
}

/// Parses a filter and resolves it for `kind` (see [`resolve_filter`]); every error is
/// 400 `invalidFilter`.
pub fn parse_filter(s: &str, kind: ResourceKind) -> ScimResult<Filter> {
    resolve_filter(&parse_filter_raw(s)?, kind)
}

/// A whole filter, without the length check: the text must end after it.
fn parse_syntax(s: &str) -> PResult<Filter> {
    let mut lx = Lexer::new(s);
    let filter = or_exp(&mut lx, 0, false)?;
    lx.skip_ws();
    if lx.peek().is_some() {
        return lx.found_error("'and', 'or' or the end of the filter");
    }
    Ok(filter)
}

/// The filter inside a value-path bracket that has already been consumed, at nesting
/// level `depth` (the bracket included). PATCH paths (`emails[type eq "work"]`) use it.
pub(crate) fn value_filter(lx: &mut Lexer<'_>, depth: usize) -> PResult<Filter> {
    or_exp(lx, depth, true)
}

fn compare_op(word: &str) -> Option<CompareOp> {
    const OPS: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];
    OPS.into_iter()
        .find(|op| op.as_str().eq_ignore_ascii_case(word))
}

/// Fails if entering one more level would exceed [`MAX_FILTER_DEPTH`]. Called before
/// every recursive descent, which is what bounds the parser's stack use.
fn enter(depth: usize, at: usize) -> PResult<()> {
    if depth >= MAX_FILTER_DEPTH {
        return Err(SyntaxError::new(
            at,
            format!("filter nests deeper than {MAX_FILTER_DEPTH} levels"),
        ));
    }
    Ok(())
}

fn or_exp(lx: &mut Lexer<'_>, depth: usize, in_value: bool) -> PResult<Filter> {
    let mut left = and_exp(lx, depth, in_value)?;
    while lx.eat_keyword("or") {
        let right = and_exp(lx, depth, in_value)?;
        left = Filter::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn and_exp(lx: &mut Lexer<'_>, depth: usize, in_value: bool) -> PResult<Filter> {
    let mut left = unary(lx, depth, in_value)?;
    while lx.eat_keyword("and") {
        let right = unary(lx, depth, in_value)?;
        left = Filter::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn group(lx: &mut Lexer<'_>, depth: usize, in_value: bool, open: usize) -> PResult<Filter> {
    enter(depth, open)?;
    lx.bump();
    let inner = or_exp(lx, depth + 1, in_value)?;
    lx.close(b')', open)?;
    Ok(inner)
}

fn unary(lx: &mut Lexer<'_>, depth: usize, in_value: bool) -> PResult<Filter> {
    lx.skip_ws();
    let start = lx.pos();
    match lx.peek() {
        Some(b'(') => group(lx, depth, in_value, start),
        None | Some(b')' | b'[' | b']' | b'"') => lx.found_error("an attribute path"),
        Some(_) => {
            let word = lx.peek_word();
            if word.eq_ignore_ascii_case("not") {
                lx.advance(word.len());
                lx.skip_ws();
                if lx.peek() != Some(b'(') {
                    return lx.found_error("'(' after 'not'");
                }
                let open = lx.pos();
                let inner = group(lx, depth, in_value, open)?;
                return Ok(Filter::Not(Box::new(inner)));
            }
            if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") {
                return lx.found_error("an attribute path");
            }
            lx.advance(word.len());
            let path = split_attr_path(word, start)?;
            lx.skip_ws();
            if lx.peek() == Some(b'[') {
                return value_path(lx, path, depth, in_value);
            }
            attr_exp(lx, path)
        }
    }
}

fn value_path(lx: &mut Lexer<'_>, path: AttrPath, depth: usize, in_value: bool) -> PResult<Filter> {
    let open = lx.pos();
    if in_value {
        return Err(SyntaxError::new(open, "value filters cannot be nested"));
    }
    if path.sub.is_some() {
        return Err(SyntaxError::new(
            open,
            "a value filter must follow an attribute name without a sub-attribute",
        ));
    }
    enter(depth, open)?;
    lx.bump();
    let inner = or_exp(lx, depth + 1, true)?;
    lx.close(b']', open)?;
    if lx.peek() == Some(b'.') {
        // `emails[type eq "work"].value eq "x"`: not in RFC 7644's filter grammar, but
        // Entra matches users on it. It means the same as
        // `emails[type eq "work" and value eq "x"]`, and is parsed as that.
        lx.bump();
        let at = lx.pos();
        let sub = lx.peek_word();
        if sub.is_empty() || sub.contains(['.', ':']) {
            return Err(SyntaxError::new(
                at,
                "expected a sub-attribute name after '].",
            ));
        }
        lx.advance(sub.len());
        lx.skip_ws();
        let cond = attr_exp(lx, AttrPath::simple(sub))?;
        return Ok(Filter::ValuePath(
            path,
            Box::new(Filter::And(Box::new(inner), Box::new(cond))),
        ));
    }
    Ok(Filter::ValuePath(path, Box::new(inner)))
}

fn attr_exp(lx: &mut Lexer<'_>, path: AttrPath) -> PResult<Filter> {
    let word = lx.peek_word();
    if word.eq_ignore_ascii_case("pr") {
        lx.advance(word.len());
        return Ok(Filter::Present(path));
    }
    let Some(op) = compare_op(word) else {
        return lx.found_error("a comparison operator or 'pr'");
    };
    lx.advance(word.len());
    let value = comp_value(lx)?;
    Ok(Filter::Compare(path, op, value))
}

fn comp_value(lx: &mut Lexer<'_>) -> PResult<CompValue> {
    lx.skip_ws();
    let start = lx.pos();
    let expected = "a comparison value (a string, number, true, false or null)";
    match lx.peek() {
        Some(b'"') => Ok(CompValue::Str(lx.parse_string()?)),
        None | Some(b'(' | b')' | b'[' | b']') => lx.found_error(expected),
        Some(first) => {
            let word = lx.peek_word();
            let value = if word.eq_ignore_ascii_case("true") {
                CompValue::Bool(true)
            } else if word.eq_ignore_ascii_case("false") {
                CompValue::Bool(false)
            } else if word.eq_ignore_ascii_case("null") {
                CompValue::Null
            } else if first == b'-' || first.is_ascii_digit() {
                CompValue::Num(parse_number(word, start)?)
            } else if first.is_ascii_alphabetic()
                && !["and", "or", "not"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(word))
            {
                // Bare word: not JSON, but Entra's documentation uses it.
                CompValue::Str(word.to_owned())
            } else {
                return lx.found_error(expected);
            };
            lx.advance(word.len());
            Ok(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_stops_at_depth_limit_on_a_million_parentheses_without_length_limit() {
        // parse_syntax skips the length check, so this exercises the depth check alone.
        let input = "(".repeat(1_000_000);
        let err = parse_syntax(&input).expect_err("too deep");
        assert_eq!(err.offset, MAX_FILTER_DEPTH);
        let input = "not (".repeat(1_000_000);
        let err = parse_syntax(&input).expect_err("too deep");
        assert!(err.message.contains("deeper"), "{}", err.message);
        let input = format!("emails[{}", "(".repeat(1_000_000));
        assert!(parse_syntax(&input).is_err());
    }
}
