//! The command line (also built directly by the self-tests).

use crate::outcome::Level;
use crate::provision::Registration;
use clap::Parser;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrefixChoice {
    /// Unstable when `/versions` advertises `org.matrix.msc4140`, stable when it advertises
    /// `org.matrix.msc4140.stable`.
    Auto,
    Stable,
    Unstable,
}

/// Which text of MSC4140 to judge the server by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RevisionChoice {
    /// Probe the server without side effects (`/versions`, the capability, which endpoints
    /// answer) and judge it by the revision it is closest to; the report says why.
    Auto,
    /// The seed revision (query-parameter scheduling, the action in the body, paginated lists).
    #[value(name = "2025-07-09")]
    Rev2025_07_09,
    /// The merged revision (`PUT .../delayed_event`, per-action paths, single lookups).
    #[value(name = "2026-07-10")]
    Rev2026_07_10,
}

#[derive(Clone, Debug, Parser)]
#[command(
    name = "msc4140-conformance",
    version,
    about = "Black-box conformance suite for Matrix MSC4140 (cancellable delayed events), generated from the executable specification",
    after_help = "Exit status: 0 when no check at a --fail-on level failed, 1 when one did, 2 when the suite could not run or a check reached no verdict, 3 when no check reached PASS or FAIL (feature not advertised, positive control failed) unless --allow-not-applicable."
)]
pub struct Options {
    /// Base URL of the homeserver under test (the only host the suite contacts).
    #[arg(long)]
    pub homeserver: String,
    /// How test users are created: `open` (the m.login.dummy flow) or `shared-secret:SECRET`
    /// (Synapse's admin registration API).
    #[arg(long, conflicts_with = "users")]
    pub register: Option<Registration>,
    /// A JSON file `[{"user_id": ..., "access_token": ...}, ...]` of at least 3 existing users.
    #[arg(long)]
    pub users: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PrefixChoice::Auto)]
    pub prefix: PrefixChoice,
    /// The revision of the text to judge by.
    #[arg(long, value_enum, default_value_t = RevisionChoice::Auto)]
    pub revision: RevisionChoice,
    /// How late after its due time the server may send a delayed event (SRV-9).
    #[arg(long, default_value_t = 30_000)]
    pub max_lateness_ms: u64,
    /// Multiply every delay the suite schedules (slow or loaded servers: 2, 4, ...).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Scenarios run at once (each in its own rooms, with its own users).
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Run only checks whose id or requirement id starts with one of these (repeatable).
    #[arg(long)]
    pub only: Vec<String>,
    /// Skip checks whose id or requirement id starts with one of these (repeatable).
    #[arg(long)]
    pub skip: Vec<String>,
    /// Run only checks at these levels (repeatable; default all).
    #[arg(long, value_enum)]
    pub level: Vec<Level>,
    /// The server's per-user limit on outstanding delayed events (SCH-7), if it has one.
    #[arg(long)]
    pub max_outstanding: Option<u16>,
    /// Requests per rate-limit check before concluding the server does not rate limit.
    #[arg(long, default_value_t = 700)]
    pub burst: usize,
    /// How long the server keeps finalised records (LST-5 lets it choose; the text recommends 7
    /// days). With 0, records may vanish as soon as they are finalised.
    #[arg(long, default_value_t = 7 * 86_400_000)]
    pub retention_ms: u64,
    /// Judge DECIDED points by this project's decisions instead of accepting every alternative.
    #[arg(long)]
    pub strict: bool,
    /// Levels whose failures make the exit status 1 (repeatable; default MUST).
    #[arg(long, value_enum)]
    pub fail_on: Vec<Level>,
    /// Exit 0 even when no check could reach PASS or FAIL (otherwise that is exit status 3).
    #[arg(long)]
    pub allow_not_applicable: bool,
    #[arg(long)]
    pub junit: Option<PathBuf>,
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// No live progress bar (plain lines; also when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
    /// Print every request the model checks judge, its answer and the verdict on it (stderr).
    #[arg(long)]
    pub verbose: bool,
    /// A shell command that stops the server under test cleanly and starts it again on the same
    /// data (the restart checks, PER-1..3; run when every other check has finished). It should
    /// keep the server down for about $MSC4140_DOWN_MS ms (what the scenario's model says; the
    /// suite watches /versions to see when it really was down).
    #[arg(long)]
    pub restart_cmd: Option<String>,
    /// The same, but killing the server (SIGKILL, a crash) instead of stopping it.
    #[arg(long)]
    pub kill_cmd: Option<String>,
    /// Run the suite's application service on this address (PSH-4): it receives the server's
    /// transactions. Needs --appservice-registration, the file the server under test was given.
    #[arg(long, requires = "appservice_registration")]
    pub appservice_listen: Option<std::net::SocketAddr>,
    /// The suite's application-service registration (YAML), as installed in the server under test.
    #[arg(long)]
    pub appservice_registration: Option<PathBuf>,
    /// Write a fresh registration (new tokens; `url` from --appservice-url, else
    /// http://--appservice-listen) to --appservice-registration, print it, and exit: install it in
    /// the server under test, start that server, then run the suite with the same two flags.
    #[arg(long, requires = "appservice_registration")]
    pub write_appservice_registration: bool,
    /// The service's URL as the server under test reaches it (default: http://--appservice-listen).
    #[arg(long)]
    pub appservice_url: Option<String>,
    /// How long after the last delayed event fell due (plus --max-lateness-ms) the suite waits
    /// for the server to deliver it to the service, retries and their backoff included.
    #[arg(long, default_value_t = 60_000)]
    pub appservice_patience_ms: u64,
}

impl Options {
    /// Options for `homeserver` with every default (the self-tests start from these).
    pub fn for_server(homeserver: &str) -> Self {
        Options::parse_from(["msc4140-conformance", "--homeserver", homeserver, "--register", "open"])
    }

    pub fn fail_levels(&self) -> Vec<Level> {
        if self.fail_on.is_empty() {
            vec![Level::Must]
        } else {
            self.fail_on.clone()
        }
    }
}
