//! Matrix standard errors (`errcode`, `error`, extra fields) and their shape under each API
//! surface. UNS-2, UNS-3, UNS-4: on the unstable surface MSC4140's own codes travel as
//! `M_UNKNOWN` plus `org.matrix.msc4140.errcode`, and `max_delay` as `org.matrix.msc4140.max_delay`.

use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Which names a request used: the stable MSC4140 surface, or its unstable prefix (UNS-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Surface {
    Stable,
    Unstable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    Forbidden,
    NotFound,
    InvalidParam,
    MissingParam,
    LimitExceeded,
    Unknown,
    NotJson,
    BadJson,
    MissingToken,
    UnknownToken,
    Unrecognized,
    TooLarge,
    UserInUse,
    InvalidUsername,
    MaxDelayExceeded,
    MaxDelayedEventsExceeded,
    CancelledByStateUpdate,
    GuestAccessForbidden,
    Exclusive,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Forbidden => "M_FORBIDDEN",
            Code::NotFound => "M_NOT_FOUND",
            Code::InvalidParam => "M_INVALID_PARAM",
            Code::MissingParam => "M_MISSING_PARAM",
            Code::LimitExceeded => "M_LIMIT_EXCEEDED",
            Code::Unknown => "M_UNKNOWN",
            Code::NotJson => "M_NOT_JSON",
            Code::BadJson => "M_BAD_JSON",
            Code::MissingToken => "M_MISSING_TOKEN",
            Code::UnknownToken => "M_UNKNOWN_TOKEN",
            Code::Unrecognized => "M_UNRECOGNIZED",
            Code::TooLarge => "M_TOO_LARGE",
            Code::UserInUse => "M_USER_IN_USE",
            Code::InvalidUsername => "M_INVALID_USERNAME",
            Code::MaxDelayExceeded => "M_MAX_DELAY_EXCEEDED",
            Code::MaxDelayedEventsExceeded => "M_MAX_DELAYED_EVENTS_EXCEEDED",
            Code::CancelledByStateUpdate => "M_CANCELLED_BY_STATE_UPDATE",
            Code::GuestAccessForbidden => "M_GUEST_ACCESS_FORBIDDEN",
            Code::Exclusive => "M_EXCLUSIVE",
        }
    }

    pub const ALL: [Code; 19] = [
        Code::Forbidden,
        Code::NotFound,
        Code::InvalidParam,
        Code::MissingParam,
        Code::LimitExceeded,
        Code::Unknown,
        Code::NotJson,
        Code::BadJson,
        Code::MissingToken,
        Code::UnknownToken,
        Code::Unrecognized,
        Code::TooLarge,
        Code::UserInUse,
        Code::InvalidUsername,
        Code::MaxDelayExceeded,
        Code::MaxDelayedEventsExceeded,
        Code::CancelledByStateUpdate,
        Code::GuestAccessForbidden,
        Code::Exclusive,
    ];

    /// The code with this `errcode` (stored finalised records).
    pub fn parse(errcode: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == errcode)
    }

    /// Codes MSC4140 introduces; the unstable surface wraps them (UNS-2..4).
    pub fn is_msc4140(self) -> bool {
        matches!(self, Code::MaxDelayExceeded | Code::MaxDelayedEventsExceeded | Code::CancelledByStateUpdate)
    }
}

/// One error answer. Cheap to build: the message is usually a static string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixError {
    pub status: u16,
    pub code: Code,
    pub message: Cow<'static, str>,
    /// SCH-5: the maximum delay in ms.
    pub max_delay: Option<u64>,
    /// SCH-6 / MGT-6: when to retry.
    pub retry_after_ms: Option<u64>,
    /// SCH-16 (merged revision): the `Retry-After` header at the count limit, in seconds.
    pub retry_after_s: Option<u64>,
}

impl MatrixError {
    pub fn new(status: u16, code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        MatrixError {
            status,
            code,
            message: message.into(),
            max_delay: None,
            retry_after_ms: None,
            retry_after_s: None,
        }
    }
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(403, Code::Forbidden, message)
    }
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(404, Code::NotFound, message)
    }
    pub fn invalid_param(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(400, Code::InvalidParam, message)
    }
    pub fn missing_param(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(400, Code::MissingParam, message)
    }
    pub fn bad_json(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(400, Code::BadJson, message)
    }
    pub fn not_json(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(400, Code::NotJson, message)
    }
    pub fn unrecognized() -> Self {
        Self::new(404, Code::Unrecognized, "Unrecognized request")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(405, Code::Unrecognized, "Method not allowed for this endpoint")
    }
    /// MGT-8: a conflicting action on an event finalised the other way.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(409, Code::Unknown, message)
    }
    pub fn max_delay_exceeded(max: u64) -> Self {
        MatrixError {
            max_delay: Some(max),
            ..Self::new(400, Code::MaxDelayExceeded, "The requested delay exceeds the allowed maximum.")
        }
    }
    pub fn max_delayed_events() -> Self {
        Self::new(
            400,
            Code::MaxDelayedEventsExceeded,
            "The maximum number of delayed events has been reached.",
        )
    }
    pub fn cancelled_by_state_update() -> Self {
        Self::new(
            400,
            Code::CancelledByStateUpdate,
            "The delayed event did not get sent because a different user updated the same state event.",
        )
    }
    /// SCH-16: the merged revision's answer at the per-user count limit.
    pub fn too_many_scheduled(retry_after_s: u64) -> Self {
        MatrixError {
            retry_after_s: Some(retry_after_s),
            ..Self::new(429, Code::LimitExceeded, "The maximum number of delayed events has been reached.")
        }
    }
    pub fn limit_exceeded(retry_after_ms: u64) -> Self {
        MatrixError {
            retry_after_ms: Some(retry_after_ms),
            ..Self::new(429, Code::LimitExceeded, "Too many requests")
        }
    }

    /// The JSON body under `surface`.
    pub fn body(&self, surface: Surface) -> Value {
        let mut m = Map::new();
        let wrapped = surface == Surface::Unstable && self.code.is_msc4140();
        if wrapped {
            m.insert("errcode".into(), json!("M_UNKNOWN"));
            m.insert("org.matrix.msc4140.errcode".into(), json!(self.code.as_str()));
        } else {
            m.insert("errcode".into(), json!(self.code.as_str()));
        }
        m.insert("error".into(), json!(self.message));
        if let Some(max) = self.max_delay {
            let key = if wrapped { "org.matrix.msc4140.max_delay" } else { "max_delay" };
            m.insert(key.into(), json!(max));
        }
        if let Some(ms) = self.retry_after_ms {
            m.insert("retry_after_ms".into(), json!(ms));
        }
        Value::Object(m)
    }
}

impl std::fmt::Display for MatrixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code.as_str(), self.message)
    }
}

impl std::error::Error for MatrixError {}

pub type Result<T, E = MatrixError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::Code;

    // Would catch: a stored finalised record whose error code does not read back (a variant
    // missing from `Code::ALL`), which would make a data directory unreadable.
    #[test]
    fn every_code_reads_back_from_its_errcode() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
        }
        // A variant added without extending `ALL` would not be matched here: keep them in step.
        let exhaustive = |c: Code| match c {
            Code::Forbidden
            | Code::NotFound
            | Code::InvalidParam
            | Code::MissingParam
            | Code::LimitExceeded
            | Code::Unknown
            | Code::NotJson
            | Code::BadJson
            | Code::MissingToken
            | Code::UnknownToken
            | Code::Unrecognized
            | Code::TooLarge
            | Code::UserInUse
            | Code::InvalidUsername
            | Code::MaxDelayExceeded
            | Code::MaxDelayedEventsExceeded
            | Code::CancelledByStateUpdate
            | Code::GuestAccessForbidden
            | Code::Exclusive => 1,
        };
        assert_eq!(Code::ALL.iter().map(|c| exhaustive(*c)).sum::<usize>(), 19);
        assert_eq!(Code::parse("M_NOT_A_CODE"), None);
    }
}
