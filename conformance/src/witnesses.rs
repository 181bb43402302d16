//! The model's witness traces, as `spec-model witnesses --json` printed them. They are committed
//! (`witnesses.json`) because finding the shortest ones takes the model checker ~30 s; a test
//! regenerates them and fails when the committed file is stale.

use serde::Deserialize;
use spec_model::config::Config;
use spec_model::op::Op;
use std::collections::BTreeMap;

pub const COMMITTED: &str = include_str!("../witnesses.json");
/// The merged revision's (`spec-model witnesses --json --revision 2026-07-10`).
pub const COMMITTED_2026_07_10: &str = include_str!("../witnesses-2026-07-10.json");

#[derive(Clone, Debug, Deserialize)]
pub struct Document {
    pub profile: String,
    pub configurations: BTreeMap<String, Config>,
    pub witnesses: Vec<Witness>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Witness {
    pub property: String,
    /// The property's name with only the judged revision's requirement ids.
    #[serde(default)]
    pub title: Option<String>,
    pub requirements: Vec<String>,
    pub configuration: Option<String>,
    pub steps: Option<Vec<Step>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Step {
    pub op: Op,
}

impl Witness {
    pub fn ops(&self) -> Vec<Op> {
        self.steps.iter().flatten().map(|s| s.op).collect()
    }
}

pub fn load() -> Result<Document, String> {
    serde_json::from_str(COMMITTED).map_err(|e| format!("witnesses.json: {e}"))
}

/// The witnesses of `revision`'s model.
pub fn load_for(revision: spec_model::Revision) -> Result<Document, String> {
    match revision {
        spec_model::Revision::Rev2025_07_09 => load(),
        spec_model::Revision::Rev2026_07_10 => {
            serde_json::from_str(COMMITTED_2026_07_10).map_err(|e| format!("witnesses-2026-07-10.json: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec_model::checker::{witness, Bounds};

    #[test]
    fn committed_witnesses_parse_and_every_property_has_one() {
        let doc = load().expect("parses");
        assert!(!doc.witnesses.is_empty());
        for w in &doc.witnesses {
            assert!(w.steps.as_ref().is_some_and(|s| !s.is_empty()), "{} has no witness", w.property);
            let cfg = w.configuration.as_ref().and_then(|c| doc.configurations.get(c));
            assert!(cfg.is_some(), "{}: configuration missing", w.property);
        }
    }

    /// The committed file is what the model prints today (regenerate with
    /// `cargo run --release -p spec-model -- witnesses --json > conformance/witnesses.json`).
    #[test]
    fn committed_witnesses_are_current() {
        let found = witness::shortest_witnesses(&Bounds::suite(spec_model::Revision::Rev2025_07_09));
        let fresh = witness::to_json(spec_model::Revision::Rev2025_07_09, &found);
        let committed: serde_json::Value = serde_json::from_str(COMMITTED).expect("parses");
        assert!(fresh == committed, "conformance/witnesses.json is stale: regenerate it (see doc comment)");
    }

    /// The same for the merged revision (`cargo run --release -p spec-model -- witnesses --json
    /// --revision 2026-07-10 > conformance/witnesses-2026-07-10.json`).
    #[test]
    fn committed_merged_witnesses_are_current() {
        let revision = spec_model::Revision::Rev2026_07_10;
        let fresh = witness::to_json(revision, &witness::shortest_witnesses(&Bounds::suite(revision)));
        let committed: serde_json::Value = serde_json::from_str(COMMITTED_2026_07_10).expect("parses");
        assert!(fresh == committed, "conformance/witnesses-2026-07-10.json is stale: regenerate it");
        assert_eq!(committed["profile"], "rev-2026-07-10");
    }
}
