//! SCIM filters lowered to SQL over the `resources` row aliased `r`, every client value bound.
//! This is the part both stores share: resolving an attribute path into a column, a document
//! value or a relation (with its type, case-exactness and multi-valuedness), and the rules of
//! `scim_core::filter::matches`, the oracle the conformance suite compares against:
//! - a comparison with a missing attribute is false, and `not` of it is true;
//! - a comparison on a multi-valued attribute holds when any element holds (`EXISTS` over the
//!   document's array, or over `group_members` rows for `members` and `groups`); `ne` holds
//!   when no element equals;
//! - a complex attribute compared directly compares its `value` (RFC 7644 section 3.4.2.2);
//! - `eq null` means "not present", `ne null` means present.
//!
//! How one value is read, typed, case-folded and compared is the [`Dialect`]'s.
//!
//! Known gap: `meta.location` and the `$ref` of `members` and `groups` are URLs built from the
//! server's base URL when rendering, which the store does not know; they are always present
//! (`pr`) but no comparison with them matches.

use crate::{Dialect, Sql};
use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::path::AttrPath;
use scim_core::schema::{AttrType, AttributeDef, ResourceKind, registry};

/// A value's place in the resource's document: extension URN, attribute, sub-attribute.
#[derive(Debug, Clone, Copy)]
pub struct DocPath {
    pub extension: Option<&'static str>,
    pub attr: &'static str,
    pub sub: Option<&'static str>,
}

impl DocPath {
    /// The path's names from the document's root.
    pub fn parts(&self) -> impl Iterator<Item = &'static str> {
        self.extension
            .into_iter()
            .chain(std::iter::once(self.attr))
            .chain(self.sub)
    }
}

/// Where a single value comes from, which decides how it is typed and compared.
#[derive(Debug, Clone)]
pub enum Src {
    /// A value of the resource's document.
    Doc(DocPath),
    /// A sub-attribute of the element `e` of a multi-valued attribute of the document.
    Field(&'static str),
    /// The element `e` itself (a multi-valued attribute of simple values: `schemas`).
    Element,
    /// A text expression; `folded` when it is already lower-cased (`name_ci`).
    Text { expr: String, folded: bool },
    /// A UUID column (`r.id`, a membership's ids), compared as its lower-case hyphenated text.
    Uuid(&'static str),
    /// A timestamp column in unix microseconds.
    Micros(&'static str),
    /// Always present but built when rendering (`meta`, `meta.location`, `$ref`).
    Opaque,
}

/// A single value to compare: its attribute and where it comes from.
#[derive(Debug, Clone)]
pub struct Operand {
    pub def: &'static AttributeDef,
    pub src: Src,
}

/// Where a multi-valued attribute's elements come from.
#[derive(Debug, Clone, Copy)]
pub enum Multi {
    /// An array of the document; each element is `e.value`.
    Doc {
        path: DocPath,
        def: &'static AttributeDef,
    },
    /// `schemas`: the document's, or the core URN alone when it has none (as rendered).
    Schemas {
        kind: ResourceKind,
        def: &'static AttributeDef,
    },
    /// A group's `members`: rows `gm` of `group_members`.
    Members,
    /// A user's `groups`: rows `gm` of `group_members`.
    Groups,
}

/// What an attribute path names at the top of a resource.
#[derive(Debug, Clone)]
pub enum Target {
    Single(Operand),
    /// A multi-valued attribute and the sub-attribute the path names, if any.
    Multi(Multi, Option<&'static AttributeDef>),
    /// The path names nothing comparable here: never matches.
    Nothing,
}

/// Where the attribute names of a (sub-)filter are evaluated.
#[derive(Clone, Copy)]
enum Ctx {
    /// The resource row `r`.
    Top(ResourceKind),
    /// One element `e.value` of a multi-valued complex attribute of the document.
    Element(&'static AttributeDef),
    /// One row `gm` of a group's members.
    Member,
    /// One row `gm` of a user's groups.
    GroupOfUser,
}

/// Appends the SQL condition for `f`, a filter resolved for `kind`.
pub fn lower_filter(d: &impl Dialect, f: &Filter, kind: ResourceKind, sql: &mut Sql) {
    node(d, f, Ctx::Top(kind), sql);
}

/// What `p` names at the top of a resource of `kind` (for filters and `sortBy`).
pub fn top_target(p: &AttrPath, kind: ResourceKind) -> Target {
    let reg = registry();
    // `schemas` is in no schema, but rendered on every resource.
    if p.urn.is_none() && p.sub.is_none() && p.attr.eq_ignore_ascii_case("schemas") {
        return match scim_core::filter::attribute_def(kind, p) {
            Some(def) => Target::Multi(Multi::Schemas { kind, def }, None),
            None => Target::Nothing,
        };
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
    let path = DocPath {
        extension: loc.extension,
        attr: def.name,
        sub: None,
    };
    if def.multi_valued {
        let multi = match (kind, def.name) {
            (ResourceKind::Group, "members") => Multi::Members,
            (ResourceKind::User, "groups") => Multi::Groups,
            _ => Multi::Doc { path, def },
        };
        return Target::Multi(multi, sub_def);
    }
    let leaf = sub_def.unwrap_or(def);
    let op = |src| Target::Single(Operand { def: leaf, src });
    let text = |expr: &str| Src::Text {
        expr: expr.to_owned(),
        folded: false,
    };
    let folded = |expr: &str| Src::Text {
        expr: expr.to_owned(),
        folded: true,
    };
    match (def.name, sub_def.map(|d| d.name)) {
        ("id", None) => op(Src::Uuid("r.id")),
        ("externalId", None) => op(text("r.external_id")),
        ("userName", None) if kind == ResourceKind::User => op(folded("r.name_ci")),
        ("displayName", None) if kind == ResourceKind::Group => op(folded("r.name_ci")),
        ("meta", Some("created")) => op(Src::Micros("r.created")),
        ("meta", Some("lastModified")) => op(Src::Micros("r.last_modified")),
        ("meta", Some("version")) => op(text("('W/\"' || r.version || '\"')")),
        ("meta", Some("resourceType")) => op(text(if kind == ResourceKind::User {
            "'User'"
        } else {
            "'Group'"
        })),
        ("meta", Some("location") | None) => op(Src::Opaque),
        ("meta", _) => Target::Nothing,
        _ => op(Src::Doc(DocPath {
            sub: sub_def.map(|s| s.name),
            ..path
        })),
    }
}

/// What `sortBy` orders by (RFC 7644 section 3.4.2.3), for the store to write as SQL.
#[derive(Debug, Clone)]
pub enum SortBy {
    /// One value; `fold` when it sorts case-insensitively (a string that is not caseExact).
    Single { op: Operand, fold: bool },
    /// An array of the document, by the `sub` value of its primary (else first) element.
    Element {
        path: DocPath,
        sub: &'static AttributeDef,
        fold: bool,
    },
}

/// What `p` sorts a resource of `kind` by; `None` when it names nothing sortable.
pub fn sort_by(p: &AttrPath, kind: ResourceKind) -> Option<SortBy> {
    match top_target(p, kind) {
        Target::Single(op) => {
            let text = matches!(
                op.def.ty,
                AttrType::String | AttrType::Reference | AttrType::Binary
            );
            let fold = text && !op.def.case_exact;
            Some(SortBy::Single { op, fold })
        }
        Target::Multi(Multi::Doc { path, def }, sub) => {
            let sub = match sub {
                Some(s) => s,
                None => def.sub("value")?,
            };
            // An element's value folds only as a string, as the filter compares it.
            let fold = !sub.case_exact && sub.ty == AttrType::String;
            Some(SortBy::Element { path, sub, fold })
        }
        _ => None,
    }
}

/// The value a name denotes inside one element of a multi-valued attribute.
fn element_target(d: &impl Dialect, name: &str, ctx: Ctx) -> Option<Operand> {
    let reg = registry();
    match ctx {
        Ctx::Top(_) => None,
        Ctx::Element(parent) => {
            let def = parent.sub(name)?;
            Some(Operand {
                def,
                src: Src::Field(def.name),
            })
        }
        Ctx::Member => {
            let def = reg.group.attribute("members")?.sub(name)?;
            let src = match def.name {
                "value" => Src::Uuid("gm.member_id"),
                "type" => Src::Text {
                    expr: "(CASE gm.member_kind WHEN 0 THEN 'User' ELSE 'Group' END)".into(),
                    folded: false,
                },
                "$ref" => Src::Opaque,
                _ => return None,
            };
            Some(Operand { def, src })
        }
        Ctx::GroupOfUser => {
            let def = reg.user.attribute("groups")?.sub(name)?;
            let src = match def.name {
                "value" => Src::Uuid("gm.group_id"),
                "type" => Src::Text {
                    expr: "'direct'".into(),
                    folded: false,
                },
                // A user's groups show the group's name.
                "display" => Src::Text {
                    expr: format!(
                        "(SELECT {} FROM resources x WHERE x.org_id = gm.org_id AND x.id = gm.group_id)",
                        d.json_text("x.doc", &["displayName"])
                    ),
                    folded: false,
                },
                "$ref" => Src::Opaque,
                _ => return None,
            };
            Some(Operand { def, src })
        }
    }
}

fn target(d: &impl Dialect, p: &AttrPath, ctx: Ctx) -> Target {
    match ctx {
        Ctx::Top(kind) => top_target(p, kind),
        _ if p.urn.is_some() || p.sub.is_some() => Target::Nothing,
        _ => element_target(d, &p.attr, ctx).map_or(Target::Nothing, Target::Single),
    }
}

fn node(d: &impl Dialect, f: &Filter, ctx: Ctx, sql: &mut Sql) {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            sql.push("(");
            node(d, a, ctx, sql);
            sql.push(if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            node(d, b, ctx, sql);
            sql.push(")");
        }
        Filter::Not(a) => {
            sql.push("(NOT ");
            node(d, a, ctx, sql);
            sql.push(")");
        }
        Filter::Present(p) => present(d, p, ctx, sql),
        Filter::Compare(p, op, v) => compare(d, p, *op, v, ctx, sql),
        Filter::ValuePath(p, inner) => value_path(d, p, inner, ctx, sql),
    }
}

/// Opens `EXISTS (SELECT 1 FROM <elements> WHERE `; the caller closes with `)`.
/// `wrap_single`: a single value where an array belongs counts as one element (as the
/// evaluator reads it).
fn open_exists(d: &impl Dialect, m: &Multi, wrap_single: bool, sql: &mut Sql) {
    match m {
        Multi::Doc { .. } | Multi::Schemas { .. } => {
            sql.push("EXISTS (SELECT 1 FROM ");
            d.elements(m, wrap_single, sql);
            sql.push(" WHERE ");
        }
        Multi::Members => sql.push("EXISTS (SELECT 1 FROM group_members gm WHERE gm.org_id = r.org_id AND gm.group_id = r.id AND "),
        Multi::Groups => sql.push("EXISTS (SELECT 1 FROM group_members gm WHERE gm.org_id = r.org_id AND gm.member_id = r.id AND "),
    }
}

fn element_ctx(m: &Multi) -> Ctx {
    match m {
        Multi::Doc { def, .. } | Multi::Schemas { def, .. } => Ctx::Element(def),
        Multi::Members => Ctx::Member,
        Multi::Groups => Ctx::GroupOfUser,
    }
}

/// The operand for one element: its sub-attribute `sub`, or the element itself for a
/// multi-valued attribute of simple values (`schemas`).
fn element_operand(d: &impl Dialect, m: &Multi, sub: Option<&AttributeDef>) -> Option<Operand> {
    match (m, sub) {
        (_, Some(s)) => element_target(d, s.name, element_ctx(m)),
        (Multi::Schemas { def, .. } | Multi::Doc { def, .. }, None)
            if def.ty != AttrType::Complex =>
        {
            Some(Operand {
                def,
                src: Src::Element,
            })
        }
        _ => None,
    }
}

fn value_path(d: &impl Dialect, p: &AttrPath, inner: &Filter, ctx: Ctx, sql: &mut Sql) {
    match target(d, p, ctx) {
        Target::Multi(m, None) => {
            open_exists(d, &m, false, sql);
            if matches!(m, Multi::Doc { .. })
                && let Some(guard) = d.element_is_object()
            {
                sql.push(guard);
                sql.push(" AND ");
            }
            node(d, inner, element_ctx(&m), sql);
            sql.push(")");
        }
        // Value paths only apply to multi-valued attributes (the parser refuses the rest).
        _ => sql.push(d.truth(false)),
    }
}

fn present(d: &impl Dialect, p: &AttrPath, ctx: Ctx, sql: &mut Sql) {
    match target(d, p, ctx) {
        Target::Nothing => sql.push(d.truth(false)),
        Target::Single(op) => d.present(&op, sql),
        Target::Multi(m, sub) => {
            open_exists(d, &m, true, sql);
            match (&m, sub) {
                (Multi::Doc { def, .. } | Multi::Schemas { def, .. }, None) => d.present(
                    &Operand {
                        def,
                        src: Src::Element,
                    },
                    sql,
                ),
                (_, None) => sql.push(d.truth(true)),
                (_, Some(s)) => match element_target(d, s.name, element_ctx(&m)) {
                    Some(op) => d.present(&op, sql),
                    None => sql.push(d.truth(false)),
                },
            }
            sql.push(")");
        }
    }
}

fn compare(d: &impl Dialect, p: &AttrPath, op: CompareOp, v: &CompValue, ctx: Ctx, sql: &mut Sql) {
    if *v == CompValue::Null {
        match op {
            CompareOp::Eq => {
                sql.push("(NOT ");
                present(d, p, ctx, sql);
                sql.push(")");
            }
            CompareOp::Ne => present(d, p, ctx, sql),
            _ => sql.push(d.truth(false)),
        }
        return;
    }
    let never = d.truth(op == CompareOp::Ne);
    // `ne` is `not eq`, also over the elements of a multi-valued attribute.
    let (op, negate) = if op == CompareOp::Ne {
        (CompareOp::Eq, true)
    } else {
        (op, false)
    };
    let (multi, operand) = match target(d, p, ctx) {
        Target::Nothing => {
            sql.push(never);
            return;
        }
        Target::Single(operand) => (None, operand),
        Target::Multi(m, sub) => {
            let sub = match (&m, sub) {
                (Multi::Doc { def, .. }, None) if def.ty == AttrType::Complex => def.sub("value"),
                (Multi::Members, None) => registry()
                    .group
                    .attribute("members")
                    .and_then(|a| a.sub("value")),
                (Multi::Groups, None) => registry()
                    .user
                    .attribute("groups")
                    .and_then(|a| a.sub("value")),
                (_, s) => s,
            };
            let Some(operand) = element_operand(d, &m, sub) else {
                sql.push(never);
                return;
            };
            (Some(m), operand)
        }
    };
    if negate {
        sql.push("(NOT ");
    }
    if let Some(m) = &multi {
        open_exists(d, m, true, sql);
    }
    d.compare(&operand, op, v, sql);
    if multi.is_some() {
        sql.push(")");
    }
    if negate {
        sql.push(")");
    }
}
