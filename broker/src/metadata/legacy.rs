//! The metadata files of the first format (one JSON file per kind under `meta/`): read once,
//! when a data directory written before the metadata log is opened, then set aside.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::state::MetadataState;
use super::topic_record::TopicRecord;
use crate::acls::AclBinding;
use crate::error::BrokerError;

/// The broker's own files of the first format.
const TOPICS: &str = "topics.json";
const ACLS: &str = "acls.json";
const PRODUCER_ID_BLOCK: &str = "producer-id-block";

/// Suffix of a first-format file whose contents are in the metadata log.
const MIGRATED: &str = "migrated";

#[derive(Deserialize)]
struct TopicsFile {
    version: u32,
    topics: Vec<TopicRecord>,
}

/// The state the first-format files in `dir` describe (empty when there are none).
pub(crate) fn read_state(dir: &Path) -> Result<MetadataState, BrokerError> {
    let mut state = MetadataState::default();
    if let Some(text) = read(dir, TOPICS)? {
        let file: TopicsFile = parse(dir, TOPICS, &text)?;
        if file.version != 1 {
            return Err(corrupt(
                dir,
                TOPICS,
                format!("unsupported metadata version {}", file.version),
            ));
        }
        state.topics = file
            .topics
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect::<BTreeMap<_, _>>();
    }
    if let Some(text) = read(dir, ACLS)? {
        state.acls = parse::<Vec<AclBinding>>(dir, ACLS, &text)?;
    }
    if let Some(text) = read(dir, PRODUCER_ID_BLOCK)? {
        state.producer_ids_reserved = text.trim().parse().unwrap_or(0);
    }
    Ok(state)
}

/// Sets the broker's first-format files aside once the metadata log holds their contents.
pub(crate) fn retire_state_files(dir: &Path) {
    for name in [TOPICS, ACLS, PRODUCER_ID_BLOCK] {
        retire(dir, name);
    }
}

/// The contents of first-format file `name` in `dir`, if it is still there.
pub(crate) fn read(dir: &Path, name: &str) -> Result<Option<String>, BrokerError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BrokerError::DataDir { path, source }),
    }
}

/// Renames first-format file `name` to `<name>.migrated`; a failure only leaves it in place
/// (it is read only while the metadata log is empty).
pub(crate) fn retire(dir: &Path, name: &str) {
    let path = dir.join(name);
    if path.exists()
        && let Err(e) = std::fs::rename(&path, dir.join(format!("{name}.{MIGRATED}")))
    {
        tracing::warn!(file = %path.display(), error = %e, "cannot set a migrated metadata file aside");
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
    text: &str,
) -> Result<T, BrokerError> {
    serde_json::from_str(text).map_err(|e| corrupt(dir, name, e.to_string()))
}

fn corrupt(dir: &Path, name: &str, reason: String) -> BrokerError {
    BrokerError::MetadataCorrupt {
        path: dir.join(name),
        reason,
    }
}
