//! A per-access-key, per-operation call budget, so the operator itself never provokes
//! throttling. One token bucket per (key id, operation), refilled continuously at the
//! per-minute limit times a share. Urgent calls (polls of change orders in flight, mutations)
//! may use the whole bucket; background calls (periodic resyncs) leave a reserve for them.

use super::Operation;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Following a change order in flight, or a mutation.
    Urgent,
    /// Everything else (observation, resync).
    Normal,
}

#[derive(Clone, Debug)]
pub struct BudgetConfig {
    /// Per-minute limit per operation; operations absent here are not limited.
    pub limits: BTreeMap<Operation, u32>,
    /// Share of each limit the operator allows itself (0 < share <= 1).
    pub share: f64,
    /// Share of the bucket kept for urgent calls.
    pub urgent_reserve: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        let limits = Operation::ALL
            .into_iter()
            .filter_map(|op| op.documented_limit_per_minute().map(|l| (op, l)))
            .collect();
        Self {
            limits,
            share: 0.9,
            urgent_reserve: 0.2,
        }
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

/// After a throttle, the rate is cut to this share of itself (once per `CUT_SPACING`)...
const CUT: f64 = 0.6;
/// ...never below this share of the configured rate...
const MIN_FACTOR: f64 = 0.25;
/// ...and grows back by this share per second without throttling (a minute from the floor).
const RECOVERY_PER_SEC: f64 = (1.0 - MIN_FACTOR) / 60.0;
const CUT_SPACING: Duration = Duration::from_secs(2);

struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    /// Share of `per_sec` in force: 1 until EDAS throttles us (AIMD).
    factor: f64,
    last: Instant,
    last_cut: Option<Instant>,
}

impl Bucket {
    fn rate(&self) -> f64 {
        self.per_sec * self.factor
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate()).min(self.capacity);
        self.factor = (self.factor + dt * RECOVERY_PER_SEC).min(1.0);
        self.last = now;
    }
}

/// Shared by every client of the process.
pub struct CallBudget {
    config: BudgetConfig,
    buckets: Mutex<HashMap<(String, Operation), Bucket>>,
}

impl CallBudget {
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// Take one token, or say how long to wait before asking again.
    pub fn try_take(
        &self,
        key_id: &str,
        op: Operation,
        priority: Priority,
        now: Instant,
    ) -> Result<(), Duration> {
        let Some(per_minute) = self.config.effective_per_minute(op) else {
            return Ok(());
        };
        let mut buckets = crate::lock(&self.buckets);
        // A small burst (a tenth of a minute's worth) keeps start-up quick without bursting
        // past the per-minute limit as measured over any window.
        let capacity = (per_minute / 10.0).max(1.0);
        let bucket = buckets
            .entry((key_id.to_string(), op))
            .or_insert_with(|| Bucket {
                tokens: capacity,
                capacity,
                per_sec: per_minute / 60.0,
                factor: 1.0,
                last: now,
                last_cut: None,
            });
        bucket.refill(now);
        let floor = match priority {
            Priority::Urgent => 0.0,
            Priority::Normal => (capacity * self.config.urgent_reserve).min(capacity - 1.0),
        };
        if bucket.tokens - 1.0 >= floor {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = floor + 1.0 - bucket.tokens;
            Err(Duration::from_secs_f64(missing / bucket.rate()))
        }
    }

    /// EDAS throttled a call: the limit in force is lower than we thought. Empty the bucket
    /// and cut the rate (multiplicative decrease; it grows back while no throttle comes).
    pub fn on_throttled(&self, key_id: &str, op: Operation, now: Instant) {
        let mut buckets = crate::lock(&self.buckets);
        if let Some(b) = buckets.get_mut(&(key_id.to_string(), op)) {
            b.refill(now);
            b.tokens = b.tokens.min(0.0);
            if b.last_cut
                .is_none_or(|t| now.saturating_duration_since(t) >= CUT_SPACING)
            {
                b.factor = (b.factor * CUT).max(MIN_FACTOR);
                b.last_cut = Some(now);
            }
        }
    }

    /// The share of the configured rate in force (1 = not throttled lately).
    pub fn factor(&self, key_id: &str, op: Operation) -> f64 {
        let buckets = crate::lock(&self.buckets);
        buckets
            .get(&(key_id.to_string(), op))
            .map_or(1.0, |b| b.factor)
    }

    /// Forget buckets unused for `idle` (expired STS keys, deleted resources' keys): an idle
    /// bucket has refilled anyway.
    pub fn prune_idle(&self, now: Instant, idle: Duration) {
        crate::lock(&self.buckets).retain(|_, b| now.saturating_duration_since(b.last) < idle);
    }

    /// Buckets kept now.
    pub fn buckets(&self) -> usize {
        crate::lock(&self.buckets).len()
    }

    /// Wait until a call may go out.
    pub async fn acquire(&self, key_id: &str, op: Operation, priority: Priority) {
        loop {
            match self.try_take(key_id, op, priority, Instant::now()) {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(5))).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn idle_buckets_of_old_keys_are_pruned() {
        let b = CallBudget::new(BudgetConfig::default());
        let t0 = Instant::now();
        let op = Operation::QueryApplicationStatus;
        assert!(b.try_take("old-sts-key", op, Priority::Normal, t0).is_ok());
        let later = t0 + Duration::from_secs(1000);
        assert!(
            b.try_take("new-sts-key", op, Priority::Normal, later)
                .is_ok()
        );
        assert_eq!(b.buckets(), 2);
        b.prune_idle(later, Duration::from_secs(900));
        assert_eq!(b.buckets(), 1);
        assert_eq!(b.factor("new-sts-key", op), 1.0);
    }

    use super::*;

    #[test]
    fn budget_never_exceeds_the_limit_over_a_minute() {
        let b = CallBudget::new(BudgetConfig::default());
        let start = Instant::now();
        let mut taken = 0;
        // Simulate a caller that asks every 10 ms for 60 s.
        for i in 0..6000u64 {
            let now = start + Duration::from_millis(i * 10);
            if b.try_take(
                "ak",
                Operation::QueryApplicationStatus,
                Priority::Urgent,
                now,
            )
            .is_ok()
            {
                taken += 1;
            }
        }
        // 100/min * 0.9 share plus the initial burst of 9.
        assert!(taken <= 100, "{taken}");
        assert!(taken >= 85, "{taken}");
    }

    #[test]
    fn normal_calls_leave_a_reserve_for_urgent_ones() {
        let b = CallBudget::new(BudgetConfig::default());
        let now = Instant::now();
        let op = Operation::GetChangeOrderInfo;
        let mut normal = 0;
        while b.try_take("ak", op, Priority::Normal, now).is_ok() {
            normal += 1;
        }
        assert!(b.try_take("ak", op, Priority::Urgent, now).is_ok());
        assert!(normal >= 1);
    }

    #[test]
    fn keys_and_operations_have_separate_buckets_and_unlimited_ops_pass() {
        let b = CallBudget::new(
            BudgetConfig::default()
                .with_overrides("ListApplication=1")
                .unwrap(),
        );
        let now = Instant::now();
        assert!(
            b.try_take("a", Operation::ListApplication, Priority::Urgent, now)
                .is_ok()
        );
        assert!(
            b.try_take("a", Operation::ListApplication, Priority::Urgent, now)
                .is_err()
        );
        assert!(
            b.try_take("b", Operation::ListApplication, Priority::Urgent, now)
                .is_ok()
        );
        for _ in 0..1000 {
            assert!(
                b.try_take("a", Operation::ScaleInApplication, Priority::Urgent, now)
                    .is_ok()
            );
        }
    }

    #[test]
    fn throttling_cuts_the_rate_and_it_grows_back() {
        let b = CallBudget::new(BudgetConfig::default());
        let op = Operation::QueryApplicationStatus;
        let t0 = Instant::now();
        assert!(b.try_take("ak", op, Priority::Urgent, t0).is_ok());
        b.on_throttled("ak", op, t0);
        assert!((b.factor("ak", op) - 0.6).abs() < 1e-9);
        // A second throttle right away does not compound; one after the spacing does.
        b.on_throttled("ak", op, t0 + Duration::from_millis(500));
        assert!((b.factor("ak", op) - 0.6).abs() < 0.01);
        for i in 1..10 {
            b.on_throttled("ak", op, t0 + CUT_SPACING * (i + 1));
        }
        assert!((b.factor("ak", op) - MIN_FACTOR).abs() < 0.01, "floor");
        // Calls in the next minute: at most the floor rate, not the configured one.
        let start = t0 + CUT_SPACING * 11;
        let mut taken = 0;
        for ms in (0..60_000u64).step_by(10) {
            if b.try_take(
                "ak",
                op,
                Priority::Urgent,
                start + Duration::from_millis(ms),
            )
            .is_ok()
            {
                taken += 1;
            }
        }
        assert!(
            taken < 70,
            "{taken} calls in the minute after throttling (configured 90)"
        );
        // Without throttles the rate recovers fully.
        let _ = b.try_take("ak", op, Priority::Urgent, start + Duration::from_secs(200));
        assert!((b.factor("ak", op) - 1.0).abs() < 1e-9);
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
