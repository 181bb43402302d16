//! The requirement catalogue (`spec/REQUIREMENTS.md`, a copy of the project's shared one), parsed,
//! and which of its ids concern semantics (hence must be named by a property or a model test)
//! and which concern only the HTTP surface (checked by the server and conformance suites).

/// The catalogue text this crate was built against.
pub const CATALOGUE: &str = include_str!("../../spec/REQUIREMENTS.md");

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub id: String,
    pub level: String,
    pub text: String,
}

/// Ids outside the model, with the reason.
pub const SURFACE_ONLY: &[(&str, &str)] = &[
    ("DSC-1", "feature discovery on /versions is HTTP surface"),
    ("MGT-1", "endpoint paths and authentication are HTTP surface"),
    ("SEC-1", "access tokens are HTTP surface"),
    ("PSH-4", "application-service transactions are out of scope (catalogue: until a server issue names it)"),
];

/// Every requirement of the catalogue, in order.
pub fn catalogue() -> Vec<Requirement> {
    parse(CATALOGUE)
}

/// Rows of the form `| ID-N | LEVEL | text |`.
pub fn parse(text: &str) -> Vec<Requirement> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim().strip_prefix('|')?.strip_suffix('|')?;
            // The text may itself hold `|` (`send|cancel`): split off two cells only.
            let mut cells = line.splitn(3, '|').map(str::trim);
            let (id, level, text) = (cells.next()?, cells.next()?, cells.next()?);
            let (prefix, num) = id.split_once('-')?;
            let well_formed = prefix.len() == 3
                && prefix.chars().all(|c| c.is_ascii_uppercase())
                && num.parse::<u32>().is_ok();
            well_formed.then(|| Requirement {
                id: id.to_string(),
                level: level.to_string(),
                text: text.to_string(),
            })
        })
        .collect()
}

/// The ids that concern semantics: everything but `SURFACE_ONLY`.
pub fn semantic_ids() -> Vec<String> {
    catalogue().into_iter().map(|r| r.id).filter(|id| !SURFACE_ONLY.iter().any(|(s, _)| s == id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_parses_every_section() {
        let reqs = catalogue();
        assert!(reqs.len() >= 50, "only {} requirements parsed", reqs.len());
        for prefix in ["DSC", "SCH", "MGT", "LST", "PSH", "SRV", "UNS", "SEC"] {
            assert!(reqs.iter().any(|r| r.id.starts_with(prefix)), "no {prefix} requirement");
        }
        let levels = ["MUST", "SHOULD", "MAY", "CLARIFIED", "DECIDED"];
        assert!(reqs.iter().all(|r| levels.contains(&r.level.as_str())));
        for (id, _) in SURFACE_ONLY {
            assert!(reqs.iter().any(|r| r.id == *id), "{id} is not in the catalogue");
        }
    }
}
