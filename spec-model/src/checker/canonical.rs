//! Canonical form of a specification state for the checker. Event ids are compared only for
//! identity, and finalisation sequence numbers only against `/sync` tokens, yet their counters grow
//! with every send, which would make the state space infinite. Relabelling them (event ids by
//! first position in the state, sequence numbers by their rank among the sync tokens) and forgetting
//! the fields of discarded records (only their owner is ever read) keeps every behaviour and makes
//! the bounded space finite. Witness traces are replayed on the raw specification, so their ids are
//! those a server would have issued.

use crate::state::{Delayed, State, Status, TxnResult};
use crate::types::{ContentId, EventId, EventKind, RoomId};
use std::collections::BTreeMap;

/// `observes_history`: whether the configuration can observe a finalised record's timing
/// (lookups, `/sync`, retention by age or count). When it cannot, those fields are forgotten too.
pub fn canonical(mut s: State, observes_history: bool) -> State {
    relabel_events(&mut s);
    relabel_sequence(&mut s);
    for d in &mut s.delayed {
        if let (Status::Finalised(f), false) = (&mut d.status, observes_history) {
            f.ts = 0;
            f.seq = 0;
            d.delay_ms = 0;
            d.running_since = 0;
            d.restarted = false;
        }
        if d.status == Status::Discarded {
            *d = Delayed {
                owner: d.owner,
                room: RoomId(0),
                kind: EventKind::message(),
                content: ContentId(0),
                delay_ms: 0,
                restarted: false,
                running_since: 0,
                status: Status::Discarded,
            };
        }
    }
    s
}

/// Event ids numbered in the order they first appear: room state, records, transactions.
fn relabel_events(s: &mut State) {
    let mut labels: BTreeMap<EventId, EventId> = BTreeMap::new();
    let mut label = |id: &mut EventId| {
        let next = EventId(labels.len() as u16);
        *id = *labels.entry(*id).or_insert(next);
    };
    for room in &mut s.rooms {
        for e in room.state.values_mut() {
            label(&mut e.event_id);
        }
    }
    for d in &mut s.delayed {
        if let Status::Finalised(f) = &mut d.status {
            if let Some(id) = &mut f.event_id {
                label(id);
            }
        }
    }
    for t in s.txns.values_mut() {
        if let TxnResult::Sent(id) = t {
            label(id);
        }
    }
    s.next_event = labels.len() as u16;
}

/// With sync tokens t1 < ... < tk (non-zero), token ti becomes 2i and a sequence number q becomes
/// 2 * #{ti < q} + 1: every comparison `q > t` keeps its answer, and the counter becomes 2k + 1,
/// above every existing number and token.
fn relabel_sequence(s: &mut State) {
    let mut tokens: Vec<u16> = s.users.iter().filter_map(|u| u.sync_since).filter(|&t| t > 0).collect();
    tokens.sort_unstable();
    tokens.dedup();
    let below = |q: u16| tokens.iter().filter(|&&t| t < q).count() as u16;
    for u in &mut s.users {
        if let Some(t) = &mut u.sync_since {
            if *t > 0 {
                *t = 2 * (below(*t) + 1);
            }
        }
    }
    for d in &mut s.delayed {
        if let Status::Finalised(f) = &mut d.status {
            f.seq = 2 * below(f.seq) + 1;
        }
    }
    s.finalise_seq = 2 * tokens.len() as u16 + 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::op::Op;
    use crate::spec::step;
    use crate::types::{EventType, StateKey, UserId};

    #[test]
    fn repeated_sends_reach_the_same_canonical_state() {
        let cfg = Config::reference();
        let send = Op::SendState {
            user: UserId(0),
            room: RoomId(0),
            kind: EventKind::state(EventType::RtcMember, StateKey::Key(0)),
            content: ContentId(1),
        };
        let s0 = State::new(2, 1);
        let (s1, _) = step(&cfg, &s0, &send).expect("send");
        let (s2, _) = step(&cfg, &s1, &send).expect("send again");
        assert_ne!(s1, s2, "raw states differ by event id");
        assert_eq!(canonical(s1, true), canonical(s2, true));
    }

    #[test]
    fn sequence_relabelling_keeps_every_comparison_with_tokens() {
        let mut s = State::new(2, 1);
        s.users[0].sync_since = Some(5);
        s.users[1].sync_since = Some(9);
        let seqs = [3u16, 5, 7, 9, 12];
        let c = {
            let mut t = s.clone();
            t.finalise_seq = 12;
            for &q in &seqs {
                let f = crate::state::Finalisation {
                    outcome: crate::types::Outcome::Cancel,
                    reason: crate::types::Reason::Action,
                    error: None,
                    event_id: None,
                    ts: 0,
                    seq: q,
                    returned: false,
                };
                t.delayed.push(Delayed {
                    owner: UserId(0),
                    room: RoomId(0),
                    kind: EventKind::message(),
                    content: ContentId(0),
                    delay_ms: 1,
                    restarted: false,
                    running_since: 0,
                    status: Status::Finalised(f),
                });
            }
            canonical(t, true)
        };
        for (i, &q) in seqs.iter().enumerate() {
            let cq = c.delayed[i].finalisation().expect("finalised").seq;
            for (u, &t) in [5u16, 9].iter().enumerate() {
                let ct = c.users[u].sync_since.expect("token");
                assert_eq!(q > t, cq > ct, "seq {q} vs token {t}");
                assert!(c.finalise_seq >= cq && c.finalise_seq >= ct);
            }
        }
    }
}
