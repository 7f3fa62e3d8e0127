//! Request bodies read strictly: a JSON object with the same member name twice, at any depth,
//! is refused rather than read as "the last one wins".
//!
//! RFC 8259 section 4 only says names SHOULD be unique and leaves the meaning of duplicates
//! to each parser: some keep the first, some the last. When two parsers sit in a chain (a
//! proxy or a web application firewall in front of scimd) they could then read two different
//! requests from the same bytes; refusing duplicates leaves one reading only.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why a body is not strict JSON: the parser's own message, or the duplicate member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictJsonError {
    /// Not JSON at all (the parser's message, with line and column).
    Syntax(String),
    /// A member name that appears twice in one object; the dotted path of the object it is in
    /// (empty at the top level) and the name.
    Duplicate { at: String, name: String },
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictJsonError::Syntax(m) => f.write_str(m),
            StrictJsonError::Duplicate { at, name } if at.is_empty() => {
                write!(f, "the member \"{name}\" appears more than once")
            }
            StrictJsonError::Duplicate { at, name } => {
                write!(
                    f,
                    "the member \"{name}\" appears more than once in \"{at}\""
                )
            }
        }
    }
}

/// Parses `bytes` as JSON, refusing an object with a repeated member name anywhere in it.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { at: String::new() }
        .deserialize(&mut de)
        .map_err(|e| {
            duplicate_of(&e.to_string()).unwrap_or(StrictJsonError::Syntax(e.to_string()))
        })?;
    de.end()
        .map_err(|e| StrictJsonError::Syntax(e.to_string()))?;
    Ok(value)
}

/// The marker the visitor puts in its error, so that the caller can tell a duplicate from a
/// syntax error after serde has wrapped it.
const DUPLICATE: &str = "\u{0}duplicate\u{0}";

fn duplicate_of(message: &str) -> Option<StrictJsonError> {
    let rest = message.strip_prefix(DUPLICATE)?;
    let (at, rest) = rest.split_once('\u{0}')?;
    // serde_json appends " at line L column C" to custom errors.
    let name = rest.rsplit_once(" at line ").map_or(rest, |(n, _)| n);
    Some(StrictJsonError::Duplicate {
        at: at.to_owned(),
        name: name.to_owned(),
    })
}

/// A value at `at` (the dotted path of names that lead to it).
struct Strict {
    at: String,
}

impl Strict {
    fn child(&self, name: &str) -> Strict {
        Strict {
            at: if self.at.is_empty() {
                name.to_owned()
            } else {
                format!("{}.{name}", self.at)
            },
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        // Elements of an array share the array's path: a name repeated in two elements is fine.
        while let Some(v) = seq.next_element_seed(Strict {
            at: self.at.clone(),
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.child(&name))?;
            if out.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "{DUPLICATE}{}\u{0}{name}",
                    self.at
                )));
            }
            out.insert(name, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn well_formed_bodies_read_as_serde_json_reads_them() {
        for text in [
            r#"{"userName":"a","emails":[{"value":"x"},{"value":"y"}],"n":1.5,"b":true,"z":null}"#,
            "[]",
            r#""text""#,
            "18446744073709551615",
            "-3",
        ] {
            let strict = parse_strict(text.as_bytes()).expect(text);
            let plain: Value = serde_json::from_str(text).expect(text);
            assert_eq!(strict, plain, "{text}");
        }
    }

    #[test]
    fn a_repeated_member_is_refused_at_any_depth_naming_it() {
        assert_eq!(
            parse_strict(br#"{"userName":"a","userName":"b"}"#),
            Err(StrictJsonError::Duplicate {
                at: String::new(),
                name: "userName".into()
            })
        );
        let nested = br#"{"name":{"givenName":"a","familyName":"b","givenName":"c"}}"#;
        let e = parse_strict(nested).expect_err("duplicate");
        assert_eq!(
            e.to_string(),
            "the member \"givenName\" appears more than once in \"name\""
        );
        let in_array = br#"{"Operations":[{"op":"add","op":"remove"}]}"#;
        assert!(matches!(
            parse_strict(in_array),
            Err(StrictJsonError::Duplicate { ref name, .. }) if name == "op"
        ));
    }

    #[test]
    fn the_same_name_in_sibling_objects_is_no_duplicate() {
        let v = parse_strict(br#"{"emails":[{"type":"work"},{"type":"home"}],"a":{"type":1}}"#)
            .expect("fine");
        assert_eq!(v["emails"][1]["type"], json!("home"));
    }

    #[test]
    fn syntax_errors_and_trailing_bytes_stay_syntax_errors() {
        assert!(matches!(
            parse_strict(b"{\"a\":"),
            Err(StrictJsonError::Syntax(_))
        ));
        assert!(matches!(
            parse_strict(b"{} {}"),
            Err(StrictJsonError::Syntax(_))
        ));
        // A string that happens to hold the marker is just a string.
        let v = parse_strict("{\"a\":\"\\u0000duplicate\\u0000\"}".as_bytes()).expect("fine");
        assert_eq!(v["a"], json!("\u{0}duplicate\u{0}"));
    }
}
