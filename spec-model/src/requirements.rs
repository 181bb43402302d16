//! The requirement catalogues (`spec/REQUIREMENTS.md` for the seed text,
//! `spec/REQUIREMENTS-rev-2026-07-10.md` for the merged one: copies of the project's shared ones),
//! parsed, and which of their ids concern semantics (hence must be named by a property or a model
//! test) and which concern only the HTTP surface (checked by the server and conformance suites).

use crate::revision::Revision;

/// The seed revision's catalogue text this crate was built against.
pub const CATALOGUE: &str = include_str!("../../spec/REQUIREMENTS.md");
/// The merged revision's catalogue text.
pub const CATALOGUE_2026: &str = include_str!("../../spec/REQUIREMENTS-rev-2026-07-10.md");

/// The catalogue text of `revision`.
pub fn catalogue_text(revision: Revision) -> &'static str {
    match revision {
        Revision::Rev2025_07_09 => CATALOGUE,
        Revision::Rev2026_07_10 => CATALOGUE_2026,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub id: String,
    pub level: String,
    pub text: String,
}

/// Ids of the seed catalogue outside the model, with the reason.
pub const SURFACE_ONLY: &[(&str, &str)] = &[
    ("DSC-1", "feature discovery on /versions is HTTP surface"),
    ("MGT-1", "endpoint paths and authentication are HTTP surface"),
    ("SEC-1", "access tokens are HTTP surface"),
];

/// Ids of the merged catalogue outside the model, with the reason.
pub const SURFACE_ONLY_2026: &[(&str, &str)] = &[
    ("DSC-2", "feature discovery on /versions is HTTP surface"),
    ("DSC-3", "feature discovery on /versions is HTTP surface"),
    ("SCH-12", "endpoint paths and authentication are HTTP surface"),
    ("SEC-1", "access tokens are HTTP surface"),
    ("SCH-20", "a deprecated query parameter the server accepts is HTTP surface (reference server and conformance suite)"),
    ("SRV-15", "application-service timestamp massaging is outside the model (no application services)"),
];

/// The ids of `revision`'s catalogue outside the model.
pub fn surface_only(revision: Revision) -> &'static [(&'static str, &'static str)] {
    match revision {
        Revision::Rev2025_07_09 => SURFACE_ONLY,
        Revision::Rev2026_07_10 => SURFACE_ONLY_2026,
    }
}

/// Every requirement of the seed catalogue, in order.
pub fn catalogue() -> Vec<Requirement> {
    parse(CATALOGUE)
}

/// Every requirement of `revision`'s catalogue, in order.
pub fn catalogue_of(revision: Revision) -> Vec<Requirement> {
    parse(catalogue_text(revision))
}

/// Whether `id` is a requirement of `revision`.
pub fn in_catalogue(revision: Revision, id: &str) -> bool {
    catalogue_of(revision).iter().any(|r| r.id == id)
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

/// The ids of the seed catalogue that concern semantics: everything but `SURFACE_ONLY`.
pub fn semantic_ids() -> Vec<String> {
    semantic_ids_of(Revision::Rev2025_07_09)
}

/// The ids of `revision`'s catalogue that concern semantics.
pub fn semantic_ids_of(revision: Revision) -> Vec<String> {
    let outside = surface_only(revision);
    catalogue_of(revision)
        .into_iter()
        .map(|r| r.id)
        .filter(|id| !outside.iter().any(|(s, _)| s == id))
        .collect()
}

/// A test function that names requirements: `// covers: ID ...` (ids of the seed catalogue, the
/// test exercising the seed revision), `// covers 2026-07-10: ID ...` (the merged one) or
/// `// covers both: ID ...` (a test that runs both revisions), then `// Would catch: ...` (the
/// fault it would catch), then the test's attributes and its `fn`. A test may carry several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Citation {
    pub ids: Vec<String>,
    /// The revisions whose catalogue the ids belong to and whose behaviour the test exercises.
    pub revisions: Vec<Revision>,
    pub test: String,
    pub catches: String,
}

/// The revisions a `// covers...:` line names, and the ids after its colon.
fn covers_line(line: &str) -> Option<Result<(Vec<Revision>, &str), String>> {
    let rest = line.strip_prefix("// covers")?;
    let (scope, ids) = rest.split_once(':')?;
    let revisions = match scope.trim() {
        "" => vec![Revision::Rev2025_07_09],
        "both" => Revision::ALL.to_vec(),
        other => match Revision::parse(other) {
            Some(r) => vec![r],
            None => return Some(Err(format!("unknown revision `{other}` in `{line}`"))),
        },
    };
    Some(Ok((revisions, ids)))
}

/// Every citation of `source`. A `covers:` line that is not attached to a test function (a
/// `#[test]`-like attribute, then `fn`), or that lacks its `Would catch:` note, is an error: a
/// comment on its own asserts nothing.
pub fn citations(source: &str) -> Result<Vec<Citation>, String> {
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    let mut out = Vec::new();
    let mut pending: Vec<(usize, Vec<Revision>, &str)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(parsed) = covers_line(line) else { continue };
        let (revisions, ids) = parsed.map_err(|e| format!("line {}: {e}", i + 1))?;
        // Several `covers` lines in a row belong to the same test.
        if lines.get(i + 1).is_some_and(|l| covers_line(l).is_some()) {
            pending.push((i, revisions, ids));
            continue;
        }
        let mut group = std::mem::take(&mut pending);
        group.push((i, revisions, ids));
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
        for (_, revisions, ids) in group {
            let ids = ids.split_whitespace().map(str::to_string).collect();
            out.push(Citation { ids, revisions, test: test.clone(), catches: catches.clone() });
        }
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
        for revision in Revision::ALL {
            let reqs = catalogue_of(revision);
            for (id, _) in surface_only(revision) {
                assert!(reqs.iter().any(|r| r.id == *id), "{id} is not in the {revision} catalogue");
            }
        }
        let merged = catalogue_of(Revision::Rev2026_07_10);
        assert!(merged.len() >= 50, "only {} requirements of the merged text parsed", merged.len());
        assert!(merged.iter().all(|r| r.level.starts_with("MUST")
            || r.level.starts_with("SHOULD")
            || ["MAY", "CLARIFIED", "DECIDED"].contains(&r.level.as_str())));
        assert!(
            !in_catalogue(Revision::Rev2026_07_10, "SRV-4") && in_catalogue(Revision::Rev2026_07_10, "SRV-1")
        );
    }

    #[test]
    fn a_citation_must_be_attached_to_a_test_and_say_what_it_catches() {
        let good = "// covers: SRV-1 SRV-8\n// Would catch: early\n// firing.\n#[test]\nfn t() {}\n";
        let c = citations(good).expect("valid");
        assert_eq!((c[0].ids.len(), c[0].test.as_str(), c[0].catches.as_str()), (2, "t", "early firing."));
        let tokio = "// covers: X-1\n// Would catch: y\n#[tokio::test(start_paused = true)]\nasync fn u() {}";
        assert_eq!(citations(tokio).expect("valid")[0].test, "u");
        let two = "// covers: A-1\n// covers 2026-07-10: B-2\n// covers both: C-3\n// Would catch: z\n#[test]\nfn v() {}";
        let c = citations(two).expect("valid");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].revisions, vec![Revision::Rev2025_07_09]);
        assert_eq!(c[1].revisions, vec![Revision::Rev2026_07_10]);
        assert_eq!(c[2].revisions, Revision::ALL.to_vec());
        assert!(c.iter().all(|c| c.test == "v" && c.catches == "z"));
        for bad in [
            "// covers: SRV-1\n// Would catch: x\nconst A: u8 = 1;\n",
            "// covers: SRV-1\n// Would catch: x\nfn helper() {}\n",
            "// covers: SRV-1\n#[test]\nfn t() {}\n",
            "// covers: SRV-1\n",
            "// covers 2027-01-01: SRV-1\n// Would catch: x\n#[test]\nfn t() {}\n",
        ] {
            assert!(citations(bad).is_err(), "accepted: {bad}");
        }
    }
}
