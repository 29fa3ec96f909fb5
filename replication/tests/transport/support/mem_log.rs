//! A Raft log in memory (after openraft's `examples/log-mem`), enough for transport tests.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use neo_replication::types::NeoRaft;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::{LogState, RaftLogReader};
use tokio::sync::Mutex;

#[derive(Default)]
struct Log {
    last_purged: Option<LogIdOf<NeoRaft>>,
    entries: BTreeMap<u64, EntryOf<NeoRaft>>,
    committed: Option<LogIdOf<NeoRaft>>,
    vote: Option<VoteOf<NeoRaft>>,
}

/// A shared in-memory log.
#[derive(Clone, Default)]
pub struct MemLog {
    log: Arc<Mutex<Log>>,
}

impl RaftLogReader<NeoRaft> for MemLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<NeoRaft>>, io::Error> {
        let log = self.log.lock().await;
        Ok(log.entries.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<NeoRaft>>, io::Error> {
        Ok(self.log.lock().await.vote)
    }
}

impl RaftLogStorage<NeoRaft> for MemLog {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<NeoRaft>, io::Error> {
        let log = self.log.lock().await;
        let last = log.entries.values().next_back().map(|e| e.log_id());
        Ok(LogState {
            last_purged_log_id: log.last_purged,
            last_log_id: last.or(log.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<NeoRaft>) -> Result<(), io::Error> {
        self.log.lock().await.vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogIdOf<NeoRaft>>,
    ) -> Result<(), io::Error> {
        self.log.lock().await.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<NeoRaft>>, io::Error> {
        Ok(self.log.lock().await.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<NeoRaft>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<NeoRaft>> + Send,
        I::IntoIter: Send,
    {
        let mut log = self.log.lock().await;
        for entry in entries {
            log.entries.insert(entry.index(), entry);
        }
        callback.io_completed(Ok(()));
        Ok(())
    }

    async fn truncate_after(
        &mut self,
        last_log_id: Option<LogIdOf<NeoRaft>>,
    ) -> Result<(), io::Error> {
        let start = last_log_id.map_or(0, |id| id.index() + 1);
        self.log.lock().await.entries.split_off(&start);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<NeoRaft>) -> Result<(), io::Error> {
        let mut log = self.log.lock().await;
        log.entries = log.entries.split_off(&(log_id.index() + 1));
        log.last_purged = Some(log_id);
        Ok(())
    }
}
