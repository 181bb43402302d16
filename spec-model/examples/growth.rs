//! Unique states by depth bound for one configuration: the tool for tuning `Bounds` (a space that
//! keeps multiplying per level is one to cut). `cargo run --release --example growth -- lifecycle`
use spec_model::checker::{Bounds, DelayModel};
use stateright::{Checker, Model};

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "lifecycle".into());
    let Some(bounds) = Bounds::by_name(&name) else {
        eprintln!("unknown configuration `{name}`");
        std::process::exit(2);
    };
    let mut last = 0;
    for depth in 3..64 {
        let t = std::time::Instant::now();
        let c = DelayModel::new(bounds.clone()).checker().target_max_depth(depth).spawn_bfs().join();
        let unique = c.unique_state_count();
        println!(
            "depth {depth}: {unique} unique, {} generated, {:.1} s",
            c.state_count(),
            t.elapsed().as_secs_f64()
        );
        if unique == last || t.elapsed().as_secs() > 60 {
            break;
        }
        last = unique;
    }
}
