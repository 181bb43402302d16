//! The durability rule of `--data-dir`: a response leaves only once every change queued before
//! it is committed, its own and any it may have read. A crash can then lose only what no client
//! was told.

use super::extract::ApiError;
use super::AppState;
use crate::error::{Code, MatrixError, Surface};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn answer_when_durable(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let Some(store) = app.engine.store() else { return response };
    let journal = &store.journal;
    let n = journal.queued();
    if journal.watermark().upto >= n {
        return response;
    }
    let durable = if store.options.blocking_waits {
        // The same wait on a blocking thread: tokio's paused clock (tests) does not jump ahead
        // while a blocking task runs.
        let journal = journal.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || runtime.block_on(journal.durable(n)))
            .await
            .unwrap_or(Err(crate::store::StoreError::WriterStopped))
    } else {
        journal.durable(n).await
    };
    match durable {
        Ok(()) => response,
        Err(_) => ApiError(
            MatrixError::new(
                500,
                Code::Unknown,
                "The server could not store this request's effect; it may or may not have taken effect",
            ),
            Surface::Stable,
        )
        .into_response(),
    }
}
