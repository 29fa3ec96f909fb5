//! Who a group subscription's member is in its group now, and leaving the group.

use neo_broker::Broker;
use parking_lot::Mutex;

/// Who the member is in the group now (for commits and for leaving).
#[derive(Debug, Default)]
pub(crate) struct Membership {
    pub group: String,
    pub topic: String,
    pub member_id: String,
    pub generation: i32,
}

/// Leaves the group (when the subscription or the connection ends).
pub(crate) fn leave(broker: &Broker, membership: &Mutex<Membership>) {
    let membership = membership.lock();
    if !membership.member_id.is_empty() {
        let _ = broker
            .groups()
            .leave(&membership.group, &[(membership.member_id.clone(), None)]);
    }
}
