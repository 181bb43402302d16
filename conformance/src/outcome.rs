//! What a check concludes: its verdict, the requirements it speaks for and their level.

use serde::Serialize;
use spec_model::requirements::catalogue;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The server does not offer what the check needs (feature off, a MAY it did not take, or
    /// the positive control failed): never counted as a pass.
    NotApplicable,
    /// The suite could not reach a verdict (transport failure, unusable setup).
    Error,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotApplicable => "NOT-APPLICABLE",
            Verdict::Error => "ERROR",
        }
    }
}

/// Requirement levels, strongest first (REQUIREMENTS.md: a server conforms when no MUST fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Must,
    Should,
    Clarified,
    May,
    Decided,
}

impl Level {
    pub const ALL: [Level; 5] = [Level::Must, Level::Should, Level::Clarified, Level::May, Level::Decided];

    pub fn label(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Clarified => "CLARIFIED",
            Level::May => "MAY",
            Level::Decided => "DECIDED",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.label() == s)
    }

    /// The strongest level among `ids` (a check fails as seriously as its strongest requirement).
    pub fn of(ids: &[String]) -> Level {
        let cat = catalogue();
        ids.iter()
            .filter_map(|id| cat.iter().find(|r| &r.id == id).and_then(|r| Level::parse(&r.level)))
            .min()
            .unwrap_or(Level::Decided)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub id: String,
    pub title: String,
    pub requirements: Vec<String>,
    /// Requirements the check exercises on the way without being about them (coverage only).
    pub also_covers: Vec<String>,
    /// On a failure that names what it breaks, those ids (else empty: all of `requirements`).
    pub broken: Vec<String>,
    pub level: Level,
    pub verdict: Verdict,
    pub detail: String,
    pub millis: u64,
}

/// A check's identity before it runs.
#[derive(Clone, Debug)]
pub struct CheckInfo {
    pub id: String,
    pub title: String,
    pub requirements: Vec<String>,
    pub also_covers: Vec<String>,
    pub level: Level,
}

impl CheckInfo {
    pub fn new(id: &str, title: &str, requirements: &[&str]) -> Self {
        let requirements: Vec<String> = requirements.iter().map(|s| s.to_string()).collect();
        CheckInfo {
            id: id.into(),
            title: title.into(),
            level: Level::of(&requirements),
            requirements,
            also_covers: Vec::new(),
        }
    }

    pub fn also(mut self, ids: &[&str]) -> Self {
        for id in ids {
            if !self.requirements.iter().chain(&self.also_covers).any(|r| r == id) {
                self.also_covers.push(id.to_string());
            }
        }
        self
    }

    /// A failure message may start with the ids it breaks (`SRV-1/SRV-9: ...`) when they are not
    /// the check's own (a scenario about SCH-3 that meets a double send): they are added to the
    /// check's, and the failure's level is theirs.
    pub fn result(&self, verdict: Verdict, detail: impl Into<String>, millis: u64) -> CheckResult {
        let detail = detail.into();
        let mut requirements = self.requirements.clone();
        let mut level = self.level;
        let mut named = Vec::new();
        if verdict == Verdict::Fail {
            let known = catalogue();
            let head = detail.split_once(": ").map_or("", |(h, _)| h);
            let broken: Vec<String> =
                head.split('/').filter(|id| known.iter().any(|r| r.id == *id)).map(str::to_string).collect();
            if !broken.is_empty() {
                level = Level::of(&broken);
                named.clone_from(&broken);
                for id in broken {
                    if !requirements.contains(&id) {
                        requirements.push(id);
                    }
                }
            }
        }
        CheckResult {
            id: self.id.clone(),
            title: self.title.clone(),
            level,
            requirements,
            also_covers: self.also_covers.clone(),
            broken: named,
            verdict,
            detail,
            millis,
        }
    }

    /// `--only`/`--skip` match a check id, a requirement id or a prefix of either (`SRV-`).
    pub fn selected_by(&self, pattern: &str) -> bool {
        let p = pattern.to_ascii_lowercase();
        self.id.to_ascii_lowercase().starts_with(&p)
            || self.requirements.iter().any(|r| r.to_ascii_lowercase().starts_with(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongest_level_wins() {
        assert_eq!(Level::of(&["MGT-8".into(), "SRV-1".into()]), Level::Must);
        assert_eq!(Level::of(&["SCH-5".into()]), Level::May);
        assert_eq!(Level::of(&["LST-7".into()]), Level::Decided);
        assert_eq!(Level::of(&["MGT-7".into()]), Level::Clarified);
    }

    #[test]
    fn a_failure_names_the_requirements_it_breaks() {
        let info = CheckInfo::new("x", "x", &["MGT-10"]);
        let r = info.result(Verdict::Fail, "SRV-1/SRV-9: late", 0);
        assert_eq!(r.requirements, ["MGT-10", "SRV-1", "SRV-9"]);
        assert_eq!(r.level, Level::Must);
        let race = CheckInfo::new("r", "r", &["SRV-8"]).result(Verdict::Fail, "MGT-8: 404 at once", 0);
        assert_eq!((race.requirements.len(), race.level), (2, Level::Clarified));
        let r = info.result(Verdict::Fail, "answered 500: boom", 0);
        assert_eq!((r.requirements.len(), r.level), (1, Level::Clarified));
    }
}
