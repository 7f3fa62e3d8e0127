//! What the scheduled backups of this instance last did (`serve --backup-every`), for
//! `/metrics` and the console's Settings page. The schedule itself runs in the binary.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// The last backup written and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupDone {
    pub at: OffsetDateTime,
    pub file: PathBuf,
    pub bytes: u64,
}

/// The last failure, kept until a backup succeeds again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFailed {
    pub at: OffsetDateTime,
    pub error: String,
}

#[derive(Debug, Default, Clone)]
pub struct BackupState {
    pub last_success: Option<BackupDone>,
    pub last_failure: Option<BackupFailed>,
}

/// The schedule and its outcome so far.
#[derive(Debug)]
pub struct BackupStatus {
    pub every: Duration,
    pub keep: usize,
    pub dir: PathBuf,
    state: Mutex<BackupState>,
}

impl BackupStatus {
    pub fn new(every: Duration, keep: usize, dir: PathBuf) -> Self {
        BackupStatus {
            every,
            keep,
            dir,
            state: Mutex::new(BackupState::default()),
        }
    }

    pub fn state(&self) -> BackupState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn succeeded(&self, at: OffsetDateTime, file: &Path, bytes: u64) {
        metrics::counter!("scimd_backups_total", "result" => "ok").increment(1);
        metrics::gauge!("scimd_backup_last_success_timestamp_seconds")
            .set(at.unix_timestamp() as f64);
        metrics::gauge!("scimd_backup_last_size_bytes").set(bytes as f64);
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.last_success = Some(BackupDone {
            at,
            file: file.to_owned(),
            bytes,
        });
        s.last_failure = None;
    }

    pub fn failed(&self, at: OffsetDateTime, error: &str) {
        metrics::counter!("scimd_backups_total", "result" => "failed").increment(1);
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_failure = Some(BackupFailed {
            at,
            error: error.to_owned(),
        });
    }
}
