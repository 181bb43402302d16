//! Writes a small deterministic seed corpus for each fuzz target (run on demand:
//! `cargo test -p msc4140-testkit --test seed_corpus -- --ignored`). Seeds are pseudo-random
//! byte strings of several lengths; libFuzzer grows the corpus from them.

use std::path::Path;

#[test]
#[ignore]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for target in ["http_request", "differential", "model", "parsers"] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for i in 0..24usize {
            let len = [8, 16, 32, 64, 128, 256][i % 6] + i;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            std::fs::write(dir.join(format!("seed-{i:02}")), bytes).expect("write seed");
        }
    }
}
