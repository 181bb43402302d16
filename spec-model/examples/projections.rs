use spec_model::checker::{Bounds, CheckState, DelayModel};
use stateright::Model;
use std::collections::{HashSet, VecDeque};
fn main() {
    let name = std::env::args().nth(1).unwrap_or("lifecycle".into());
    let max: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(8);
    let m = DelayModel::new(Bounds::by_name(&name).unwrap());
    let mut seen: HashSet<CheckState> = HashSet::new();
    let mut q = VecDeque::new();
    for s in m.init_states() { seen.insert(s.clone()); q.push_back((s, 0usize)); }
    let mut acts = Vec::new();
    while let Some((s, d)) = q.pop_front() {
        if d >= max { continue; }
        acts.clear(); m.actions(&s, &mut acts);
        for a in acts.drain(..) { if let Some(n) = m.next_state(&s, a) { if seen.insert(n.clone()) { q.push_back((n, d+1)); } } }
    }
    let p = |f: &dyn Fn(&CheckState) -> String| seen.iter().map(|s| f(s)).collect::<HashSet<_>>().len();
    println!("all {}", seen.len());
    println!("spec only {}", p(&|s| format!("{:?}", s.spec)));
    println!("spec minus users/txns {}", p(&|s| format!("{:?}{:?}{:?}{}", s.spec.delayed, s.spec.rooms, s.spec.phase, s.spec.now)));
    println!("delayed only {}", p(&|s| format!("{:?}", s.spec.delayed)));
    println!("rooms only {}", p(&|s| format!("{:?}", s.spec.rooms)));
    println!("ghost only {}", p(&|s| format!("{:?}", s.ghost)));
    println!("ghost.last {}", p(&|s| format!("{:?}", s.ghost.last)));
    println!("users {}", p(&|s| format!("{:?}", s.spec.users)));
    println!("cursors {}", p(&|s| format!("{:?}", s.spec.users.iter().map(|u| (u.scheduled_cursor, u.finalised_cursor)).collect::<Vec<_>>())));
    println!("spec minus users {}", p(&|s| format!("{:?}{:?}{}{:?}", s.spec.delayed, s.spec.txns, s.spec.now, s.spec.phase)));
    println!("walks {}", p(&|s| format!("{:?}", s.ghost.walks)));
    println!("delayed statuses only {}", p(&|s| format!("{:?}", s.spec.delayed.iter().map(|d| d.status).collect::<Vec<_>>())));
    println!("delayed non-status {}", p(&|s| format!("{:?}", s.spec.delayed.iter().map(|d| (d.owner, d.delay_ms, d.running_since, d.restarted)).collect::<Vec<_>>())));
    println!("spec+unpermitted {}", p(&|s| format!("{:?}{}", s.spec, s.ghost.unpermitted_at_schedule)));
}
