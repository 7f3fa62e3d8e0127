//! The directory as applications read it, on PostgreSQL (docs/contract.md, "The directory
//! API"): user and group objects in `seq` order, and a group's members in member-id order,
//! built from the same snapshots as the event payloads (`journal`).

use crate::journal::{
    GroupSnap, Lock, UserSnap, group_cols, group_snapshot, group_snapshots, user_cols,
    user_snapshot, user_snapshots,
};
use crate::{Failure, PgStore, micros, run};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use directory::store::columns::kind_code;
use directory::store::{DirectoryQuery, DirectoryReadStore};
use directory::{OrgId, ResourceId, StoreError};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use uuid::Uuid;

#[async_trait]
impl DirectoryReadStore for PgStore {
    /// A range of `resources_kind_seq (org_id, kind, seq)` after the position; the kind is
    /// written into the SQL (as the SCIM lists do) so the plan is the index's. "Changed since"
    /// compares what the object shows as `updated_at`: the later of `updated` and SCIM's
    /// `last_modified` (a member change moves only the latter).
    async fn directory_objects(
        &self, org: OrgId, kind: ResourceKind, q: &DirectoryQuery,
    ) -> Result<Vec<(i64, Value)>, StoreError> {
        run(async {
            let c = self.client().await?;
            let (cols, only) = match kind {
                ResourceKind::User => (user_cols(), " AND r.deleted IS NULL"),
                ResourceKind::Group => (group_cols(true), ""),
            };
            let since = if q.updated_since.is_some() {
                " AND GREATEST(r.updated, r.last_modified) >= $4"
            } else {
                ""
            };
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {cols}, r.seq FROM resources r WHERE r.org_id = $1 AND r.kind = {}{only} \
                     AND r.seq > $2{since} ORDER BY r.seq LIMIT $3",
                    kind_code(kind)
                ))
                .await?;
            let limit = i64::from(q.limit);
            let rows = match q.updated_since.map(micros) {
                Some(t) => c.query(&stmt, &[&org.0, &q.after, &limit, &t]).await?,
                None => c.query(&stmt, &[&org.0, &q.after, &limit]).await?,
            };
            let seq_col = match kind {
                ResourceKind::User => 13,
                ResourceKind::Group => 10,
            };
            rows.iter()
                .map(|row| {
                    let object = match kind {
                        ResourceKind::User => UserSnap::from_row(row)?.object(),
                        ResourceKind::Group => GroupSnap::from_row(row)?.object(),
                    };
                    Ok((row.try_get(seq_col)?, object))
                })
                .collect()
        })
        .await
    }

    async fn directory_object(
        &self, org: OrgId, kind: ResourceKind, id: ResourceId,
    ) -> Result<Option<Value>, StoreError> {
        run(async {
            let c = self.client().await?;
            Ok(match kind {
                ResourceKind::User => user_snapshot(&c, org, id, Lock::Plain)
                    .await?
                    .filter(|u| u.account.deleted.is_none())
                    .map(|u| u.object()),
                ResourceKind::Group => group_snapshot(&c, org, id, true, Lock::Plain)
                    .await?
                    .map(|g| g.object()),
            })
        })
        .await
    }

    /// One range of the membership key `(org_id, group_id, member_id)`, then the members'
    /// snapshots in a statement per kind (not one per member).
    async fn directory_members(
        &self, org: OrgId, group: ResourceId, after: Option<ResourceId>, limit: u32,
    ) -> Result<Option<Vec<(ResourceId, Value)>>, StoreError> {
        run(async {
            let c = self.client().await?;
            let limit = i64::from(limit);
            let rows = match after {
                Some(after) => {
                    let stmt = c
                        .prepare_cached(
                            "SELECT member_id, member_kind FROM group_members \
                             WHERE org_id = $1 AND group_id = $2 AND member_id > $3 ORDER BY member_id LIMIT $4",
                        )
                        .await?;
                    c.query(&stmt, &[&org.0, &group.0, &after.0, &limit])
                        .await?
                }
                None => {
                    let stmt = c
                        .prepare_cached(
                            "SELECT member_id, member_kind FROM group_members \
                             WHERE org_id = $1 AND group_id = $2 ORDER BY member_id LIMIT $3",
                        )
                        .await?;
                    c.query(&stmt, &[&org.0, &group.0, &limit]).await?
                }
            };
            if rows.is_empty() && !group_exists(&c, org, group).await? {
                return Ok(None);
            }
            let mut page = Vec::with_capacity(rows.len());
            let (mut users, mut groups) = (Vec::new(), Vec::new());
            for row in &rows {
                let (id, kind): (Uuid, i16) = (row.try_get(0)?, row.try_get(1)?);
                if kind == kind_code(ResourceKind::Group) {
                    groups.push(id);
                } else {
                    users.push(id);
                }
                page.push(id);
            }
            let users = user_snapshots(&c, org, &users).await?;
            let groups = group_snapshots(&c, org, &groups).await?;
            Ok(Some(
                page.into_iter()
                    .filter_map(|id| {
                        let object = match users.get(&id) {
                            Some(u) => u.object(),
                            // A member deleted between the two reads is left out.
                            None => groups.get(&id)?.object(),
                        };
                        Some((ResourceId(id), object))
                    })
                    .collect(),
            ))
        })
        .await
    }

    /// The key the store loaded at start (`crate::cursor_key`).
    fn cursor_key(&self) -> Option<&directory::store::CursorKey> {
        Some(&self.cursors)
    }
}

/// Whether `id` is a group of `org` (by the primary key alone; the kind read from the row).
async fn group_exists<C: GenericClient>(
    c: &C, org: OrgId, id: ResourceId,
) -> Result<bool, Failure> {
    let stmt = c
        .prepare_cached("SELECT kind FROM resources WHERE org_id = $1 AND id = $2")
        .await?;
    Ok(match c.query_opt(&stmt, &[&org.0, &id.0]).await? {
        Some(row) => row.try_get::<_, i16>(0)? == kind_code(ResourceKind::Group),
        None => false,
    })
}
