//! Whether this broker is caught up enough to serve clients (what `/ready` answers): started,
//! its metadata applied up to what the controller committed, and a live member of its cluster.
//! Read from memory only (Raft metrics, the transport's last-heard times): probes call it every
//! few seconds.

use std::collections::BTreeSet;

use crate::broker::Broker;

/// Committed controller entries a broker may have yet to apply and still count as caught up:
/// a change being applied as the probe looks is not a broker behind.
pub const READY_METADATA_LAG: u64 = 8;

/// Why a broker is not ready to serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// Its logs are being recovered, or it is shutting down.
    #[error("not started: recovering its logs, or stopping")]
    NotStarted,
    /// It is not (yet) a voter of the controller: a broker waiting to be added.
    #[error("not a voter of the cluster's controller")]
    NotAVoter,
    /// It hears from too few brokers to be part of a majority.
    #[error("hears from {live} of {voters} brokers, not a majority")]
    NoMajority {
        /// Voters heard from lately, this broker included.
        live: usize,
        /// Voters of the controller.
        voters: usize,
    },
    /// The controller has no leader this broker can reach.
    #[error("no reachable controller leader")]
    NoController,
    /// Its metadata lags what the controller committed.
    #[error("metadata behind the controller: applied {applied}, committed {committed}")]
    MetadataBehind {
        /// The last controller entry applied here.
        applied: u64,
        /// The last entry the controller's leader reported committed.
        committed: u64,
    },
}

impl Broker {
    /// `Ok` while this broker can serve: started, a live voter of its cluster, its metadata
    /// within [`READY_METADATA_LAG`] entries of the controller's commit. A cluster of one is
    /// ready once started.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if !self.is_ready() {
            return Err(NotReady::NotStarted);
        }
        let me = self.config().node_id;
        let voters: BTreeSet<u64> = self.metadata().voters();
        if voters.len() <= 1 && voters.iter().all(|v| *v == me) {
            return Ok(());
        }
        if !voters.contains(&me) {
            return Err(NotReady::NotAVoter);
        }
        let recent = self.config().cluster.election_timeout * 2;
        let live = voters
            .iter()
            .filter(|id| self.cluster().heard_within(**id, recent))
            .count();
        if live <= voters.len() / 2 {
            return Err(NotReady::NoMajority {
                live,
                voters: voters.len(),
            });
        }
        let progress = self.metadata().controller_progress();
        if !progress
            .leader
            .is_some_and(|leader| self.cluster().seems_alive(leader, recent))
        {
            return Err(NotReady::NoController);
        }
        if progress.lag() > READY_METADATA_LAG {
            return Err(NotReady::MetadataBehind {
                applied: progress.applied.unwrap_or(0),
                committed: progress.committed.unwrap_or(0),
            });
        }
        Ok(())
    }
}
