//! Application-service registration files: the YAML format homeservers read (`id`, `url`,
//! `as_token`, `hs_token`, `sender_localpart`, `namespaces`, ...), validated when loaded so a
//! typo stops the server at startup with the file and field named, not at the first request.

use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One namespace entry: a regular expression matched from the start of the id, as Synapse
/// matches them (`re.match`), and whether the service claims it exclusively.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawNamespace")]
pub struct Namespace {
    pub exclusive: bool,
    pub regex: Regex,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNamespace {
    exclusive: bool,
    regex: String,
}

impl TryFrom<RawNamespace> for Namespace {
    type Error = String;
    fn try_from(raw: RawNamespace) -> Result<Self, String> {
        let regex = Regex::new(&format!("^(?:{})", raw.regex))
            .map_err(|e| format!("invalid namespace regex {:?}: {e}", raw.regex))?;
        Ok(Namespace { exclusive: raw.exclusive, regex })
    }
}

impl PartialEq for Namespace {
    fn eq(&self, other: &Self) -> bool {
        self.exclusive == other.exclusive && self.regex.as_str() == other.regex.as_str()
    }
}
impl Eq for Namespace {}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Namespaces {
    pub users: Vec<Namespace>,
    pub aliases: Vec<Namespace>,
    pub rooms: Vec<Namespace>,
}

fn matches(list: &[Namespace], id: &str, exclusive_only: bool) -> bool {
    list.iter().any(|n| (n.exclusive || !exclusive_only) && n.regex.is_match(id))
}

/// A registered application service.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Registration {
    pub id: String,
    /// Where transactions go; `null`: the service receives none.
    pub url: Option<String>,
    pub as_token: String,
    pub hs_token: String,
    pub sender_localpart: String,
    pub namespaces: Namespaces,
    /// Whether requests of the service's users are rate limited (default true).
    #[serde(default = "yes")]
    pub rate_limited: bool,
    #[serde(default)]
    pub protocols: Vec<String>,
    #[serde(default)]
    pub receive_ephemeral: bool,
    /// Keys the Application Service API does not define. Namespaced ones (with a dot, like
    /// `de.sorunome.msc2409.push_ephemeral`) are extensions we ignore; any other is refused as
    /// the likely typo it is.
    #[serde(flatten)]
    extensions: BTreeMap<String, serde_yaml_ng::Value>,
}

fn yes() -> bool {
    true
}

impl Registration {
    pub fn from_yaml(text: &str) -> Result<Registration, String> {
        let r: Registration = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if let Some(key) = r.extensions.keys().find(|k| !k.contains('.')) {
            return Err(format!(
                "unknown field `{key}` (the Application Service API defines id, url, as_token, hs_token, \
                 sender_localpart, namespaces, rate_limited, protocols, receive_ephemeral; extensions \
                 must be namespaced, like `de.sorunome.msc2409.push_ephemeral`)"
            ));
        }
        for (name, value) in [("id", &r.id), ("as_token", &r.as_token), ("hs_token", &r.hs_token)] {
            if value.is_empty() {
                return Err(format!("`{name}` must not be empty"));
            }
        }
        if r.as_token == r.hs_token {
            return Err("`as_token` and `hs_token` must differ".into());
        }
        if !crate::engine::Engine::localpart_ok(&r.sender_localpart) {
            return Err(format!("invalid `sender_localpart` {:?}", r.sender_localpart));
        }
        if let Some(url) = &r.url {
            let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid `url` {url:?}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("`url` {url:?} must be http or https"));
            }
        }
        Ok(r)
    }

    pub fn load(path: &Path) -> Result<Registration, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_yaml(&text)
            .map_err(|e| format!("application service registration {}: {e}", path.display()))
    }

    /// The service's own user.
    pub fn sender(&self, server_name: &str) -> String {
        format!("@{}:{server_name}", self.sender_localpart)
    }

    /// Whether `user_id` is the service's to act as: its sender or in a user namespace.
    pub fn owns_user(&self, user_id: &str, server_name: &str) -> bool {
        user_id == self.sender(server_name) || matches(&self.namespaces.users, user_id, false)
    }

    /// Whether another client is barred from registering `user_id` (`M_EXCLUSIVE`).
    pub fn claims_user(&self, user_id: &str, server_name: &str) -> bool {
        user_id == self.sender(server_name) || matches(&self.namespaces.users, user_id, true)
    }

    pub fn interested_in_room(&self, room_id: &str) -> bool {
        matches(&self.namespaces.rooms, room_id, false)
    }
}

/// Every registration of a server, checked against each other.
pub fn check_all(all: &[Registration]) -> Result<(), String> {
    for (i, a) in all.iter().enumerate() {
        for b in &all[..i] {
            if a.id == b.id {
                return Err(format!("two application services have the id {:?}", a.id));
            }
            if a.as_token == b.as_token {
                return Err(format!("application services {:?} and {:?} share an as_token", b.id, a.id));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "id: irc\nurl: http://127.0.0.1:9000\nas_token: a\nhs_token: h\nsender_localpart: ircbot\n\
                        namespaces:\n  users:\n    - exclusive: true\n      regex: '@_irc_.*'\n  rooms: []\n";

    fn refused(yaml: &str) -> String {
        Registration::from_yaml(yaml).expect_err("refused")
    }

    // covers: PSH-4
    // Would catch: a typo in a registration accepted silently (the service would then receive
    // nothing), extensions of real bridges refused, namespaces matched anywhere in the id.
    #[test]
    fn registration_files_are_checked_when_loaded() {
        let r = Registration::from_yaml(GOOD).expect("valid");
        assert!(r.owns_user("@_irc_alice:hs", "hs") && r.owns_user("@ircbot:hs", "hs"));
        assert!(!r.owns_user("@alice_irc_:hs", "hs"), "anchored at the start");
        assert!(r.rate_limited, "rate_limited defaults to true");
        let bridge = format!(
            "{GOOD}de.sorunome.msc2409.push_ephemeral: true\nreceive_ephemeral: true\nprotocols: [irc]\n"
        );
        assert!(Registration::from_yaml(&bridge).is_ok(), "namespaced extensions are ignored");
        assert!(refused(&format!("{GOOD}as_tokn: x\n")).contains("unknown field `as_tokn`"));
        assert!(refused(&GOOD.replace("regex: '@_irc_.*'", "regex: '@_irc_(.*'"))
            .contains("invalid namespace regex"));
        assert!(refused(&GOOD.replace("      regex", "      group: x\n      regex"))
            .contains("unknown field `group`"));
        assert!(refused(&GOOD.replace("http://127.0.0.1:9000", "ftp://x")).contains("http or https"));
        assert!(
            refused(&GOOD.replace("url: http://127.0.0.1:9000", "url: not a url")).contains("invalid `url`")
        );
        assert!(
            refused(&GOOD.replace("hs_token: h", "hs_token: ''")).contains("`hs_token` must not be empty")
        );
        assert!(refused(&GOOD.replace("hs_token: h", "hs_token: a")).contains("must differ"));
        assert!(refused(&GOOD.replace("sender_localpart: ircbot", "sender_localpart: Bot"))
            .contains("sender_localpart"));
        assert!(refused(&GOOD.replace("as_token: a\n", "")).contains("as_token"), "required fields");
        let no_url =
            Registration::from_yaml(&GOOD.replace("http://127.0.0.1:9000", "null")).expect("url may be null");
        assert_eq!(no_url.url, None);
        let twin = Registration { id: "other".into(), ..r.clone() };
        assert!(check_all(&[r.clone(), twin]).expect_err("shared token").contains("share an as_token"));
        assert!(check_all(&[r.clone(), r]).expect_err("same id").contains("the id"));
    }

    // covers: PSH-4
    // Would catch: a missing or broken registration file starting a server that serves nothing
    // to its service.
    #[test]
    fn the_command_line_names_the_file_it_could_not_use() {
        use clap::Parser;
        let dir = std::env::temp_dir().join(format!("msc4140-registration-{}", std::process::id()));
        let missing =
            crate::config::Cli::parse_from(["reference-server", "--appservice", "/nonexistent/reg.yaml"]);
        assert!(missing.settings().expect_err("missing").contains("/nonexistent/reg.yaml"));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let file = dir.join("reg.yaml");
        std::fs::write(&file, format!("{GOOD}bogus: 1\n")).expect("written");
        let cli = crate::config::Cli::parse_from([
            "reference-server",
            "--appservice",
            file.to_str().unwrap_or_default(),
        ]);
        let e = cli.settings().expect_err("bad field");
        assert!(e.contains("reg.yaml") && e.contains("unknown field `bogus`"), "{e}");
        std::fs::write(&file, GOOD).expect("written");
        let cli = crate::config::Cli::parse_from([
            "reference-server",
            "--appservice",
            file.to_str().unwrap_or_default(),
        ]);
        assert_eq!(cli.settings().expect("loads").appservices.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
