//! One-time password links on SQLite (set-up, reset, invitation, pending sign-in). Marking a
//! link used is one conditional update, so of racing requests exactly one wins.

use crate::SqliteStore;
use crate::b;
use crate::rows::first;
use crate::runtime::{Effect, internal};
use async_trait::async_trait;
use directory::store::columns::micros;
use directory::store::{LinkPurpose, LinkStore, PasswordLink};
use directory::{OrgId, StoreError};
use rusqlite::params;
use store_sql::credentials::{LINK_COLS, password_link};
use time::OffsetDateTime;

#[async_trait]
impl LinkStore for SqliteStore {
    async fn insert_password_link(&self, link: &PasswordLink) -> Result<(), StoreError> {
        let l = link.clone();
        self.rt
            .write(Effect::Data, move |c| {
                let admin = l.admin_id.map(|a| a.0.as_bytes().to_vec());
                if l.purpose != LinkPurpose::Signin {
                    c.prepare_cached(
                        "DELETE FROM password_links WHERE org_id = ?1 AND purpose = ?2 \
                         AND admin_id IS ?3 AND used IS NULL",
                    )
                    .map_err(internal)?
                    .execute(params![b(&l.org_id.0), l.purpose.as_str(), admin])
                    .map_err(internal)?;
                }
                c.prepare_cached(
                    "INSERT INTO password_links \
                     (org_id, hash, purpose, admin_id, created, expires, used) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(internal)?
                .execute(params![
                    b(&l.org_id.0),
                    l.hash.as_slice(),
                    l.purpose.as_str(),
                    admin,
                    micros(l.created),
                    micros(l.expires),
                    l.used.map(micros)
                ])
                .map_err(internal)?;
                Ok(())
            })
            .await
    }

    async fn find_password_link(
        &self, org: OrgId, hash: &[u8; 32],
    ) -> Result<Option<PasswordLink>, StoreError> {
        self.rt
            .read_now(|c| {
                first(
                    c,
                    &format!(
                        "SELECT {LINK_COLS} FROM password_links WHERE org_id = ?1 AND hash = ?2"
                    ),
                    params![b(&org.0), hash.as_slice()],
                    |row| password_link(org, hash, row),
                )
            })
            .await
    }

    async fn use_password_link(
        &self, org: OrgId, hash: &[u8; 32], purpose: LinkPurpose, at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let hash = *hash;
        // One job of the single writer: the check and the marking cannot interleave.
        self.rt
            .write(Effect::Data, move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE password_links SET used = ?3 WHERE org_id = ?1 AND hash = ?2 \
                         AND purpose = ?4 AND used IS NULL AND expires > ?3",
                    )
                    .map_err(internal)?
                    .execute(params![
                        b(&org.0),
                        hash.as_slice(),
                        micros(at),
                        purpose.as_str()
                    ])
                    .map_err(internal)?;
                if n != 1 || purpose != LinkPurpose::Signin {
                    return Ok(n == 1);
                }
                // One choice: a sibling already used means the choice was made.
                let taken: i64 = c
                    .prepare_cached(
                        "SELECT count(*) FROM password_links WHERE hash = ?1 \
                         AND purpose = 'signin' AND org_id <> ?2 AND used IS NOT NULL",
                    )
                    .map_err(internal)?
                    .query_row(params![hash.as_slice(), b(&org.0)], |r| r.get(0))
                    .map_err(internal)?;
                c.prepare_cached(
                    "UPDATE password_links SET used = ?2 WHERE hash = ?1 \
                     AND purpose = 'signin' AND used IS NULL",
                )
                .map_err(internal)?
                .execute(params![hash.as_slice(), micros(at)])
                .map_err(internal)?;
                Ok(taken == 0)
            })
            .await
    }
}
