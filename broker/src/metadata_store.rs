//! The broker's topic metadata, persisted as one JSON file written atomically.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// What is remembered about one topic across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: i32,
    /// Configs set on the topic (overrides of the broker defaults), under Kafka's names.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct MetadataFile {
    version: u32,
    topics: Vec<TopicRecord>,
}

const FILE_NAME: &str = "topics.json";
const VERSION: u32 = 1;
const CLUSTER_ID_FILE: &str = "cluster.id";

/// Reads and writes `<data_dir>/meta/topics.json`.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    dir: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BrokerError + '_ {
    move |source| BrokerError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

impl MetadataStore {
    /// The store under `data_dir`, creating its directory.
    pub fn open(data_dir: &Path) -> Result<MetadataStore, BrokerError> {
        let dir = data_dir.join("meta");
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(MetadataStore { dir })
    }

    /// Every topic recorded, or none for a new data directory.
    pub fn load(&self) -> Result<Vec<TopicRecord>, BrokerError> {
        let path = self.dir.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(BrokerError::DataDir { path, source: e }),
        };
        let file: MetadataFile =
            serde_json::from_str(&text).map_err(|e| BrokerError::MetadataCorrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if file.version != VERSION {
            return Err(BrokerError::MetadataCorrupt {
                path,
                reason: format!("unsupported metadata version {}", file.version),
            });
        }
        Ok(file.topics)
    }

    /// Replaces the stored topics, durably.
    pub fn save(&self, topics: &[TopicRecord]) -> Result<(), BrokerError> {
        let path = self.dir.join(FILE_NAME);
        let file = MetadataFile {
            version: VERSION,
            topics: topics.to_vec(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| BrokerError::MetadataCorrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        self.write_atomically(FILE_NAME, &text)
    }

    /// The contents of a small file of the store, if it exists.
    pub(crate) fn read_small(&self, name: &str) -> Result<Option<String>, BrokerError> {
        let path = self.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BrokerError::DataDir { path, source: e }),
        }
    }

    /// Replaces a small file of the store, durably.
    pub(crate) fn write_small(&self, name: &str, text: &str) -> Result<(), BrokerError> {
        self.write_atomically(name, text.as_bytes())
    }

    /// The cluster's id, chosen once when the data directory is new (`meta/cluster.id`).
    pub fn cluster_id(&self) -> Result<String, BrokerError> {
        if let Some(id) = self.read_small(CLUSTER_ID_FILE)?
            && !id.trim().is_empty()
        {
            return Ok(id.trim().to_string());
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.write_atomically(CLUSTER_ID_FILE, id.as_bytes())?;
        Ok(id)
    }

    /// Temporary file, fsync, rename, fsync directory.
    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<(), BrokerError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut out = File::create(&tmp).map_err(io_error(&tmp))?;
        out.write_all(bytes).map_err(io_error(&tmp))?;
        out.sync_all().map_err(io_error(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path()).unwrap();
        assert!(store.load().unwrap().is_empty());
        let topics = vec![TopicRecord {
            name: "t".into(),
            id: uuid::Uuid::new_v4(),
            partitions: 3,
            configs: BTreeMap::from([("retention.ms".into(), "10".into())]),
        }];
        store.save(&topics).unwrap();
        assert_eq!(store.load().unwrap(), topics);
    }

    #[test]
    fn corrupt_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("meta").join(FILE_NAME), b"{not json").unwrap();
        assert!(matches!(
            store.load(),
            Err(BrokerError::MetadataCorrupt { .. })
        ));
    }
}
