//! The results of a run: the terminal summary, and the JUnit, JSON and Markdown files (the last
//! with the requirement coverage matrix).

use crate::outcome::{CheckResult, Level, Verdict};
use serde::Serialize;
use spec_model::requirements::catalogue_of;
use spec_model::Revision;
use std::fmt::Write as _;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub homeserver: String,
    pub spec_versions: Vec<String>,
    pub profile: &'static str,
    /// The revision judged, and why (`--revision` or what the probes showed).
    pub revision: Revision,
    pub revision_reasons: Vec<String>,
    /// SCH-20: what the server does with the earlier revisions' `delay` query parameter (merged
    /// revision only; information, not a verdict).
    pub legacy_parameter: Option<String>,
    pub prefix: String,
    pub max_delay_ms: Option<u64>,
    pub lookups: crate::checks::control::Lookups,
    pub elapsed_ms: u64,
    pub results: Vec<CheckResult>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub not_applicable: usize,
    pub error: usize,
}

impl Report {
    pub fn new(homeserver: &str, spec_versions: Vec<String>) -> Self {
        Report {
            homeserver: homeserver.to_string(),
            spec_versions,
            profile: "rev-2025-07-09",
            revision: Revision::Rev2025_07_09,
            revision_reasons: Vec::new(),
            legacy_parameter: None,
            prefix: String::new(),
            max_delay_ms: None,
            lookups: Default::default(),
            elapsed_ms: 0,
            results: Vec::new(),
        }
    }

    pub fn push(&mut self, r: CheckResult) {
        self.results.push(r);
    }

    /// The revision judged (its profile name and catalogue).
    pub fn judged(&mut self, revision: Revision, reasons: Vec<String>) {
        self.revision = revision;
        self.profile = match revision {
            Revision::Rev2025_07_09 => "rev-2025-07-09",
            Revision::Rev2026_07_10 => "rev-2026-07-10",
        };
        self.revision_reasons = reasons;
    }

    pub fn finish(mut self, epoch: Instant, prefix: &str) -> Self {
        self.elapsed_ms = epoch.elapsed().as_millis() as u64;
        self.prefix = prefix.to_string();
        self
    }

    pub fn counts(&self, level: Option<Level>) -> Counts {
        let mut c = Counts::default();
        for r in self.results.iter().filter(|r| level.is_none_or(|l| r.level == l)) {
            match r.verdict {
                Verdict::Pass => c.pass += 1,
                Verdict::Fail => c.fail += 1,
                Verdict::NotApplicable => c.not_applicable += 1,
                Verdict::Error => c.error += 1,
            }
        }
        c
    }

    /// 0: no failure at a `fail_on` level; 1: one; 2: a check could not reach a verdict; 3: no
    /// check reached PASS or FAIL at all (nothing was judged: the feature is not advertised, the
    /// positive control failed), unless `allow_not_applicable`. A CI that forgot to enable the
    /// feature must not go green.
    pub fn exit_code(&self, fail_on: &[Level], allow_not_applicable: bool) -> u8 {
        let c = self.counts(None);
        if self.results.iter().any(|r| r.verdict == Verdict::Fail && fail_on.contains(&r.level)) {
            1
        } else if c.error > 0 {
            2
        } else if c.pass + c.fail == 0 && !allow_not_applicable {
            3
        } else {
            0
        }
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "MSC4140 conformance ({}) of {} on the {} surface, {:.1} s",
            self.profile,
            self.homeserver,
            self.prefix,
            self.elapsed_ms as f64 / 1000.0
        );
        for r in &self.revision_reasons {
            let _ = writeln!(s, "revision: {r}");
        }
        if let Some(l) = &self.legacy_parameter {
            let _ = writeln!(s, "SCH-20, the legacy `delay` parameter (information): {l}");
        }
        for r in self.results.iter().filter(|r| r.verdict != Verdict::Pass) {
            let _ = writeln!(s, "{}", line(r));
        }
        for r in self.results.iter().filter(|r| r.verdict == Verdict::Pass) {
            let _ = writeln!(s, "PASS           {:<9} {} observed: {}", r.level.label(), r.id, observed(r));
        }
        let _ = writeln!(
            s,
            "{:<10} {:>5} {:>5} {:>15} {:>6}",
            "level", "pass", "fail", "not-applicable", "error"
        );
        for level in Level::ALL {
            let c = self.counts(Some(level));
            let _ = writeln!(
                s,
                "{:<10} {:>5} {:>5} {:>15} {:>6}",
                level.label(),
                c.pass,
                c.fail,
                c.not_applicable,
                c.error
            );
        }
        let c = self.counts(None);
        let _ = writeln!(
            s,
            "{:<10} {:>5} {:>5} {:>15} {:>6}",
            "total", c.pass, c.fail, c.not_applicable, c.error
        );
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};
        let mut report = JReport::new("msc4140-conformance");
        let mut suite = TestSuite::new(format!("MSC4140 {} ({})", self.profile, self.prefix));
        for r in &self.results {
            let status = match r.verdict {
                Verdict::Pass => TestCaseStatus::success(),
                Verdict::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!("{} [{}]", r.detail, r.requirements.join(" ")));
                    s
                }
                Verdict::Error => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(r.detail.clone());
                    s
                }
                Verdict::NotApplicable => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(r.detail.clone());
                    s
                }
            };
            let mut case = TestCase::new(format!("{} [{}] {}", r.id, r.level.label(), r.title), status);
            case.set_time(std::time::Duration::from_millis(r.millis));
            if r.verdict == Verdict::Pass {
                case.set_system_out(format!("observed: {}", observed(r)));
            }
            case.set_classname(r.requirements.join(" "));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
        report.to_string().unwrap_or_else(|e| format!("<!-- {e} -->"))
    }

    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# MSC4140 conformance of {}\n", self.homeserver);
        let _ = writeln!(
            s,
            "Profile {}, {} surface, {:.1} s. Spec versions advertised: {}.\n",
            self.profile,
            self.prefix,
            self.elapsed_ms as f64 / 1000.0,
            self.spec_versions.join(", ")
        );
        for r in &self.revision_reasons {
            let _ = writeln!(s, "- revision: {r}");
        }
        if let Some(l) = &self.legacy_parameter {
            let _ = writeln!(s, "- SCH-20, the legacy `delay` parameter: {l}");
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "| level | pass | fail | not applicable | error |\n|---|---|---|---|---|");
        for level in Level::ALL {
            let c = self.counts(Some(level));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                level.label(),
                c.pass,
                c.fail,
                c.not_applicable,
                c.error
            );
        }
        let _ = writeln!(
            s,
            "\n## Checks\n\n| check | level | requirements | verdict | observed | detail |\n|---|---|---|---|---|---|"
        );
        for r in &self.results {
            let _ = writeln!(
                s,
                "| `{}` {} | {} | {} | {} | {} | {} |",
                r.id,
                cell(&r.title),
                r.level.label(),
                r.requirements.join(" "),
                r.verdict.label(),
                observed(r),
                cell(&r.detail)
            );
        }
        let _ = writeln!(
            s,
            "\n## Requirement coverage\n\n| requirement | level | verdict | checks about it | observed |\n|---|---|---|---|---|"
        );
        for req in catalogue_of(self.revision) {
            let (verdict, own, observed) = self.requirement_verdict(&req.id);
            let _ = writeln!(s, "| {} | {} | {verdict} | {own} | {observed} |", req.id, req.level);
        }
        s
    }

    /// One requirement's verdict over the run: FAIL when a failure breaks it; PASS when a check
    /// about it passed (every clause observed) and none failed; NOT SHOWN when the checks about it
    /// failed on another requirement (an observable the server does not offer: the failure names
    /// it); EXERCISED when only checks about something else met it; then NOT-APPLICABLE, ERROR,
    /// not covered. With the number of checks about it and the clauses their passes observed.
    pub fn requirement_verdict(&self, id: &str) -> (&'static str, usize, String) {
        let about: Vec<&CheckResult> =
            self.results.iter().filter(|r| r.requirements.iter().any(|x| x == id)).collect();
        let broken = |r: &&CheckResult| {
            r.verdict == Verdict::Fail
                && (r.broken.iter().any(|x| x == id)
                    || r.broken.is_empty() && r.requirements.iter().any(|x| x == id))
        };
        let mut observed: Vec<&str> = about
            .iter()
            .filter(|r| r.verdict == Verdict::Pass)
            .flat_map(|r| r.observed.iter().map(|c| c.label()))
            .collect();
        observed.sort_unstable();
        observed.dedup();
        let verdict = if self.results.iter().any(|r| broken(&r)) {
            "FAIL"
        } else if about.iter().any(|r| r.verdict == Verdict::Pass) {
            "PASS"
        } else if about.iter().any(|r| r.verdict == Verdict::Fail) {
            "NOT SHOWN"
        } else if about.iter().any(|r| r.verdict == Verdict::Error) {
            "ERROR"
        } else if self.results.iter().any(|r| r.also_covers.iter().any(|x| x == id)) {
            "EXERCISED"
        } else if !about.is_empty() {
            "NOT-APPLICABLE"
        } else {
            "not covered"
        };
        (verdict, about.len(), observed.join(", "))
    }
}

/// The clauses a result observed, for reports.
fn observed(r: &CheckResult) -> String {
    r.observed.iter().map(|c| c.label()).collect::<Vec<_>>().join(", ")
}

/// One result as a terminal line.
pub fn line(r: &CheckResult) -> String {
    let detail = if r.detail.is_empty() { String::new() } else { format!("\n      {}", r.detail) };
    format!(
        "{:<14} {:<9} {} ({}){detail}",
        r.verdict.label(),
        r.level.label(),
        r.id,
        r.requirements.join(" ")
    )
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{CheckInfo, Clause};
    use std::collections::BTreeSet;

    // A requirement whose clause could not be observed is never a PASS in the matrix.
    #[test]
    fn a_requirement_unobservable_on_the_server_is_not_shown_and_the_missing_endpoint_fails() {
        let mut r = Report::new("http://x", vec![]);
        let srv3 = CheckInfo::new("model/srv-3", "t", &["SRV-3"]);
        r.push(srv3.result(Verdict::Fail, "LST-2/PSH-1: the finalised record cannot be observed", 0));
        let sch3 = CheckInfo::new("model/sch-3", "t", &["SCH-3"]).also(&["SRV-1"]);
        r.push(sch3.pass(&BTreeSet::from([Clause::Answer]), "", 0));
        assert_eq!(r.requirement_verdict("SRV-3").0, "NOT SHOWN");
        assert_eq!(r.requirement_verdict("LST-2").0, "FAIL");
        assert_eq!(r.requirement_verdict("PSH-1").0, "FAIL");
        assert_eq!(r.requirement_verdict("SRV-1").0, "EXERCISED", "met on the way is not a PASS");
        assert_eq!(r.requirement_verdict("SCH-3"), ("PASS", 1, "answer".to_string()));
        assert_eq!(r.requirement_verdict("SCH-4").0, "not covered");
    }
}
