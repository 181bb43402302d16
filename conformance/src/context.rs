//! Everything a check needs: the connection, the surface, the options, where users come from,
//! and what the suite learned about the server before the checks ran.

use crate::checks::control::{Lookups, MaxDelay};
use crate::client::Client;
use crate::options::Options;
use crate::provision::Source;
use crate::surface::Surface;
use spec_model::config::{Config, Decisions, RateLimits, Retention};

pub struct Context {
    pub client: Client,
    pub surface: Surface,
    pub opts: Options,
    pub source: Source,
    /// Distinguishes this run's users, rooms and transaction ids from earlier runs'.
    pub run_id: String,
    /// SCH-5 as an over-long request showed it.
    pub max_delay: MaxDelay,
    /// Which lookups the server serves; scenarios observe timers through what there is.
    pub lookups: Lookups,
    /// The revision judged (chosen by `--revision` or probed).
    pub revision: spec_model::Revision,
    /// The outstanding limit the server advertises in its capability (the merged revision).
    pub advertised_outstanding: Option<u16>,
    /// The suite's application service, with `--appservice-listen` (PSH-4).
    pub appservice: Option<crate::appservice::Receiver>,
}

impl Context {
    /// The per-user outstanding limit: as declared (`--max-outstanding`), else as advertised.
    pub fn max_outstanding(&self) -> Option<u16> {
        self.opts.max_outstanding.or(self.advertised_outstanding)
    }

    pub fn merged(&self) -> bool {
        self.revision == spec_model::Revision::Rev2026_07_10
    }

    /// One model time unit of a witness trace, in real milliseconds.
    pub fn unit_ms(&self) -> u64 {
        (500.0 * self.opts.time_scale).round().max(50.0) as u64
    }

    /// The model configured as this server: its limits where known, and every freedom the text
    /// gives a server left open (discarding returned records, any page size, any lateness up to
    /// the bound; the judge adds the DECIDED alternatives).
    pub fn model_config(&self) -> Config {
        Config {
            revision: self.revision,
            prefix: self.surface.prefix,
            max_delay_ms: self.max_delay.known(),
            max_outstanding_per_user: self.max_outstanding(),
            // The server's retention as declared (default: the recommended 7 days, longer than a
            // run); the per-user count (1000 recommended) is never reached by fresh users.
            // A retention of 0 means "may forget at once", which the judge handles (`forget_any`);
            // the model's retention rule would make it "must".
            retention: Retention {
                max_age_ms: if self.opts.retention_ms == 0 { u64::MAX } else { self.opts.retention_ms },
                max_per_user: u16::MAX,
            },
            discard_returned: true,
            // The model answers with every remaining item; `judge::page_allowed` accepts any prefix.
            page_size: u8::MAX,
            // Rate limits are waited out by the client and checked by their own checks.
            rate_limits: RateLimits::default(),
            // The model stamps timers at a request's start; the exact bound is checked by `timing`.
            lateness_ms: self.opts.max_lateness_ms.saturating_add(2_000),
            decisions: Decisions::default(),
            appservice_user: None,
            mutant: None,
        }
    }
}
