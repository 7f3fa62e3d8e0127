//! Many users created in one transaction, for a bulk load (`scimd import`). One by one, each
//! create is its own transaction whose last statement draws its event's sequence, so every
//! create of an organisation waits for the one before it to commit: a few hundred a second.
//! Here a batch is one insert of all its rows, one read of their snapshots and one journal
//! commit, so the organisation's event counter is taken once per batch.
//!
//! A userName already taken, by the directory or by an earlier row of the same insert, is
//! skipped by the insert (`ON CONFLICT DO NOTHING`) rather than failing the transaction, and
//! reported as a conflict for that user alone.

use crate::Failure;
use crate::journal::{Journal, user_snapshots};
use deadpool_postgres::GenericClient;
use directory::events::user_change;
use directory::store::NewResource;
use directory::store::columns::{active, external_id, kind_code, micros, name_ci};
use directory::{OrgId, StoreError};
use scim_core::schema::ResourceKind;
use std::collections::HashSet;
use store_sql::Scope;
use uuid::Uuid;

/// The outcome of each of `users`, in order; see [`directory::store::ResourceStore::create_users`].
pub(crate) async fn create_users_tx<C: GenericClient>(
    c: &C, org: OrgId, users: &[NewResource],
) -> Result<Vec<Result<(), StoreError>>, Failure> {
    let Some(last) = users.last() else {
        return Ok(Vec::new());
    };
    let (mut ids, mut ats, mut name_cis, mut externals, mut docs, mut actives) = (
        Vec::with_capacity(users.len()),
        Vec::with_capacity(users.len()),
        Vec::with_capacity(users.len()),
        Vec::with_capacity(users.len()),
        Vec::with_capacity(users.len()),
        Vec::with_capacity(users.len()),
    );
    for new in users {
        ids.push(new.id.0);
        ats.push(micros(new.now));
        name_cis.push(name_ci(ResourceKind::User, &new.doc));
        externals.push(external_id(&new.doc));
        docs.push(&new.doc);
        actives.push(active(&new.doc));
    }
    // `updated` is the creation, as in `create_tx`; rows are numbered (`seq`) in the batch's
    // order.
    let stmt = c
        .prepare_cached(
            "INSERT INTO resources (org_id, id, kind, version, created, last_modified, name_ci, external_id, doc, active, updated, source) \
             SELECT $1, u.id, $2, 1, u.at, u.at, u.name_ci, u.external_id, u.doc, u.active, u.at, $3 \
             FROM unnest($4::uuid[], $5::bigint[], $6::text[], $7::text[], $8::jsonb[], $9::bool[]) \
                  WITH ORDINALITY AS u (id, at, name_ci, external_id, doc, active, n) \
             ORDER BY u.n \
             ON CONFLICT (org_id, name_ci) WHERE kind = 0 DO NOTHING \
             RETURNING id",
        )
        .await?;
    let created: HashSet<Uuid> = c
        .query(
            &stmt,
            &[
                &org.0,
                &kind_code(ResourceKind::User),
                &Scope::Scim.source().as_str(),
                &ids,
                &ats,
                &name_cis,
                &externals,
                &docs,
                &actives,
            ],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let inserted: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| created.contains(id))
        .collect();
    let mut snapshots = user_snapshots(c, org, &inserted).await?;
    let mut journal = Journal::new(org, last.now);
    for id in &inserted {
        let user = snapshots.remove(id).ok_or(StoreError::NotFound)?;
        journal.extend(user_change(None, Some(user.object())));
    }
    journal.commit(c).await?;
    Ok(users
        .iter()
        .map(|new| {
            if created.contains(&new.id.0) {
                Ok(())
            } else {
                Err(StoreError::Conflict("userName"))
            }
        })
        .collect())
}
