//! One-time password links on PostgreSQL (set-up, reset, invitation, pending sign-in).
//! Marking a link used is one conditional update, so of racing requests (on any instance)
//! exactly one wins.

use crate::rows::PgRow;
use crate::{PgStore, micros, run};
use async_trait::async_trait;
use directory::store::{LinkPurpose, LinkStore, PasswordLink};
use directory::{OrgId, StoreError};
use store_sql::credentials::{LINK_COLS, password_link};
use time::OffsetDateTime;
use uuid::Uuid;

#[async_trait]
impl LinkStore for PgStore {
    async fn insert_password_link(&self, l: &PasswordLink) -> Result<(), StoreError> {
        run(async {
            let c = self.client().await?;
            let admin = l.admin_id.map(|a| a.0);
            // One statement: the earlier unused links go as the new one arrives.
            c.execute(
                "WITH earlier AS (DELETE FROM password_links WHERE org_id = $1 AND purpose = $3 \
                   AND admin_id IS NOT DISTINCT FROM $4 AND used IS NULL AND $3 <> 'signin') \
                 INSERT INTO password_links (org_id, hash, purpose, admin_id, created, expires, used) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &l.org_id.0,
                    &l.hash.as_slice(),
                    &l.purpose.as_str(),
                    &admin,
                    &micros(l.created),
                    &micros(l.expires),
                    &l.used.map(micros),
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn find_password_link(
        &self, org: OrgId, hash: &[u8; 32],
    ) -> Result<Option<PasswordLink>, StoreError> {
        run(async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {LINK_COLS} FROM password_links WHERE org_id = $1 AND hash = $2"
                    ),
                    &[&org.0, &hash.as_slice()],
                )
                .await?;
            Ok(row
                .map(|row| password_link(org, hash, &PgRow(&row)))
                .transpose()?)
        })
        .await
    }

    async fn use_password_link(
        &self, org: OrgId, hash: &[u8; 32], purpose: LinkPurpose, at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if purpose != LinkPurpose::Signin {
            return run(async {
                let c = self.client().await?;
                let n = c
                    .execute(
                        "UPDATE password_links SET used = $3 WHERE org_id = $1 AND hash = $2 \
                         AND purpose = $4 AND used IS NULL AND expires > $3",
                        &[&org.0, &hash.as_slice(), &micros(at), &purpose.as_str()],
                    )
                    .await?;
                Ok(n == 1)
            })
            .await;
        }
        // One choice: every row of the secret is locked (in one order), and the chosen one is
        // used only while none is, so racing choices of different organisations win once.
        transaction!(self, tx => {
            let rows = tx
                .query(
                    "SELECT org_id, used, expires FROM password_links \
                     WHERE hash = $1 AND purpose = 'signin' ORDER BY org_id FOR UPDATE",
                    &[&hash.as_slice()],
                )
                .await?;
            let mut chosen = false;
            for r in &rows {
                if r.try_get::<_, Option<i64>>(1)?.is_some() {
                    return Ok(false);
                }
                if r.try_get::<_, Uuid>(0)? == org.0 && r.try_get::<_, i64>(2)? > micros(at) {
                    chosen = true;
                }
            }
            if chosen {
                tx.execute(
                    "UPDATE password_links SET used = $2 WHERE hash = $1 AND purpose = 'signin'",
                    &[&hash.as_slice(), &micros(at)],
                )
                .await?;
            }
            Ok(chosen)
        })
    }
}
