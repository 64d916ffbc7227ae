//! Fault points for the crash-safety tests: `EDAS_OPERATOR_FAILPOINTS=name=probability,...`
//! makes the process abort (like kill -9: no cleanup, no status write) at a named point with
//! that probability. Unset in production, where `hit` is a cheap no-op.
//!
//! Points: `before-scale-in` (intent written, call not sent), `after-scale-in` (EDAS made the
//! order, its id not yet in status).

use rand::RngExt;
use std::sync::OnceLock;

fn config() -> &'static Vec<(String, f64)> {
    static CONFIG: OnceLock<Vec<(String, f64)>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        std::env::var("EDAS_OPERATOR_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| {
                let (name, prob) = p.split_once('=')?;
                Some((name.trim().to_string(), prob.trim().parse().ok()?))
            })
            .collect()
    })
}

pub fn hit(name: &str) {
    let Some((_, p)) = config().iter().find(|(n, _)| n == name) else {
        return;
    };
    if rand::rng().random_range(0.0..1.0) < *p {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
