//! Idle partition groups cost nothing. A partition group registered as quiet has no timers of
//! its own: the node's clock (the heartbeat ticker) drives it. As leader it sends a heartbeat
//! only when its followers have something to learn (a new entry, a commit) and otherwise a
//! keepalive now and then; as follower it stands for election when its leader's broker has
//! been silent for the election timeout (brokers ping each other every heartbeat interval,
//! whatever their groups do), or the group itself has, past its keepalive.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::group_id::GroupId;
use crate::types::NodeId;

/// What a heartbeat tells followers: the leader's last entry and its commit.
pub(crate) type Progress = (Option<u64>, Option<u64>);

/// The node's clock settings for quiet groups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuietTiming {
    /// Silence of a leader (its broker, or the group past its keepalive) before a follower
    /// stands; each group adds up to a quarter of it again, different on each node, so that
    /// two followers rarely stand at once.
    pub(crate) election_timeout: Duration,
    /// How often an idle leader's group sends a heartbeat anyway (for the in-sync replicas and
    /// for a follower whose leader's group stopped while its broker runs).
    pub(crate) keepalive: Duration,
}

/// A quiet group's clock state on this node.
#[derive(Debug)]
pub(crate) struct QuietGroup {
    jitter: Duration,
    /// When the group last heard from a leader (an AppendEntries, heartbeats included).
    heard_leader: Mutex<Instant>,
    /// When this node last made it stand.
    stood: Mutex<Option<Instant>>,
    /// When its last heartbeat as leader left, and what it told.
    told: Mutex<Option<(Instant, Progress)>>,
}

impl QuietGroup {
    pub(crate) fn new(group: GroupId, node: NodeId, timing: QuietTiming) -> QuietGroup {
        let mut hasher = DefaultHasher::new();
        (group, node).hash(&mut hasher);
        let spread = timing.election_timeout.as_millis() as u64 / 4;
        let jitter = Duration::from_millis(hasher.finish() % spread.max(1));
        QuietGroup {
            jitter,
            heard_leader: Mutex::new(Instant::now()),
            stood: Mutex::new(None),
            told: Mutex::new(None),
        }
    }

    /// Notes a message from the group's leader.
    pub(crate) fn heard_leader(&self) {
        *self.heard_leader.lock() = Instant::now();
    }

    /// As leader: whether a heartbeat is due now (and if so, notes it as sent).
    pub(crate) fn heartbeat_due(&self, progress: Progress, timing: QuietTiming) -> bool {
        let now = Instant::now();
        let mut told = self.told.lock();
        let due = match *told {
            Some((at, before)) => before != progress || now.duration_since(at) >= timing.keepalive,
            None => true,
        };
        if due {
            *told = Some((now, progress));
        }
        due
    }

    /// As follower of `leader` (whose broker was last heard from at `leader_heard`): when to
    /// stand for election if nothing is heard meanwhile (not within a timeout of the last
    /// time it stood).
    pub(crate) fn election_at(
        &self,
        leader: Option<NodeId>,
        leader_heard: Option<Instant>,
        timing: QuietTiming,
    ) -> Instant {
        let timeout = timing.election_timeout + self.jitter;
        let group_heard = *self.heard_leader.lock();
        let at = match leader {
            // A broker not heard from since this node started counts from the registration.
            Some(_) => (leader_heard.unwrap_or(group_heard) + timeout)
                .min(group_heard + timing.keepalive + timeout),
            None => group_heard + timeout,
        };
        match *self.stood.lock() {
            Some(stood) => at.max(stood + timeout),
            None => at,
        }
    }

    /// As follower: whether to stand for election now (see [`Self::election_at`]); if so,
    /// notes it.
    pub(crate) fn election_due(
        &self,
        leader: Option<NodeId>,
        leader_heard: Option<Instant>,
        timing: QuietTiming,
    ) -> bool {
        let now = Instant::now();
        let due = now >= self.election_at(leader, leader_heard, timing);
        if due {
            *self.stood.lock() = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: QuietTiming = QuietTiming {
        election_timeout: Duration::from_millis(40),
        keepalive: Duration::from_millis(60),
    };

    fn group() -> QuietGroup {
        QuietGroup::new(
            GroupId::Partition {
                topic_id: 7,
                partition: 3,
            },
            1,
            TIMING,
        )
    }

    #[test]
    fn a_leader_tells_changes_at_once_and_otherwise_only_its_keepalive() {
        let quiet = group();
        assert!(
            quiet.heartbeat_due((Some(5), Some(4)), TIMING),
            "the first one"
        );
        assert!(
            !quiet.heartbeat_due((Some(5), Some(4)), TIMING),
            "nothing new"
        );
        assert!(quiet.heartbeat_due((Some(5), Some(5)), TIMING), "a commit");
        std::thread::sleep(TIMING.keepalive);
        assert!(
            quiet.heartbeat_due((Some(5), Some(5)), TIMING),
            "the keepalive"
        );
    }

    #[test]
    fn a_follower_stands_once_its_leaders_broker_is_silent_and_not_again_at_once() {
        let quiet = group();
        let heard = Some(Instant::now());
        assert!(!quiet.election_due(Some(2), heard, TIMING));
        std::thread::sleep(TIMING.election_timeout * 3 / 2);
        quiet.heard_leader();
        assert!(
            quiet.election_due(Some(2), heard, TIMING),
            "the broker went silent"
        );
        assert!(
            !quiet.election_due(Some(2), heard, TIMING),
            "stood a moment ago"
        );
    }

    #[test]
    fn a_follower_stands_when_its_group_is_silent_past_the_keepalive_or_has_no_leader() {
        let quiet = group();
        assert!(!quiet.election_due(None, None, TIMING));
        std::thread::sleep(TIMING.election_timeout * 3 / 2);
        assert!(quiet.election_due(None, None, TIMING), "no leader");
        let quiet = group();
        std::thread::sleep(TIMING.keepalive + TIMING.election_timeout * 3 / 2);
        let broker_heard = Some(Instant::now());
        assert!(
            quiet.election_due(Some(2), broker_heard, TIMING),
            "the group went silent"
        );
    }

    #[test]
    fn a_follower_knows_when_it_stands_and_waits_a_timeout_before_standing_again() {
        let quiet = group();
        let heard = Instant::now();
        let at = quiet.election_at(Some(2), Some(heard), TIMING);
        let latest = heard + TIMING.election_timeout * 5 / 4;
        assert!(
            at >= heard + TIMING.election_timeout && at <= latest,
            "within the jitter"
        );
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        assert!(
            quiet.election_due(Some(2), Some(heard), TIMING),
            "due when told"
        );
        let again = quiet.election_at(Some(2), Some(heard), TIMING);
        assert!(
            again >= Instant::now() + TIMING.election_timeout / 2,
            "not at once"
        );
    }
}
