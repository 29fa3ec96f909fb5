//! The disk alarm, as RabbitMQ has it: while the data directory's file system has less free
//! space than `disk_free_limit_bytes`, connections that publish are blocked (they get
//! connection.blocked when they asked for it, and their next publish waits) until space is
//! free again (connection.unblocked).

use std::path::{Path, PathBuf};

use tokio::sync::watch;

/// Whether publishing is blocked, and why.
#[derive(Debug)]
pub struct DiskAlarm {
    dir: PathBuf,
    limit: u64,
    /// The reason while blocked.
    state: watch::Sender<Option<String>>,
}

impl DiskAlarm {
    pub fn new(dir: &Path, limit: u64) -> DiskAlarm {
        DiskAlarm {
            dir: dir.to_path_buf(),
            limit,
            state: watch::Sender::new(None),
        }
    }

    /// Checks the free space now and raises or clears the alarm.
    pub fn check(&self) {
        match free_bytes(&self.dir) {
            Ok(free) => self.set(free),
            Err(e) => tracing::warn!(error = %e, "amqp: cannot read free disk space"),
        }
    }

    fn set(&self, free: u64) {
        let blocked = (free < self.limit)
            .then(|| format!("low on disk: {free} bytes free, limit {}", self.limit));
        self.state.send_if_modified(|state| {
            if state.is_some() == blocked.is_some() {
                return false;
            }
            match &blocked {
                Some(reason) => tracing::warn!(reason, "amqp: disk alarm, publishers blocked"),
                None => tracing::info!("amqp: disk alarm cleared"),
            }
            *state = blocked;
            true
        });
    }

    /// Follows the alarm: `Some(reason)` while blocked.
    pub fn subscribe(&self) -> watch::Receiver<Option<String>> {
        self.state.subscribe()
    }
}

fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_below_the_limit_and_cleared_above() {
        let dir = tempfile::tempdir().unwrap();
        let alarm = DiskAlarm::new(dir.path(), 1_000);
        let mut seen = alarm.subscribe();
        alarm.set(999);
        assert!(seen.has_changed().unwrap());
        assert!(
            seen.borrow_and_update()
                .as_ref()
                .unwrap()
                .contains("999 bytes free")
        );
        alarm.set(500);
        assert!(
            !seen.has_changed().unwrap(),
            "no news while it stays raised"
        );
        alarm.set(1_000);
        assert!(seen.borrow_and_update().is_none());
        alarm.check();
        assert!(
            seen.borrow().is_none(),
            "a temp dir has more than 1000 bytes free"
        );
    }
}
