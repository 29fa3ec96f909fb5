//! The faults: each injected, held for a while, then healed, every one bounded in time.

use std::time::Duration;

use crate::brokers::Brokers;
use crate::kafka_load;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL of the broker leading the Kafka topic's first partition; restarted on heal.
    KillLeader,
    /// SIGKILL of any broker; restarted on heal.
    KillRandom,
    /// SIGSTOP of the leader, longer than an election timeout; SIGCONT on heal.
    PauseLeader,
    /// The leader and (on 5 brokers) one more cut off from the majority.
    IsolateLeader,
    /// Two halves that cannot reach each other, and one broker both reach.
    Bridge,
    /// The leader's messages to the others dropped; theirs to it arrive.
    OneWayLoss,
    /// One broker restarted with its wall clock 40 s ahead; restarted with the right time on
    /// heal.
    ClockSkew,
    /// One broker's data file system filled up; emptied on heal.
    DiskFull,
}

pub const ALL: [Fault; 8] = [
    Fault::KillLeader,
    Fault::KillRandom,
    Fault::PauseLeader,
    Fault::IsolateLeader,
    Fault::Bridge,
    Fault::OneWayLoss,
    Fault::ClockSkew,
    Fault::DiskFull,
];

/// How long a fault lasts.
pub const HOLD: Duration = Duration::from_secs(8);

/// A fault in place, with what healing it takes.
pub struct Injected {
    pub fault: Fault,
    /// The broker it was aimed at.
    pub target: u8,
}

/// Injects `fault`; `pick` chooses a broker at random (1..=size).
pub fn inject(brokers: &mut Brokers, fault: Fault, pick: &mut impl FnMut() -> u8) -> Injected {
    let size = brokers.size();
    let leader = kafka_load::leader(&brokers.bootstrap()).unwrap_or_else(&mut *pick);
    let target = match fault {
        Fault::KillRandom | Fault::ClockSkew | Fault::DiskFull | Fault::Bridge => pick(),
        _ => leader,
    };
    match fault {
        Fault::KillLeader | Fault::KillRandom => brokers.kill(target),
        Fault::PauseLeader => brokers.signal(target, "STOP"),
        Fault::IsolateLeader => {
            // A minority: the leader and, on more than 3 brokers, its next neighbours.
            let minority: Vec<u8> = (0..(size - 1) / 2)
                .map(|i| (target - 1 + i) % size + 1)
                .collect();
            for a in &minority {
                for b in (1..=size).filter(|b| !minority.contains(b)) {
                    brokers.net.cut(*a, b);
                }
            }
        }
        Fault::Bridge => {
            let others: Vec<u8> = (1..=size).filter(|n| *n != target).collect();
            let (left, right) = others.split_at(others.len() / 2);
            for a in left {
                for b in right {
                    brokers.net.cut(*a, *b);
                }
            }
        }
        Fault::OneWayLoss => {
            for other in (1..=size).filter(|n| *n != target) {
                brokers.net.drop_sent(target, other);
            }
        }
        Fault::ClockSkew => {
            brokers.kill(target);
            brokers.spawn(target, Some("+40s"));
        }
        Fault::DiskFull => fill(brokers, target),
    }
    Injected { fault, target }
}

/// Undoes a fault: every broker running, every link whole, every disk with room.
pub fn heal(brokers: &mut Brokers, injected: &Injected) {
    let target = injected.target;
    match injected.fault {
        Fault::KillLeader | Fault::KillRandom => brokers.spawn(target, None),
        Fault::PauseLeader => brokers.signal(target, "CONT"),
        Fault::IsolateLeader | Fault::Bridge | Fault::OneWayLoss => brokers.net.heal(),
        Fault::ClockSkew => {
            brokers.kill(target);
            brokers.spawn(target, None);
        }
        Fault::DiskFull => {
            let _ = std::fs::remove_file(brokers.data_dir(target).join(BALLAST));
        }
    }
    // A broker that gave up by itself meanwhile (a full disk) is started again.
    for id in 1..=brokers.size() {
        if !brokers.running(id) {
            eprintln!("faults: broker {id} had exited; starting it again");
            brokers.spawn(id, None);
        }
    }
    for id in 1..=brokers.size() {
        brokers.wait_serving(id);
    }
}

const BALLAST: &str = "ballast";

/// Fills broker `id`'s data file system to the last byte.
fn fill(brokers: &Brokers, id: u8) {
    let path = brokers.data_dir(id).join(BALLAST);
    let of = format!("of={}", path.display());
    // dd stops with an error when the file system is full: that is the point.
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", &of, "bs=1M"])
        .output();
}
