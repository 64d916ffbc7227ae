//! A per-access-key, per-operation call budget, so the operator itself never provokes
//! throttling. The gateway counts calls in a sliding 60 s window, and so does the budget: at
//! most `share x limit` calls of an operation in any window (a little longer than 60 s, for
//! the time a call takes to reach the gateway). A fleet that fits in the window goes out at
//! once; a larger one is paced at the limit. When EDAS throttles anyway, the limit in force
//! is cut (at once to what the window held, since the real limit is no higher) and grows
//! back while no throttle comes.
//!
//! Calls made before a restart or a leader change are not in this process's memory; the
//! controller tells the budget what the resources' status recorded of them
//! ([`CallBudget::remember`]) before the first call.

use super::Operation;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The gateway's window, plus a margin for the time a call takes to reach it.
pub const WINDOW: Duration = Duration::from_millis(60_500);

#[derive(Clone, Debug)]
pub struct BudgetConfig {
    /// Per-minute limit per operation; operations absent here are not limited.
    pub limits: BTreeMap<Operation, u32>,
    /// Share of each limit the operator allows itself (0 < share <= 1).
    pub share: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        let limits = Operation::ALL
            .into_iter()
            .filter_map(|op| op.documented_limit_per_minute().map(|l| (op, l)))
            .collect();
        Self { limits, share: 0.9 }
    }
}

impl BudgetConfig {
    /// Parse `Op=N,Op=N` overrides on top of the documented limits.
    pub fn with_overrides(mut self, spec: &str) -> Result<Self, String> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, n) = part
                .split_once('=')
                .ok_or_else(|| format!("rate limit {part:?}: expected Operation=perMinute"))?;
            let op = Operation::from_name(name.trim())
                .ok_or_else(|| format!("rate limit {part:?}: unknown operation {name:?}"))?;
            let n: u32 = n
                .trim()
                .parse()
                .map_err(|_| format!("rate limit {part:?}: {n:?} is not a whole number"))?;
            if n == 0 {
                self.limits.remove(&op);
            } else {
                self.limits.insert(op, n);
            }
        }
        Ok(self)
    }

    /// Effective calls per minute the operator allows itself for an operation.
    pub fn effective_per_minute(&self, op: Operation) -> Option<f64> {
        self.limits
            .get(&op)
            .map(|l| (*l as f64 * self.share).max(1.0))
    }
}

/// After a throttle, the limit in force is cut to this share of itself (once per
/// `CUT_SPACING`), and to no more than the window held...
const CUT: f64 = 0.6;
/// ...never below this share of the configured limit...
const MIN_FACTOR: f64 = 0.25;
/// ...and grows back by this share per second without throttling (a minute from the floor).
const RECOVERY_PER_SEC: f64 = (1.0 - MIN_FACTOR) / 60.0;
const CUT_SPACING: Duration = Duration::from_secs(2);

/// The calls of one (key, operation) in the last window.
struct Window {
    sent: VecDeque<Instant>,
    /// Share of the configured limit in force: 1 until EDAS throttles us (AIMD).
    factor: f64,
    last: Instant,
    last_cut: Option<Instant>,
}

impl Window {
    fn new(now: Instant, prior: &[Instant]) -> Self {
        let mut w = Window {
            sent: VecDeque::new(),
            factor: 1.0,
            last: now,
            last_cut: None,
        };
        for t in prior {
            w.insert(*t);
        }
        w
    }

    fn insert(&mut self, at: Instant) {
        let i = self.sent.partition_point(|t| *t <= at);
        self.sent.insert(i, at);
    }

    /// Forget calls older than the window; let the factor grow back.
    fn advance(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.sent.pop_front();
        }
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.factor = (self.factor + dt * RECOVERY_PER_SEC).min(1.0);
        self.last = self.last.max(now);
    }

    /// Calls allowed in a window now.
    fn allowed(&self, per_minute: f64) -> usize {
        ((per_minute * self.factor).floor() as usize).max(1)
    }
}

/// Shared by every client of the process.
pub struct CallBudget {
    config: BudgetConfig,
    windows: Mutex<HashMap<(String, Operation), Window>>,
    /// Calls recorded before this process started (from the resources' status): every key's
    /// window starts with them, since which key made them is not known.
    prior: Mutex<BTreeMap<Operation, Vec<Instant>>>,
}

impl CallBudget {
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            config,
            windows: Mutex::new(HashMap::new()),
            prior: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// Count calls made before this process started (by a previous run or another leader)
    /// against every key's window.
    pub fn remember(&self, op: Operation, calls: &[Instant]) {
        if self.config.effective_per_minute(op).is_none() || calls.is_empty() {
            return;
        }
        crate::lock(&self.prior)
            .entry(op)
            .or_default()
            .extend_from_slice(calls);
        let mut windows = crate::lock(&self.windows);
        for ((_, o), w) in windows.iter_mut() {
            if *o == op {
                for t in calls {
                    w.insert(*t);
                }
            }
        }
    }

    /// Take one call, or say how long to wait before asking again.
    pub fn try_take(&self, key_id: &str, op: Operation, now: Instant) -> Result<(), Duration> {
        let Some(per_minute) = self.config.effective_per_minute(op) else {
            return Ok(());
        };
        let mut windows = crate::lock(&self.windows);
        let w = windows.entry((key_id.to_string(), op)).or_insert_with(|| {
            let prior = crate::lock(&self.prior);
            Window::new(now, prior.get(&op).map_or(&[][..], Vec::as_slice))
        });
        w.advance(now);
        let allowed = w.allowed(per_minute);
        if w.sent.len() < allowed {
            w.insert(now);
            return Ok(());
        }
        // The call that must leave the window before one more fits.
        let oldest = w.sent[w.sent.len() - allowed];
        Err((oldest + WINDOW).saturating_duration_since(now))
    }

    /// How long until one more call of `op` fits (zero: now), without taking it, when
    /// `keep` calls of the window are kept for others.
    pub fn wait_for(&self, key_id: &str, op: Operation, now: Instant, keep: usize) -> Duration {
        let Some(per_minute) = self.config.effective_per_minute(op) else {
            return Duration::ZERO;
        };
        let mut windows = crate::lock(&self.windows);
        let Some(w) = windows.get_mut(&(key_id.to_string(), op)) else {
            return Duration::ZERO;
        };
        w.advance(now);
        let allowed = w.allowed(per_minute).saturating_sub(keep);
        if w.sent.len() < allowed {
            return Duration::ZERO;
        }
        match w.sent.get(w.sent.len() - allowed) {
            Some(oldest) => (*oldest + WINDOW).saturating_duration_since(now),
            None => WINDOW,
        }
    }

    /// EDAS throttled a call: the limit in force is lower than we thought, and no higher
    /// than what the window holds. Cut it (multiplicative decrease; it grows back while no
    /// throttle comes).
    pub fn on_throttled(&self, key_id: &str, op: Operation, now: Instant) {
        let Some(per_minute) = self.config.effective_per_minute(op) else {
            return;
        };
        let mut windows = crate::lock(&self.windows);
        if let Some(w) = windows.get_mut(&(key_id.to_string(), op)) {
            w.advance(now);
            if w.last_cut
                .is_none_or(|t| now.saturating_duration_since(t) >= CUT_SPACING)
            {
                let held = w.sent.len() as f64 / per_minute;
                w.factor = (w.factor * CUT).min(held).max(MIN_FACTOR);
                w.last_cut = Some(now);
            }
        }
    }

    /// The share of the configured limit in force (1 = not throttled lately).
    pub fn factor(&self, key_id: &str, op: Operation) -> f64 {
        crate::lock(&self.windows)
            .get(&(key_id.to_string(), op))
            .map_or(1.0, |w| w.factor)
    }

    /// Forget windows unused for `idle` (expired STS keys, deleted resources' keys): an idle
    /// window is empty anyway.
    pub fn prune_idle(&self, now: Instant, idle: Duration) {
        let idle = idle.max(WINDOW);
        crate::lock(&self.windows).retain(|_, w| now.saturating_duration_since(w.last) < idle);
    }

    /// Windows kept now.
    pub fn windows(&self) -> usize {
        crate::lock(&self.windows).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QAS: Operation = Operation::QueryApplicationStatus;

    /// Ask every `step` for `secs`; the times of the calls let through.
    fn drive(b: &CallBudget, key: &str, t0: Instant, step_ms: u64, secs: u64) -> Vec<Instant> {
        (0..secs * 1000 / step_ms)
            .map(|i| t0 + Duration::from_millis(i * step_ms))
            .filter(|t| b.try_take(key, QAS, *t).is_ok())
            .collect()
    }

    fn most_in_any_minute(calls: &[Instant]) -> usize {
        calls
            .iter()
            .map(|s| {
                calls
                    .iter()
                    .filter(|t| **t >= *s && t.duration_since(*s) < Duration::from_secs(60))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_fleet_that_fits_in_the_window_goes_out_at_once() {
        let b = CallBudget::new(BudgetConfig::default());
        let t0 = Instant::now();
        for i in 0..90 {
            assert!(b.try_take("ak", QAS, t0).is_ok(), "call {i}");
        }
        let wait = b.try_take("ak", QAS, t0).unwrap_err();
        assert_eq!(wait, WINDOW);
        assert!(b.try_take("ak", QAS, t0 + WINDOW).is_ok());
    }

    #[test]
    fn no_sixty_seconds_hold_more_than_the_share_of_the_limit_and_the_pace_is_the_limit() {
        let b = CallBudget::new(BudgetConfig::default());
        let calls = drive(&b, "ak", Instant::now(), 10, 300);
        assert_eq!(most_in_any_minute(&calls), 90);
        // Five minutes: five windows of 90 (each window a little over 60 s).
        assert!((440..=450).contains(&calls.len()), "{}", calls.len());
    }

    #[test]
    fn calls_made_before_a_restart_count_against_the_window() {
        let b = CallBudget::new(BudgetConfig::default());
        let t0 = Instant::now() + Duration::from_secs(100);
        let before: Vec<Instant> = (0..50).map(|_| t0 - Duration::from_secs(30)).collect();
        b.remember(QAS, &before);
        // Unlimited operations ignore it.
        b.remember(Operation::ScaleInApplication, &before);
        let first = drive(&b, "any-key", t0, 10, 1);
        assert_eq!(first.len(), 40);
        let wait = b.try_take("any-key", QAS, t0).unwrap_err();
        assert_eq!(wait, WINDOW - Duration::from_secs(30));
        // A key whose window already existed counts them too.
        let c = CallBudget::new(BudgetConfig::default());
        assert!(c.try_take("k", QAS, t0).is_ok());
        c.remember(QAS, &before);
        assert_eq!(drive(&c, "k", t0, 10, 1).len(), 39);
    }

    #[test]
    fn keys_and_operations_have_separate_windows_and_unlimited_ops_pass() {
        let b = CallBudget::new(
            BudgetConfig::default()
                .with_overrides("ListApplication=1")
                .unwrap(),
        );
        let now = Instant::now();
        assert!(b.try_take("a", Operation::ListApplication, now).is_ok());
        assert!(b.try_take("a", Operation::ListApplication, now).is_err());
        assert!(b.try_take("b", Operation::ListApplication, now).is_ok());
        for _ in 0..1000 {
            assert!(b.try_take("a", Operation::ScaleInApplication, now).is_ok());
        }
    }

    #[test]
    fn throttling_cuts_the_limit_to_what_the_window_held_and_it_grows_back() {
        let b = CallBudget::new(BudgetConfig::default());
        let t0 = Instant::now();
        // EDAS really allows 20: the 21st call is throttled.
        for _ in 0..21 {
            assert!(b.try_take("ak", QAS, t0).is_ok());
        }
        b.on_throttled("ak", QAS, t0);
        assert!((b.factor("ak", QAS) - MIN_FACTOR).abs() < 1e-9);
        // A second throttle right away does not compound.
        b.on_throttled("ak", QAS, t0 + Duration::from_millis(500));
        assert!((b.factor("ak", QAS) - MIN_FACTOR).abs() < 0.01);
        // The window holds about the cut limit (22, a little more as it grows back): a few
        // calls more, then nothing until calls leave it.
        let more = drive(&b, "ak", t0 + Duration::from_secs(1), 10, 1).len();
        assert!((1..=3).contains(&more), "{more}");
        // A throttle with a fuller window cuts by CUT, not below the floor.
        let c = CallBudget::new(BudgetConfig::default());
        for _ in 0..90 {
            assert!(c.try_take("ak", QAS, t0).is_ok());
        }
        c.on_throttled("ak", QAS, t0);
        assert!((c.factor("ak", QAS) - CUT).abs() < 1e-9);
        // Without throttles the limit recovers fully.
        let _ = b.try_take("ak", QAS, t0 + Duration::from_secs(200));
        assert!((b.factor("ak", QAS) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_peek_says_how_long_a_call_would_wait_without_taking_it() {
        let b = CallBudget::new(BudgetConfig::default());
        let op = Operation::ScaleOutApplication;
        let t0 = Instant::now();
        assert_eq!(b.wait_for("ak", op, t0, 0), Duration::ZERO);
        // 40/min at share 0.9: 36 fit.
        for i in 0..36 {
            assert_eq!(b.wait_for("ak", op, t0, 0), Duration::ZERO, "call {i}");
            b.try_take("ak", op, t0).unwrap();
        }
        let wait = b.wait_for("ak", op, t0, 0);
        assert_eq!(wait, WINDOW);
        assert_eq!(b.try_take("ak", op, t0), Err(wait), "peeking took nothing");
        assert_eq!(b.wait_for("ak", op, t0 + WINDOW, 0), Duration::ZERO);
        // Keeping 10 of the 36 for others: the 27th call waits, the 26th would not.
        let b = CallBudget::new(BudgetConfig::default());
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..25 {
            b.try_take("ak", op, t0).unwrap();
        }
        assert_eq!(b.wait_for("ak", op, t1, 10), Duration::ZERO);
        b.try_take("ak", op, t1).unwrap();
        assert_eq!(
            b.wait_for("ak", op, t1, 10),
            WINDOW - Duration::from_secs(1)
        );
        assert_eq!(b.wait_for("ak", op, t1, 0), Duration::ZERO);
    }

    #[test]
    fn idle_windows_of_old_keys_are_pruned() {
        let b = CallBudget::new(BudgetConfig::default());
        let t0 = Instant::now();
        assert!(b.try_take("old-sts-key", QAS, t0).is_ok());
        let later = t0 + Duration::from_secs(1000);
        assert!(b.try_take("new-sts-key", QAS, later).is_ok());
        assert_eq!(b.windows(), 2);
        b.prune_idle(later, Duration::from_secs(900));
        assert_eq!(b.windows(), 1);
        assert_eq!(b.factor("new-sts-key", QAS), 1.0);
    }

    #[test]
    fn bad_overrides_name_what_is_wrong() {
        let e = BudgetConfig::default()
            .with_overrides("Nope=3")
            .unwrap_err();
        assert!(e.contains("unknown operation"), "{e}");
        let e = BudgetConfig::default()
            .with_overrides("ListApplication=x")
            .unwrap_err();
        assert!(e.contains("not a whole number"), "{e}");
    }
}
