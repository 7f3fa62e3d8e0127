//! The group statements both stores share: the console's group list (every source, with
//! member counts) and a group's members, keyset by member id, optionally searched.

use crate::columns::{Columns, resource, source};
use crate::{Sql, Value};
use directory::store::columns::kind_from;
use directory::store::{GroupSummary, GroupView, MemberEntry, MemberPage, StoredResource};
use directory::{OrgId, ResourceId, StoreError};

/// The columns after the resource's own in [`groups_page`] and [`group_by_id`]: its source
/// and its direct member count (one index range of `group_members` per group shown).
pub const GROUP_COLS: &str = "r.source, (SELECT COUNT(*) FROM group_members m \
     WHERE m.org_id = r.org_id AND m.group_id = r.id)";

/// `SELECT COUNT(*)` of the organisation's groups.
pub fn groups_count(org: OrgId) -> Sql {
    let mut sql = Sql::new("SELECT COUNT(*) FROM resources r WHERE r.org_id = ");
    sql.bind(Value::Uuid(org.0));
    sql.push(" AND r.kind = 1");
    sql
}

/// `SELECT cols, GROUP_COLS, r.seq`: `per_page + 1` groups after `after`, by `seq`.
pub fn groups_page(org: OrgId, cols: &str, after: Option<i64>, per_page: u32) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {cols}, {GROUP_COLS}, r.seq FROM resources r WHERE r.org_id = "
    ));
    sql.bind(Value::Uuid(org.0));
    sql.push(" AND r.kind = 1");
    if let Some(seq) = after {
        sql.push(" AND r.seq > ");
        sql.bind(Value::Int(seq));
    }
    sql.push(&format!(" ORDER BY r.seq LIMIT {}", per_page + 1));
    sql
}

/// `SELECT cols, GROUP_COLS` of one group.
pub fn group_by_id(org: OrgId, id: ResourceId, cols: &str) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {cols}, {GROUP_COLS} FROM resources r WHERE r.org_id = "
    ));
    sql.bind(Value::Uuid(org.0));
    sql.push(" AND r.id = ");
    sql.bind(Value::Uuid(id.0));
    sql.push(" AND r.kind = 1");
    sql
}

/// `SELECT 1` when `group` is one of the organisation's groups (of any source).
pub fn group_exists(org: OrgId, group: ResourceId) -> Sql {
    let mut sql = Sql::new("SELECT 1 FROM resources WHERE org_id = ");
    sql.bind(Value::Uuid(org.0));
    sql.push(" AND id = ");
    sql.bind(Value::Uuid(group.0));
    sql.push(" AND kind = 1");
    sql
}

/// `SELECT m.member_id, m.member_kind, r.doc`: `per_page + 1` members of `group` after member
/// `after`, in member-id order (the primary key's), those `search` (the store's condition on
/// the account row `r`) finds when given.
pub fn members_page(
    org: OrgId, group: ResourceId, search: Option<&Sql>, after: Option<ResourceId>, per_page: u32,
) -> Sql {
    let mut sql = Sql::new(
        "SELECT m.member_id, m.member_kind, r.doc FROM group_members m \
         JOIN resources r ON r.org_id = m.org_id AND r.id = m.member_id WHERE m.org_id = ",
    );
    sql.bind(Value::Uuid(org.0));
    sql.push(" AND m.group_id = ");
    sql.bind(Value::Uuid(group.0));
    if let Some(after) = after {
        sql.push(" AND m.member_id > ");
        sql.bind(Value::Uuid(after.0));
    }
    if let Some(search) = search {
        sql.push(" AND r.kind = 0 AND ");
        sql.append(search);
    }
    sql.push(&format!(" ORDER BY m.member_id LIMIT {}", per_page + 1));
    sql
}

/// `SELECT cols` of every group (any source) `member` is a direct member of, in group order.
pub fn groups_of(org: OrgId, member: ResourceId, cols: &str) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {cols} FROM group_members m JOIN resources r ON r.org_id = m.org_id AND r.id = m.group_id \
         WHERE m.org_id = "
    ));
    sql.bind(Value::Uuid(org.0));
    sql.push(" AND m.member_id = ");
    sql.bind(Value::Uuid(member.0));
    sql.push(" ORDER BY r.seq");
    sql
}

/// The group of a [`group_by_id`] row (or of a [`groups_page`] row).
pub fn group_summary(row: &dyn Columns) -> Result<GroupSummary, StoreError> {
    Ok(GroupSummary {
        resource: resource(row)?,
        source: source(row, 6)?,
        members: row.int(7)? as u64,
    })
}

/// A row of [`groups_page`]: the group, and its sequence number for the cursor.
pub fn group_page_row(row: &dyn Columns) -> Result<(GroupSummary, i64), StoreError> {
    Ok((group_summary(row)?, row.int(8)?))
}

/// A row of [`members_page`].
pub fn member_entry(row: &dyn Columns) -> Result<MemberEntry, StoreError> {
    Ok(MemberEntry {
        id: ResourceId(row.uuid(0)?),
        kind: kind_from(row.int(1)?),
        doc: row.json(2)?,
    })
}

/// The page of members from the rows of [`members_page`]; the next page starts after its last
/// member.
pub fn member_page(mut members: Vec<MemberEntry>, per_page: u32) -> MemberPage {
    let per_page = usize::try_from(per_page).unwrap_or(usize::MAX);
    let more = members.len() > per_page;
    members.truncate(per_page);
    let next = if more {
        members.last().map(|m| m.id)
    } else {
        None
    };
    MemberPage { members, next }
}

/// A group as a member's page names it.
pub fn group_view(r: StoredResource) -> GroupView {
    GroupView {
        id: r.id,
        display: r
            .doc
            .get("displayName")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    }
}
