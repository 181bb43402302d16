use spec_model::checker::{Bounds, DelayModel};
use stateright::{Checker, Model};
fn main() {
    let name = std::env::args().nth(1).unwrap_or("lifecycle".into());
    for d in 3..40 {
        let t = std::time::Instant::now();
        let c = DelayModel::new(Bounds::by_name(&name).unwrap()).checker().target_max_depth(d).spawn_bfs().join();
        println!("depth {d}: unique {} generated {} in {:.1}s", c.unique_state_count(), c.state_count(), t.elapsed().as_secs_f64());
        if t.elapsed().as_secs() > 30 { break; }
    }
}
