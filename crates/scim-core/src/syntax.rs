//! The lexer that the filter grammar (RFC 7644 section 3.4.2.2) and the PATCH path grammar
//! (RFC 7644 section 3.5.2) share: a cursor over the text, the attribute path token
//! (RFC 7644 section 3.10) both grammars are built on, JSON string and number literals
//! (RFC 8259), and syntax errors that carry the byte offset of the problem.
//!
//! Keeping the shared pieces here, below both grammars, lets the `path` module use the filter
//! parser for value filters without the filter parser depending on the `path` module.

use std::fmt;

use crate::error::ScimError;

// ---------------------------------------------------------------------------------------------
// Attribute paths

/// `[urn ":"] attr ["." sub]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN the path was qualified with. After [`AttrPath::resolve`]: `None` for core
    /// and common attributes, the extension's URN otherwise.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A path with no URN and no sub-attribute.
    pub fn simple(attr: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub: None,
        }
    }
}

/// Prints `[urn:]attr[.sub]`, which `path::parse_attr_path` reads back to an equal path.
impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// `ATTRNAME` of RFC 7644 section 3.10 (ALPHA *(nameChar)), plus `$ref` (RFC 7643 section 2.1
/// names it, though the ABNF forgets the `$`).
pub(crate) fn is_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Splits one path word (no brackets, no whitespace) into URN, attribute and sub-attribute.
/// `start` is the word's byte offset in the whole input, for error messages.
pub(crate) fn split_attr_path(word: &str, start: usize) -> PResult<AttrPath> {
    let has_urn = word
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("urn:"));
    let (urn, rest, rest_start) = if has_urn {
        // Attribute names have no colons, so the last colon ends the URN.
        let colon = word.rfind(':').unwrap_or(3);
        if colon <= 3 {
            return Err(SyntaxError::new(
                start,
                format!(
                    "{} is not a schema URN followed by ':' and an attribute name",
                    quoted(word)
                ),
            ));
        }
        (
            Some(word[..colon].to_owned()),
            &word[colon + 1..],
            start + colon + 1,
        )
    } else {
        (None, word, start)
    };
    if rest.is_empty() {
        return Err(SyntaxError::new(
            rest_start,
            "expected an attribute name after the schema URN",
        ));
    }
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    if !is_attr_name(attr) {
        let why = if urn.is_none() && attr.contains(':') {
            format!(
                "invalid attribute name {} (a schema URN must start with 'urn:')",
                quoted(attr)
            )
        } else {
            format!("invalid attribute name {}", quoted(attr))
        };
        return Err(SyntaxError::new(rest_start, why));
    }
    if let Some(s) = sub {
        let sub_start = rest_start + attr.len() + 1;
        if let Some(dot) = s.find('.') {
            return Err(SyntaxError::new(
                sub_start + dot,
                "an attribute path has at most one sub-attribute",
            ));
        }
        if !is_attr_name(s) {
            return Err(SyntaxError::new(
                sub_start,
                format!("invalid sub-attribute name {}", quoted(s)),
            ));
        }
    }
    Ok(AttrPath {
        urn,
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

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
    pub(crate) offset: usize,
    pub(crate) message: String,
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
pub(crate) fn write_json_str(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
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
// The cursor

/// A cursor over filter or path text, with the token-level steps both grammars use (words,
/// keywords, closing brackets, JSON strings); the grammars themselves live in
/// `filter::parse` and the `path` module. All delimiters are ASCII, so byte positions found by
/// scanning for them are always character boundaries.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'(' | b')' | b'[' | b']' | b'"')
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
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

    /// Steps over the `len` bytes of a word the caller has just peeked.
    pub(crate) fn advance(&mut self, len: usize) {
        self.pos += len;
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
    pub(crate) fn peek_word(&self) -> &'a str {
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

    pub(crate) fn found_error<T>(&self, expected: &str) -> PResult<T> {
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

    pub(crate) fn eat_keyword(&mut self, keyword: &str) -> bool {
        self.skip_ws();
        let word = self.peek_word();
        if word.eq_ignore_ascii_case(keyword) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// A JSON string starting at the cursor (RFC 8259 section 7).
    pub(crate) fn parse_string(&mut self) -> PResult<String> {
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

pub(crate) fn parse_number(word: &str, start: usize) -> PResult<serde_json::Number> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
