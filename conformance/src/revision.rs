//! Which text of MSC4140 the server is judged by: `--revision`, or (auto) the merged revision when
//! its scheduling endpoint is served and the server shows more of its endpoints and discovery
//! signals than of the seed revision's, else the seed revision. The probes have no side effects: they
//! read `/versions` and the capability, and send requests that no server may act on (an unknown
//! delay id, a scheduling body without a delay), telling endpoints that are served (a Matrix
//! error about the request) from those that are not (404/405 `M_UNRECOGNIZED`).

use crate::client::{Client, Request};
use crate::options::RevisionChoice;
use crate::surface::{Surface, Versions};
use serde_json::{json, Value};
use spec_model::Revision;

/// The revision judged, and why.
#[derive(Clone, Debug)]
pub struct Decision {
    pub revision: Revision,
    pub reasons: Vec<String>,
}

/// One signal: what it shows, which revision it belongs to, and whether the server showed it.
struct Signal {
    what: &'static str,
    merged: bool,
    shown: bool,
    /// The merged revision's scheduling endpoint (SCH-12), without which none of its checks runs.
    scheduling: bool,
}

/// An id no server issued (32 hex digits, the reference server's shape, with a marker prefix).
const NEVER_ISSUED: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";

/// Served means answered with something other than "no such endpoint" (404/405
/// `M_UNRECOGNIZED`, or a bare 404/405/501 from a proxy).
fn served(status: u16, errcode: Option<&str>) -> bool {
    !matches!(status, 404 | 405 | 501) || (status == 404 && errcode.is_some_and(|c| c != "M_UNRECOGNIZED"))
}

/// Nothing probed (the feature is not advertised, or no user to probe with): the choice, or the
/// default, and why.
pub fn without_probing(choice: RevisionChoice, why: String) -> Decision {
    let revision = match choice {
        RevisionChoice::Rev2026_07_10 => Revision::Rev2026_07_10,
        _ => Revision::Rev2025_07_09,
    };
    Decision { revision, reasons: vec![format!("nothing probed: {why}")] }
}

pub async fn decide(client: &Client, versions: &Versions, token: &str, choice: RevisionChoice) -> Decision {
    match choice {
        RevisionChoice::Rev2025_07_09 => {
            return Decision {
                revision: Revision::Rev2025_07_09,
                reasons: vec!["--revision 2025-07-09".into()],
            }
        }
        RevisionChoice::Rev2026_07_10 => {
            return Decision {
                revision: Revision::Rev2026_07_10,
                reasons: vec!["--revision 2026-07-10".into()],
            }
        }
        RevisionChoice::Auto => {}
    }
    let mut signals = vec![Signal {
        what: "/versions lists org.matrix.msc4140.stable (DSC-3)",
        merged: true,
        shown: versions.stable_feature,
        scheduling: false,
    }];
    let caps = client.send(&Request::get("/_matrix/client/v3/capabilities").auth(token)).await;
    let cap = caps.as_ref().ok().and_then(|a| {
        let c = a.body.get("capabilities")?;
        c.get("m.delayed_events").or_else(|| c.get("org.matrix.msc4140.delayed_events")).cloned()
    });
    signals.push(Signal {
        what: "the capability m.delayed_events or org.matrix.msc4140.delayed_events (DSC-4)",
        merged: true,
        shown: cap.is_some(),
        scheduling: false,
    });
    for prefix in [spec_model::types::Prefix::Stable, spec_model::types::Prefix::Unstable] {
        let s = Surface { prefix, merged: false };
        let per_action = format!("{}/{NEVER_ISSUED}/restart", s.delayed());
        let a = client.send(&Request::post(per_action, json!({})).auth(token)).await;
        let shown = a.as_ref().is_ok_and(|a| a.status == 404 && a.errcode() == Some("M_NOT_FOUND"));
        let (per_action_what, lookup_what, body_what, scheduled_what, put_what) = match prefix {
            spec_model::types::Prefix::Stable => (
                "POST /v1/delayed_events/{id}/restart answers 404 M_NOT_FOUND for an unknown id (MGT-11)",
                "GET /v1/delayed_events/{id} answers 404 M_NOT_FOUND for an unknown id (LKP-1)",
                "POST /v1/delayed_events/{id} with {\"action\"} answers 404 M_NOT_FOUND for an unknown id (seed MGT-1)",
                "GET /v1/delayed_events/scheduled answers 200 (seed LST-1)",
                "PUT /v3/rooms/{room}/delayed_event is served (SCH-12)",
            ),
            spec_model::types::Prefix::Unstable => (
                "the unstable per-action path is served (MGT-11)",
                "the unstable single lookup is served (LKP-1)",
                "the unstable action-in-body endpoint is served (seed MGT-1)",
                "the unstable scheduled list is served (seed LST-1)",
                "the unstable PUT .../rooms/{room}/delayed_event is served (SCH-12)",
            ),
        };
        signals.push(Signal { what: per_action_what, merged: true, shown, scheduling: false });
        let a = client.send(&Request::get(format!("{}/{NEVER_ISSUED}", s.delayed())).auth(token)).await;
        let shown = a.as_ref().is_ok_and(|a| a.status == 404 && a.errcode() == Some("M_NOT_FOUND"));
        signals.push(Signal { what: lookup_what, merged: true, shown, scheduling: false });
        let body = json!({ "action": "restart" });
        let a =
            client.send(&Request::post(format!("{}/{NEVER_ISSUED}", s.delayed()), body).auth(token)).await;
        let shown = a.as_ref().is_ok_and(|a| a.status == 404 && a.errcode() == Some("M_NOT_FOUND"));
        signals.push(Signal { what: body_what, merged: false, shown, scheduling: false });
        let a = client.send(&Request::get(format!("{}/scheduled", s.delayed())).auth(token)).await;
        let shown = a.as_ref().is_ok_and(|a| a.status == 200 && a.body.get("scheduled").is_some());
        signals.push(Signal { what: scheduled_what, merged: false, shown, scheduling: false });
        // No delay: a server that serves the endpoint refuses the body; nothing is scheduled.
        let rooms = match prefix {
            spec_model::types::Prefix::Stable => "/_matrix/client/v3/rooms",
            spec_model::types::Prefix::Unstable => "/_matrix/client/unstable/org.matrix.msc4140/rooms",
        };
        let path = format!("{rooms}/%21msc4140-probe%3Ainvalid/delayed_event/m.room.message/probe");
        let a = client.send(&Request::put(path, json!({ "content": {} })).auth(token)).await;
        let shown = a.as_ref().is_ok_and(|a| served(a.status, a.errcode()) && a.status != 200);
        signals.push(Signal { what: put_what, merged: true, shown, scheduling: true });
    }
    let merged = signals.iter().filter(|s| s.shown && s.merged).count();
    let seed = signals.iter().filter(|s| s.shown && !s.merged).count();
    // Every check starts by scheduling: without the merged scheduling endpoint nothing of that
    // revision can be judged, whatever else the server serves of it.
    let schedules = signals.iter().any(|s| s.shown && s.scheduling);
    let revision = if schedules && merged > seed { Revision::Rev2026_07_10 } else { Revision::Rev2025_07_09 };
    let mut reasons = vec![format!(
        "auto: {merged} signal(s) of the 2026-07-10 revision, {seed} of the 2025-07-09 one; {}",
        if schedules {
            "PUT .../delayed_event is served, so the revision with more signals is judged (ties: 2025-07-09)"
        } else {
            "PUT .../delayed_event (SCH-12) is not served, and every check of the 2026-07-10 revision starts with it: judged by 2025-07-09"
        }
    )];
    for s in &signals {
        let side = if s.merged { "2026-07-10" } else { "2025-07-09" };
        reasons.push(format!("{} {side}: {}", if s.shown { "yes" } else { "no " }, s.what));
    }
    if let Some(c) = cap {
        reasons.push(format!("capability: {}", Value::to_string(&c)));
    }
    Decision { revision, reasons }
}
