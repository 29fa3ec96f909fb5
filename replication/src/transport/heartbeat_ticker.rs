//! The node's one clock for its groups. Every interval: each group this node leads sends its
//! heartbeats at the same moment, so the per-peer batchers carry them all in one frame (a
//! quiet group only when it has something to tell, or its keepalive is due); and every peer
//! gets a ping, so that a broker whose groups are all idle is still heard. Each quiet group
//! this node follows stands for election once its leader has been silent too long (see
//! [`super::quiet_group`]): at a tick, or at the moment it is due when that comes first.
//!
//! Each group's own openraft heartbeat timer is turned off when it registers with the
//! transport: left on, the groups' heartbeats would go out at unrelated moments and no short
//! window could gather them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::{Instant, MissedTickBehavior};

use super::last_heard::LastHeard;
use super::message::Request;
use super::peer_table::PeerTable;
use super::peers::Peers;
use super::quiet_group::QuietTiming;
use super::registry::GroupRegistry;
use crate::types::NodeId;

/// What the ticker drives.
pub(crate) struct Ticker {
    pub(crate) node_id: NodeId,
    /// Counts the elections started here (see `ClusterTransport::elections_started`).
    pub(crate) elections_started: Arc<AtomicU64>,
    pub(crate) registry: Arc<GroupRegistry>,
    pub(crate) peers: Arc<Peers>,
    pub(crate) peer_table: Arc<PeerTable>,
    pub(crate) last_heard: Arc<LastHeard>,
    pub(crate) interval: Duration,
    pub(crate) quiet: QuietTiming,
}

/// Runs forever (until aborted).
pub(crate) async fn run_heartbeat_ticker(ticker: Ticker) {
    let mut ticks = tokio::time::interval(ticker.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Pings still in flight, by peer: a peer that does not answer gets no second one.
    let mut pinging: HashMap<NodeId, Arc<AtomicBool>> = HashMap::new();
    // The earliest moment a followed group stands for election if its leader stays silent:
    // a wake-up of its own between ticks, so that an election starts when it is due, not up
    // to an interval later.
    let mut next_election: Option<Instant> = None;
    loop {
        let tick = match next_election {
            Some(at) => tokio::select! {
                _ = ticks.tick() => true,
                () = tokio::time::sleep_until(at) => false,
            },
            None => {
                ticks.tick().await;
                true
            }
        };
        if tick {
            ticker.ping_peers(&mut pinging);
        }
        next_election = None;
        let mut heartbeats = Vec::new();
        let mut elections = Vec::new();
        for group in ticker.registry.all() {
            let (leader, progress) = group.raft.view();
            let leads = leader == Some(ticker.node_id);
            match (&group.quiet, leads) {
                (None, true) if tick => heartbeats.push(group),
                (None, _) => {}
                (Some(quiet), true) => {
                    if tick && quiet.heartbeat_due(progress, ticker.quiet) {
                        heartbeats.push(group);
                    }
                }
                (Some(quiet), false) => {
                    let heard = leader.and_then(|l| ticker.last_heard.get(l));
                    if quiet.election_due(leader, heard, ticker.quiet) {
                        tracing::debug!(?leader, "a followed group stands for election");
                        elections.push(group);
                    } else {
                        let at = Instant::from_std(quiet.election_at(leader, heard, ticker.quiet));
                        next_election = Some(next_election.map_or(at, |next| next.min(at)));
                    }
                }
            }
        }
        join_all(heartbeats.iter().map(|group| group.raft.send_heartbeat())).await;
        ticker
            .elections_started
            .fetch_add(elections.len() as u64, Ordering::Relaxed);
        join_all(elections.iter().map(|group| group.raft.elect())).await;
    }
}

impl Ticker {
    fn ping_peers(&self, pinging: &mut HashMap<NodeId, Arc<AtomicBool>>) {
        for node in self.peer_table.nodes() {
            if node == self.node_id {
                continue;
            }
            let busy = pinging.entry(node).or_default();
            if busy.swap(true, Ordering::AcqRel) {
                continue;
            }
            let Ok(peer) = self.peers.get(node) else {
                busy.store(false, Ordering::Release);
                continue;
            };
            let (busy, deadline) = (Arc::clone(busy), Instant::now() + self.interval * 4);
            tokio::spawn(async move {
                let _ = peer
                    .link
                    .call(&Request::Heartbeats(Vec::new()), deadline)
                    .await;
                busy.store(false, Ordering::Release);
            });
        }
    }
}
