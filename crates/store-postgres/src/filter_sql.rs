//! PostgreSQL's half of the filter lowering (`store_sql::filter`, which decides what is
//! compared with what, with the semantics of `scim_core::filter::matches`), and the expression
//! `sortBy` orders by. Every client value is bound; attribute names come from the schema
//! registry and are written into the SQL as JSON paths. How one value is compared:
//!
//! - a comparison with a missing attribute is false (every comparison is wrapped in
//!   `COALESCE(..., false)`, or, for `eq` on an indexed column, given `IS NOT NULL`), so `not`
//!   of it, and `ne`, are true;
//! - strings compare case-insensitively unless the attribute is `caseExact`: the client's value
//!   is folded in Rust (`scim_core::filter::fold_case`), the stored one by `scim_fold`, which is
//!   ICU's root-locale `lower()` (see the migration). Both apply the full Unicode lower-case
//!   mapping; they can differ only where ICU's and Rust's Unicode versions differ (characters
//!   added in one and not yet in the other). `userName` and Group `displayName` are compared
//!   through the `name_ci` column, which Rust folded on write, so they never differ;
//! - ordering operators compare strings byte-wise (`COLLATE "C"`), which for UTF-8 is Unicode
//!   code point order, as Rust's `str` ordering is; the database's collation never applies;
//! - values are typed: `jsonb_typeof` guards every extraction, so a number never compares as a
//!   string, and a value of the wrong type for the attribute never matches (string booleans
//!   were turned into booleans by the resolver);
//! - `meta.created` / `meta.lastModified` compare as instants with the full precision of the
//!   filter value (a value between two microseconds is equal to neither).

use scim_core::filter::{CompValue, CompareOp, fold_case};
use scim_core::path::AttrPath;
use scim_core::schema::{AttrType, AttributeDef, ResourceKind};
use std::fmt::Write as _;
use store_sql::filter::{Multi, Operand as Shared, SortBy, Src as SharedSrc, sort_by};
use store_sql::{KeyType, Sql, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where a single value comes from, which decides how it is typed and compared.
enum Src {
    /// A jsonb expression, SQL NULL when the attribute is absent.
    Json(String),
    /// A text expression; `folded` when it is already lower-cased (`name_ci`).
    Text { expr: String, folded: bool },
    /// A uuid column, rendered as its lower-case hyphenated text.
    Uuid(&'static str),
    /// A timestamp column in unix microseconds.
    Micros(&'static str),
    /// Always present, but not comparable here (URLs built from the base URL).
    Opaque,
}

/// A single value to compare, as PostgreSQL reads it.
struct Operand<'a> {
    def: &'a AttributeDef,
    src: Src,
}

/// How PostgreSQL reads a shared operand; `None` where no SQL reads it (a path that cannot be
/// written as a literal, which registry names never are).
fn operand(op: &Shared) -> Option<Operand<'_>> {
    let src = match &op.src {
        SharedSrc::Doc(path) => Src::Json(doc_path(path.parts())?),
        SharedSrc::Field(name) => Src::Json(element_path(name)?),
        SharedSrc::Element => Src::Json("e.value".into()),
        SharedSrc::Text { expr, folded } => Src::Text {
            expr: expr.clone(),
            folded: *folded,
        },
        SharedSrc::Uuid(col) => Src::Uuid(col),
        SharedSrc::Micros(col) => Src::Micros(col),
        SharedSrc::Opaque => Src::Opaque,
    };
    Some(Operand { def: op.def, src })
}

/// The `FROM` item for a document array's elements, `e`.
pub(crate) fn elements(m: &Multi, wrap_single: bool, sql: &mut Sql) {
    let expr = match m {
        Multi::Doc { path, .. } => doc_path(path.parts()).unwrap_or_else(|| "'[]'::jsonb".into()),
        // `schemas`: the document's, or the core URN alone when the document has none
        // (directory::render).
        Multi::Schemas { kind, .. } => format!(
            "COALESCE(r.doc -> 'schemas', '[\"{}\"]'::jsonb)",
            kind.core_urn()
        ),
        Multi::Members | Multi::Groups => return,
    };
    sql.push(&json_elements(&expr, wrap_single));
}

/// `pr` of one value.
pub(crate) fn present(op: &Shared, sql: &mut Sql) {
    match operand(op) {
        Some(op) => present_single(&op.src, sql),
        None => sql.push("FALSE"),
    }
}

/// One comparison other than `ne`.
pub(crate) fn compare(op: &Shared, cmp: CompareOp, v: &CompValue, sql: &mut Sql) {
    match operand(op) {
        Some(op) => scalar(&op, cmp, v, sql),
        None => sql.push("FALSE"),
    }
}

/// `'{"a","b"}'`: a text-array literal for `#>`. Registry names never contain quotes or
/// backslashes; anything else is refused rather than written into SQL.
fn path_literal(parts: &[&str]) -> Option<String> {
    let mut s = String::from("'{");
    for (i, p) in parts.iter().enumerate() {
        if p.chars()
            .any(|c| matches!(c, '"' | '\'' | '\\' | '{' | '}' | ',') || c.is_control())
        {
            return None;
        }
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "\"{p}\"");
    }
    s.push_str("}'");
    Some(s)
}

fn doc_path(parts: impl Iterator<Item = &'static str>) -> Option<String> {
    let parts: Vec<&str> = parts.collect();
    Some(format!("(r.doc #> {})", path_literal(&parts)?))
}

/// `(e.value -> 'name')` for a sub-attribute of an element.
fn element_path(name: &str) -> Option<String> {
    Some(format!("(e.value #> {})", path_literal(&[name])?))
}

/// The rows of a JSON array, wrapping a single value as the evaluator does (`elements`).
fn json_elements(expr: &str, wrap_single: bool) -> String {
    let other = if wrap_single {
        format!("jsonb_build_array({expr})")
    } else {
        "'[]'::jsonb".to_owned()
    };
    format!(
        "jsonb_array_elements(CASE jsonb_typeof({expr}) WHEN 'array' THEN {expr} ELSE {other} END) e(value)"
    )
}

/// `pr` (RFC 7644 section 3.4.2.2): not null, `""`, `[]` or `{}`.
fn present_single(src: &Src, sql: &mut Sql) {
    match src {
        Src::Json(j) => {
            sql.push(&format!("COALESCE({j} NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{{}}'::jsonb), FALSE)"
            ));
        }
        Src::Text { expr, .. } => {
            sql.push(&format!("COALESCE({expr} <> '', FALSE)"));
        }
        Src::Uuid(_) | Src::Micros(_) | Src::Opaque => sql.push("TRUE"),
    }
}

fn ordering_sym(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        _ => "=",
    }
}

/// Text columns that `resources` indexes (`userName` / Group `displayName`, `externalId`):
/// `eq` on them must stay a comparison an index can serve.
const INDEXED_COLUMNS: &[&str] = &["r.name_ci", "r.external_id"];

/// One comparison other than `ne`, never NULL.
fn scalar(operand: &Operand<'_>, op: CompareOp, v: &CompValue, sql: &mut Sql) {
    let def = operand.def;
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    match def.ty {
        AttrType::Boolean => {
            let wanted = match v {
                CompValue::Bool(b) => Some(*b),
                CompValue::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
                CompValue::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            };
            match (&operand.src, wanted, op) {
                (Src::Json(j), Some(b), CompareOp::Eq) => {
                    sql.push(&format!("COALESCE({j} = to_jsonb("));
                    sql.bind(Value::Bool(b));
                    sql.push("), FALSE)");
                }
                _ => sql.push("FALSE"),
            }
        }
        AttrType::Integer | AttrType::Decimal => match (&operand.src, v) {
            (Src::Json(j), CompValue::Num(n)) if !substring => match n.as_f64() {
                Some(f) => {
                    sql.push(&format!("COALESCE(CASE WHEN jsonb_typeof({j}) = 'number' THEN ({j})::float8 END {} ",
                        ordering_sym(op)
                    ));
                    sql.bind(Value::Float(f));
                    sql.push(", FALSE)");
                }
                None => sql.push("FALSE"),
            },
            _ => sql.push("FALSE"),
        },
        AttrType::DateTime => match (&operand.src, v) {
            (Src::Micros(col), CompValue::Str(s)) if !substring => {
                let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) else {
                    sql.push("FALSE");
                    return;
                };
                let nanos = t.unix_timestamp_nanos();
                let micros = nanos.div_euclid(1000) as i64;
                // Stored instants are whole microseconds. A value between two of them equals
                // none, is above `micros` and below `micros + 1`.
                let (sym, exact) = (ordering_sym(op), nanos.rem_euclid(1000) == 0);
                let sym = match (exact, op) {
                    (true, _) => sym,
                    (false, CompareOp::Eq) => {
                        sql.push("FALSE");
                        return;
                    }
                    (false, CompareOp::Gt | CompareOp::Ge) => ">",
                    (false, _) => "<=",
                };
                sql.push(&format!("({col} {sym} "));
                sql.bind(Value::Int(micros));
                sql.push(")");
            }
            // No dateTime attribute lives in the document; RFC 3339 text is not comparable
            // in SQL without parsing, so such a comparison would need its own translation.
            _ => sql.push("FALSE"),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => {
            let CompValue::Str(s) = v else {
                sql.push("FALSE");
                return;
            };
            let value = if def.case_exact {
                s.clone()
            } else {
                fold_case(s)
            };
            let lhs = match &operand.src {
                Src::Json(j) => {
                    let text =
                        format!("(CASE WHEN jsonb_typeof({j}) = 'string' THEN {j} #>> '{{}}' END)");
                    if def.case_exact {
                        text
                    } else {
                        format!("scim_fold({text})")
                    }
                }
                Src::Text { expr, folded } => {
                    if def.case_exact || *folded {
                        expr.clone()
                    } else {
                        format!("scim_fold({expr})")
                    }
                }
                Src::Uuid(col) => {
                    if op == CompareOp::Eq {
                        // Equality on the uuid itself, so the primary key is used. The text of a
                        // uuid is lower-case and hyphenated: only that spelling can be equal.
                        match uuid::Uuid::parse_str(&value) {
                            Ok(u) if u.hyphenated().to_string() == value => {
                                sql.push(&format!("({col} = "));
                                sql.bind(Value::Uuid(u));
                                sql.push(")");
                            }
                            _ => sql.push("FALSE"),
                        }
                        return;
                    }
                    format!("({col}::text)")
                }
                Src::Micros(_) | Src::Opaque => {
                    sql.push("FALSE");
                    return;
                }
            };
            if op == CompareOp::Eq && INDEXED_COLUMNS.contains(&lhs.as_str()) {
                // An index cannot see through `COALESCE`: on an indexed column `eq` is the
                // bare comparison, made false rather than NULL where the column is NULL.
                sql.push(&format!("({lhs} = "));
                sql.bind(Value::Text(value));
                sql.push(&format!(" AND {lhs} IS NOT NULL)"));
                return;
            }
            sql.push("COALESCE(");
            match op {
                CompareOp::Co => {
                    sql.push(&format!("strpos({lhs}, "));
                    sql.bind(Value::Text(value));
                    sql.push(") > 0");
                }
                CompareOp::Sw => {
                    sql.push(&format!("starts_with({lhs}, "));
                    sql.bind(Value::Text(value));
                    sql.push(")");
                }
                CompareOp::Ew => {
                    let n = i32::try_from(value.chars().count()).unwrap_or(i32::MAX);
                    sql.push(&format!("right({lhs}, "));
                    sql.bind(Value::Int4(n));
                    sql.push(") = ");
                    sql.bind(Value::Text(value));
                }
                CompareOp::Eq => {
                    sql.push(&format!("{lhs} = "));
                    sql.bind(Value::Text(value));
                }
                _ => {
                    sql.push(&format!("{lhs} COLLATE \"C\" {} ", ordering_sym(op)));
                    sql.bind(Value::Text(value));
                }
            }
            sql.push(", FALSE)");
        }
    }
}

/// A `sortBy` expression and its type.
#[derive(Debug)]
pub(crate) struct SortKey {
    pub expr: String,
    pub ty: KeyType,
}

/// A typed jsonb value as a sort key. `fold` lower-cases strings.
fn json_key(j: &str, def: &AttributeDef, fold: bool) -> Option<SortKey> {
    Some(match def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime => {
            let text = format!("(CASE WHEN jsonb_typeof({j}) = 'string' THEN {j} #>> '{{}}' END)");
            let text = if fold {
                format!("scim_fold({text})")
            } else {
                text
            };
            SortKey {
                expr: format!("({text} COLLATE \"C\")"),
                ty: KeyType::Text,
            }
        }
        AttrType::Boolean => SortKey {
            expr: format!("(CASE WHEN jsonb_typeof({j}) = 'boolean' THEN ({j})::boolean END)"),
            ty: KeyType::Bool,
        },
        AttrType::Integer | AttrType::Decimal => SortKey {
            expr: format!("(CASE WHEN jsonb_typeof({j}) = 'number' THEN ({j})::float8 END)"),
            ty: KeyType::Float,
        },
        AttrType::Complex => return None,
    })
}

/// The expression `sortBy` orders by (RFC 7644 section 3.4.2.3), as the SQLite store computes
/// it: a multi-valued attribute sorts by its primary (else first) value; strings that are not
/// caseExact sort case-insensitively; `None` when the path names nothing sortable.
pub(crate) fn sort_key(p: &AttrPath, kind: ResourceKind) -> Option<SortKey> {
    match sort_by(p, kind)? {
        SortBy::Single { op, fold } => {
            let op = operand(&op)?;
            match op.src {
                Src::Json(j) => json_key(&j, op.def, fold),
                Src::Text { expr, folded } => {
                    let expr = if fold && !folded {
                        format!("scim_fold({expr})")
                    } else {
                        expr
                    };
                    Some(SortKey {
                        expr: format!("({expr} COLLATE \"C\")"),
                        ty: KeyType::Text,
                    })
                }
                Src::Uuid(col) => Some(SortKey {
                    expr: format!("({col}::text COLLATE \"C\")"),
                    ty: KeyType::Text,
                }),
                Src::Micros(col) => Some(SortKey {
                    expr: col.to_owned(),
                    ty: KeyType::Int,
                }),
                Src::Opaque => None,
            }
        }
        SortBy::Element { path, sub, fold } => {
            let expr = doc_path(path.parts())?;
            let inner = json_key(&element_path(sub.name)?, sub, fold)?;
            Some(SortKey {
                expr: format!(
                    "(SELECT {} FROM jsonb_array_elements(CASE jsonb_typeof({expr}) WHEN 'array' THEN {expr} ELSE '[]'::jsonb END) \
                     WITH ORDINALITY e(value, idx) \
                     ORDER BY COALESCE(CASE WHEN jsonb_typeof(e.value -> 'primary') = 'boolean' THEN (e.value -> 'primary')::boolean END, FALSE) DESC, \
                     e.idx LIMIT 1)",
                    inner.expr
                ),
                ty: inner.ty,
            })
        }
    }
}
