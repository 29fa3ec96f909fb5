//! Serving one group request: find the target group's Raft and ask it.

use futures_util::future::join_all;

use super::message::{Heartbeat, RemoteError, Request, Response};
use super::registry::{GroupRegistry, RaftGroup};
use crate::group_id::GroupId;

/// The answer of this node's groups to `request` (any request but the hello and the snapshot
/// transfer steps, which the connection serves itself).
pub(crate) async fn dispatch(registry: &GroupRegistry, request: Request) -> Response {
    let answer = match request {
        Request::AppendEntries { group, rpc } => {
            heard_leader(registry, group);
            serve(registry, group, |raft| raft.append_entries(rpc))
                .await
                .map(Response::AppendEntries)
        }
        Request::Vote { group, rpc } => serve(registry, group, |raft| raft.vote(rpc))
            .await
            .map(Response::Vote),
        Request::PreVote { group, rpc } => serve(registry, group, |raft| raft.pre_vote(rpc))
            .await
            .map(Response::Vote),
        Request::TransferLeader { group, rpc } => {
            serve(registry, group, |raft| raft.transfer_leader(rpc))
                .await
                .map(Response::TransferLeader)
        }
        Request::Heartbeats(heartbeats) => {
            let answers = heartbeats.into_iter().map(|Heartbeat { group, rpc }| {
                heard_leader(registry, group);
                serve(registry, group, |raft| raft.append_entries(rpc))
            });
            Ok(Response::Heartbeats(join_all(answers).await))
        }
        Request::Call(_) => Err(RemoteError::NoCallHandler),
        Request::Hello { .. } => Err(RemoteError::HelloOutOfPlace),
        Request::SnapshotOffer(_)
        | Request::SnapshotChunk { .. }
        | Request::SnapshotDone { .. } => Err(RemoteError::SnapshotRefused(
            "snapshot steps are served by their connection".to_owned(),
        )),
    };
    answer.unwrap_or_else(Response::Error)
}

/// Notes, for a quiet group, that its leader was heard from.
fn heard_leader(registry: &GroupRegistry, group: GroupId) {
    if let Some(quiet) = registry.get(group).as_ref().and_then(|g| g.quiet.as_ref()) {
        quiet.heard_leader();
    }
}

/// Runs `call` on `group`'s Raft, or says why it cannot.
pub(crate) async fn serve<T, F>(
    registry: &GroupRegistry,
    group: GroupId,
    call: F,
) -> Result<T, RemoteError>
where
    F: for<'a> FnOnce(&'a dyn RaftGroup) -> futures_util::future::BoxFuture<'a, Result<T, String>>,
{
    let registered = registry
        .get(group)
        .ok_or(RemoteError::UnknownGroup(group))?;
    call(registered.raft.as_ref())
        .await
        .map_err(|reason| RemoteError::GroupStopped { group, reason })
}
