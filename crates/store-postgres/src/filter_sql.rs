//! SCIM filters and sort keys as PostgreSQL SQL over the `resources` row aliased `r`, with
//! every client value bound as a parameter (attribute names come from the schema registry and
//! are written into the SQL as JSON paths). The semantics are those of
//! `scim_core::filter::matches`, which the conformance suite uses as its oracle:
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
//! - a comparison on a multi-valued attribute holds when any element holds (`EXISTS` over
//!   `jsonb_array_elements`, or over `group_members` rows for `members` and `groups`); `ne`
//!   holds when no element equals;
//! - `eq null` means "not present", `ne null` means present;
//! - values are typed: `jsonb_typeof` guards every extraction, so a number never compares as a
//!   string, and a value of the wrong type for the attribute never matches (string booleans
//!   were turned into booleans by the resolver);
//! - `meta.created` / `meta.lastModified` compare as instants with the full precision of the
//!   filter value (a value between two microseconds is equal to neither).
//!
//! Known gap, shared with the SQLite store: `meta.location` and the `$ref` of `members` and
//! `groups` are URLs built from the server's base URL when rendering, which the store does not
//! know; they are always present (`pr`) but no comparison with them matches.

use scim_core::filter::{CompValue, CompareOp, Filter, fold_case};
use scim_core::path::AttrPath;
use scim_core::schema::{AttrType, AttributeDef, ResourceKind, registry};
use std::fmt::Write as _;
use store_sql::{KeyType, Sql, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where the attribute names of a (sub-)filter are evaluated.
#[derive(Clone, Copy)]
enum Ctx<'a> {
    /// The resource row `r`.
    Top(ResourceKind),
    /// One element `e.value` (jsonb) of a multi-valued complex attribute of the document.
    Element(&'a AttributeDef),
    /// One row `gm` of a group's members.
    Member,
    /// One row `gm` of a user's groups.
    GroupOfUser,
}

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

struct Operand<'a> {
    def: &'a AttributeDef,
    src: Src,
}

/// Where a multi-valued attribute's elements come from.
enum Multi<'a> {
    /// A jsonb array of the document.
    Json {
        expr: String,
        def: &'a AttributeDef,
    },
    Members,
    Groups,
}

enum Target<'a> {
    Single(Operand<'a>),
    /// A multi-valued attribute and the sub-attribute the path names, if any.
    Multi(Multi<'a>, Option<&'a AttributeDef>),
    /// The path names nothing here: never matches.
    Nothing,
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

fn doc_path(urn: Option<&str>, attr: &str, sub: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = urn
        .into_iter()
        .chain(std::iter::once(attr))
        .chain(sub)
        .collect();
    Some(format!("(r.doc #> {})", path_literal(&parts)?))
}

/// `(e.value -> 'name')` for a sub-attribute of an element.
fn element_path(name: &str) -> Option<String> {
    Some(format!("(e.value #> {})", path_literal(&[name])?))
}

fn top_target(p: &AttrPath, kind: ResourceKind) -> Target<'static> {
    let reg = registry();
    // `schemas` is in no schema, but rendered on every resource: the document's, or the core
    // URN alone when the document has none (directory::render).
    if p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("schemas") {
        let Some(def) = scim_core::filter::attribute_def(kind, p) else {
            return Target::Nothing;
        };
        let expr = format!(
            "COALESCE(r.doc -> 'schemas', '[\"{}\"]'::jsonb)",
            kind.core_urn()
        );
        return Target::Multi(Multi::Json { expr, def }, None);
    }
    let Some(loc) = reg.locate(kind, p.urn.as_deref(), &p.attr) else {
        return Target::Nothing;
    };
    let def = loc.def;
    let sub_def = match p.sub.as_deref() {
        Some(s) => match def.sub(s) {
            Some(d) => Some(d),
            None => return Target::Nothing,
        },
        None => None,
    };
    if def.multi_valued {
        let multi = match (kind, def.name) {
            (ResourceKind::Group, "members") => Multi::Members,
            (ResourceKind::User, "groups") => Multi::Groups,
            _ => match doc_path(loc.extension, def.name, None) {
                Some(expr) => Multi::Json { expr, def },
                None => return Target::Nothing,
            },
        };
        return Target::Multi(multi, sub_def);
    }
    let leaf = sub_def.unwrap_or(def);
    let op = |src| Target::Single(Operand { def: leaf, src });
    match (def.name, sub_def.map(|d| d.name)) {
        ("id", None) => op(Src::Uuid("r.id")),
        ("externalId", None) => op(Src::Text {
            expr: "r.external_id".into(),
            folded: false,
        }),
        ("userName", None) if kind == ResourceKind::User => op(Src::Text {
            expr: "r.name_ci".into(),
            folded: true,
        }),
        ("displayName", None) if kind == ResourceKind::Group => op(Src::Text {
            expr: "r.name_ci".into(),
            folded: true,
        }),
        ("meta", Some("created")) => op(Src::Micros("r.created")),
        ("meta", Some("lastModified")) => op(Src::Micros("r.last_modified")),
        ("meta", Some("version")) => op(Src::Text {
            expr: "('W/\"' || r.version || '\"')".into(),
            folded: false,
        }),
        ("meta", Some("resourceType")) => op(Src::Text {
            expr: if kind == ResourceKind::User {
                "'User'"
            } else {
                "'Group'"
            }
            .into(),
            folded: false,
        }),
        ("meta", Some("location") | None) => op(Src::Opaque),
        ("meta", _) => Target::Nothing,
        _ => match doc_path(loc.extension, def.name, sub_def.map(|d| d.name)) {
            Some(expr) => op(Src::Json(expr)),
            None => Target::Nothing,
        },
    }
}

/// The value a path names inside one element of a multi-valued attribute.
fn element_target<'a>(name: &str, ctx: Ctx<'a>) -> Option<Operand<'a>> {
    let reg = registry();
    match ctx {
        Ctx::Top(_) => None,
        Ctx::Element(parent) => {
            let d = parent.sub(name)?;
            Some(Operand {
                def: d,
                src: Src::Json(element_path(d.name)?),
            })
        }
        Ctx::Member => {
            let d = reg.group.attribute("members")?.sub(name)?;
            let src = match d.name {
                "value" => Src::Uuid("gm.member_id"),
                "type" => Src::Text {
                    expr: "(CASE gm.member_kind WHEN 0 THEN 'User' ELSE 'Group' END)".into(),
                    folded: false,
                },
                "$ref" => Src::Opaque,
                _ => return None,
            };
            Some(Operand { def: d, src })
        }
        Ctx::GroupOfUser => {
            let d = reg.user.attribute("groups")?.sub(name)?;
            let src = match d.name {
                "value" => Src::Uuid("gm.group_id"),
                "type" => Src::Text {
                    expr: "'direct'".into(),
                    folded: false,
                },
                "display" => Src::Text {
                    expr: GROUP_DISPLAY.into(),
                    folded: false,
                },
                "$ref" => Src::Opaque,
                _ => return None,
            };
            Some(Operand { def: d, src })
        }
    }
}

/// A user's group's `display`.
const GROUP_DISPLAY: &str = "(SELECT x.doc ->> 'displayName' FROM resources x WHERE x.org_id = gm.org_id AND x.id = gm.group_id)";

fn target<'a>(p: &AttrPath, ctx: Ctx<'a>) -> Target<'a> {
    match ctx {
        Ctx::Top(kind) => top_target(p, kind),
        _ if p.urn.is_some() || p.sub.is_some() => Target::Nothing,
        _ => element_target(&p.attr, ctx).map_or(Target::Nothing, Target::Single),
    }
}

/// Appends the SQL condition for `f`, a filter resolved for `kind`.
pub(crate) fn translate(f: &Filter, kind: ResourceKind, sql: &mut Sql) {
    node(f, Ctx::Top(kind), sql);
}

fn node(f: &Filter, ctx: Ctx<'_>, sql: &mut Sql) {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            sql.push("(");
            node(a, ctx, sql);
            sql.push(if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            node(b, ctx, sql);
            sql.push(")");
        }
        Filter::Not(a) => {
            sql.push("(NOT ");
            node(a, ctx, sql);
            sql.push(")");
        }
        Filter::Present(p) => present(p, ctx, sql),
        Filter::Compare(p, op, v) => compare(p, *op, v, ctx, sql),
        Filter::ValuePath(p, inner) => value_path(p, inner, ctx, sql),
    }
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

/// Opens `EXISTS (SELECT 1 FROM <elements> WHERE `; the caller closes with `)`.
fn open_exists(m: &Multi<'_>, wrap_single: bool, sql: &mut Sql) {
    match m {
        Multi::Json { expr, .. } => {
            sql.push("EXISTS (SELECT 1 FROM ");
            sql.push(&json_elements(expr, wrap_single));
            sql.push(" WHERE ");
        }
        Multi::Members => sql.push("EXISTS (SELECT 1 FROM group_members gm WHERE gm.org_id = r.org_id AND gm.group_id = r.id AND "),
        Multi::Groups => sql.push("EXISTS (SELECT 1 FROM group_members gm WHERE gm.org_id = r.org_id AND gm.member_id = r.id AND "),
    }
}

fn element_ctx<'a>(m: &Multi<'a>) -> Ctx<'a> {
    match m {
        Multi::Json { def, .. } => Ctx::Element(def),
        Multi::Members => Ctx::Member,
        Multi::Groups => Ctx::GroupOfUser,
    }
}

/// The operand for one element: its sub-attribute `sub`, or the element itself for a
/// multi-valued attribute of simple values (`schemas`).
fn element_operand<'a>(m: &Multi<'a>, sub: Option<&'a AttributeDef>) -> Option<Operand<'a>> {
    match (m, sub) {
        (_, Some(s)) => element_target(s.name, element_ctx(m)),
        (Multi::Json { def, .. }, None) if def.ty != AttrType::Complex => Some(Operand {
            def,
            src: Src::Json("e.value".into()),
        }),
        _ => None,
    }
}

fn value_path(p: &AttrPath, inner: &Filter, ctx: Ctx<'_>, sql: &mut Sql) {
    match target(p, ctx) {
        Target::Multi(m, None) => {
            open_exists(&m, false, sql);
            if matches!(m, Multi::Json { .. }) {
                sql.push("jsonb_typeof(e.value) = 'object' AND ");
            }
            node(inner, element_ctx(&m), sql);
            sql.push(")");
        }
        _ => sql.push("FALSE"),
    }
}

fn present(p: &AttrPath, ctx: Ctx<'_>, sql: &mut Sql) {
    match target(p, ctx) {
        Target::Nothing => sql.push("FALSE"),
        Target::Single(op) => present_single(&op.src, sql),
        Target::Multi(m, sub) => {
            open_exists(&m, true, sql);
            match (&m, sub) {
                (Multi::Json { .. }, None) => present_single(&Src::Json("e.value".into()), sql),
                (_, None) => sql.push("TRUE"),
                (_, Some(s)) => match element_target(s.name, element_ctx(&m)) {
                    Some(op) => present_single(&op.src, sql),
                    None => sql.push("FALSE"),
                },
            }
            sql.push(")");
        }
    }
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

fn compare(p: &AttrPath, op: CompareOp, v: &CompValue, ctx: Ctx<'_>, sql: &mut Sql) {
    if *v == CompValue::Null {
        match op {
            CompareOp::Eq => {
                sql.push("(NOT ");
                present(p, ctx, sql);
                sql.push(")");
            }
            CompareOp::Ne => present(p, ctx, sql),
            _ => sql.push("FALSE"),
        }
        return;
    }
    let never = if op == CompareOp::Ne { "TRUE" } else { "FALSE" };
    // `ne` is `not eq`, also over the elements of a multi-valued attribute.
    let (op, negate) = if op == CompareOp::Ne {
        (CompareOp::Eq, true)
    } else {
        (op, false)
    };
    match target(p, ctx) {
        Target::Nothing => sql.push(never),
        Target::Single(operand) => {
            if negate {
                sql.push("(NOT ");
            }
            scalar(&operand, op, v, sql);
            if negate {
                sql.push(")");
            }
        }
        Target::Multi(m, sub) => {
            // A complex attribute compared directly compares its `value` (RFC 7644 3.4.2.2).
            let sub = match (&m, sub) {
                (Multi::Json { def, .. }, None) if def.ty == AttrType::Complex => def.sub("value"),
                (Multi::Members, None) => registry()
                    .group
                    .attribute("members")
                    .and_then(|d| d.sub("value")),
                (Multi::Groups, None) => registry()
                    .user
                    .attribute("groups")
                    .and_then(|d| d.sub("value")),
                (_, s) => s,
            };
            let Some(operand) = element_operand(&m, sub) else {
                sql.push(never);
                return;
            };
            if negate {
                sql.push("(NOT ");
            }
            open_exists(&m, true, sql);
            scalar(&operand, op, v, sql);
            sql.push(")");
            if negate {
                sql.push(")");
            }
        }
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
    match top_target(p, kind) {
        Target::Single(op) => {
            let text = matches!(
                op.def.ty,
                AttrType::String | AttrType::Reference | AttrType::Binary
            );
            let fold = text && !op.def.case_exact;
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
        Target::Multi(Multi::Json { expr, def }, sub) => {
            let sub_def = match sub {
                Some(s) => s,
                None => def.sub("value")?,
            };
            let fold = !sub_def.case_exact && sub_def.ty == AttrType::String;
            let inner = json_key(&element_path(sub_def.name)?, sub_def, fold)?;
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
        _ => None,
    }
}
