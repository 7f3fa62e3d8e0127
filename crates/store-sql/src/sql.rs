//! Statements as text with parameter slots, rendered per backend.

use crate::Dialect;

/// A bound parameter, as both stores know it; each backend converts it for its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A 64-bit integer (`bigint`).
    Int(i64),
    /// A 32-bit integer (`int4`), where the SQL function wants one.
    Int4(i32),
    Float(f64),
    Text(String),
    Uuid(uuid::Uuid),
    Blob(Vec<u8>),
}

/// SQL text with its parameters, appended to in text order. A parameter is a slot in the
/// text that only the dialect fills in (see [`Sql::render`]), so pieces built apart can be
/// joined without renumbering.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    text: String,
    /// Byte offsets in `text` where a placeholder goes, one for each of `params`, ascending.
    slots: Vec<usize>,
    params: Vec<Value>,
}

impl Sql {
    /// A statement that starts with `text`.
    pub fn new(text: &str) -> Self {
        let mut sql = Self::default();
        sql.push(text);
        sql
    }

    /// Appends SQL text (never a client value: those are bound).
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Appends a placeholder bound to `v`.
    pub fn bind(&mut self, v: Value) {
        self.slots.push(self.text.len());
        self.params.push(v);
    }

    /// Appends another statement piece with its parameters.
    pub fn append(&mut self, other: &Sql) {
        let at = self.text.len();
        self.text.push_str(&other.text);
        self.slots.extend(other.slots.iter().map(|s| s + at));
        self.params.extend(other.params.iter().cloned());
    }

    /// The text without placeholders, to compare pieces (never to run).
    pub fn bare_text(&self) -> &str {
        &self.text
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The parameters, in the order of their placeholders.
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// The text to run, with the dialect's placeholders.
    pub fn render(&self, d: &impl Dialect) -> String {
        let mut out = String::with_capacity(self.text.len() + 4 * self.slots.len());
        let mut from = 0;
        for (i, (&at, v)) in self.slots.iter().zip(&self.params).enumerate() {
            out.push_str(&self.text[from..at]);
            out.push_str(&d.placeholder(i + 1, v));
            from = at;
        }
        out.push_str(&self.text[from..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Numbered;
    impl Dialect for Numbered {
        fn placeholder(&self, n: usize, _: &Value) -> String {
            format!("${n}")
        }
        fn nulls(&self, _: bool) -> &'static str {
            ""
        }
        fn truth(&self, b: bool) -> &'static str {
            if b { "1" } else { "0" }
        }
        fn json_text(&self, doc: &str, _: &[&str]) -> String {
            doc.to_owned()
        }
        fn fold(&self, expr: &str) -> String {
            expr.to_owned()
        }
        fn like_escape(&self) -> &'static str {
            ""
        }
        fn flag(&self, col: &str, _: bool) -> String {
            col.to_owned()
        }
        fn elements(&self, _: &crate::filter::Multi, _: bool, _: &mut Sql) {}
        fn element_is_object(&self) -> Option<&'static str> {
            None
        }
        fn present(&self, _: &crate::filter::Operand, _: &mut Sql) {}
        fn compare(
            &self, _: &crate::filter::Operand, _: scim_core::filter::CompareOp,
            _: &scim_core::filter::CompValue, _: &mut Sql,
        ) {
        }
    }

    #[test]
    fn appended_pieces_keep_their_parameters_in_text_order() {
        let mut key = Sql::new("f(");
        key.bind(Value::Int(1));
        key.push(")");
        let mut sql = Sql::new("SELECT ");
        sql.append(&key);
        sql.push(" FROM t WHERE a = ");
        sql.bind(Value::Text("x".into()));
        sql.push(" ORDER BY ");
        sql.append(&key);
        assert_eq!(
            sql.render(&Numbered),
            "SELECT f($1) FROM t WHERE a = $2 ORDER BY f($3)"
        );
        assert_eq!(
            sql.params(),
            &[Value::Int(1), Value::Text("x".into()), Value::Int(1)]
        );
    }
}
