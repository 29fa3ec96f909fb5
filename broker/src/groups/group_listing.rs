//! Describing, listing and deleting groups.

use bytes::Bytes;

use super::committed_offsets::deletions;
use super::coordinator::GroupCoordinator;
use super::error::GroupError;
use super::group::GroupState;

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// `None` when the group does not exist (Kafka answers "Dead").
    pub state: Option<GroupState>,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

impl GroupCoordinator {
    /// DescribeGroups for one group (as "Dead" where this broker does not coordinate it: see
    /// [`Self::check`]).
    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let has_offsets = self
            .shard_of(group_id)
            .is_ok_and(|shard| shard.read(|o| o.contains(group_id)));
        let groups = self.groups.lock();
        match groups.get(group_id) {
            Some(group) => {
                let protocol = group.protocol.clone().unwrap_or_default();
                GroupDescription {
                    state: Some(group.state),
                    protocol_type: group.protocol_type.clone().unwrap_or_default(),
                    members: group
                        .members
                        .iter()
                        .map(|m| MemberDescription {
                            member_id: m.id.clone(),
                            instance_id: m.instance_id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            metadata: m.metadata(&protocol),
                            assignment: m.assignment.clone(),
                        })
                        .collect(),
                    protocol,
                }
            }
            None if has_offsets => GroupDescription {
                state: Some(GroupState::Empty),
                protocol_type: "consumer".to_string(),
                protocol: String::new(),
                members: Vec::new(),
            },
            None => GroupDescription {
                state: None,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            },
        }
    }

    /// ListGroups: the groups this broker coordinates, with members or with only committed
    /// offsets.
    pub fn list(&self) -> Vec<GroupListing> {
        let with_offsets: Vec<String> = self
            .loaded_shards()
            .iter()
            .flat_map(|shard| shard.read(|o| o.groups().cloned().collect::<Vec<_>>()))
            .collect();
        let groups = self.groups.lock();
        let mut out: Vec<GroupListing> = groups
            .iter()
            .map(|(id, g)| GroupListing {
                group_id: id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        for id in with_offsets {
            if !groups.contains_key(&id) {
                out.push(GroupListing {
                    group_id: id,
                    protocol_type: "consumer".to_string(),
                    state: GroupState::Empty,
                });
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DeleteGroups for one group: only an empty group can go.
    pub async fn delete_group(&self, group_id: &str) -> Result<(), GroupError> {
        let shard = self.shard_of(group_id)?;
        {
            let mut groups = self.groups.lock();
            match groups.get(group_id) {
                Some(group) if !group.members.is_empty() => return Err(GroupError::NonEmptyGroup),
                Some(_) => {
                    groups.remove(group_id);
                }
                None if !shard.read(|o| o.contains(group_id)) => {
                    return Err(GroupError::GroupIdNotFound);
                }
                None => {}
            }
        }
        shard.write(group_id, deletions(&shard, group_id)).await
    }
}
