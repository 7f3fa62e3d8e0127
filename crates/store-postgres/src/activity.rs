//! The activity log on PostgreSQL.

use crate::{PgStore, from_micros, micros, run};
use async_trait::async_trait;
use directory::store::{ActivityEntry, ActivityStore};
use directory::{OrgId, StoreError, TokenId};
use time::OffsetDateTime;
use uuid::Uuid;

fn org_key(org: Option<OrgId>) -> Uuid {
    org.map(|o| o.0).unwrap_or(Uuid::nil())
}

#[async_trait]
impl ActivityStore for PgStore {
    /// One statement for the whole batch (`UNNEST` of column arrays): one round trip and one
    /// transaction however many entries.
    async fn append_activity(
        &self, entries: Vec<directory::store::ActivityEntry>,
    ) -> Result<(), StoreError> {
        let entries = &entries;
        run(async {
            if entries.is_empty() {
                return Ok(());
            }
            let org: Vec<Uuid> = entries.iter().map(|e| org_key(e.org_id)).collect();
            let at: Vec<i64> = entries.iter().map(|e| micros(e.at)).collect();
            let token: Vec<Option<Uuid>> = entries.iter().map(|e| e.token_id.map(|t| t.0)).collect();
            let actor: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
            let action: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
            let target: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
            let status: Vec<Option<i32>> = entries.iter().map(|e| e.status.map(i32::from)).collect();
            let duration: Vec<Option<i64>> = entries.iter().map(|e| e.duration_us).collect();
            let resource: Vec<Option<&str>> = entries.iter().map(|e| e.resource.as_deref()).collect();
            let detail: Vec<Option<&str>> = entries.iter().map(|e| e.detail.as_deref()).collect();
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "INSERT INTO activity (org_id, at, token_id, actor, action, target, status, duration_us, resource, detail) \
                     SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bigint[], $9::text[], $10::text[])",
                )
                .await?;
            c.execute(
                &stmt,
                &[
                    &org, &at, &token, &actor, &action, &target, &status, &duration, &resource, &detail,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn list_activity(
        &self, org: Option<OrgId>, since: Option<OffsetDateTime>, limit: u32,
    ) -> Result<Vec<directory::store::ActivityEntry>, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT at, token_id, actor, action, target, status, duration_us, resource, detail \
                     FROM activity WHERE org_id = $1 AND at >= $2 ORDER BY at, seq LIMIT $3",
                )
                .await?;
            let rows = c
                .query(
                    &stmt,
                    &[
                        &org_key(org),
                        &since.map(micros).unwrap_or(i64::MIN),
                        &i64::from(limit),
                    ],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(ActivityEntry {
                        org_id: org,
                        at: from_micros(r.try_get(0)?),
                        token_id: r.try_get::<_, Option<Uuid>>(1)?.map(TokenId),
                        actor: r.try_get(2)?,
                        action: r.try_get(3)?,
                        target: r.try_get(4)?,
                        status: r
                            .try_get::<_, Option<i32>>(5)?
                            .and_then(|s| u16::try_from(s).ok()),
                        duration_us: r.try_get(6)?,
                        resource: r.try_get(7)?,
                        detail: r.try_get(8)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn purge_activity(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        run(async {
            let c = self.client().await?;
            let stmt = c
                .prepare_cached("DELETE FROM activity WHERE at < $1")
                .await?;
            Ok(c.execute(&stmt, &[&micros(before)]).await?)
        })
        .await
    }
}
