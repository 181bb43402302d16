//! The API surface the suite speaks (stable or unstable names, UNS-1) and what it learns about the
//! server before the checks: whether it advertises the feature (DSC-1) and its maximum delay.

use crate::client::{Client, Request};
use serde_json::Value;
use spec_model::types::Prefix;

#[derive(Clone, Debug)]
pub struct Surface {
    pub prefix: Prefix,
    /// The merged revision's endpoints (`PUT .../delayed_event`, per-action paths).
    pub merged: bool,
}

impl Surface {
    pub fn delayed(&self) -> &'static str {
        match self.prefix {
            Prefix::Stable => "/_matrix/client/v1/delayed_events",
            Prefix::Unstable => "/_matrix/client/unstable/org.matrix.msc4140/delayed_events",
        }
    }
    pub fn delay_param(&self) -> &'static str {
        match self.prefix {
            Prefix::Stable => "delay",
            Prefix::Unstable => "org.matrix.msc4140.delay",
        }
    }
    pub fn sync_key(&self) -> &'static str {
        spec_model::render::finalised_events_key(self.prefix)
    }
    pub fn name(&self) -> &'static str {
        match self.prefix {
            Prefix::Stable => "stable",
            Prefix::Unstable => "unstable",
        }
    }
}

/// What `/versions` says.
#[derive(Clone, Debug, Default)]
pub struct Versions {
    pub reachable: bool,
    pub unstable_feature: bool,
    pub stable_feature: bool,
    pub versions: Vec<String>,
    pub raw: String,
}

pub async fn versions(client: &Client) -> Versions {
    let Ok(a) = client.send(&Request::get("/_matrix/client/versions")).await else {
        return Versions::default();
    };
    let flag = |k: &str| a.body.pointer("/unstable_features").and_then(|f| f.get(k)).and_then(Value::as_bool);
    Versions {
        reachable: a.status == 200,
        unstable_feature: flag("org.matrix.msc4140") == Some(true),
        // No stable feature flag exists yet; a spec version that includes MSC4140 would be one.
        stable_feature: flag("org.matrix.msc4140.stable") == Some(true),
        versions: a
            .body
            .get("versions")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        raw: a.short(),
    }
}
