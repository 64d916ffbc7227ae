//! Every timing policy of the controller in one place. PURE except `OrderDurations`, which
//! learns from finished orders behind a lock.
//!
//! | situation | wait |
//! |---|---|
//! | a change order of ours runs | first poll: as long as orders of its size took (learned, 2-120 s); then 2 s, 3 s, 4.5 s ... up to 30 s |
//! | an order waits for manual confirmation (status 8) | 30 s |
//! | a foreign order holds the app | 5 s, growing like the poll interval |
//! | EDAS refused the ScaleIn with "order in progress" (601) | per-object backoff (2 s doubling to 300 s), at least 5 s |
//! | a ScaleIn's outcome is unknown | until the quiet window (2 x EDAS timeout + read-lag hold-off) has passed, then 5 s between the two proving observations |
//! | an order of ours ended, its ECCs still listed | up to the read-lag hold-off, then the order is re-read |
//! | a forced ScaleIn, its ECCs still listed | up to the forced hold-off, then Stalled |
//! | our orders failed n times in a row | failure backoff: base, 2x, 4x ... up to 20x base |
//! | EDAS call failed | per-object backoff with jitter, at least the server's retry hint |
//! | ECCs an order of ours added are listed, not healthy yet | a quarter of the youngest one's age, 5 s to 30 s (5 s while one is not listed yet) |
//! | converged | fleet-scaled resync with jitter (`Context::resync_interval`) |

use std::time::Duration;

/// First poll of a new change order when nothing was learned, then growing by half each poll
/// up to the cap.
pub const POLL_FIRST: Duration = Duration::from_secs(2);
/// The first poll of a new order before any order was seen finish. A scale-in order takes
/// seconds at the very least (EDAS queues it, then stops the app on the host); Terraform's
/// provider waits 5 s too. Polling sooner only spends GetChangeOrderInfo budget: in a burst of
/// orders, polls that find them all still running would need as many again.
pub const POLL_FIRST_UNLEARNED: Duration = Duration::from_secs(5);
pub const POLL_CAP: Duration = Duration::from_secs(30);
pub const POLL_MANUAL: Duration = Duration::from_secs(30);
pub const FOREIGN_POLL: Duration = Duration::from_secs(5);
/// Between the observations that prove an unanswered ScaleIn was not applied.
pub const QUIET_POLL: Duration = Duration::from_secs(5);
/// Orders listed by ListRecentChangeOrder that were created this long before our intent are
/// not ours (clock skew between EDAS and us).
pub const ORDER_CLOCK_SKEW: Duration = Duration::from_secs(600);
/// Re-check an observation that could not be planned on.
pub const INCOMPLETE_RETRY: Duration = Duration::from_secs(30);

/// The timing knobs a decision needs, from the flags and the spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// `spec.changeOrderTimeout`: an order running longer is reported stuck.
    pub change_order_timeout: Duration,
    /// The EDAS call timeout (`--edas-timeout`): a mutation the gateway gave up on may still
    /// be applied by the back end within about this long.
    pub edas_timeout: Duration,
    /// How long EDAS reads may lag its writes (`--read-lag-holdoff`): removed ECCs may be
    /// listed this long after their order finished.
    pub read_lag_holdoff: Duration,
    /// How long a forced ScaleIn may take to show (`--forced-holdoff`) before the resource
    /// stalls.
    pub forced_holdoff: Duration,
    /// Base of the wait after failed orders (`--failure-backoff`).
    pub failure_backoff: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            change_order_timeout: Duration::from_secs(1800),
            edas_timeout: Duration::from_secs(20),
            read_lag_holdoff: Duration::from_secs(60),
            forced_holdoff: Duration::from_secs(120),
            failure_backoff: Duration::from_secs(30),
        }
    }
}

impl Policy {
    /// After an unanswered ScaleIn, how long before an observation can prove it was not
    /// applied: a late apply by the back end (within twice the call timeout) and the read lag
    /// must both have passed.
    pub fn quiet_window(&self) -> Duration {
        self.edas_timeout.saturating_mul(2) + self.read_lag_holdoff
    }
}

/// Poll interval after `polls` polls: 2 s, 3 s, 4.5 s, ... up to 30 s. (The first poll of a
/// new order comes when orders of this size have been taking to finish: `OrderDurations`.)
pub fn poll_interval(polls: i64) -> Duration {
    let f = 1.5f64.powi(polls.clamp(0, 20) as i32);
    POLL_FIRST.mul_f64(f).min(POLL_CAP)
}

/// Between the observations that wait for an added ECC, listed but not healthy yet, to run
/// healthy, when the youngest such addition is `age` old: every 5 s for the first 20 s (a
/// simulator, or a fast host, is healthy at once), then a quarter of the age up to 30 s. A
/// real host takes minutes to start the app: for 3 min this spends 15 QueryApplicationStatus
/// reads where a 5 s poll spends 36.
pub fn new_member_poll(age: Duration) -> Duration {
    (age / 4).clamp(QUIET_POLL, POLL_CAP)
}

/// Wait after `n` consecutive failed orders of ours before trying again: base, 2x, 4x, ...
/// up to 20x base.
pub fn failure_backoff(base: Duration, n: i32) -> Duration {
    base.saturating_mul(1u32 << (n.clamp(1, 6) - 1))
        .min(base.saturating_mul(20))
}

/// How long our change orders take, learned from the ones that finished, so the first poll
/// of a new order comes when it is likely done: one poll per order instead of several.
pub struct OrderDurations {
    /// Seconds per ECC (exponentially weighted) of ScaleIn orders; `None` until one finished.
    per_ecc: std::sync::Mutex<Option<f64>>,
    /// The same for ScaleOut orders (installing and starting an instance takes its own time).
    per_ecu: std::sync::Mutex<Option<f64>>,
}

impl Default for OrderDurations {
    fn default() -> Self {
        Self {
            per_ecc: std::sync::Mutex::new(None),
            per_ecu: std::sync::Mutex::new(None),
        }
    }
}

impl OrderDurations {
    const WEIGHT: f64 = 0.3;
    /// When the first poll already found the order done, the true time was shorter than the
    /// sample: shade it, so the estimate can come down again.
    const SHADE: f64 = 0.8;

    /// An order of `n` ECCs finished; it was first seen finished `took` seconds after it was
    /// made, at poll number `polls`.
    pub fn learn(&self, took: f64, n: usize, polls: i64) {
        Self::learn_into(&self.per_ecc, took, n, polls);
    }

    /// A ScaleOut order of `n` ECUs finished (as [`Self::learn`]).
    pub fn learn_scale_out(&self, took: f64, n: usize, polls: i64) {
        Self::learn_into(&self.per_ecu, took, n, polls);
    }

    /// When to poll a new ScaleOut order of `n` ECUs first: from ScaleOut orders once one
    /// finished, from ScaleIn orders before.
    pub fn first_poll_scale_out(&self, n: usize) -> Duration {
        match *crate::lock(&self.per_ecu) {
            Some(per) => Self::poll_at(per, n),
            None => self.first_poll(n),
        }
    }

    fn poll_at(per: f64, n: usize) -> Duration {
        Duration::from_secs_f64(per * n.max(1) as f64).clamp(POLL_FIRST, Duration::from_secs(120))
    }

    fn learn_into(into: &std::sync::Mutex<Option<f64>>, took: f64, n: usize, polls: i64) {
        if !(took.is_finite() && took > 0.0) {
            return;
        }
        let sample = if polls <= 1 { took * Self::SHADE } else { took } / n.max(1) as f64;
        let mut est = crate::lock(into);
        *est = Some(match *est {
            Some(e) => e + Self::WEIGHT * (sample - e),
            None => sample,
        });
    }

    /// When to poll a new order of `n` ECCs first.
    pub fn first_poll(&self, n: usize) -> Duration {
        let est = *crate::lock(&self.per_ecc);
        match est {
            Some(per) => Self::poll_at(per, n),
            None => POLL_FIRST_UNLEARNED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_members_are_polled_less_often_as_they_age() {
        let at = |s: u64| new_member_poll(Duration::from_secs(s)).as_secs();
        assert_eq!(
            (at(0), at(20), at(40), at(120), at(600)),
            (5, 5, 10, 30, 30)
        );
        // A host that starts the app in 3 min is read 15 times, not 36.
        let (mut t, mut reads) = (0u64, 0);
        while t < 180 {
            t += at(t);
            reads += 1;
        }
        assert_eq!(reads, 15);
    }

    #[test]
    fn scale_out_orders_learn_their_own_first_poll() {
        let d = OrderDurations::default();
        for _ in 0..20 {
            d.learn(5.0, 1, 2);
        }
        // Until a ScaleOut finished, its first poll is the ScaleIn estimate.
        assert_eq!(d.first_poll_scale_out(1), d.first_poll(1));
        for _ in 0..20 {
            d.learn_scale_out(9.0, 1, 2);
        }
        let p = d.first_poll_scale_out(1).as_secs_f64();
        assert!((8.8..=9.2).contains(&p), "{p}");
        assert!((4.9..=5.1).contains(&d.first_poll(1).as_secs_f64()));
    }

    #[test]
    fn first_poll_follows_how_long_orders_took() {
        let d = OrderDurations::default();
        assert_eq!(d.first_poll(1), POLL_FIRST_UNLEARNED);
        assert_eq!(d.first_poll(3), POLL_FIRST_UNLEARNED);
        // Orders of one ECC seen done at the second poll after ~5 s.
        for _ in 0..20 {
            d.learn(5.0, 1, 2);
        }
        let p = d.first_poll(1).as_secs_f64();
        assert!((4.9..=5.1).contains(&p), "{p}");
        assert!((9.8..=10.2).contains(&d.first_poll(2).as_secs_f64()));
        // Found done at the first poll every time: the estimate comes down.
        for _ in 0..20 {
            let t = d.first_poll(1).as_secs_f64();
            d.learn(t, 1, 1);
        }
        assert!(d.first_poll(1).as_secs_f64() < 4.0);
        assert!(d.first_poll(1) >= POLL_FIRST);
        d.learn(f64::NAN, 1, 1);
        assert!(d.first_poll(1) >= POLL_FIRST);
    }

    #[test]
    fn polls_grow_and_cap() {
        assert_eq!(poll_interval(0), Duration::from_secs(2));
        assert_eq!(poll_interval(1), Duration::from_secs(3));
        assert!(poll_interval(3) > poll_interval(2));
        assert_eq!(poll_interval(50), POLL_CAP);
    }

    #[test]
    fn failure_backoff_doubles_to_a_cap() {
        let base = Duration::from_secs(30);
        assert_eq!(failure_backoff(base, 1), Duration::from_secs(30));
        assert_eq!(failure_backoff(base, 2), Duration::from_secs(60));
        assert_eq!(failure_backoff(base, 20), Duration::from_secs(600));
    }

    #[test]
    fn quiet_window_covers_a_late_apply_and_the_read_lag() {
        let p = Policy {
            edas_timeout: Duration::from_secs(20),
            read_lag_holdoff: Duration::from_secs(60),
            ..Policy::default()
        };
        assert_eq!(p.quiet_window(), Duration::from_secs(100));
    }
}
