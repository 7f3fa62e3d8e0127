//! The activity log on SQLite, in chunks (migration 0005): one row holds the entries of one
//! organisation from one batch of the log writer, as a JSON array in `at` order.
//!
//! A row per entry cost the single writer an insert into the table and two indexes for every
//! SCIM request, and filled the WAL with them: at tens of thousands of requests a second that
//! was a fifth of the server's time. A batch now costs one insert per organisation.

use crate::SqliteStore;
use crate::runtime::{Effect, internal};
use async_trait::async_trait;
use directory::store::columns::{from_micros, micros};
use directory::store::{ActivityEntry, ActivityStore};
use directory::{OrgId, StoreError, TokenId};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use time::OffsetDateTime;

/// The widest spread of `at` within one chunk, in microseconds. Entries further apart (a slow
/// request logged with a batch of quick ones) go to a chunk of their own, so the chunks that
/// hold entries from a time `t` on all begin after `t - SPAN`.
const SPAN: i64 = 10_000_000;

/// One entry as the chunk's JSON holds it.
#[derive(Debug, Serialize, Deserialize)]
struct Wire<'a> {
    at: i64,
    /// The token's UUID in hex, without hyphens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<Cow<'a, str>>,
    actor: Cow<'a, str>,
    action: Cow<'a, str>,
    target: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    us: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<Cow<'a, str>>,
}

impl<'a> Wire<'a> {
    fn of(e: &'a ActivityEntry) -> Self {
        Wire {
            at: micros(e.at),
            token: e.token_id.map(|t| Cow::Owned(t.0.simple().to_string())),
            actor: Cow::Borrowed(&e.actor),
            action: Cow::Borrowed(&e.action),
            target: Cow::Borrowed(&e.target),
            status: e.status,
            us: e.duration_us,
            resource: e.resource.as_deref().map(Cow::Borrowed),
            detail: e.detail.as_deref().map(Cow::Borrowed),
        }
    }

    fn into_entry(self, org: Option<OrgId>) -> Result<ActivityEntry, StoreError> {
        let token = match self.token {
            Some(hex) => Some(TokenId(uuid::Uuid::parse_str(&hex).map_err(internal)?)),
            None => None,
        };
        Ok(ActivityEntry {
            org_id: org,
            at: from_micros(self.at),
            token_id: token,
            actor: self.actor.into_owned(),
            action: self.action.into_owned(),
            target: self.target.into_owned(),
            status: self.status,
            duration_us: self.us,
            resource: self.resource.map(Cow::into_owned),
            detail: self.detail.map(Cow::into_owned),
        })
    }
}

/// The nil UUID stands for "no organisation".
fn org_key(org: Option<OrgId>) -> uuid::Uuid {
    org.map(|o| o.0).unwrap_or(uuid::Uuid::nil())
}

/// A chunk ready to insert.
struct Chunk {
    org: uuid::Uuid,
    first_at: i64,
    last_at: i64,
    entries: i64,
    body: String,
}

fn encode(wires: &[Wire<'_>]) -> Result<String, StoreError> {
    serde_json::to_string(wires).map_err(internal)
}

fn decode(body: &str) -> Result<Vec<Wire<'static>>, StoreError> {
    serde_json::from_str(body).map_err(internal)
}

/// The batch cut into chunks: by organisation, in `at` order, each spanning at most [`SPAN`].
fn chunks(entries: &[ActivityEntry]) -> Result<Vec<Chunk>, StoreError> {
    let mut order: Vec<(uuid::Uuid, i64, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (org_key(e.org_id), micros(e.at), i))
        .collect();
    // Stable on the batch order for equal times, as the log was written.
    order.sort_unstable();
    let mut out = Vec::new();
    let mut run: Vec<Wire<'_>> = Vec::new();
    let mut run_org = uuid::Uuid::nil();
    let flush = |org: uuid::Uuid, run: &mut Vec<Wire<'_>>, out: &mut Vec<Chunk>| {
        if let (Some(first), Some(last)) = (run.first(), run.last()) {
            out.push(Chunk {
                org,
                first_at: first.at,
                last_at: last.at,
                entries: run.len() as i64,
                body: encode(run)?,
            });
        }
        run.clear();
        Ok::<(), StoreError>(())
    };
    for (org, at, i) in order {
        let starts_new = run
            .first()
            .is_some_and(|first| org != run_org || at - first.at > SPAN);
        if starts_new {
            flush(run_org, &mut run, &mut out)?;
        }
        run_org = org;
        run.push(Wire::of(&entries[i]));
    }
    flush(run_org, &mut run, &mut out)?;
    Ok(out)
}

/// An entry found by [`list`], with what orders it: `at`, then the order it was logged in.
struct Found {
    /// `at`, then the chunk's row and the entry's place in it: the order entries were logged.
    key: (i64, i64, usize),
    entry: ActivityEntry,
}

#[async_trait]
impl ActivityStore for SqliteStore {
    async fn append_activity(
        &self, entries: Vec<directory::store::ActivityEntry>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.rt
            .write(Effect::LogOnly, move |c| {
                // Encoded on the writer thread: a batch of thousands of entries takes milliseconds,
                // which would otherwise hold up the requests waiting on the async workers.
                let chunks = chunks(&entries)?;
                let mut stmt = c
                    .prepare_cached(
                        "INSERT INTO activity_chunks (org_id, first_at, last_at, entries, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(internal)?;
                for ch in &chunks {
                    stmt.execute(params![
                        ch.org.as_bytes().as_slice(),
                        ch.first_at,
                        ch.last_at,
                        ch.entries,
                        ch.body
                    ])
                    .map_err(internal)?;
                }
                Ok(())
            })
            .await
    }

    /// The organisation's entries from `since` on, oldest first, at most `limit`.
    async fn list_activity(
        &self, org: Option<OrgId>, since: Option<OffsetDateTime>, limit: u32,
    ) -> Result<Vec<directory::store::ActivityEntry>, StoreError> {
        let limit = limit as usize;
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.rt
            .read(move |c| {
                let since = since.map(micros).unwrap_or(i64::MIN);
                let mut stmt = c
                    .prepare_cached(
                        "SELECT seq, first_at, body FROM activity_chunks \
                     WHERE org_id = ?1 AND first_at >= ?2 ORDER BY first_at, seq",
                    )
                    .map_err(internal)?;
                let mut rows = stmt
                    .query(params![
                        org_key(org).as_bytes().as_slice(),
                        since.saturating_sub(SPAN)
                    ])
                    .map_err(internal)?;
                let mut found: Vec<Found> = Vec::new();
                // Once `limit` entries are found, the `at` of the last: chunks read later begin at or
                // after it, so only one that begins exactly then can hold an entry that goes before.
                let mut bound: Option<i64> = None;
                while let Some(row) = rows.next().map_err(internal)? {
                    let seq: i64 = row.get(0).map_err(internal)?;
                    let first_at: i64 = row.get(1).map_err(internal)?;
                    let body: String = row.get(2).map_err(internal)?;
                    if bound.is_some_and(|b| first_at > b) {
                        break;
                    }
                    for (i, w) in decode(&body)?.into_iter().enumerate() {
                        if w.at >= since {
                            found.push(Found {
                                key: (w.at, seq, i),
                                entry: w.into_entry(org)?,
                            });
                        }
                    }
                    if found.len() >= limit {
                        found.sort_unstable_by_key(|f| f.key);
                        found.truncate(limit);
                        bound = found.last().map(|f| f.key.0);
                    }
                }
                found.sort_unstable_by_key(|f| f.key);
                Ok(found.into_iter().map(|f| f.entry).collect())
            })
            .await
    }

    /// Removes the entries older than `before`; returns how many.
    async fn purge_activity(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.rt.write(Effect::Data, move |c| {
            let before = micros(before);
            let whole: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(SUM(entries), 0) FROM activity_chunks WHERE first_at < ?1 AND last_at < ?1",
                )
                .map_err(internal)?
                .query_row(params![before], |r| r.get(0))
                .map_err(internal)?;
            c.prepare_cached("DELETE FROM activity_chunks WHERE first_at < ?1 AND last_at < ?1")
                .map_err(internal)?
                .execute(params![before])
                .map_err(internal)?;
            // Chunks that straddle `before` keep their newer entries.
            let straddling: Vec<(i64, String)> = c
                .prepare_cached("SELECT seq, body FROM activity_chunks WHERE first_at < ?1 AND last_at >= ?1")
                .map_err(internal)?
                .query_map(params![before], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(internal)?
                .collect::<rusqlite::Result<_>>()
                .map_err(internal)?;
            let mut removed = whole as u64;
            let mut update = c
                .prepare_cached(
                    "UPDATE activity_chunks SET first_at = ?2, entries = ?3, body = ?4 WHERE seq = ?1",
                )
                .map_err(internal)?;
            for (seq, body) in straddling {
                let mut wires = decode(&body)?;
                let had = wires.len();
                wires.retain(|w| w.at >= before);
                removed += (had - wires.len()) as u64;
                if let Some(first) = wires.first() {
                    update
                        .execute(params![seq, first.at, wires.len() as i64, encode(&wires)?])
                        .map_err(internal)?;
                }
            }
            Ok(removed)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn entry(org: Option<OrgId>, at: OffsetDateTime) -> ActivityEntry {
        ActivityEntry {
            org_id: org,
            at,
            token_id: Some(TokenId(uuid::Uuid::new_v4())),
            actor: "scim".into(),
            action: "GET".into(),
            target: "/scim/v2/Users/\"x\"".into(),
            status: Some(200),
            duration_us: Some(12),
            resource: None,
            detail: None,
        }
    }

    #[test]
    fn a_batch_is_cut_by_organisation_and_span_and_keeps_every_field() {
        let org = uuid::Uuid::new_v4();
        let a = Some(OrgId(org));
        let t = from_micros(micros(OffsetDateTime::now_utc()));
        let slow = entry(a, t - Duration::seconds(30));
        let batch = [entry(a, t), entry(None, t), slow.clone(), entry(a, t)];
        let cut = chunks(&batch).expect("chunks");
        let sizes: Vec<(uuid::Uuid, i64)> = cut.iter().map(|c| (c.org, c.entries)).collect();
        assert_eq!(sizes, vec![(uuid::Uuid::nil(), 1), (org, 1), (org, 2)]);
        let back = decode(&cut[1].body).expect("decode").remove(0);
        assert_eq!(back.into_entry(a).expect("entry"), slow);
        assert!(cut.iter().all(|c| c.last_at - c.first_at <= SPAN));
    }
}
