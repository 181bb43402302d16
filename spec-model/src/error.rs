//! Matrix standard errors as the model produces them, and their shape under each API prefix
//! (UNS-2, UNS-3, UNS-4: MSC4140's own codes travel as `M_UNKNOWN` plus
//! `org.matrix.msc4140.errcode` on the unstable surface).

use crate::types::Prefix;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrCode {
    #[serde(rename = "M_FORBIDDEN")]
    Forbidden,
    #[serde(rename = "M_NOT_FOUND")]
    NotFound,
    #[serde(rename = "M_INVALID_PARAM")]
    InvalidParam,
    /// MGT-2 CLARIFIED: a missing `action` (`M_INVALID_PARAM` is allowed too, see `judge`).
    #[serde(rename = "M_MISSING_PARAM")]
    MissingParam,
    #[serde(rename = "M_LIMIT_EXCEEDED")]
    LimitExceeded,
    /// 409 for a conflicting action on a finalised event (MGT-8).
    #[serde(rename = "M_UNKNOWN")]
    Unknown,
    #[serde(rename = "M_MAX_DELAY_EXCEEDED")]
    MaxDelayExceeded,
    #[serde(rename = "M_MAX_DELAYED_EVENTS_EXCEEDED")]
    MaxDelayedEventsExceeded,
    #[serde(rename = "M_CANCELLED_BY_STATE_UPDATE")]
    CancelledByStateUpdate,
    /// A request to a path that is no endpoint of the revision (MGT-11: another action).
    #[serde(rename = "M_UNRECOGNIZED")]
    Unrecognized,
    /// A guest account on an endpoint guests may not use (the seed revision; SCH-21 opens them).
    #[serde(rename = "M_GUEST_ACCESS_FORBIDDEN")]
    GuestAccessForbidden,
}

impl ErrCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrCode::Forbidden => "M_FORBIDDEN",
            ErrCode::NotFound => "M_NOT_FOUND",
            ErrCode::InvalidParam => "M_INVALID_PARAM",
            ErrCode::MissingParam => "M_MISSING_PARAM",
            ErrCode::LimitExceeded => "M_LIMIT_EXCEEDED",
            ErrCode::Unknown => "M_UNKNOWN",
            ErrCode::MaxDelayExceeded => "M_MAX_DELAY_EXCEEDED",
            ErrCode::MaxDelayedEventsExceeded => "M_MAX_DELAYED_EVENTS_EXCEEDED",
            ErrCode::CancelledByStateUpdate => "M_CANCELLED_BY_STATE_UPDATE",
            ErrCode::Unrecognized => "M_UNRECOGNIZED",
            ErrCode::GuestAccessForbidden => "M_GUEST_ACCESS_FORBIDDEN",
        }
    }

    /// Codes introduced by MSC4140, which the unstable surface wraps in `M_UNKNOWN`.
    pub fn is_msc4140_code(self) -> bool {
        matches!(
            self,
            ErrCode::MaxDelayExceeded | ErrCode::MaxDelayedEventsExceeded | ErrCode::CancelledByStateUpdate
        )
    }

    fn message(self) -> &'static str {
        match self {
            ErrCode::Forbidden => "You are not allowed to send this event.",
            ErrCode::NotFound => "No such delayed event.",
            ErrCode::InvalidParam => "Invalid parameter.",
            ErrCode::MissingParam => "Missing parameter.",
            ErrCode::LimitExceeded => "Too many requests.",
            ErrCode::Unknown => "The delayed event was already finalised differently.",
            ErrCode::MaxDelayExceeded => "The requested delay exceeds the allowed maximum.",
            ErrCode::MaxDelayedEventsExceeded => "The maximum number of delayed events has been reached.",
            ErrCode::CancelledByStateUpdate => {
                "The delayed event did not get sent because a different user updated the same state event."
            }
            ErrCode::Unrecognized => "Unrecognized request.",
            ErrCode::GuestAccessForbidden => "Guest access is not allowed here.",
        }
    }
}

/// One error answer: HTTP status, `errcode` and the extra fields MSC4140 defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MatrixError {
    pub status: u16,
    pub code: ErrCode,
    /// SCH-5: `max_delay` in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<u64>,
    /// SCH-6/MGT-6: `retry_after_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// SCH-16: the `Retry-After` header, in seconds (the count limit of the merged revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_header_s: Option<u64>,
}

impl MatrixError {
    pub const fn new(status: u16, code: ErrCode) -> Self {
        MatrixError { status, code, max_delay: None, retry_after_ms: None, retry_after_header_s: None }
    }
    pub const fn forbidden() -> Self {
        Self::new(403, ErrCode::Forbidden)
    }
    pub const fn not_found() -> Self {
        Self::new(404, ErrCode::NotFound)
    }
    pub const fn invalid_param() -> Self {
        Self::new(400, ErrCode::InvalidParam)
    }
    pub const fn missing_param() -> Self {
        Self::new(400, ErrCode::MissingParam)
    }
    pub const fn conflict() -> Self {
        Self::new(409, ErrCode::Unknown)
    }
    pub const fn cancelled_by_state_update() -> Self {
        // The status is what a lookup never shows; 400 keeps the value well-formed if rendered.
        Self::new(400, ErrCode::CancelledByStateUpdate)
    }
    pub const fn max_delay_exceeded(max: u64) -> Self {
        MatrixError { max_delay: Some(max), ..Self::new(400, ErrCode::MaxDelayExceeded) }
    }
    pub const fn max_delayed_events() -> Self {
        Self::new(400, ErrCode::MaxDelayedEventsExceeded)
    }
    pub const fn limit_exceeded(retry_after_ms: u64) -> Self {
        MatrixError { retry_after_ms: Some(retry_after_ms), ..Self::new(429, ErrCode::LimitExceeded) }
    }
    /// SCH-16: the per-user limit of the merged revision, `Retry-After: <seconds>`.
    pub const fn too_many_scheduled(retry_after_s: u64) -> Self {
        MatrixError { retry_after_header_s: Some(retry_after_s), ..Self::new(429, ErrCode::LimitExceeded) }
    }
    pub const fn unrecognized() -> Self {
        Self::new(404, ErrCode::Unrecognized)
    }
    pub const fn guest_access_forbidden() -> Self {
        Self::new(403, ErrCode::GuestAccessForbidden)
    }

    /// The standard error body under `prefix` in the seed revision (UNS-2..4).
    pub fn body(&self, prefix: Prefix) -> Value {
        self.body_in(prefix, crate::revision::Revision::Rev2025_07_09)
    }

    /// The standard error body under `prefix` in `revision` (UNS-2..4 wrap MSC4140's own codes on
    /// the unstable surface; UNS-5 does not).
    pub fn body_in(&self, prefix: Prefix, revision: crate::revision::Revision) -> Value {
        let mut body = Map::new();
        let wrapped = prefix == Prefix::Unstable
            && self.code.is_msc4140_code()
            && revision.rules().unstable_wraps_codes;
        if wrapped {
            body.insert("errcode".into(), json!("M_UNKNOWN"));
            body.insert("org.matrix.msc4140.errcode".into(), json!(self.code.as_str()));
        } else {
            body.insert("errcode".into(), json!(self.code.as_str()));
        }
        body.insert("error".into(), json!(self.code.message()));
        if let Some(max) = self.max_delay {
            let key = if wrapped { "org.matrix.msc4140.max_delay" } else { "max_delay" };
            body.insert(key.into(), json!(max));
        }
        if let Some(ms) = self.retry_after_ms {
            body.insert("retry_after_ms".into(), json!(ms));
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // covers: SCH-5 UNS-2
    // Would catch: `max_delay` under the stable name on the unstable surface, or an unwrapped code.
    #[test]
    fn max_delay_shape_per_prefix() {
        let e = MatrixError::max_delay_exceeded(86_400_000);
        assert_eq!(e.status, 400);
        let stable = e.body(Prefix::Stable);
        assert_eq!(stable["errcode"], "M_MAX_DELAY_EXCEEDED");
        assert_eq!(stable["max_delay"], 86_400_000);
        let unstable = e.body(Prefix::Unstable);
        assert_eq!(unstable["errcode"], "M_UNKNOWN");
        assert_eq!(unstable["org.matrix.msc4140.errcode"], "M_MAX_DELAY_EXCEEDED");
        assert_eq!(unstable["org.matrix.msc4140.max_delay"], 86_400_000);
        assert!(unstable.get("max_delay").is_none());
    }

    // covers: SCH-7 UNS-3 SRV-4 UNS-4
    // Would catch: MSC codes unwrapped on the unstable surface, or standard codes wrapped.
    #[test]
    fn msc_codes_wrap_only_on_unstable() {
        for e in [MatrixError::max_delayed_events(), MatrixError::cancelled_by_state_update()] {
            assert_eq!(e.body(Prefix::Stable)["errcode"], e.code.as_str());
            let u = e.body(Prefix::Unstable);
            assert_eq!(u["errcode"], "M_UNKNOWN");
            assert_eq!(u["org.matrix.msc4140.errcode"], e.code.as_str());
        }
        // Standard codes are never wrapped.
        let f = MatrixError::forbidden().body(Prefix::Unstable);
        assert_eq!(f["errcode"], "M_FORBIDDEN");
        assert!(f.get("org.matrix.msc4140.errcode").is_none());
    }
}
