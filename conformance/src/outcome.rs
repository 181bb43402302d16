//! What a check concludes: its verdict, the requirements it speaks for and their level, and which
//! clauses of those requirements it observed. A PASS is only ever built from a complete set of
//! observed clauses ([`CheckInfo::pass`]); a failure counts at the strictest level among the
//! requirements it breaks and the check's own.

use serde::Serialize;
use spec_model::requirements::catalogue_of;
use spec_model::Revision;
use std::collections::BTreeSet;

/// A part of a requirement a check must see before it can say the requirement holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clause {
    /// The answers to the requests the requirement is about (status, errcode, body).
    Answer,
    /// The finalised record of every delayed event the scenario finalised (outcome, reason,
    /// error, event id), through a finalised lookup or `/sync`.
    Record,
    /// The rooms' timelines: what was sent, as scheduled, how many times.
    Room,
    /// After a refusal, the lists show nothing changed.
    Unchanged,
    /// A restart the suite saw (the server down, then serving again) with delayed events
    /// scheduled across it.
    Restart,
    /// Delayed events that fell due while the server was down (at least two, for their order).
    Startup,
    /// An application service's user's finalised events in transactions the service acknowledged.
    Pushed,
    /// A transaction carrying them that the service failed, sent again.
    Redelivered,
}

impl Clause {
    pub fn label(self) -> &'static str {
        match self {
            Clause::Answer => "answer",
            Clause::Record => "finalised record",
            Clause::Room => "room timeline",
            Clause::Unchanged => "nothing changed",
            Clause::Restart => "a restart with events scheduled across it",
            Clause::Startup => "two or more events falling due while the server was down",
            Clause::Pushed => "finalised events in acknowledged application-service transactions",
            Clause::Redelivered => "a failed transaction sent to the application service again",
        }
    }

    /// The clauses a requirement's text has: its outcome has to be seen where it lands.
    pub fn of_requirement(id: &str) -> &'static [Clause] {
        use Clause::*;
        match id {
            // "finalised with outcome ..., reason ..." and the event sent or not.
            "MGT-3" | "MGT-4" | "SRV-1" | "SRV-3" | "SRV-4" | "SRV-6" => &[Answer, Record, Room],
            // The new due time shows in when (and that) the event was sent.
            "MGT-5" => &[Answer, Record],
            // Sent when allowed, cancelled by nothing: the record and the room.
            "SRV-2" | "SRV-5" => &[Record, Room],
            // Retries change nothing; a failed send action keeps the event (nothing sent twice).
            "MGT-8" | "MGT-10" => &[Answer, Room],
            "SRV-7" | "SRV-8" => &[Room],
            // Survival needs a restart with something to survive; exactly once, the rooms after it.
            "PER-1" | "PER-4" => &[Restart],
            "PER-2" => &[Restart, Room],
            "PER-3" => &[Startup, Room],
            // Delivered once each, also when the service was down for a while.
            "PSH-4" => &[Pushed, Redelivered],
            _ => &[Answer],
        }
    }
}

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

    /// A catalogue level: `MUST`, ..., or a split one such as `SHOULD (shape MUST)` (a SHOULD
    /// to have, a MUST once had): the strictest it names, since a check judges the part it observes
    /// and the suite only observes a limit that is there.
    fn parse(s: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| s.split(|c: char| !c.is_ascii_alphabetic()).any(|word| word == l.label()))
    }

    /// The strongest level among `ids` in the seed revision's catalogue.
    pub fn of(ids: &[String]) -> Level {
        Level::of_in(Revision::Rev2025_07_09, ids)
    }

    /// The strongest level among `ids` in `revision`'s catalogue (a check fails as seriously as
    /// its strongest requirement; the two catalogues share ids but not always levels).
    pub fn of_in(revision: Revision, ids: &[String]) -> Level {
        let cat = catalogue_of(revision);
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
    /// The clauses the check saw (every required one on a PASS).
    pub observed: Vec<Clause>,
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
    /// What must be observed before the check may PASS.
    pub clauses: BTreeSet<Clause>,
    /// The revision whose catalogue gives the levels.
    pub revision: Revision,
}

impl CheckInfo {
    pub fn new(id: &str, title: &str, requirements: &[&str]) -> Self {
        let requirements: Vec<String> = requirements.iter().map(|s| s.to_string()).collect();
        let clauses = requirements.iter().flat_map(|r| Clause::of_requirement(r).iter().copied()).collect();
        CheckInfo {
            id: id.into(),
            title: title.into(),
            level: Level::of(&requirements),
            requirements,
            also_covers: Vec::new(),
            clauses,
            revision: Revision::Rev2025_07_09,
        }
    }

    /// The same check judged against `revision`'s catalogue.
    pub fn in_revision(mut self, revision: Revision) -> Self {
        self.revision = revision;
        self.level = Level::of_in(revision, &self.requirements);
        self
    }

    /// Replace the required clauses (hand-written checks that know theirs).
    pub fn needs(mut self, clauses: &[Clause]) -> Self {
        self.clauses = clauses.iter().copied().collect();
        self
    }

    /// The verdict of a check that ran to its end having observed `seen`: PASS when every
    /// required clause was observed, otherwise NOT-APPLICABLE naming what was not (a check that
    /// knows a missing clause is the server's fault fails before it gets here).
    pub fn pass(&self, seen: &BTreeSet<Clause>, note: impl Into<String>, millis: u64) -> CheckResult {
        let missing: Vec<&str> = self.clauses.difference(seen).map(|c| c.label()).collect();
        let mut r = if missing.is_empty() {
            self.result(Verdict::Pass, note, millis)
        } else {
            let why = format!("not observed: {} (nothing to judge them on)", missing.join(", "));
            self.result(Verdict::NotApplicable, why, millis)
        };
        r.observed = seen.iter().copied().collect();
        r
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
    /// check's, and the failure counts at the strictest level among them and the check's own.
    /// Only [`CheckInfo::pass`] makes a PASS that reports observed clauses.
    pub fn result(&self, verdict: Verdict, detail: impl Into<String>, millis: u64) -> CheckResult {
        let detail = detail.into();
        let mut requirements = self.requirements.clone();
        let mut level = self.level;
        let mut named = Vec::new();
        if verdict == Verdict::Fail {
            let known = catalogue_of(self.revision);
            let head = detail.split_once(": ").map_or("", |(h, _)| h);
            let broken: Vec<String> =
                head.split('/').filter(|id| known.iter().any(|r| r.id == *id)).map(str::to_string).collect();
            if !broken.is_empty() {
                level = level.min(Level::of_in(self.revision, &broken));
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
            observed: Vec::new(),
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
    fn a_failure_counts_at_the_strictest_level_it_breaks() {
        let info = CheckInfo::new("x", "x", &["MGT-10"]);
        let r = info.result(Verdict::Fail, "SRV-1/SRV-9: late", 0);
        assert_eq!(r.requirements, ["MGT-10", "SRV-1", "SRV-9"]);
        assert_eq!(r.level, Level::Must);
        // A race about SRV-8 whose failure names only MGT-8 still counts at MUST: a failure
        // never lowers its check's own level (it used to, to CLARIFIED).
        let race = CheckInfo::new("r", "r", &["SRV-8"]).result(Verdict::Fail, "MGT-8: 404 at once", 0);
        assert_eq!(
            (race.requirements.len(), race.level, race.broken.clone()),
            (2, Level::Must, vec!["MGT-8".to_string()])
        );
        let r = info.result(Verdict::Fail, "answered 500: boom", 0);
        assert_eq!((r.requirements.len(), r.level), (1, Level::Clarified));
    }

    #[test]
    fn a_pass_needs_every_clause_observed() {
        let info = CheckInfo::new("m", "m", &["SRV-3"]);
        assert_eq!(info.clauses, BTreeSet::from([Clause::Answer, Clause::Record, Clause::Room]));
        let partial = info.pass(&BTreeSet::from([Clause::Answer, Clause::Room]), "", 0);
        assert_eq!(partial.verdict, Verdict::NotApplicable);
        assert!(partial.detail.contains("finalised record"), "{}", partial.detail);
        let full = info.pass(&BTreeSet::from([Clause::Answer, Clause::Record, Clause::Room]), "", 0);
        assert_eq!((full.verdict, full.observed.len()), (Verdict::Pass, 3));
    }
}
