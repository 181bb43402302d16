//! Taking the server under test down and up (`--restart-cmd`, `--kill-cmd`): the command runs
//! while the suite polls `/versions`, so the report says from the suite's own clock when the
//! server was seen down and when it answered again. Nothing is assumed of the command but that
//! it returns: a restart nobody saw happen judges nothing.

use crate::client::Request;
use crate::context::Context;
use std::time::Duration;

/// Which command a restart check uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// `--restart-cmd`: a clean stop.
    Clean,
    /// `--kill-cmd`: a crash.
    Kill,
}

impl How {
    pub fn flag(self) -> &'static str {
        match self {
            How::Clean => "--restart-cmd",
            How::Kill => "--kill-cmd",
        }
    }

    pub fn command(self, ctx: &Context) -> Option<&str> {
        match self {
            How::Clean => ctx.opts.restart_cmd.as_deref(),
            How::Kill => ctx.opts.kill_cmd.as_deref(),
        }
    }

    /// The crash when both are given (the stricter), else whichever is.
    pub fn preferred(ctx: &Context) -> Option<How> {
        [How::Kill, How::Clean].into_iter().find(|h| h.command(ctx).is_some())
    }
}

/// What the suite saw of one restart, on its clock (ms).
#[derive(Clone, Copy, Debug)]
pub struct Downtime {
    /// The command started.
    pub started: u64,
    /// The end of the first `/versions` poll that failed: the server was down by then.
    pub down_by: u64,
    /// The end of the first successful poll after that: the server was serving again.
    pub up_by: u64,
}

/// How often `/versions` is polled while the command runs.
const POLL_MS: u64 = 20;
/// How long the server may take to answer again after the command returned.
const COME_BACK_MS: u64 = 120_000;

async fn serving(ctx: &Context) -> bool {
    let probe = Request::get("/_matrix/client/versions");
    matches!(ctx.client.send(&probe).await, Ok(a) if a.status == 200)
}

/// Run the command of `how`, asking for `down_ms` of downtime, and watch the server go down and
/// come back. `Ok(None)`: the command ran but no poll ever found the server down (too quick to
/// see, or no restart at all).
pub async fn down_and_up(ctx: &Context, how: How, down_ms: u64) -> Result<Option<Downtime>, String> {
    let Some(cmd) = how.command(ctx) else { return Err(format!("no {}", how.flag())) };
    let started = ctx.client.now();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("MSC4140_DOWN_MS", down_ms.to_string())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{} {cmd:?} did not start: {e}", how.flag()))?;
    let mut down_by = None;
    let mut exited = None;
    loop {
        if exited.is_none() {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                if !status.success() {
                    return Err(format!("{} {cmd:?} failed: {status}", how.flag()));
                }
                exited = Some(ctx.client.now());
            }
        }
        let up = serving(ctx).await;
        let now = ctx.client.now();
        match (up, down_by) {
            (false, None) => down_by = Some(now),
            (true, Some(down_by)) => return Ok(Some(Downtime { started, down_by, up_by: now })),
            (true, None) if exited.is_some() => return Ok(None),
            _ => {}
        }
        if exited.is_some_and(|t| now > t + COME_BACK_MS) {
            return Err(format!(
                "the server did not answer /versions within {} s after {} returned",
                COME_BACK_MS / 1000,
                how.flag()
            ));
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}
