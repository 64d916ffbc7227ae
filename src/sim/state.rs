//! The simulator's state and its shared handle, [`SimState`]: the model (`model.rs`), the
//! gateway's bookkeeping (`gateway.rs`), the faults (`faults.rs`) and the back end's lag
//! (`lag.rs`) behind one lock. Every entry point advances the clock first (`orders.rs`).

use super::api::{ApiAnswer, ApiCall};
use super::document::{ChangeOrderSettings, DocumentError, Faults, FaultsPatch, StateDocument};
use super::gateway::Gateway;
use super::lag::Lag;
use super::model::{App, Order, app_from_doc};
use std::sync::{Arc, Mutex, MutexGuard};

// Where these lived before the split (`sim::state::*`); `sim::*` re-exports them too.
pub use super::admin::{
    AdminError, AppSnapshot, ChangeOrderSnapshot, ConsoleOrderRequest, EccSnapshot, StateSnapshot,
};
pub use super::clock::{Clock, ManualClock, SystemClock};
pub use super::gateway::{CallRecord, MAX_CALLS};
pub use super::model::CoKind;

/// Everything behind the lock.
pub(crate) struct Inner {
    pub(crate) gateway: Gateway,
    pub(crate) apps: Vec<App>,
    pub(crate) orders: Vec<Order>,
    pub(crate) settings: ChangeOrderSettings,
    pub(crate) faults: Faults,
    pub(crate) lag: Lag,
    pub(crate) next_seq: u64,
    pub(crate) sts: super::sts::Sts,
}

impl Inner {
    fn from_document(doc: StateDocument, now: i64) -> Inner {
        let mut inner = Inner {
            gateway: Gateway::new(doc.access_keys, doc.limits),
            apps: doc.apps.into_iter().map(|a| app_from_doc(a, now)).collect(),
            orders: Vec::new(),
            settings: doc.change_orders,
            faults: doc.faults,
            lag: Lag::default(),
            next_seq: 0,
            sts: super::sts::Sts::new(doc.sts),
        };
        inner.seed_history(now);
        inner
    }

    /// `POST /_sim/faults`: nothing changes on error.
    pub(crate) fn set_faults(&mut self, patch: &FaultsPatch, now: i64) -> Result<Faults, String> {
        let new = self.faults.patched(patch)?;
        new.check_app_ids("", &|id| self.apps.iter().any(|a| a.app_id == id))?;
        if self.faults.stall_change_orders && !new.stall_change_orders {
            for o in self.orders.iter_mut().filter(|o| o.stalled) {
                o.stalled = false;
                if o.status == crate::edas::CoStatus::Running && o.next_at.is_none() {
                    o.next_at = Some(now + o.step_ms);
                }
            }
        }
        let stale_changed = new.stale_reads != self.faults.stale_reads;
        self.faults = new;
        if stale_changed {
            self.seed_history(now);
        }
        Ok(self.faults.clone())
    }
}

/// The simulator's state, shared by the server, [`super::InProcessEdas`] and tests in the same
/// process.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState").finish_non_exhaustive()
    }
}

impl SimState {
    /// From a document (validated here), on the wall clock.
    pub fn new(doc: StateDocument) -> Result<Self, DocumentError> {
        Self::with_clock(doc, Arc::new(SystemClock))
    }

    /// From a document on the given clock.
    pub fn with_clock(doc: StateDocument, clock: Arc<dyn Clock>) -> Result<Self, DocumentError> {
        doc.validate()?;
        let now = clock.now_ms();
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner::from_document(doc, now))),
            clock,
        })
    }

    /// The built-in demo fleet ([`StateDocument::demo`]).
    pub fn demo() -> Self {
        let now = SystemClock.now_ms();
        Self {
            inner: Arc::new(Mutex::new(Inner::from_document(StateDocument::demo(), now))),
            clock: Arc::new(SystemClock),
        }
    }

    /// From YAML or JSON text.
    pub fn from_text(text: &str) -> Result<Self, DocumentError> {
        Self::new(super::document::parse_document(text)?)
    }

    /// From a state file; the error names the file and the bad field.
    pub fn load(path: &std::path::Path) -> Result<Self, DocumentError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DocumentError(format!("{}: {e}", path.display())))?;
        Self::from_text(&text).map_err(|e| DocumentError(format!("{}: {e}", path.display())))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Lock, advance change orders and deferred work to now, and hand the model and the time
    /// to `f`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner, i64) -> R) -> R {
        let now = self.clock.now_ms();
        let mut guard = self.lock();
        guard.tick(now);
        f(&mut guard, now)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a usable model (every step is complete).
        crate::lock(&self.inner)
    }

    /// Serve one EDAS API call (HTTP server and in-process client alike).
    pub(crate) fn serve(&self, call: &ApiCall<'_>) -> ApiAnswer {
        self.with(|s, now| s.serve(call, now))
    }

    /// One STS call (parameters of the query and the form body together).
    pub(crate) fn serve_sts(
        &self,
        method: &str,
        params: &[(String, String)],
        request_id: &str,
    ) -> super::sts::StsAnswer {
        self.with(|s, now| s.serve_sts(method, params, request_id, now))
    }

    /// One call to the ECS instance metadata service.
    pub(crate) fn serve_imds(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
    ) -> super::sts::StsAnswer {
        self.with(|s, now| s.serve_imds(method, path, headers, now))
    }

    /// `POST /_sim/oidc-tokens`: a token of the named OIDC provider.
    pub fn mint_oidc_token(&self, req: &super::sts::MintTokenRequest) -> Result<String, String> {
        self.with(|s, now| s.mint_oidc_token(req, now))
    }

    /// `GET /_sim/sts/issued`: temporary credentials issued (secrets included, for tests).
    pub fn issued_credentials(&self) -> Vec<super::sts::IssuedCredentials> {
        self.with(|s, _| s.gateway.issued())
    }

    /// What `GET /_sim/state` shows.
    pub fn snapshot(&self) -> StateSnapshot {
        self.with(|s, _| s.snapshot())
    }

    /// What `GET /_sim/calls` shows: every API call in order (late-applied ones show when they
    /// were carried out once the clock has passed their `dueAt`).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.with(|s, _| s.gateway.calls())
    }

    pub fn clear_calls(&self) {
        self.lock().gateway.clear_calls();
    }

    pub fn faults(&self) -> Faults {
        self.with(|s, _| s.faults.clone())
    }

    /// `latencyMs`, without advancing the clock (read on every HTTP call).
    pub(crate) fn latency_ms(&self) -> u64 {
        self.lock().faults.latency_ms
    }

    /// `POST /_sim/faults`; on error nothing changes.
    pub fn set_faults(&self, patch: &FaultsPatch) -> Result<Faults, String> {
        self.with(|s, now| s.set_faults(patch, now))
    }

    /// Deferred back-end work not carried out yet (`lateApply` mutations, `asyncForce`
    /// removals).
    pub fn pending_work(&self) -> usize {
        self.with(|s, _| s.lag.pending_count())
    }

    /// `POST /_sim/apps/{appId}/change-orders`: returns the new change-order id.
    pub fn start_change_order(
        &self,
        app_id: &str,
        req: &ConsoleOrderRequest,
    ) -> Result<String, AdminError> {
        self.with(|s, now| s.console_order(app_id, req, now))
    }

    /// `POST /_sim/change-orders/{id}/end`: end an order as a human would. `code` 6 aborts
    /// (ECCs of unfinished tasks stay), 7 is partial success with rollback (removed ECCs come
    /// back), any other final code (2, 3, 10, 4, 11, ...) leaves the ECCs as they are; 0, 1, 8
    /// and 9 are refused (400). Unknown order: 404.
    pub fn end_change_order(&self, id: &str, code: i64) -> Result<ChangeOrderSnapshot, AdminError> {
        self.with(|s, now| s.end_change_order(id, code, now))
    }

    /// `POST /_sim/reset`: replace everything (apps, keys, settings, faults; orders, calls,
    /// nonces, rate windows and deferred work are cleared). On error nothing changes.
    pub fn reset(&self, doc: StateDocument) -> Result<(), DocumentError> {
        doc.validate()?;
        let now = self.clock.now_ms();
        *self.lock() = Inner::from_document(doc, now);
        Ok(())
    }
}
