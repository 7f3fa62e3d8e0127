//! Events on SQLite (docs/contract.md, "Events"): each write that changes what an application
//! sees collects its events in a [`Journal`] from snapshots taken inside its own transaction,
//! and appends them, numbered, before the writer commits. The writer is the only one that
//! numbers events, so sequences are gapless and commit in order.

use crate::b;
use crate::resources::RESOURCE_COLS;
use crate::rows::first;
use crate::runtime::internal;
use crate::uuid_from;
use directory::events::{self, group_object, user_object};
use directory::store::columns::micros;
use directory::store::{EventId, NewEvent};
use directory::{OrgId, ResourceId, StoreError};
use rusqlite::{Connection, params};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use store_sql::accounts::{ACCOUNT_COLS, account};
use store_sql::{opt_time, resource, source};
use time::OffsetDateTime;

/// The ids of the groups `user` is a direct member of, oldest group first.
fn group_ids(c: &Connection, org: OrgId, user: ResourceId) -> Result<Vec<String>, StoreError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT gm.group_id FROM group_members gm JOIN resources g ON g.org_id = gm.org_id AND g.id = gm.group_id \
             WHERE gm.org_id = ?1 AND gm.member_id = ?2 ORDER BY g.seq",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(params![b(&org.0), b(&user.0)], |r| r.get::<_, Vec<u8>>(0))
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(uuid_from(&row.map_err(internal)?)?.hyphenated().to_string());
    }
    Ok(out)
}

/// The user object of account `id` (any source or state), as it stands in this transaction.
pub(crate) fn user(
    c: &Connection, org: OrgId, id: ResourceId,
) -> Result<Option<Value>, StoreError> {
    let row = first(
        c,
        &format!(
            "SELECT {RESOURCE_COLS}, {ACCOUNT_COLS}, r.updated FROM resources r \
             WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = 0"
        ),
        params![b(&org.0), b(&id.0)],
        |row| Ok((account(row)?, opt_time(row, 10)?)),
    )?;
    let Some((account, updated)) = row else {
        return Ok(None);
    };
    let groups = group_ids(c, org, id)?;
    Ok(Some(user_object(&account, &groups, updated)))
}

/// The group object of group `id`, as it stands in this transaction.
pub(crate) fn group(
    c: &Connection, org: OrgId, id: ResourceId,
) -> Result<Option<Value>, StoreError> {
    first(
        c,
        &format!(
            "SELECT {RESOURCE_COLS}, r.source, r.updated, \
             (SELECT COUNT(*) FROM group_members m WHERE m.org_id = r.org_id AND m.group_id = r.id) \
             FROM resources r WHERE r.org_id = ?1 AND r.id = ?2 AND r.kind = 1"
        ),
        params![b(&org.0), b(&id.0)],
        |row| {
            Ok(group_object(
                &resource(row)?,
                source(row, 6)?,
                row.int(8)? as u64,
                opt_time(row, 7)?,
            ))
        },
    )
}

/// The object of resource `id` of `kind`: a user, or a group (a change's "before", a member).
pub(crate) fn object(
    c: &Connection, org: OrgId, id: ResourceId, kind: ResourceKind,
) -> Result<Option<Value>, StoreError> {
    match kind {
        ResourceKind::User => user(c, org, id),
        ResourceKind::Group => group(c, org, id),
    }
}

/// One membership row that a write inserted (`added`) or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemberDelta {
    pub id: ResourceId,
    pub kind: ResourceKind,
    pub added: bool,
}

/// What a sequence of row changes amounts to: a member added and removed again (or removed
/// and put back) by one write is no change. Each row change toggles membership, so a member
/// changed an odd number of times changed, as its last change says, in that change's place.
fn net(deltas: &[MemberDelta]) -> Vec<MemberDelta> {
    let mut count: std::collections::HashMap<ResourceId, usize> = std::collections::HashMap::new();
    for d in deltas {
        *count.entry(d.id).or_default() += 1;
    }
    let mut seen: std::collections::HashMap<ResourceId, usize> = std::collections::HashMap::new();
    deltas
        .iter()
        .filter(|d| {
            let n = seen.entry(d.id).or_default();
            *n += 1;
            let total = count[&d.id];
            total % 2 == 1 && *n == total
        })
        .copied()
        .collect()
}

/// The events one write appends, in the order it made them.
#[derive(Debug)]
pub(crate) struct Journal {
    org: OrgId,
    now: OffsetDateTime,
    events: Vec<NewEvent>,
}

impl Journal {
    pub(crate) fn new(org: OrgId, now: OffsetDateTime) -> Self {
        Journal {
            org,
            now,
            events: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, e: NewEvent) {
        self.events.push(e);
    }

    /// Marks the object changed now and reports it so in `e`.
    fn touched(
        &self, c: &Connection, id: ResourceId, mut e: NewEvent,
    ) -> Result<NewEvent, StoreError> {
        c.prepare_cached("UPDATE resources SET updated = ?3 WHERE org_id = ?1 AND id = ?2")
            .map_err(internal)?
            .execute(params![b(&self.org.0), b(&id.0), micros(self.now)])
            .map_err(internal)?;
        e.data["updated_at"] = Value::String(directory::render::timestamp(self.now));
        Ok(e)
    }

    /// A user changed (or appeared) since `before`: appends what [`events::user_change`] says.
    pub(crate) fn user_changed(
        &mut self, c: &Connection, id: ResourceId, before: Option<&Value>,
    ) -> Result<(), StoreError> {
        let after = user(c, self.org, id)?;
        if let Some(e) = events::user_change(before, after) {
            let e = if e.kind == directory::store::EventType::UserDeleted {
                e
            } else {
                self.touched(c, id, e)?
            };
            self.events.push(e);
        }
        Ok(())
    }

    /// A group's own fields changed (or it appeared) since `before`.
    pub(crate) fn group_changed(
        &mut self, c: &Connection, id: ResourceId, before: Option<&Value>,
    ) -> Result<(), StoreError> {
        let after = group(c, self.org, id)?;
        if let Some(e) = events::group_change(before, after) {
            let e = self.touched(c, id, e)?;
            self.events.push(e);
        }
        Ok(())
    }

    /// A user or group changed since `before`, its memberships by `deltas`.
    pub(crate) fn changed(
        &mut self, c: &Connection, id: ResourceId, kind: ResourceKind, before: Option<&Value>,
        deltas: &[MemberDelta],
    ) -> Result<(), StoreError> {
        match kind {
            ResourceKind::User => self.user_changed(c, id, before),
            ResourceKind::Group => {
                self.group_changed(c, id, before)?;
                self.members_changed(c, id, deltas)
            }
        }
    }

    /// The resource is about to be deleted: `*.deleted` with what is seen of it now.
    pub(crate) fn deleted(
        &mut self, c: &Connection, id: ResourceId, kind: ResourceKind,
    ) -> Result<(), StoreError> {
        if let Some(last) = object(c, self.org, id, kind)? {
            self.events.push(match kind {
                ResourceKind::User => events::user_deleted(last),
                ResourceKind::Group => events::group_deleted(last),
            });
        }
        Ok(())
    }

    /// One member event per membership row changed, with the group as it stands afterwards.
    pub(crate) fn members_changed(
        &mut self, c: &Connection, group_id: ResourceId, deltas: &[MemberDelta],
    ) -> Result<(), StoreError> {
        let deltas = net(deltas);
        if deltas.is_empty() {
            return Ok(());
        }
        let Some(g) = group(c, self.org, group_id)? else {
            return Ok(());
        };
        for d in &deltas {
            if let Some(m) = object(c, self.org, d.id, d.kind)? {
                let nested = d.kind == ResourceKind::Group;
                self.events
                    .push(events::member_change(d.added, &g, m, nested));
            }
        }
        Ok(())
    }

    /// Numbers the events and appends them: the last statements of the write, in its
    /// transaction. Nothing happens when there are none.
    pub(crate) fn append(self, c: &Connection) -> Result<(), StoreError> {
        if self.events.is_empty() {
            return Ok(());
        }
        let org_b = b(&self.org.0);
        let n = self.events.len() as i64;
        // Not `RETURNING` read with `query_row`: that leaves the statement unfinished and
        // keeps the WAL from checkpointing.
        c.prepare_cached(
            "INSERT INTO event_counters (org_id, last_seq) VALUES (?1, ?2) \
             ON CONFLICT (org_id) DO UPDATE SET last_seq = last_seq + ?2",
        )
        .map_err(internal)?
        .execute(params![org_b, n])
        .map_err(internal)?;
        let last: i64 = c
            .prepare_cached("SELECT last_seq FROM event_counters WHERE org_id = ?1")
            .map_err(internal)?
            .query_row(params![org_b], |r| r.get(0))
            .map_err(internal)?;
        let mut insert = c
            .prepare_cached(
                "INSERT INTO events (org_id, seq, id, type, created, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(internal)?;
        let created = micros(self.now);
        for (i, e) in self.events.into_iter().enumerate() {
            let data = serde_json::to_string(&e.data).map_err(internal)?;
            insert
                .execute(params![
                    org_b,
                    last - n + 1 + i as i64,
                    b(&EventId::new().0),
                    e.kind.as_str(),
                    created,
                    data
                ])
                .map_err(internal)?;
        }
        Ok(())
    }
}
