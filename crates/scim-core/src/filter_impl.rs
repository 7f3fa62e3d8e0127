//! Filter parser, resolver, printer and evaluator (RFC 7644 section 3.4.2.2).
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
//! Keywords, operators and attribute names are case-insensitive; tokens are separated by
//! whitespace or by the delimiters `( ) [ ] "`. Precedence is `not` > `and` > `or`; `and` and
//! `or` associate to the left. A *bare word* (a word starting with a letter that is not a
//! keyword) is accepted as a string value, because Entra's documentation shows
//! `externalId eq jyoung`; words starting with `-` or a digit must be valid JSON numbers.
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

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ScimError, ScimResult};
use crate::filter::{CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use crate::path::AttrPath;
use crate::path_impl::{canonical_path, locate, split_attr_path};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceKind, Returned, Uniqueness};

// ---------------------------------------------------------------------------------------------
// Syntax errors

/// Which grammar a syntax error belongs to: it decides the `scimType` and the message prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    Filter,
    Path,
}

/// A syntax error at a byte offset of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    offset: usize,
    message: String,
}

impl SyntaxError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        SyntaxError {
            offset,
            message: message.into(),
        }
    }

    pub(crate) fn into_scim(self, syntax: Syntax) -> ScimError {
        let SyntaxError { offset, message } = self;
        match syntax {
            Syntax::Filter => {
                ScimError::invalid_filter(format!("invalid filter at offset {offset}: {message}"))
            }
            Syntax::Path => {
                ScimError::invalid_path(format!("invalid path at offset {offset}: {message}"))
            }
        }
    }
}

pub(crate) type PResult<T> = Result<T, SyntaxError>;

/// `s` as a JSON string literal, for quoting client input in error messages.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // Writing into a String cannot fail.
    let _ = write_json_str(&mut out, s);
    out
}

/// Writes `s` as a JSON string literal: `"` and `\` escaped, control characters as short
/// escapes or `\u00XX`, everything else (including non-ASCII) as is.
fn write_json_str(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\u{8}' => out.write_str("\\b")?,
            '\u{c}' => out.write_str("\\f")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

// ---------------------------------------------------------------------------------------------
// Parser

/// A cursor over filter or path text. All delimiters are ASCII, so byte positions found by
/// scanning for them are always character boundaries.
pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
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

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Parser { src, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// Steps over one ASCII byte the caller has just peeked.
    pub(crate) fn bump(&mut self) {
        self.pos += 1;
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn word_at(&self, start: usize) -> &'a str {
        let bytes = self.src.as_bytes();
        let mut end = start;
        while end < bytes.len() && !is_delimiter(bytes[end]) {
            end += 1;
        }
        &self.src[start..end]
    }

    /// The word at the cursor (possibly empty), without consuming it.
    fn peek_word(&self) -> &'a str {
        self.word_at(self.pos)
    }

    /// Consumes the word at the cursor and returns it with its offset.
    pub(crate) fn take_word(&mut self) -> (usize, &'a str) {
        let start = self.pos;
        let word = self.word_at(start);
        self.pos += word.len();
        (start, word)
    }

    /// Describes the token at `at` for "found ..." in error messages.
    pub(crate) fn describe_at(&self, at: usize) -> String {
        match self.src.as_bytes().get(at) {
            None => "end of input".to_owned(),
            Some(b'"') => "a string".to_owned(),
            Some(&b @ (b'(' | b')' | b'[' | b']')) => format!("'{}'", b as char),
            Some(_) => {
                let word = self.word_at(at);
                let mut shown: String = word.chars().take(32).collect();
                if shown.len() < word.len() {
                    shown.push_str("...");
                }
                quoted(&shown)
            }
        }
    }

    pub(crate) fn error_here(&self, message: &str) -> SyntaxError {
        SyntaxError::new(self.pos, message)
    }

    fn found_error<T>(&self, expected: &str) -> PResult<T> {
        Err(SyntaxError::new(
            self.pos,
            format!("expected {expected}, found {}", self.describe_at(self.pos)),
        ))
    }

    /// Succeeds if only whitespace is left.
    pub(crate) fn expect_end(&mut self, context: &str) -> PResult<()> {
        self.skip_ws();
        if self.peek().is_none() {
            Ok(())
        } else {
            Err(SyntaxError::new(
                self.pos,
                format!("unexpected {} {context}", self.describe_at(self.pos)),
            ))
        }
    }

    /// Consumes the closing `close` of a group opened at offset `open`.
    pub(crate) fn close(&mut self, close: u8, open: usize) -> PResult<()> {
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        let opener = if close == b')' { '(' } else { '[' };
        self.found_error(&format!(
            "'and', 'or' or '{}' closing the '{opener}' at offset {open}",
            close as char
        ))
    }

    /// Fails if entering one more level would exceed [`MAX_FILTER_DEPTH`]. Called before
    /// every recursive descent, which is what bounds the parser's stack use.
    fn enter(&self, depth: usize, at: usize) -> PResult<()> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(SyntaxError::new(
                at,
                format!("filter nests deeper than {MAX_FILTER_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        self.skip_ws();
        let word = self.peek_word();
        if word.eq_ignore_ascii_case(keyword) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// A whole filter: the text must end after it.
    fn parse_top(&mut self) -> PResult<Filter> {
        let filter = self.parse_or(0, false)?;
        self.skip_ws();
        if self.peek().is_some() {
            return self.found_error("'and', 'or' or the end of the filter");
        }
        Ok(filter)
    }

    /// The filter inside a value-path bracket that has already been consumed, at nesting
    /// level `depth` (the bracket included).
    pub(crate) fn parse_value_filter(&mut self, depth: usize) -> PResult<Filter> {
        self.parse_or(depth, true)
    }

    fn parse_or(&mut self, depth: usize, in_value: bool) -> PResult<Filter> {
        let mut left = self.parse_and(depth, in_value)?;
        while self.eat_keyword("or") {
            let right = self.parse_and(depth, in_value)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, depth: usize, in_value: bool) -> PResult<Filter> {
        let mut left = self.parse_unary(depth, in_value)?;
        while self.eat_keyword("and") {
            let right = self.parse_unary(depth, in_value)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_group(&mut self, depth: usize, in_value: bool, open: usize) -> PResult<Filter> {
        self.enter(depth, open)?;
        self.pos += 1;
        let inner = self.parse_or(depth + 1, in_value)?;
        self.close(b')', open)?;
        Ok(inner)
    }

    fn parse_unary(&mut self, depth: usize, in_value: bool) -> PResult<Filter> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(b'(') => self.parse_group(depth, in_value, start),
            None | Some(b')' | b'[' | b']' | b'"') => self.found_error("an attribute path"),
            Some(_) => {
                let word = self.peek_word();
                if word.eq_ignore_ascii_case("not") {
                    self.pos += word.len();
                    self.skip_ws();
                    if self.peek() != Some(b'(') {
                        return self.found_error("'(' after 'not'");
                    }
                    let inner = self.parse_group(depth, in_value, self.pos)?;
                    return Ok(Filter::Not(Box::new(inner)));
                }
                if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") {
                    return self.found_error("an attribute path");
                }
                self.pos += word.len();
                let path = split_attr_path(word, start)?;
                self.skip_ws();
                if self.peek() == Some(b'[') {
                    return self.parse_value_path(path, depth, in_value);
                }
                self.parse_attr_exp(path)
            }
        }
    }

    fn parse_value_path(
        &mut self,
        path: AttrPath,
        depth: usize,
        in_value: bool,
    ) -> PResult<Filter> {
        let open = self.pos;
        if in_value {
            return Err(SyntaxError::new(open, "value filters cannot be nested"));
        }
        if path.sub.is_some() {
            return Err(SyntaxError::new(
                open,
                "a value filter must follow an attribute name without a sub-attribute",
            ));
        }
        self.enter(depth, open)?;
        self.pos += 1;
        let inner = self.parse_or(depth + 1, true)?;
        self.close(b']', open)?;
        if self.peek() == Some(b'.') {
            // `emails[type eq "work"].value eq "x"`: not in RFC 7644's filter grammar, but
            // Entra matches users on it (interop 2.3.4). It means the same as
            // `emails[type eq "work" and value eq "x"]`, and is parsed as that.
            self.pos += 1;
            let at = self.pos;
            let sub = self.peek_word();
            if sub.is_empty() || sub.contains(['.', ':']) {
                return Err(SyntaxError::new(
                    at,
                    "expected a sub-attribute name after '].",
                ));
            }
            self.pos += sub.len();
            self.skip_ws();
            let cond = self.parse_attr_exp(AttrPath::simple(sub))?;
            return Ok(Filter::ValuePath(
                path,
                Box::new(Filter::And(Box::new(inner), Box::new(cond))),
            ));
        }
        Ok(Filter::ValuePath(path, Box::new(inner)))
    }

    fn parse_attr_exp(&mut self, path: AttrPath) -> PResult<Filter> {
        let word = self.peek_word();
        if word.eq_ignore_ascii_case("pr") {
            self.pos += word.len();
            return Ok(Filter::Present(path));
        }
        let Some(op) = compare_op(word) else {
            return self.found_error("a comparison operator or 'pr'");
        };
        self.pos += word.len();
        let value = self.parse_comp_value()?;
        Ok(Filter::Compare(path, op, value))
    }

    fn parse_comp_value(&mut self) -> PResult<CompValue> {
        self.skip_ws();
        let start = self.pos;
        let expected = "a comparison value (a string, number, true, false or null)";
        match self.peek() {
            Some(b'"') => Ok(CompValue::Str(self.parse_string()?)),
            None | Some(b'(' | b')' | b'[' | b']') => self.found_error(expected),
            Some(first) => {
                let word = self.peek_word();
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
                    return self.found_error(expected);
                };
                self.pos += word.len();
                Ok(value)
            }
        }
    }

    /// A JSON string starting at the cursor (RFC 8259 section 7).
    fn parse_string(&mut self) -> PResult<String> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.src[self.pos..].chars().next() else {
                return Err(SyntaxError::new(open, "unterminated string"));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    let escape_at = self.pos;
                    self.pos += 1;
                    let Some(e) = self.src[self.pos..].chars().next() else {
                        return Err(SyntaxError::new(open, "unterminated string"));
                    };
                    self.pos += e.len_utf8();
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(self.parse_unicode_escape(escape_at)?),
                        other => {
                            return Err(SyntaxError::new(
                                escape_at,
                                format!(
                                    "invalid escape {} in string",
                                    quoted(&format!("\\{other}"))
                                ),
                            ));
                        }
                    }
                }
                c if (c as u32) < 0x20 => {
                    return Err(self.error_here("control characters in strings must be escaped"));
                }
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn parse_hex4(&mut self, escape_at: usize) -> PResult<u32> {
        let digits = self
            .src
            .get(self.pos..self.pos + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        match digits.and_then(|h| u32::from_str_radix(h, 16).ok()) {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err(SyntaxError::new(
                escape_at,
                "expected four hexadecimal digits after \\u",
            )),
        }
    }

    /// The `XXXX` of `\uXXXX` (the `\u` consumed), joining a UTF-16 surrogate pair.
    fn parse_unicode_escape(&mut self, escape_at: usize) -> PResult<char> {
        let unpaired = || SyntaxError::new(escape_at, "unpaired UTF-16 surrogate in \\u escape");
        let high = self.parse_hex4(escape_at)?;
        let code = match high {
            0xD800..=0xDBFF => {
                if !self.src[self.pos..].starts_with("\\u") {
                    return Err(unpaired());
                }
                let low_at = self.pos;
                self.pos += 2;
                let low = self.parse_hex4(low_at)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(unpaired());
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(unpaired()),
            other => other,
        };
        char::from_u32(code).ok_or_else(unpaired)
    }
}

/// RFC 8259 section 6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let from = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > from
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

fn parse_number(word: &str, start: usize) -> PResult<serde_json::Number> {
    if !is_json_number(word) {
        return Err(SyntaxError::new(
            start,
            format!("invalid number {}", quoted(word)),
        ));
    }
    let integral = !word.contains(['.', 'e', 'E']);
    if integral {
        if let Ok(n) = word.parse::<u64>() {
            return Ok(n.into());
        }
        if let Ok(n) = word.parse::<i64>() {
            return Ok(n.into());
        }
    }
    // `str::parse` rounds correctly, so the shortest form `Display` prints reads back to the
    // same `f64` (the printer/parser round trip depends on it).
    word.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .ok_or_else(|| SyntaxError::new(start, format!("number {} is out of range", quoted(word))))
}

fn parse_syntax(s: &str) -> PResult<Filter> {
    Parser::new(s).parse_top()
}

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

// ---------------------------------------------------------------------------------------------
// Resolution

/// `schemas` (RFC 7643 section 3): on every resource and filterable (RFC 7644 section 3.4.2.2
/// has `schemas eq "urn:...:enterprise:2.0:User"`), but in no schema, so not in the registry.
/// URIs compare case-insensitively here, like schema URNs everywhere else in scimd.
static SCHEMAS_ATTRIBUTE: AttributeDef = AttributeDef {
    name: "schemas",
    ty: AttrType::Reference,
    multi_valued: true,
    required: true,
    case_exact: false,
    mutability: Mutability::ReadOnly,
    returned: Returned::Always,
    uniqueness: Uniqueness::None,
    canonical_values: &[],
    reference_types: &["uri"],
    description: "The schema URIs the resource uses.",
    sub_attributes: Vec::new(),
};

/// Where paths are looked up: a resource's top level, or one element of a complex attribute
/// (inside a value path, or for PATCH).
#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource(ResourceKind),
    Element(&'a AttributeDef),
}

/// A path found in a scope.
struct Target<'a> {
    /// Canonical extension URN, for resource-level extension attributes.
    urn: Option<&'static str>,
    attr: &'a AttributeDef,
    sub: Option<&'a AttributeDef>,
}

impl<'a> Target<'a> {
    /// The definition of what the path names.
    fn def(&self) -> &'a AttributeDef {
        self.sub.unwrap_or(self.attr)
    }

    fn path(&self) -> AttrPath {
        canonical_path(self.urn, self.attr, self.sub)
    }

    /// RFC 7644 section 3.4.2.2: comparing a multi-valued complex attribute that has a `value`
    /// sub-attribute compares that sub-attribute (`emails co "x"` means `emails.value co "x"`).
    /// The same holds for a single-valued one such as the enterprise `manager`, which Entra
    /// compares with a plain id.
    fn value_sub_attribute(&self) -> Option<&'a AttributeDef> {
        if self.sub.is_none() && self.attr.ty == AttrType::Complex {
            self.attr.sub("value")
        } else {
            None
        }
    }
}

fn find<'a>(scope: Scope<'a>, p: &AttrPath) -> Result<Target<'a>, String> {
    match scope {
        Scope::Resource(kind) => {
            let core = p
                .urn
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case(kind.core_urn()));
            if core && p.attr.eq_ignore_ascii_case(SCHEMAS_ATTRIBUTE.name) {
                if p.sub.is_some() {
                    return Err(format!("unknown attribute '{p}' for {}", kind.name()));
                }
                return Ok(Target {
                    urn: None,
                    attr: &SCHEMAS_ATTRIBUTE,
                    sub: None,
                });
            }
            let (urn, attr, sub) = locate(kind, p)?;
            Ok(Target { urn, attr, sub })
        }
        Scope::Element(parent) => {
            let unknown = || format!("unknown sub-attribute '{p}' of '{}'", parent.name);
            if p.urn.is_some() || p.sub.is_some() {
                return Err(unknown());
            }
            let attr = parent.sub(&p.attr).ok_or_else(unknown)?;
            Ok(Target {
                urn: None,
                attr,
                sub: None,
            })
        }
    }
}

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

/// RFC 7644 section 3.4.2.2 (`valuePath`) and 3.5.2: value filters select elements of a
/// multi-valued complex attribute.
fn takes_value_filter(t: &Target<'_>) -> bool {
    t.sub.is_none() && t.attr.multi_valued && t.attr.ty == AttrType::Complex
}

pub(crate) fn takes_value_filter_def(def: &AttributeDef) -> bool {
    def.multi_valued && def.ty == AttrType::Complex
}

fn string_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn resolve_in(f: &Filter, scope: Scope<'_>) -> Result<Filter, String> {
    Ok(match f {
        Filter::And(..) | Filter::Or(..) => {
            let is_and = matches!(f, Filter::And(..));
            let mut operands = chain(f).into_iter();
            let mut acc = match operands.next() {
                Some(first) => resolve_in(first, scope)?,
                None => return Err("empty logical expression".to_owned()),
            };
            for operand in operands {
                let right = Box::new(resolve_in(operand, scope)?);
                acc = if is_and {
                    Filter::And(Box::new(acc), right)
                } else {
                    Filter::Or(Box::new(acc), right)
                };
            }
            acc
        }
        Filter::Not(a) => Filter::Not(Box::new(resolve_in(a, scope)?)),
        Filter::Present(p) => Filter::Present(find(scope, p)?.path()),
        Filter::Compare(p, op, v) => {
            let mut t = find(scope, p)?;
            if t.def().ty == AttrType::Complex {
                let Some(value) = t.value_sub_attribute() else {
                    return Err(format!(
                        "complex attribute '{p}' cannot be compared directly; \
                         compare one of its sub-attributes"
                    ));
                };
                t.sub = Some(value);
            }
            let def = t.def();
            let ordering = matches!(
                op,
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
            );
            if ordering && matches!(def.ty, AttrType::Boolean | AttrType::Binary) {
                return Err(format!(
                    "operator '{}' cannot be used on {} attribute '{}'",
                    op.as_str(),
                    def.ty.as_str(),
                    t.path()
                ));
            }
            if *v == CompValue::Null && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return Err(format!(
                    "operator '{}' cannot compare with null (only 'eq' and 'ne' can)",
                    op.as_str()
                ));
            }
            // Entra sends booleans as strings (interop.md Q2): store them as booleans so
            // that stores see one type.
            let v = match v {
                CompValue::Str(s) if def.ty == AttrType::Boolean => {
                    string_bool(s).map_or_else(|| v.clone(), CompValue::Bool)
                }
                _ => v.clone(),
            };
            Filter::Compare(t.path(), *op, v)
        }
        Filter::ValuePath(p, inner) => {
            if let Scope::Element(_) = scope {
                return Err("value filters cannot be nested".to_owned());
            }
            let t = find(scope, p)?;
            if !takes_value_filter(&t) {
                return Err(format!(
                    "'{p}' is not a multi-valued complex attribute, so it cannot take a value filter"
                ));
            }
            Filter::ValuePath(
                t.path(),
                Box::new(resolve_in(inner, Scope::Element(t.attr))?),
            )
        }
    })
}

/// Resolves a value filter against the sub-attributes of `parent`; the error is a message.
pub(crate) fn resolve_in_element(f: &Filter, parent: &AttributeDef) -> Result<Filter, String> {
    resolve_in(f, Scope::Element(parent))
}

/// Resolves a raw filter for `kind` (400 `invalidFilter` on error):
///
/// - names take the registry's spelling; the core URN is dropped, an extension URN takes its
///   canonical spelling (core and common attributes end up with `urn: None`, extension
///   attributes with `urn: Some(extension URN)`);
/// - `schemas` is accepted as a multi-valued, case-insensitive string attribute;
/// - paths inside a value path are sub-attributes of the value path's attribute, which must be
///   multi-valued and complex;
/// - an unknown attribute or sub-attribute is an error naming it
///   (`unknown attribute 'foo' for User`);
/// - comparing a multi-valued complex attribute that has a `value` sub-attribute compares
///   that sub-attribute, and the AST says so: `emails co "x"` becomes `emails.value co "x"`;
///   comparing any other complex attribute (`name eq "x"`) is an error (`pr` is fine);
/// - `gt`/`ge`/`lt`/`le` on boolean or binary attributes is an error (RFC 7644 section
///   3.4.2.2), and so is any operator other than `eq`/`ne` with `null`;
/// - a string `"true"`/`"false"` (any case) compared with a boolean attribute becomes the
///   boolean.
///
/// Other type mismatches (`userName eq 5`) are kept: they never match.
pub fn resolve_filter(f: &Filter, kind: ResourceKind) -> ScimResult<Filter> {
    resolve_in(f, Scope::Resource(kind)).map_err(ScimError::invalid_filter)
}

/// Resolves a value filter (such as the `type eq "work"` of `emails[type eq "work"]`) against
/// the sub-attributes of `parent`, with the rules of [`resolve_filter`]
/// (400 `invalidFilter` on error).
pub fn resolve_value_filter(f: &Filter, parent: &AttributeDef) -> ScimResult<Filter> {
    resolve_in_element(f, parent).map_err(ScimError::invalid_filter)
}

/// The definition of what a path names for `kind`: the sub-attribute's for `name.givenName`,
/// the attribute's otherwise (`emails` gives the complex `emails`, not `emails.value`).
/// Knows `schemas`, which the registry does not. `None` for unknown paths.
pub fn attribute_def(kind: ResourceKind, path: &AttrPath) -> Option<&'static AttributeDef> {
    find(Scope::Resource(kind), path).ok().map(|t| t.def())
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Case folding for attributes that are not `caseExact`: Unicode lower case
/// ([`str::to_lowercase`]), applied to both sides of a comparison.
///
/// SQL translations must fold the same way; SQLite's built-in `lower()` folds ASCII only, so
/// a store registers this function as an SQL function instead.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// Evaluates a filter against a resource document of `kind` in canonical form: core and
/// common attributes at the top level under their registry spelling, extension attributes
/// under the key of their extension URN, `schemas` an array of URNs.
///
/// The semantics, which the SQL translations implement too:
///
/// - **Missing is false.** A comparison or `pr` on an attribute that is absent, `null`, or
///   (for a sub-attribute) whose parent is absent, is false. `not` and `ne` are plain boolean
///   negations of that result, so `not (title eq "x")` and `title ne "x"` are *true* for a
///   resource without a title, and `f or not (f)` is true for every `f`.
/// - **`ne` is `not eq`**, also for multi-valued attributes: `emails.type ne "work"` holds
///   when *no* email has type `work` (not when some email has another type).
/// - **Multi-valued: any element.** Every other comparison, and `pr`, holds if it holds for
///   at least one element (`emails.value co "@x"`: some email contains `@x`). A value path
///   `emails[type eq "work" and value co "@x"]` holds if one element satisfies the whole
///   inner filter.
/// - **`pr`** holds for a value that is not `null`, `""`, `[]` or `{}`; for a multi-valued
///   attribute, if some element is such a value.
/// - **`eq null` means "not present"** (RFC 7644 leaves it open): `x eq null` is
///   `not (x pr)` and `x ne null` is `x pr`. Other operators never take `null` (the
///   resolver rejects them).
/// - **Strings** (also `reference` and `binary`) compare with [`fold_case`] on both sides
///   unless the attribute is `caseExact` (`id`, `externalId`, `meta.resourceType`,
///   `meta.location`, `meta.version`). `co`/`sw`/`ew` are substring, prefix and suffix
///   tests (an empty operand always matches); `gt`/`ge`/`lt`/`le` compare the (folded)
///   strings byte by byte, which is Unicode code point order.
/// - **dateTime** attributes (`meta.created`, `meta.lastModified`): `eq` and the ordering
///   operators parse both sides as RFC 3339 and compare instants (`...T01:00:00+01:00` equals
///   `...T00:00:00Z`); if either side does not parse, there is no match. `co`/`sw`/`ew`
///   never match.
/// - **Numbers** (integer, decimal attributes) compare numerically as `f64`; `co`/`sw`/`ew`
///   never match.
/// - **Booleans** support `eq` (and so `ne`); `true`/`false` or the strings `"true"`/
///   `"false"` in any case. Other operators never match.
/// - **Type mismatches never match** (a number compared with a string attribute, a string
///   with a number attribute, a non-boolean string with a boolean, or a document value of
///   the wrong JSON type), so their `ne` holds.
/// - An unknown attribute (possible only in an unresolved filter) behaves as a missing one.
pub fn matches(filter: &Filter, resource: &Value, kind: ResourceKind) -> bool {
    eval(filter, Scope::Resource(kind), resource)
}

/// Evaluates a filter whose paths are relative to one element of the complex attribute
/// `parent` (the `type eq "work"` of PATCH path `emails[type eq "work"].value`) against one
/// element, with the semantics of [`matches`]. An element that is not an object has no
/// sub-attributes, so only negations can hold for it.
pub fn matches_value(filter: &Filter, element: &Value, parent: &AttributeDef) -> bool {
    eval(filter, Scope::Element(parent), element)
}

fn eval(f: &Filter, scope: Scope<'_>, doc: &Value) -> bool {
    match f {
        Filter::And(..) => chain(f).into_iter().all(|g| eval(g, scope, doc)),
        Filter::Or(..) => chain(f).into_iter().any(|g| eval(g, scope, doc)),
        Filter::Not(a) => !eval(a, scope, doc),
        Filter::Present(p) => {
            find(scope, p).is_ok_and(|t| any_value(&t, scope, doc, &mut |v| is_present(v)))
        }
        Filter::Compare(p, CompareOp::Ne, v) => !compare(scope, doc, p, CompareOp::Eq, v),
        Filter::Compare(p, op, v) => compare(scope, doc, p, *op, v),
        Filter::ValuePath(p, inner) => {
            if let Scope::Element(_) = scope {
                return false;
            }
            let Ok(t) = find(scope, p) else {
                return false;
            };
            if !takes_value_filter(&t) {
                return false;
            }
            let element_scope = Scope::Element(t.attr);
            match attribute_value(&t, scope, doc) {
                Some(Value::Array(items)) => items
                    .iter()
                    .any(|e| e.is_object() && eval(inner, element_scope, e)),
                _ => false,
            }
        }
    }
}

/// The JSON value of a target's top-level attribute (or of the sub-attribute named directly
/// in an element scope).
fn attribute_value<'v>(t: &Target<'_>, scope: Scope<'_>, doc: &'v Value) -> Option<&'v Value> {
    match (scope, t.urn) {
        (Scope::Resource(_), Some(urn)) => doc.get(urn)?.get(t.attr.name),
        _ => doc.get(t.attr.name),
    }
}

/// The elements of a value: an array's items, or the value itself.
fn elements(v: &Value) -> std::slice::Iter<'_, Value> {
    match v {
        Value::Array(items) => items.iter(),
        other => std::slice::from_ref(other).iter(),
    }
}

/// Whether `pred` holds for some value the target names: each element of a multi-valued
/// attribute, and for `attr.sub` the `sub` of each element of `attr`.
fn any_value(
    t: &Target<'_>,
    scope: Scope<'_>,
    doc: &Value,
    pred: &mut dyn FnMut(&Value) -> bool,
) -> bool {
    let Some(v) = attribute_value(t, scope, doc) else {
        return false;
    };
    match t.sub {
        None => elements(v).any(pred),
        Some(sub) => {
            elements(v).any(|e| e.get(sub.name).is_some_and(|s| elements(s).any(&mut *pred)))
        }
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// A comparison other than `ne`.
fn compare(scope: Scope<'_>, doc: &Value, p: &AttrPath, op: CompareOp, v: &CompValue) -> bool {
    let Ok(mut t) = find(scope, p) else {
        return false;
    };
    if t.def().ty == AttrType::Complex {
        match t.value_sub_attribute() {
            Some(value) => t.sub = Some(value),
            None => return false,
        }
    }
    let def = t.def();
    if *v == CompValue::Null {
        return op == CompareOp::Eq && !any_value(&t, scope, doc, &mut |x| is_present(x));
    }
    any_value(&t, scope, doc, &mut |x| compare_one(op, def, x, v))
}

fn ordering_holds(op: CompareOp, ord: Option<Ordering>) -> bool {
    let Some(ord) = ord else {
        return false;
    };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn string_holds(op: CompareOp, a: &str, b: &str) -> bool {
    match op {
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        _ => ordering_holds(op, Some(a.cmp(b))),
    }
}

fn instant(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// One document value against the comparison value, for the attribute `def`.
fn compare_one(op: CompareOp, def: &AttributeDef, x: &Value, v: &CompValue) -> bool {
    match def.ty {
        AttrType::Boolean => {
            let wanted = match v {
                CompValue::Bool(b) => Some(*b),
                CompValue::Str(s) => string_bool(s),
                _ => None,
            };
            match (x.as_bool(), wanted) {
                (Some(a), Some(b)) => op == CompareOp::Eq && a == b,
                _ => false,
            }
        }
        AttrType::Integer | AttrType::Decimal => match (x.as_f64(), v) {
            (Some(a), CompValue::Num(n)) => {
                ordering_holds(op, n.as_f64().and_then(|b| a.partial_cmp(&b)))
            }
            _ => false,
        },
        AttrType::DateTime => match (x.as_str(), v) {
            (Some(a), CompValue::Str(b)) => match (instant(a), instant(b)) {
                (Some(a), Some(b)) => ordering_holds(op, Some(a.cmp(&b))),
                _ => false,
            },
            _ => false,
        },
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => {
            match (x.as_str(), v) {
                (Some(a), CompValue::Str(b)) if def.case_exact => string_holds(op, a, b),
                (Some(a), CompValue::Str(b)) => string_holds(op, &fold_case(a), &fold_case(b)),
                _ => false,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

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
/// [`parse_filter_raw`] reads it back to an equal AST (as long as it fits the length limit:
/// the canonical form of a bare word or `emails co` is a few bytes longer than the input).
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

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "12", "-1.5", "1e5", "1E+5", "2.5e-3"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1.2.3", "0x10", "12ab",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn quoted_escapes_like_json() {
        assert_eq!(quoted("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\u0001é""#);
    }
}
