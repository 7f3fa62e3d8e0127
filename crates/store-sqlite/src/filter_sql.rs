//! SQLite's half of the filter lowering (`store_sql::filter`, which decides what is compared
//! with what): how one value is read (`json_extract` with bound paths), typed (`typeof`),
//! case-folded (`scim_lower`, Unicode) and compared, and the expression `sortBy` orders by.
//! A value of the wrong type for the attribute never matches (string booleans excepted).

use scim_core::filter::{CompValue, CompareOp};
use scim_core::path::AttrPath;
use scim_core::schema::{AttrType, AttributeDef, ResourceKind};
use store_sql::filter::{Multi, Operand as Shared, SortBy, Src, sort_by};
use store_sql::{Sql, Value as SqlValue};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A single value to compare, as SQLite SQL.
struct Operand<'a> {
    expr: Sql,
    def: &'a AttributeDef,
    /// The expression is already lower-cased (the `name_ci` column).
    lowered: bool,
    /// An id column holding UUID bytes: `eq` compares bytes so the index is used.
    uuid_blob: bool,
    /// A timestamp column in unix microseconds.
    micros: bool,
}

/// `$."a"."b"`: a JSON path of registry names.
fn json_path(parts: impl Iterator<Item = &'static str>) -> String {
    let mut p = String::from("$");
    for part in parts {
        p.push_str(&format!(".\"{part}\""));
    }
    p
}

/// `json_extract(<on>, <path>)`, the path bound.
fn json_extract(on: &str, path: String) -> Sql {
    let mut sql = Sql::new("json_extract(");
    sql.push(on);
    sql.push(", ");
    sql.bind(SqlValue::Text(path));
    sql.push(")");
    sql
}

/// How SQLite reads a shared operand; `None` for a value only rendering knows.
fn operand(op: &Shared) -> Option<Operand<'_>> {
    let mut out = Operand {
        expr: Sql::default(),
        def: op.def,
        lowered: false,
        uuid_blob: false,
        micros: false,
    };
    out.expr = match &op.src {
        Src::Doc(path) => json_extract("r.doc", json_path(path.parts())),
        Src::Field(name) => json_extract("e.value", json_path(std::iter::once(*name))),
        Src::Element => Sql::new("e.value"),
        Src::Text { expr, folded } => {
            out.lowered = *folded;
            Sql::new(expr)
        }
        Src::Uuid(col) => {
            out.uuid_blob = true;
            Sql::new(col)
        }
        Src::Micros(col) => {
            out.micros = true;
            Sql::new(col)
        }
        Src::Opaque => return None,
    };
    Some(out)
}

/// The `FROM` item for a document array's elements, `e`.
pub(crate) fn elements(m: &Multi, sql: &mut Sql) {
    let path = match m {
        Multi::Doc { path, .. } => json_path(path.parts()),
        Multi::Schemas { def, .. } => json_path(std::iter::once(def.name)),
        Multi::Members | Multi::Groups => return,
    };
    sql.push("json_each(r.doc, ");
    sql.bind(SqlValue::Text(path));
    sql.push(") e");
}

/// `pr` of one value: not NULL and not the empty string.
pub(crate) fn present(op: &Shared, sql: &mut Sql) {
    let Some(op) = operand(op) else {
        // Always present, built when rendering.
        sql.push("1");
        return;
    };
    sql.push("COALESCE(");
    sql.append(&op.expr);
    sql.push(" IS NOT NULL AND ");
    sql.append(&op.expr);
    sql.push(" != '', 0)");
}

/// One comparison other than `ne`.
pub(crate) fn compare(op: &Shared, cmp: CompareOp, v: &CompValue, sql: &mut Sql) {
    match operand(op) {
        Some(op) => scalar(&op, cmp, v, sql),
        None => sql.push("0"),
    }
}

fn push_expr(op: &Operand<'_>, sql: &mut Sql) {
    sql.append(&op.expr);
}

/// The value bound for a comparison, or `None` when the value's type cannot match.
fn bound_value(op: &Operand<'_>, v: &CompValue) -> Option<SqlValue> {
    match (op.def.ty, v) {
        (AttrType::Boolean, CompValue::Bool(b)) => Some(SqlValue::Int(i64::from(*b))),
        (AttrType::Boolean, CompValue::Str(s)) if s.eq_ignore_ascii_case("true") => {
            Some(SqlValue::Int(1))
        }
        (AttrType::Boolean, CompValue::Str(s)) if s.eq_ignore_ascii_case("false") => {
            Some(SqlValue::Int(0))
        }
        (AttrType::Integer | AttrType::Decimal, CompValue::Num(n)) => n
            .as_i64()
            .map(SqlValue::Int)
            .or_else(|| n.as_f64().map(SqlValue::Float)),
        (AttrType::DateTime, CompValue::Str(s)) if op.micros => OffsetDateTime::parse(s, &Rfc3339)
            .ok()
            .map(|t| SqlValue::Int((t.unix_timestamp_nanos() / 1000) as i64)),
        (AttrType::DateTime, CompValue::Str(s)) => Some(SqlValue::Text(s.clone())),
        (AttrType::String | AttrType::Reference | AttrType::Binary, CompValue::Str(s)) => {
            Some(SqlValue::Text(if op.def.case_exact {
                s.clone()
            } else {
                s.to_lowercase()
            }))
        }
        _ => None,
    }
}

fn scalar(operand: &Operand<'_>, op: CompareOp, v: &CompValue, sql: &mut Sql) {
    let Some(value) = bound_value(operand, v) else {
        sql.push("0");
        return;
    };
    // Timestamps are kept to the microsecond; an instant between two microseconds is never
    // equal to one, is greater than its floor, and is less than or equal to nothing above it.
    let op = match (operand.micros, v) {
        (true, CompValue::Str(text)) if sub_micro(text) => match op {
            CompareOp::Eq => {
                sql.push("0");
                return;
            }
            CompareOp::Ge => CompareOp::Gt,
            CompareOp::Lt => CompareOp::Le,
            other => other,
        },
        _ => op,
    };
    let is_text = matches!(value, SqlValue::Text(_));
    if operand.uuid_blob {
        // Ids are compared as the text of a UUID; `eq` with a well-formed UUID uses the index.
        if let (CompareOp::Eq, SqlValue::Text(t)) = (op, &value) {
            match uuid::Uuid::parse_str(t) {
                // `id` is caseExact; a member's `value` is not.
                Ok(u)
                    if u.hyphenated().to_string() == *t
                        || (!operand.def.case_exact
                            && u.hyphenated().to_string().eq_ignore_ascii_case(t)) =>
                {
                    // The bare comparison first, for the index (see INDEXED_COLUMNS).
                    sql.push("(");
                    push_expr(operand, sql);
                    sql.push(" = ");
                    sql.bind(SqlValue::Blob(u.as_bytes().to_vec()));
                    sql.push(" AND COALESCE(");
                    push_expr(operand, sql);
                    sql.push(" = ");
                    sql.bind(SqlValue::Blob(u.as_bytes().to_vec()));
                    sql.push(", 0))");
                }
                _ => sql.push("0"),
            }
            return;
        }
    }
    let mut lhs = Sql::default();
    if operand.uuid_blob {
        lhs.push("uuid_str(");
        push_expr(operand, &mut lhs);
        lhs.push(")");
    } else if is_text && !operand.def.case_exact && !operand.lowered {
        lhs.push("scim_lower(");
        push_expr(operand, &mut lhs);
        lhs.push(")");
    } else {
        push_expr(operand, &mut lhs);
    }
    let empty = matches!(&value, SqlValue::Text(t) if t.is_empty());
    // An index cannot see through the COALESCE below: `eq` on an indexed column also gets the
    // bare comparison in front. It holds whenever the full condition does and is NULL only
    // when the column is (where the condition is 0), so the result is unchanged.
    let indexed = op == CompareOp::Eq && is_text && INDEXED_COLUMNS.contains(&lhs.bare_text());
    if indexed {
        sql.push("(");
        sql.append(&lhs);
        sql.push(" = ");
        sql.bind(value.clone());
        sql.push(" AND ");
    }
    sql.push("COALESCE(");
    match op {
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew if !is_text => {
            sql.push("0");
        }
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew if empty => {
            sql.append(&lhs);
            sql.push(" IS NOT NULL");
        }
        CompareOp::Co => {
            sql.push("instr(");
            sql.append(&lhs);
            sql.push(", ");
            sql.bind(value);
            sql.push(") > 0");
        }
        CompareOp::Sw | CompareOp::Ew => {
            let SqlValue::Text(t) = &value else { return };
            let n = t.chars().count() as i64;
            sql.push("substr(");
            sql.append(&lhs);
            sql.push(if op == CompareOp::Sw { ", 1, " } else { ", " });
            sql.bind(SqlValue::Int(if op == CompareOp::Sw { n } else { -n }));
            sql.push(") = ");
            sql.bind(value);
        }
        _ => {
            let sym = match op {
                CompareOp::Eq | CompareOp::Ne => " = ",
                CompareOp::Gt => " > ",
                CompareOp::Ge => " >= ",
                CompareOp::Lt => " < ",
                _ => " <= ",
            };
            if is_text {
                // Keep text compared with text: a number stored under a string attribute does
                // not compare with a string value.
                sql.push("typeof(");
                sql.append(&lhs);
                sql.push(") = 'text' AND ");
            }
            sql.append(&lhs);
            sql.push(sym);
            sql.bind(value);
        }
    }
    sql.push(", 0)");
    if indexed {
        sql.push(")");
    }
}

/// Columns with an index usable for `eq` (the unique name, `externalId`).
const INDEXED_COLUMNS: &[&str] = &["r.name_ci", "r.external_id"];

/// Whether an RFC 3339 instant has a fraction finer than a microsecond.
fn sub_micro(text: &str) -> bool {
    OffsetDateTime::parse(text, &Rfc3339).is_ok_and(|t| t.nanosecond() % 1000 != 0)
}

/// The SQL expression that `sortBy` orders by (RFC 7644 section 3.4.2.3): a multi-valued
/// attribute sorts by its primary (else first) value; strings that are not caseExact sort
/// case-insensitively. `None` when the path names nothing sortable.
pub(crate) fn sort_expr(p: &AttrPath, kind: ResourceKind) -> Option<Sql> {
    let mut sql = Sql::default();
    match sort_by(p, kind)? {
        SortBy::Single { op, fold } => {
            let op = operand(&op)?;
            if op.uuid_blob {
                sql.push("uuid_str(");
                push_expr(&op, &mut sql);
                sql.push(")");
            } else if fold && !op.lowered {
                sql.push("scim_lower(");
                push_expr(&op, &mut sql);
                sql.push(")");
            } else {
                push_expr(&op, &mut sql);
            }
        }
        SortBy::Element { path, sub, fold } => {
            sql.push(if fold {
                "scim_lower((SELECT json_extract(e.value, "
            } else {
                "(SELECT json_extract(e.value, "
            });
            sql.bind(SqlValue::Text(json_path(std::iter::once(sub.name))));
            sql.push(") FROM json_each(r.doc, ");
            sql.bind(SqlValue::Text(json_path(path.parts())));
            sql.push(
                ") e ORDER BY COALESCE(json_extract(e.value, '$.primary'), 0) DESC, e.key LIMIT 1)",
            );
            if fold {
                sql.push(")");
            }
        }
    }
    Some(sql)
}
