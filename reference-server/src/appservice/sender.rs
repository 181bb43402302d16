//! The async shell that delivers transactions: one task per service with a URL, woken by the
//! core's change signal, sending `PUT {url}/_matrix/app/v1/transactions/{txnId}` with the
//! `hs_token`, and resending the same transaction with doubling waits until a 2xx answer.

use super::outbox::Transaction;
use crate::config::SyncKeys;
use crate::engine::Engine;
use crate::http::render;
use crate::scheduler::Shell;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

const MAX_RETRY: Duration = Duration::from_secs(60);

/// The request body: `events` (client format), `ephemeral` (always empty here) and PSH-4's
/// `finalised_events` under the names `/sync` uses (UNS-1), absent when there are none.
pub fn body(t: &Transaction, keys: SyncKeys) -> Value {
    let mut m = Map::new();
    m.insert("events".into(), t.events.iter().map(|e| render::event(e, None)).collect());
    m.insert("ephemeral".into(), json!([]));
    render::insert_finalised_events(&mut m, &t.finalised, keys);
    Value::Object(m)
}

/// Start a delivery task for every service that has a URL.
pub fn spawn_all(engine: &Arc<Engine>, shell: &Arc<Shell>) -> Vec<tokio::task::JoinHandle<()>> {
    if !engine.settings.deliver_transactions {
        return Vec::new();
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default();
    let services = engine.appservices().all().iter().enumerate();
    services
        .filter(|(_, s)| s.registration.url.is_some())
        .map(|(i, _)| tokio::spawn(deliver(engine.clone(), shell.clone(), client.clone(), i)))
        .collect()
}

async fn deliver(engine: Arc<Engine>, shell: Arc<Shell>, client: reqwest::Client, index: usize) {
    let services = engine.appservices();
    let registration = &services.all()[index].registration;
    let Some(url) = registration.url.as_deref() else { return };
    let base = url.trim_end_matches('/');
    let first_wait = Duration::from_millis(engine.settings.appservice_retry_ms);
    let mut wait = first_wait;
    let mut changes = shell.subscribe();
    loop {
        // Mark the signal seen before looking, so a change after the look wakes us.
        changes.borrow_and_update();
        let Some(t) = engine.appservice_transaction(index) else {
            if changes.changed().await.is_err() {
                return;
            }
            continue;
        };
        let target = format!("{base}/_matrix/app/v1/transactions/{}", t.txn_id);
        let answer = client
            .put(&target)
            .bearer_auth(&registration.hs_token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body(&t, engine.settings.sync_keys).to_string())
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => {
                engine.appservice_acknowledge(index, &t.txn_id);
                wait = first_wait;
                tracing::debug!(service = %registration.id, txn = %t.txn_id, events = t.events.len(), finalised = t.finalised.len(), "transaction acknowledged");
            }
            other => {
                let why = match other {
                    Ok(r) => format!("status {}", r.status()),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(service = %registration.id, txn = %t.txn_id, attempt = t.attempt, %why, retry_in_ms = wait.as_millis() as u64, "transaction not acknowledged");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_RETRY);
            }
        }
    }
}
