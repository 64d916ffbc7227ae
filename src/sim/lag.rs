//! The back end's lag behind the gateway: work carried out later than it was answered
//! (`lateApply` mutations, `asyncForce` removals) and reads that see an older state
//! (`staleReads`).
//!
//! Stale reads: while `staleReads` covers an app, every change to it is recorded as a version
//! stamped with the simulator time it happened at. A read at time `now` answers from the
//! newest version stamped at or before `now - staleReadMs`, i.e. exactly the state of
//! `staleReadMs` ago; before that much history exists (the fault was just switched on, or the
//! state was just loaded), from the oldest version kept.

use super::error::ApiError;
use super::gateway::LateResult;
use super::model::{App, Order};
use super::ops::Mutation;
use super::state::Inner;
use std::collections::{HashMap, VecDeque};

/// Back-end work due later.
#[derive(Clone, Debug)]
pub(crate) enum Deferred {
    /// A late-applied mutation; `request_id` finds its call-log record.
    Mutation {
        request_id: String,
        mutation: Mutation,
    },
    /// A forced scale-in's removal (`asyncForce`).
    ForceRemoval {
        app_id: String,
        ecc_ids: Vec<String>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Pending {
    due_at: i64,
    seq: u64,
    work: Deferred,
}

/// One app as reads saw it at `at`.
#[derive(Clone, Debug)]
pub(crate) struct AppVersion {
    at: i64,
    pub app: App,
    pub orders: Vec<Order>,
}

#[derive(Default)]
pub(crate) struct Lag {
    pending: Vec<Pending>,
    history: HashMap<String, VecDeque<AppVersion>>,
    seq: u64,
}

impl Lag {
    pub(crate) fn defer(&mut self, due_at: i64, work: Deferred) {
        self.seq += 1;
        self.pending.push(Pending {
            due_at,
            seq: self.seq,
            work,
        });
    }

    pub(crate) fn next_due(&self) -> Option<i64> {
        self.pending.iter().map(|p| p.due_at).min()
    }

    /// The earliest work due at or before `at` (first deferred first on a tie).
    pub(crate) fn pop_due(&mut self, at: i64) -> Option<(i64, Deferred)> {
        let i = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.due_at <= at)
            .min_by_key(|(_, p)| (p.due_at, p.seq))
            .map(|(i, _)| i)?;
        let p = self.pending.remove(i);
        Some((p.due_at, p.work))
    }

    /// Work not carried out yet.
    pub(crate) fn pending_count(&self) -> usize {
        self.pending.len()
    }
}

impl Inner {
    /// Carry out deferred work at `now`, the time it was due (orders have been advanced to it).
    pub(crate) fn run_deferred(&mut self, work: Deferred, now: i64) {
        match work {
            Deferred::Mutation {
                request_id,
                mutation,
            } => {
                let result = self.apply(&mutation, "pop", now);
                if let Some(call) = self.gateway.call_mut(&request_id) {
                    call.applied_at = Some(now);
                    call.late_result = Some(match result {
                        Ok(change_order_id) => LateResult {
                            code: 200,
                            change_order_id,
                            message: None,
                        },
                        Err(ApiError::Business { code, message }) => LateResult {
                            code,
                            change_order_id: None,
                            message: Some(message),
                        },
                        Err(ApiError::Gateway(g)) => LateResult {
                            code: i64::from(g.http_status),
                            change_order_id: None,
                            message: Some(g.message),
                        },
                    });
                }
            }
            Deferred::ForceRemoval { app_id, ecc_ids } => {
                self.remove_eccs(&app_id, &ecc_ids, now);
            }
        }
    }

    /// Record the app's state at `at` for stale reads (only while `staleReads` covers it).
    pub(crate) fn changed(&mut self, app_id: &str, at: i64) {
        let Some(lag) = self.faults.stale_lag(app_id) else {
            return;
        };
        let Some(app) = self.apps.iter().find(|a| a.app_id == app_id) else {
            return;
        };
        let orders: Vec<Order> = self
            .orders
            .iter()
            .filter(|o| o.app_id == app_id)
            .cloned()
            .collect();
        let versions = self.lag.history.entry(app_id.to_string()).or_default();
        let at = versions.back().map_or(at, |v| v.at.max(at));
        // Changes at the same moment are one version; the first version is kept as the state
        // before them (what reads show until the history is `staleReadMs` long).
        if versions.len() > 1 && versions.back().is_some_and(|v| v.at == at) {
            versions.pop_back();
        }
        versions.push_back(AppVersion {
            at,
            app: app.clone(),
            orders,
        });
        while versions.len() >= 2 && versions[1].at <= at - lag {
            versions.pop_front();
        }
    }

    /// Start the history afresh (the `staleReads` fault was set or changed).
    pub(crate) fn seed_history(&mut self, now: i64) {
        self.lag.history.clear();
        let ids: Vec<String> = self.apps.iter().map(|a| a.app_id.clone()).collect();
        for id in ids {
            self.changed(&id, now);
        }
    }

    /// The version a read of `app_id` at `now` answers from, when `staleReads` covers it.
    pub(crate) fn stale_version(&self, app_id: &str, now: i64) -> Option<&AppVersion> {
        let lag = self.faults.stale_lag(app_id)?;
        let versions = self.lag.history.get(app_id)?;
        versions
            .iter()
            .rev()
            .find(|v| v.at <= now - lag)
            .or(versions.front())
    }
}
