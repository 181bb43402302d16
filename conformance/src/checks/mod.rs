//! Every check of the suite: the model's witness traces first, then the hand-written ones.

pub mod appservice;
pub mod control;
pub mod input;
pub mod limits;
pub mod merged;
pub mod races;
pub mod scripted;
pub mod witness;

use crate::context::Context;
use crate::outcome::{CheckInfo, CheckResult};
use crate::witnesses::{Document, Witness};
use spec_model::config::Config;

#[derive(Clone, Debug)]
pub enum Check {
    Witness(Box<Witness>, Box<Config>),
    Scripted(&'static scripted::Script),
    Row(&'static input::Row),
    OrdinarySend,
    UniqueIds,
    Isolation,
    RaceActions,
    RaceTimer,
    SchedulingLimit,
    ManagementLimit,
    MergedBadBodies,
    MergedDelayIdUnsigned,
    MergedRetryAfter,
    Restart(&'static scripted::Script, crate::restart::How),
    Appservice,
}

impl Check {
    pub fn info(&self) -> CheckInfo {
        match self {
            Check::Witness(w, cfg) => witness::info(w).in_revision(cfg.revision),
            Check::Scripted(s) => scripted::info(s),
            Check::Row(r) => input::row_info(r),
            Check::OrdinarySend => input::ordinary_send_info(),
            Check::UniqueIds => input::unique_ids_info(),
            Check::Isolation => input::isolation_info(),
            Check::RaceActions => races::actions_info(),
            Check::RaceTimer => races::timer_info(),
            Check::SchedulingLimit => limits::scheduling_info(),
            Check::ManagementLimit => limits::management_info(),
            Check::MergedBadBodies => merged::bad_bodies_info(),
            Check::MergedDelayIdUnsigned => merged::delay_id_unsigned_info(),
            Check::MergedRetryAfter => merged::retry_after_info(),
            Check::Restart(s, how) => scripted::restart_info(s, *how),
            Check::Appservice => appservice::info(),
        }
    }

    pub async fn run(&self, ctx: &Context) -> CheckResult {
        match self {
            Check::Witness(w, cfg) => witness::run(ctx, w, cfg).await,
            Check::Scripted(s) => scripted::run(ctx, s).await,
            Check::Row(r) => input::run_row(ctx, r).await,
            Check::OrdinarySend => input::ordinary_send(ctx).await,
            Check::UniqueIds => input::unique_ids(ctx).await,
            Check::Isolation => input::isolation(ctx).await,
            Check::RaceActions => races::concurrent_actions(ctx).await,
            Check::RaceTimer => races::at_the_due_time(ctx).await,
            Check::SchedulingLimit => limits::scheduling(ctx).await,
            Check::ManagementLimit => limits::management(ctx).await,
            Check::MergedBadBodies => merged::bad_bodies(ctx).await,
            Check::MergedDelayIdUnsigned => merged::delay_id_unsigned(ctx).await,
            Check::MergedRetryAfter => merged::retry_after(ctx).await,
            Check::Restart(s, how) => scripted::run_restart(ctx, s, *how).await,
            Check::Appservice => appservice::run(ctx).await,
        }
    }

    /// Whether it takes the server down: such checks run one at a time after all the others.
    pub fn restarts_the_server(&self) -> bool {
        match self {
            Check::Witness(w, _) => witness::restarts(w),
            Check::Restart(..) => true,
            _ => false,
        }
    }
}

/// All checks after the controls, in report order: the witnesses of `doc`'s revision, then that
/// revision's hand-written checks.
pub fn all(doc: &Document) -> Vec<Check> {
    let merged = doc.profile == "rev-2026-07-10";
    let mut out: Vec<Check> = doc
        .witnesses
        .iter()
        .filter_map(|w| {
            let cfg = doc.configurations.get(w.configuration.as_ref()?)?;
            witness::runnable(w, cfg).ok()?;
            Some(Check::Witness(Box::new(w.clone()), Box::new(*cfg)))
        })
        .collect();
    if merged {
        out.extend([Check::MergedBadBodies, Check::MergedDelayIdUnsigned, Check::MergedRetryAfter]);
        for how in [crate::restart::How::Clean, crate::restart::How::Kill] {
            out.extend(scripted::RESTART_SCRIPTS.iter().map(|s| Check::Restart(s, how)));
        }
        return out;
    }
    out.extend(scripted::SCRIPTS.iter().map(Check::Scripted));
    out.extend(input::ROWS.iter().map(Check::Row));
    out.extend([
        Check::OrdinarySend,
        Check::UniqueIds,
        Check::Isolation,
        Check::RaceActions,
        Check::RaceTimer,
        Check::SchedulingLimit,
        Check::ManagementLimit,
        Check::Appservice,
    ]);
    out
}
