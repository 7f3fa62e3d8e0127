//! The event journal on PostgreSQL (docs/contract.md, "Events"): the snapshots of users and
//! groups that event payloads and the directory API carry, and appending a write's events at
//! the end of its transaction.
//!
//! A write takes its snapshots inside its transaction, builds its events with
//! [`directory::events`], and ends with [`Journal::commit`]: the rows whose object changed get
//! `updated = now`, then one statement raises the organisation's counter by the number of
//! events and inserts them. That statement is the write's last: the counter row stays locked
//! from there to the commit, so a write can only draw sequence N + 1 once the write holding N
//! has committed (or rolled back, leaving N to it). A reader at READ COMMITTED that follows
//! `seq > after` therefore never sees N + 1 before N.

use crate::accounts::account_row;
use crate::resources::{MemberDelta, RESOURCE_COLS, SCIM_VISIBLE_COL, build};
use crate::{Failure, from_micros, micros};
use deadpool_postgres::GenericClient;
use directory::events::{group_change, group_object, member_change, user_change, user_object};
use directory::store::{Account, EventId, EventType, NewEvent, Source, StoredResource};
use directory::{OrgId, ResourceId, StoreError};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::collections::HashMap;
use store_sql::accounts::ACCOUNT_COLS;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

/// Events inserted by one statement at most; a write with more (a disconnect of a large
/// directory) inserts the rest in further statements after drawing all its sequences.
const EVENTS_PER_STATEMENT: usize = 1000;

/// The columns of a user snapshot of `resources r`: the account, `updated`, the ids of the
/// groups it is a direct member of (in group order), and whether SCIM sees it.
pub(crate) fn user_cols() -> String {
    format!(
        "{RESOURCE_COLS}, {ACCOUNT_COLS}, r.updated, \
         ARRAY(SELECT gm.group_id FROM group_members gm \
               JOIN resources g ON g.org_id = gm.org_id AND g.id = gm.group_id \
               WHERE gm.org_id = r.org_id AND gm.member_id = r.id ORDER BY g.seq), \
         {SCIM_VISIBLE_COL}"
    )
}

/// The columns of a group snapshot of `resources r`: the group, its source, `updated`, its
/// member count (`count`; otherwise NULL, for a snapshot whose count the caller knows), and
/// whether SCIM sees it.
pub(crate) fn group_cols(count: bool) -> String {
    let count = if count {
        "(SELECT COUNT(*) FROM group_members gm WHERE gm.org_id = r.org_id AND gm.group_id = r.id)"
    } else {
        "NULL::bigint"
    };
    format!("{RESOURCE_COLS}, r.source, r.updated, {count}, {SCIM_VISIBLE_COL}")
}

/// What an application sees of a user, as read in the transaction.
#[derive(Debug, Clone)]
pub(crate) struct UserSnap {
    pub(crate) account: Account,
    pub(crate) groups: Vec<String>,
    pub(crate) updated: Option<OffsetDateTime>,
    /// Whether SCIM sees the account (owned by directory sync, not deleted).
    pub(crate) visible: bool,
}

impl UserSnap {
    pub(crate) fn object(&self) -> Value {
        user_object(&self.account, &self.groups, self.updated)
    }

    pub(crate) fn id(&self) -> ResourceId {
        self.account.resource.id
    }

    /// A row of [`user_cols`].
    pub(crate) fn from_row(row: &Row) -> Result<UserSnap, Failure> {
        let groups: Vec<Uuid> = row.try_get(11)?;
        Ok(UserSnap {
            account: account_row(row)?,
            groups: groups.iter().map(Uuid::to_string).collect(),
            updated: row.try_get::<_, Option<i64>>(10)?.map(from_micros),
            visible: row.try_get(12)?,
        })
    }
}

/// What an application sees of a group, as read in the transaction.
#[derive(Debug, Clone)]
pub(crate) struct GroupSnap {
    pub(crate) group: StoredResource,
    pub(crate) source: Source,
    pub(crate) members: u64,
    pub(crate) updated: Option<OffsetDateTime>,
    pub(crate) visible: bool,
}

impl GroupSnap {
    pub(crate) fn object(&self) -> Value {
        group_object(&self.group, self.source, self.members, self.updated)
    }

    /// A row of [`group_cols`].
    pub(crate) fn from_row(row: &Row) -> Result<GroupSnap, Failure> {
        let source: String = row.try_get(6)?;
        let members: Option<i64> = row.try_get(8)?;
        Ok(GroupSnap {
            group: build(row)?,
            source: Source::parse(&source)
                .ok_or_else(|| StoreError::Internal(format!("bad source {source}")))?,
            updated: row.try_get::<_, Option<i64>>(7)?.map(from_micros),
            members: u64::try_from(members.unwrap_or(0)).unwrap_or(0),
            visible: row.try_get(9)?,
        })
    }
}

/// How a snapshot read locks its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// No lock.
    Plain,
    /// An update: members may still be added elsewhere (their foreign keys take `KEY SHARE`).
    NoKeyUpdate,
    /// A delete.
    Update,
}

impl Lock {
    fn clause(self) -> &'static str {
        match self {
            Lock::Plain => "",
            Lock::NoKeyUpdate => " FOR NO KEY UPDATE OF r",
            Lock::Update => " FOR UPDATE OF r",
        }
    }
}

/// A user's snapshot, any source or state; `None` when there is no such user. Found by the
/// primary key alone, the kind checked on the row (see `resources::get_one`).
pub(crate) async fn user_snapshot<C: GenericClient>(
    c: &C, org: OrgId, id: ResourceId, lock: Lock,
) -> Result<Option<UserSnap>, Failure> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {} FROM resources r WHERE r.org_id = $1 AND r.id = $2{}",
            user_cols(),
            lock.clause()
        ))
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&org.0, &id.0]).await? else {
        return Ok(None);
    };
    let snap = UserSnap::from_row(&row)?;
    Ok((snap.account.resource.kind == ResourceKind::User).then_some(snap))
}

/// A group's snapshot (with its member count when `count`); `None` when there is no such group.
pub(crate) async fn group_snapshot<C: GenericClient>(
    c: &C, org: OrgId, id: ResourceId, count: bool, lock: Lock,
) -> Result<Option<GroupSnap>, Failure> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {} FROM resources r WHERE r.org_id = $1 AND r.id = $2{}",
            group_cols(count),
            lock.clause()
        ))
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&org.0, &id.0]).await? else {
        return Ok(None);
    };
    let snap = GroupSnap::from_row(&row)?;
    Ok((snap.group.kind == ResourceKind::Group).then_some(snap))
}

/// Ids read per statement when many snapshots are wanted at once. The ids are joined as rows
/// (`unnest`) rather than matched with `id = ANY(...)`: with a thousand of them PostgreSQL
/// judged one primary-key lookup each dearer than reading the whole table (55 ms instead of
/// 2 ms for a page of a 100,000-member group).
const SNAPSHOTS_PER_STATEMENT: usize = 1000;

/// The snapshots of the users among `ids`, in no particular order: one statement per thousand.
pub(crate) async fn user_snapshots<C: GenericClient>(
    c: &C, org: OrgId, ids: &[Uuid],
) -> Result<HashMap<Uuid, UserSnap>, Failure> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {} FROM unnest($2::uuid[]) AS m (id) \
             JOIN resources r ON r.org_id = $1 AND r.id = m.id WHERE r.kind = 0",
            user_cols()
        ))
        .await?;
    for chunk in ids.chunks(SNAPSHOTS_PER_STATEMENT) {
        for row in c.query(&stmt, &[&org.0, &chunk]).await? {
            let snap = UserSnap::from_row(&row)?;
            out.insert(snap.id().0, snap);
        }
    }
    Ok(out)
}

/// The snapshots of the groups among `ids`, with their member counts.
pub(crate) async fn group_snapshots<C: GenericClient>(
    c: &C, org: OrgId, ids: &[Uuid],
) -> Result<HashMap<Uuid, GroupSnap>, Failure> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {} FROM unnest($2::uuid[]) AS m (id) \
             JOIN resources r ON r.org_id = $1 AND r.id = m.id WHERE r.kind = 1",
            group_cols(true)
        ))
        .await?;
    for chunk in ids.chunks(SNAPSHOTS_PER_STATEMENT) {
        for row in c.query(&stmt, &[&org.0, &chunk]).await? {
            let snap = GroupSnap::from_row(&row)?;
            out.insert(snap.group.id.0, snap);
        }
    }
    Ok(out)
}

/// The events one write appends, and the rows whose object they report changed.
#[derive(Debug)]
pub(crate) struct Journal {
    org: OrgId,
    now: OffsetDateTime,
    events: Vec<NewEvent>,
    touched: Vec<Uuid>,
}

impl Journal {
    /// A journal for a write of `org` made at `now` (the events' `created`, and the `updated`
    /// of the rows they report).
    pub(crate) fn new(org: OrgId, now: OffsetDateTime) -> Journal {
        Journal {
            org,
            now: from_micros(micros(now)),
            events: Vec::new(),
            touched: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, event: NewEvent) {
        self.events.push(event);
    }

    /// Appends an event a change may or may not make.
    pub(crate) fn extend(&mut self, event: Option<NewEvent>) {
        self.events.extend(event);
    }

    /// A user changed from `before` (`None`: it is new) to `after`: appends what
    /// `user_change` says, if anything. A change other than a deletion moves the row's
    /// `updated`, which the payload shows.
    pub(crate) fn user(&mut self, before: Option<&Value>, mut after: UserSnap) {
        let Some(mut event) = user_change(before, Some(after.object())) else {
            return;
        };
        if event.kind != EventType::UserDeleted {
            after.updated = Some(self.now);
            event.data = after.object();
            self.touched.push(after.id().0);
        }
        self.events.push(event);
    }

    /// A group changed from `before` to `after`: appends what `group_change` says, if
    /// anything, moving `updated` with it. Returns the group object after the change, which
    /// its member events carry.
    pub(crate) fn group(&mut self, before: Option<&Value>, mut after: GroupSnap) -> Value {
        let object = after.object();
        let Some(mut event) = group_change(before, Some(object.clone())) else {
            return object;
        };
        after.updated = Some(self.now);
        let object = after.object();
        event.data = object.clone();
        self.touched.push(after.group.id.0);
        self.events.push(event);
        object
    }

    /// One member event per net membership change of `delta`, in order: the group as it is
    /// after them all (`group`), and the member (a user, or a nested group) as it is now.
    pub(crate) async fn members<C: GenericClient>(
        &mut self, c: &C, group: &Value, delta: &MemberDelta,
    ) -> Result<(), Failure> {
        let (mut users, mut groups) = (Vec::new(), Vec::new());
        for (_, id, kind) in delta.changes() {
            if kind == directory::store::columns::kind_code(ResourceKind::Group) {
                groups.push(id);
            } else {
                users.push(id);
            }
        }
        if users.is_empty() && groups.is_empty() {
            return Ok(());
        }
        let users = user_snapshots(c, self.org, &users).await?;
        let groups = group_snapshots(c, self.org, &groups).await?;
        for (added, id, _) in delta.changes() {
            // A member row names an existing resource (its foreign key), and this
            // transaction holds it: a member without a snapshot cannot happen, and if it
            // did, there would be nothing to report it with.
            if let Some(u) = users.get(&id) {
                self.push(member_change(added, group, u.object(), false));
            } else if let Some(g) = groups.get(&id) {
                self.push(member_change(added, group, g.object(), true));
            }
        }
        Ok(())
    }

    /// Ends the write: sets `updated` on the rows whose object changed, then draws the
    /// sequences and inserts the events. Nothing at all when there are no events.
    pub(crate) async fn commit<C: GenericClient>(self, c: &C) -> Result<(), Failure> {
        if self.events.is_empty() {
            return Ok(());
        }
        let now = micros(self.now);
        let n = self.events.len();
        let ids: Vec<Uuid> = (0..n).map(|_| EventId::new().0).collect();
        let types: Vec<&str> = self.events.iter().map(|e| e.kind.as_str()).collect();
        let data: Vec<&Value> = self.events.iter().map(|e| &e.data).collect();
        let total = i64::try_from(n).map_err(|e| StoreError::Internal(e.to_string()))?;
        if n <= EVENTS_PER_STATEMENT {
            // `updated` (of no row when nothing was touched), the counter and the events in
            // one statement: the counter's lock is taken by the last statement before the
            // commit.
            let stmt = c
                .prepare_cached(
                    "WITH touch AS (UPDATE resources SET updated = $3 WHERE org_id = $1 AND id = ANY($7)), \
                     counter AS ( \
                         INSERT INTO event_counters AS c (org_id, last_seq) VALUES ($1, $2) \
                         ON CONFLICT (org_id) DO UPDATE SET last_seq = c.last_seq + excluded.last_seq \
                         RETURNING last_seq) \
                     INSERT INTO events (org_id, seq, id, type, created, data) \
                     SELECT $1, counter.last_seq - $2 + e.n, e.id, e.type, $3, e.data \
                     FROM counter, unnest($4::uuid[], $5::text[], $6::json[]) WITH ORDINALITY AS e (id, type, data, n)",
                )
                .await?;
            c.execute(
                &stmt,
                &[
                    &self.org.0,
                    &total,
                    &now,
                    &ids,
                    &types,
                    &data,
                    &self.touched,
                ],
            )
            .await?;
            return Ok(());
        }
        if !self.touched.is_empty() {
            let stmt = c
                .prepare_cached(
                    "UPDATE resources SET updated = $2 WHERE org_id = $1 AND id = ANY($3)",
                )
                .await?;
            c.execute(&stmt, &[&self.org.0, &now, &self.touched])
                .await?;
        }
        let counter = c
            .prepare_cached(
                "INSERT INTO event_counters AS c (org_id, last_seq) VALUES ($1, $2) \
                 ON CONFLICT (org_id) DO UPDATE SET last_seq = c.last_seq + excluded.last_seq \
                 RETURNING last_seq",
            )
            .await?;
        let last: i64 = c
            .query_one(&counter, &[&self.org.0, &total])
            .await?
            .try_get(0)?;
        let insert = c
            .prepare_cached(
                "INSERT INTO events (org_id, seq, id, type, created, data) \
                 SELECT $1, $2 + e.n, e.id, e.type, $3, e.data \
                 FROM unnest($4::uuid[], $5::text[], $6::json[]) WITH ORDINALITY AS e (id, type, data, n)",
            )
            .await?;
        let mut base = last - total;
        for start in (0..n).step_by(EVENTS_PER_STATEMENT) {
            let end = (start + EVENTS_PER_STATEMENT).min(n);
            c.execute(
                &insert,
                &[
                    &self.org.0,
                    &base,
                    &now,
                    &&ids[start..end],
                    &&types[start..end],
                    &&data[start..end],
                ],
            )
            .await?;
            base += i64::try_from(end - start).map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        Ok(())
    }
}
