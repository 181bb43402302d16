//! Test users: registered through the open `m.login.dummy` flow, through Synapse's shared-secret
//! admin API, or read from a file of pre-provisioned access tokens.

use crate::client::{Client, Request};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Clone, Debug, Deserialize)]
pub struct User {
    pub user_id: String,
    pub access_token: String,
}

#[derive(Clone, Debug)]
pub enum Registration {
    Open,
    SharedSecret(String),
}

impl std::str::FromStr for Registration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "open" => Ok(Registration::Open),
            Some(("shared-secret", secret)) if !secret.is_empty() => {
                Ok(Registration::SharedSecret(secret.into()))
            }
            _ => Err(format!("`{s}`: expected `open` or `shared-secret:SECRET`")),
        }
    }
}

/// Where users come from. Registered users are fresh for every scenario; file users are reused,
/// so scenarios filter what they see down to the ids they created themselves.
pub enum Source {
    Register { how: Registration, run: String, next: AtomicUsize },
    Pool { users: Vec<User>, taken: Mutex<Vec<bool>> },
}

impl Source {
    pub fn register(how: Registration, run: &str) -> Self {
        Source::Register { how, run: run.to_string(), next: AtomicUsize::new(0) }
    }

    pub fn from_file(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let users: Vec<User> = serde_json::from_str(&text)
            .map_err(|e| format!("{path}: expected a JSON array of {{user_id, access_token}}: {e}"))?;
        if users.len() < 3 {
            return Err(format!("{path}: at least 3 users are needed, found {}", users.len()));
        }
        let taken = Mutex::new(vec![false; users.len()]);
        Ok(Source::Pool { users, taken })
    }

    pub fn reuses_users(&self) -> bool {
        matches!(self, Source::Pool { .. })
    }

    /// `n` users for one scenario (released with `release`).
    pub async fn take(&self, client: &Client, n: usize) -> Result<Vec<User>, String> {
        match self {
            Source::Register { how, run, next } => {
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    out.push(register(client, how, &format!("msc4140-{run}-{i}")).await?);
                }
                Ok(out)
            }
            Source::Pool { users, taken } => {
                let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
                loop {
                    {
                        let mut t = taken.lock().map_err(|_| "user pool poisoned".to_string())?;
                        let free: Vec<usize> = (0..users.len()).filter(|&i| !t[i]).take(n).collect();
                        if free.len() == n {
                            free.iter().for_each(|&i| t[i] = true);
                            return Ok(free.iter().map(|&i| users[i].clone()).collect());
                        }
                        if users.len() < n {
                            return Err(format!("a scenario needs {n} users; the file has {}", users.len()));
                        }
                    }
                    if std::time::Instant::now() > give_up {
                        return Err(format!("no {n} free users in the pool for 120 s (a check kept them)"));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }

    pub fn release(&self, given: &[User]) {
        if let Source::Pool { users, taken } = self {
            if let Ok(mut t) = taken.lock() {
                for u in given {
                    if let Some(i) = users.iter().position(|p| p.user_id == u.user_id) {
                        t[i] = false;
                    }
                }
            }
        }
    }
}

/// A guest account (`POST /register?kind=guest`, SCH-21): whatever the registration mode, guests
/// come from the Client-Server API.
pub async fn guest(client: &Client) -> Result<User, String> {
    let answer = client
        .call(&Request::post("/_matrix/client/v3/register", json!({})).query("kind", "guest"))
        .await
        .map_err(|e| e.to_string())?;
    user_of(&answer, "a guest")
}

/// The user a successful registration answered.
fn user_of(answer: &crate::client::Answer, who: &str) -> Result<User, String> {
    let user_id = answer.body.get("user_id").and_then(Value::as_str);
    let token = answer.body.get("access_token").and_then(Value::as_str);
    match (answer.status, user_id, token) {
        (200, Some(u), Some(t)) => Ok(User { user_id: u.into(), access_token: t.into() }),
        _ => Err(format!("registering {who} failed: {}", answer.short())),
    }
}

async fn register(client: &Client, how: &Registration, name: &str) -> Result<User, String> {
    let password = format!("pw-{name}");
    let answer = match how {
        Registration::Open => {
            let body = json!({
                "username": name, "password": password, "inhibit_login": false,
                "auth": {"type": "m.login.dummy"},
            });
            client.call(&Request::post("/_matrix/client/v3/register", body)).await
        }
        Registration::SharedSecret(secret) => {
            let path = "/_synapse/admin/v1/register";
            let nonce = client.call(&Request::get(path)).await.map_err(|e| e.to_string())?;
            let Some(nonce) = nonce.body.get("nonce").and_then(Value::as_str) else {
                return Err(format!("shared-secret registration: no nonce from {path}: {}", nonce.short()));
            };
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
            for (i, part) in [nonce, name, &password, "notadmin"].iter().enumerate() {
                if i > 0 {
                    mac.update(b"\0");
                }
                mac.update(part.as_bytes());
            }
            let digest: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
            let body = json!({"nonce": nonce, "username": name, "password": password, "admin": false, "mac": digest});
            client.call(&Request::post(path, body)).await
        }
    }
    .map_err(|e| e.to_string())?;
    user_of(&answer, name)
}
