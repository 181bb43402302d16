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

/// A test function that names requirements: `// covers: ID ...`, then `// Would catch: ...` (the
/// fault it would catch), then the test's attributes and its `fn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Citation {
    pub ids: Vec<String>,
    pub test: String,
    pub catches: String,
}

/// Every citation of `source`. A `covers:` line that is not attached to a test function (a
/// `#[test]`-like attribute, then `fn`), or that lacks its `Would catch:` note, is an error: a
/// comment on its own asserts nothing.
pub fn citations(source: &str) -> Result<Vec<Citation>, String> {
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(ids) = line.strip_prefix("// covers:") else { continue };
        let mut j = i + 1;
        let mut catches = String::new();
        while let Some(rest) = lines.get(j).and_then(|l| l.strip_prefix("//")) {
            let rest = rest.trim();
            if let Some(note) = rest.strip_prefix("Would catch:") {
                catches = note.trim().to_string();
            } else if !catches.is_empty() {
                catches.push(' ');
                catches.push_str(rest);
            }
            j += 1;
        }
        let mut is_test = false;
        while lines.get(j).is_some_and(|l| l.starts_with("#[")) {
            is_test |= lines[j].starts_with("#[test") || lines[j].contains("::test");
            j += 1;
        }
        let name = lines
            .get(j)
            .and_then(|l| l.strip_prefix("async fn ").or_else(|| l.strip_prefix("fn ")))
            .map(|rest| rest.split(['(', '<']).next().unwrap_or(rest).to_string());
        let (Some(test), true) = (name, is_test) else {
            return Err(format!("line {}: `// covers:{ids}` is not attached to a test function", i + 1));
        };
        if catches.is_empty() {
            return Err(format!(
                "line {}: test `{test}` covers{ids} without a `// Would catch:` note",
                i + 1
            ));
        }
        out.push(Citation { ids: ids.split_whitespace().map(str::to_string).collect(), test, catches });
    }
    Ok(out)
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

    #[test]
    fn a_citation_must_be_attached_to_a_test_and_say_what_it_catches() {
        let good = "// covers: SRV-1 SRV-8\n// Would catch: early\n// firing.\n#[test]\nfn t() {}\n";
        let c = citations(good).expect("valid");
        assert_eq!((c[0].ids.len(), c[0].test.as_str(), c[0].catches.as_str()), (2, "t", "early firing."));
        let tokio = "// covers: X-1\n// Would catch: y\n#[tokio::test(start_paused = true)]\nasync fn u() {}";
        assert_eq!(citations(tokio).expect("valid")[0].test, "u");
        for bad in [
            "// covers: SRV-1\n// Would catch: x\nconst A: u8 = 1;\n",
            "// covers: SRV-1\n// Would catch: x\nfn helper() {}\n",
            "// covers: SRV-1\n#[test]\nfn t() {}\n",
            "// covers: SRV-1\n",
        ] {
            assert!(citations(bad).is_err(), "accepted: {bad}");
        }
    }
}
