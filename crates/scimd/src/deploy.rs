//! `serve` options for running it unattended: the data folder, automatic certificates (ACME)
//! and scheduled SQLite backups.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// The folder scimd keeps its own files in (ACME account and certificate, backups); by
    /// default the SQLite database's folder, or the working directory on PostgreSQL.
    #[arg(long, env = "SCIMD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Get the HTTPS certificate for this name from an ACME authority (repeatable). The
    /// TLS-ALPN-01 challenge is answered on --listen, which must be reachable on port 443 of
    /// the name. Using it agrees to the authority's terms of service.
    #[arg(
        long = "acme-domain",
        env = "SCIMD_ACME_DOMAINS",
        value_delimiter = ',',
        conflicts_with = "tls_cert",
        value_name = "NAME"
    )]
    pub acme_domains: Vec<String>,
    /// The operator's e-mail: the ACME account's contact, and who is mailed (through
    /// --smtp-url) when a renewal is 14 days late.
    #[arg(long, env = "SCIMD_ACME_EMAIL", value_name = "ADDRESS")]
    pub acme_email: Option<String>,
    /// The ACME directory URL (default: Let's Encrypt).
    #[arg(long, env = "SCIMD_ACME_DIRECTORY", default_value = server::acme::LETS_ENCRYPT, value_name = "URL")]
    pub acme_directory: String,
    /// PEM file of the CA certificates to trust for the ACME directory's HTTPS (a private
    /// authority), instead of the system's.
    #[arg(long, env = "SCIMD_ACME_DIRECTORY_CA", value_name = "PEM")]
    pub acme_directory_ca: Option<PathBuf>,
    /// Renew when this much of the certificate's life is left (e.g. 30d, 12h); default: a
    /// third of its lifetime.
    #[arg(long, env = "SCIMD_ACME_RENEW_BEFORE", value_parser = parse_duration, value_name = "DURATION")]
    pub acme_renew_before: Option<Duration>,
    /// Write a checked online backup of the SQLite database this often (e.g. 6h, 30m), while
    /// serving.
    #[arg(long, env = "SCIMD_BACKUP_EVERY", value_parser = parse_duration, value_name = "DURATION")]
    pub backup_every: Option<Duration>,
    /// Scheduled backups kept: older ones are removed after each new one is checked.
    #[arg(
        long,
        env = "SCIMD_BACKUP_KEEP",
        default_value_t = 14,
        value_name = "N"
    )]
    pub backup_keep: usize,
    /// Where scheduled backups go (default: DATA_DIR/backups).
    #[arg(long, env = "SCIMD_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
}

/// `90`, `90s`, `15m`, `6h`, `30d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 90s, 15m, 6h, 30d)"))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{s}': the unit is one of s, m, h, d")),
    };
    if n == 0 {
        return Err(format!("'{s}': a duration must be more than zero"));
    }
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is too long"))
}

/// The SQLite file of a database URL.
pub fn sqlite_path(database: &str) -> Option<&Path> {
    database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
        .map(Path::new)
}

impl DeployArgs {
    pub fn data_dir(&self, database: &str) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return d.clone();
        }
        match sqlite_path(database).and_then(Path::parent) {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// The certificate manager and the TLS it serves, when a domain is given.
    pub fn acme(&self, database: &str) -> Result<Option<(server::acme::Acme, server::tls::Tls)>> {
        if self.acme_domains.is_empty() {
            return Ok(None);
        }
        let config = server::acme::AcmeConfig {
            domains: self.acme_domains.clone(),
            email: self.acme_email.clone(),
            directory: self.acme_directory.clone(),
            directory_ca: self.acme_directory_ca.clone(),
            state_dir: self.data_dir(database).join("acme"),
            renew_before: self.acme_renew_before,
        };
        let ready = server::acme::Acme::prepare(config)
            .map_err(anyhow::Error::msg)
            .context("automatic certificates (--acme-domain)")?;
        Ok(Some(ready))
    }

    /// The backup schedule, checked before serving starts.
    pub fn backups(&self, database: &str) -> Result<Option<Backups>> {
        let Some(every) = self.backup_every else {
            return Ok(None);
        };
        let Some(db) = sqlite_path(database) else {
            bail!("--backup-every copies SQLite databases; for PostgreSQL use pg_dump");
        };
        if self.backup_keep == 0 {
            bail!("--backup-keep must keep at least one backup");
        }
        let dir = self
            .backup_dir
            .clone()
            .unwrap_or_else(|| self.data_dir(database).join("backups"));
        private_dir(&dir)?;
        Ok(Some(Backups {
            db: db.to_owned(),
            status: Arc::new(server::backup::BackupStatus::new(
                every,
                self.backup_keep,
                dir.clone(),
            )),
            dir,
            every,
            keep: self.backup_keep,
        }))
    }
}

fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// Scheduled online backups of a SQLite database (the `scimd backup` copy, checked).
#[derive(Debug)]
pub struct Backups {
    db: PathBuf,
    dir: PathBuf,
    every: Duration,
    keep: usize,
    pub status: Arc<server::backup::BackupStatus>,
}

/// Names of scheduled backups: `scimd-<UTC time to the millisecond>.db`, so that their order
/// by name is their order in time.
const PREFIX: &str = "scimd-";
const SUFFIX: &str = ".db";

fn backup_name(now: time::OffsetDateTime) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{PREFIX}{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z{SUFFIX}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn is_backup_name(name: &str) -> bool {
    name.len() == backup_name(time::OffsetDateTime::UNIX_EPOCH).len()
        && name.starts_with(PREFIX)
        && name.ends_with(SUFFIX)
}

/// Removes the oldest scheduled backups in `dir` beyond the newest `keep`; other files are
/// left alone.
fn rotate(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_backup_name(n))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut removed = Vec::new();
    for old in names.into_iter().skip(keep) {
        let path = dir.join(old);
        std::fs::remove_file(&path)?;
        removed.push(path);
    }
    Ok(removed)
}

impl Backups {
    /// Backs up every `every` until the process ends.
    pub fn start(self) {
        tracing::info!(
            every_secs = self.every.as_secs(),
            keep = self.keep,
            dir = %self.dir.display(),
            "scheduled backups"
        );
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + self.every, self.every);
            // A backup that took longer than the interval is not followed by a burst.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.once().await;
            }
        });
    }

    async fn once(&self) {
        let now = time::OffsetDateTime::now_utc();
        let to = self.dir.join(backup_name(now));
        let (db, dir, keep) = (self.db.clone(), self.dir.clone(), self.keep);
        let target = to.clone();
        let done = tokio::task::spawn_blocking(move || {
            // Written under a name of its own and renamed once checked: a file with a backup's
            // name is always a whole, checked copy.
            let partial = target.with_extension("db.partial");
            let copied = store_sqlite::backup::backup(&db, &partial).and_then(|c| {
                std::fs::rename(&partial, &target)
                    .map(|()| c)
                    .map_err(|e| format!("naming the backup: {e}"))
            });
            if copied.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            let copied = copied?;
            let removed = rotate(&dir, keep).map_err(|e| format!("removing old backups: {e}"))?;
            Ok::<_, String>((copied, removed))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the backup task failed: {e}")));
        match done {
            Ok((copied, removed)) => {
                tracing::info!(
                    file = %to.display(),
                    bytes = copied.bytes,
                    removed = removed.len(),
                    "backup written and checked"
                );
                self.status.succeeded(now, &to, copied.bytes);
            }
            Err(e) => {
                tracing::error!(file = %to.display(), error = %e, "scheduled backup failed");
                self.status.failed(now, &e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        for bad in ["", "h", "0s", "6w", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backup_names_sort_by_time_and_rotation_keeps_the_newest() {
        let t0 = time::macros::datetime!(2026-01-02 03:04:05.006 UTC);
        let name = backup_name(t0);
        assert_eq!(name, "scimd-20260102T030405.006Z.db");
        assert!(is_backup_name(&name));
        assert!(!is_backup_name("scimd.db"));
        let dir = std::env::temp_dir().join(format!("scimd-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let names: Vec<String> = (0..5)
            .map(|i| backup_name(t0 + time::Duration::seconds(i)))
            .collect();
        for n in &names {
            std::fs::write(dir.join(n), b"x").expect("write");
        }
        std::fs::write(dir.join("notes.txt"), b"mine").expect("write");
        let removed = rotate(&dir, 2).expect("rotate");
        assert_eq!(removed.len(), 3);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec!["notes.txt".into(), names[3].clone(), names[4].clone()]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
