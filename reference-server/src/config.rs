//! Server settings: defaults, an optional TOML file, and command-line flags on top (flags win).
//! The defaults follow the MSC's recommendations (LST-5: 7 days, 1000 per user, page size 10;
//! SCH-8: a maximum delay well under a month) and leave room for a heartbeat every few seconds.

use clap::Parser;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One fixed rate-limit window: at most `max` requests per `window_ms`, per user (SEC-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub max: u32,
    pub window_ms: u64,
}

impl std::str::FromStr for Window {
    type Err = String;
    /// `MAX/WINDOW_MS`, e.g. `100/10000`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (max, window) = s.split_once('/').ok_or_else(|| format!("expected MAX/WINDOW_MS, got {s:?}"))?;
        let max = max.trim().parse().map_err(|e| format!("bad MAX in {s:?}: {e}"))?;
        let window_ms: u64 = window.trim().parse().map_err(|e| format!("bad WINDOW_MS in {s:?}: {e}"))?;
        if window_ms == 0 {
            return Err("WINDOW_MS must be positive".into());
        }
        Ok(Window { max, window_ms })
    }
}

/// Per-user rate limits by request class; `None` disables a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// SCH-6: scheduling a delayed event.
    pub scheduling: Option<Window>,
    /// MGT-6: `send`/`cancel`/`restart`.
    pub management: Option<Window>,
    /// Lookups of scheduled and finalised events.
    pub lookups: Option<Window>,
    /// Ordinary sends; a delayed event firing counts but is never refused (SRV-6).
    pub sending: Option<Window>,
}

impl Default for RateLimits {
    fn default() -> Self {
        let per_10s = |max| Some(Window { max, window_ms: 10_000 });
        RateLimits {
            scheduling: per_10s(200),
            management: per_10s(600),
            lookups: per_10s(600),
            sending: per_10s(600),
        }
    }
}

impl RateLimits {
    pub fn off() -> Self {
        RateLimits { scheduling: None, management: None, lookups: None, sending: None }
    }
}

/// Which key(s) `/sync` uses for finalised events (PSH-1, UNS-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SyncKeys {
    Stable,
    Unstable,
    Both,
}

/// Which text of MSC4140 the server answers as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
pub enum Revision {
    /// The seed text (`spec/msc4140-rev-2025-07-09.md`).
    #[default]
    #[serde(rename = "2025-07-09")]
    #[value(name = "2025-07-09")]
    Rev2025_07_09,
    /// The merged text (`spec/msc4140-rev-2026-07-10.md`).
    #[serde(rename = "2026-07-10")]
    #[value(name = "2026-07-10")]
    Rev2026_07_10,
}

impl Revision {
    pub fn is_merged(self) -> bool {
        self == Revision::Rev2026_07_10
    }
}

/// Everything the homeserver core needs to know.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The text of MSC4140 to serve.
    pub revision: Revision,
    /// Merged revision only: refuse the legacy `delay` query parameter (SCH-20) with 400
    /// instead of taking it as a deprecated alias.
    pub strict_revision: bool,
    pub listen: SocketAddr,
    pub server_name: String,
    /// SCH-5 / SCH-8.
    pub max_delay_ms: u64,
    /// SCH-7.
    pub max_delayed_per_user: usize,
    /// LST-5: finalised records older than this are dropped.
    pub retention_max_age_ms: u64,
    /// LST-5: at most this many finalised records per user, newest kept.
    pub retention_max_per_user: usize,
    /// LST-5 / PSH-3: drop finalised records once a lookup or `/sync` returned them.
    pub discard_returned: bool,
    /// LST-3: items per page of the lookups.
    pub page_size: usize,
    /// Request bodies above this many bytes get 413 `M_TOO_LARGE`.
    pub max_body_bytes: usize,
    pub rate_limits: RateLimits,
    pub sync_keys: SyncKeys,
    /// Allow `POST /register`.
    pub open_registration: bool,
    /// tracing filter (`RUST_LOG` syntax).
    pub log: String,
    /// Keep all state in this directory (PER-1..3); in memory when unset.
    pub data_dir: Option<PathBuf>,
    /// With `data_dir`: what a commit waits for before the requests it holds are answered.
    pub sync: crate::store::SyncMode,
    /// Application-service registration files (YAML), loaded at startup (PSH-4).
    pub appservice_config_files: Vec<PathBuf>,
    /// The registrations those files hold (or that a test builds).
    #[serde(skip)]
    pub appservices: Vec<crate::appservice::registration::Registration>,
    /// The first wait before a failed transaction to an application service is sent again;
    /// each further failure doubles it, up to a minute.
    pub appservice_retry_ms: u64,
    /// Whether the server delivers transactions itself; tests of the core turn it off and take
    /// them through [`crate::engine::Engine::appservice_transaction`] on virtual time.
    #[serde(skip)]
    pub deliver_transactions: bool,
    /// Test-only deliberate bugs (all off; only with the `faults` feature).
    #[cfg(feature = "faults")]
    #[serde(skip)]
    pub faults: crate::faults::Faults,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            revision: Revision::default(),
            strict_revision: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 8008)),
            server_name: "localhost".into(),
            max_delay_ms: 86_400_000,
            max_delayed_per_user: 100,
            retention_max_age_ms: 7 * 24 * 3600 * 1000,
            retention_max_per_user: 1000,
            discard_returned: false,
            page_size: 10,
            max_body_bytes: 65_536,
            rate_limits: RateLimits::default(),
            sync_keys: SyncKeys::Both,
            open_registration: true,
            log: "info".into(),
            data_dir: None,
            sync: crate::store::SyncMode::default(),
            appservice_config_files: Vec::new(),
            appservices: Vec::new(),
            appservice_retry_ms: 500,
            deliver_transactions: true,
            #[cfg(feature = "faults")]
            faults: crate::faults::Faults::none(),
        }
    }
}

/// Command line of `reference-server`. Every flag overrides the same setting of `--config`.
#[derive(Debug, Parser)]
#[command(
    name = "reference-server",
    version,
    about = "Matrix homeserver implementing MSC4140 (in memory, or persistent with --data-dir)"
)]
pub struct Cli {
    /// A TOML file with any of the settings below (snake_case keys, e.g. `max_delay_ms = 60000`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The text of MSC4140 to serve.
    #[arg(long, value_enum)]
    pub revision: Option<Revision>,
    /// With `--revision 2026-07-10`: refuse the legacy `delay` query parameter (400).
    #[arg(long)]
    pub strict_revision: bool,
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    #[arg(long)]
    pub server_name: Option<String>,
    /// Maximum delay in ms (SCH-5).
    #[arg(long)]
    pub max_delay_ms: Option<u64>,
    /// Maximum outstanding delayed events per user (SCH-7).
    #[arg(long)]
    pub max_delayed_per_user: Option<usize>,
    /// Finalised events are kept at most this long (ms).
    #[arg(long)]
    pub retention_max_age_ms: Option<u64>,
    /// Finalised events kept per user.
    #[arg(long)]
    pub retention_max_per_user: Option<usize>,
    /// Drop finalised events once returned by a lookup or /sync.
    #[arg(long)]
    pub discard_returned: bool,
    /// Items per page of the lookups.
    #[arg(long)]
    pub page_size: Option<usize>,
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Scheduling rate limit per user, MAX/WINDOW_MS.
    #[arg(long)]
    pub rate_scheduling: Option<Window>,
    /// Management (send/cancel/restart) rate limit per user, MAX/WINDOW_MS.
    #[arg(long)]
    pub rate_management: Option<Window>,
    /// Lookup rate limit per user, MAX/WINDOW_MS.
    #[arg(long)]
    pub rate_lookups: Option<Window>,
    /// Ordinary send rate limit per user, MAX/WINDOW_MS.
    #[arg(long)]
    pub rate_sending: Option<Window>,
    /// Turn every rate limit off (benchmarks).
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Which /sync key carries finalised events.
    #[arg(long, value_enum)]
    pub sync_keys: Option<SyncKeys>,
    /// Refuse POST /register.
    #[arg(long)]
    pub closed_registration: bool,
    /// Log filter, e.g. `info` or `reference_server=debug`.
    #[arg(long)]
    pub log: Option<String>,
    /// Persist everything in this directory (created if missing); without it, state is in
    /// memory and lost when the server stops.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// With --data-dir: `full` fsyncs every group commit (answers survive power loss), `normal`
    /// only writes it to the operating system (answers survive the process dying).
    #[arg(long, value_enum)]
    pub sync: Option<crate::store::SyncMode>,
    /// An application-service registration file (YAML, as other homeservers read them);
    /// repeat for several services. Added to the config file's `appservice_config_files`.
    #[arg(long = "appservice", value_name = "FILE")]
    pub appservices: Vec<PathBuf>,
    /// First retry delay (ms) of a transaction an application service did not acknowledge.
    #[arg(long)]
    pub appservice_retry_ms: Option<u64>,
}

impl Cli {
    /// Defaults, then the file, then the flags.
    pub fn settings(&self) -> Result<Settings, String> {
        let mut s = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Settings::default(),
        };
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(v) = self.$field.clone() { s.$field = v; } )* };
        }
        take!(listen, server_name, max_delay_ms, max_delayed_per_user, retention_max_age_ms);
        take!(retention_max_per_user, page_size, max_body_bytes, sync_keys, log, revision);
        take!(appservice_retry_ms);
        s.appservice_config_files.extend(self.appservices.iter().cloned());
        s.appservices = s
            .appservice_config_files
            .iter()
            .map(|p| crate::appservice::registration::Registration::load(p))
            .collect::<Result<_, _>>()?;
        if self.data_dir.is_some() {
            s.data_dir.clone_from(&self.data_dir);
        }
        if let Some(sync) = self.sync {
            s.sync = sync;
        }
        s.strict_revision |= self.strict_revision;
        s.discard_returned |= self.discard_returned;
        s.open_registration &= !self.closed_registration;
        if let Some(w) = self.rate_scheduling {
            s.rate_limits.scheduling = Some(w);
        }
        if let Some(w) = self.rate_management {
            s.rate_limits.management = Some(w);
        }
        if let Some(w) = self.rate_lookups {
            s.rate_limits.lookups = Some(w);
        }
        if let Some(w) = self.rate_sending {
            s.rate_limits.sending = Some(w);
        }
        if self.no_rate_limits {
            s.rate_limits = RateLimits::off();
        }
        s.validate()?;
        Ok(s)
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_delay_ms == 0 {
            return Err("max_delay_ms must be positive".into());
        }
        if self.strict_revision && !self.revision.is_merged() {
            return Err("strict_revision applies to revision 2026-07-10 only".into());
        }
        if self.page_size == 0 {
            return Err("page_size must be positive".into());
        }
        if self.server_name.is_empty() || self.server_name.contains(['/', ' ', '@', '!', '$']) {
            return Err(format!("invalid server_name {:?}", self.server_name));
        }
        if self.appservice_retry_ms == 0 {
            return Err("appservice_retry_ms must be positive".into());
        }
        crate::appservice::registration::check_all(&self.appservices)
    }
}
