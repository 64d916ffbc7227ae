//! Prometheus metrics, named `edas_operator_*`, with bounded labels only (operation, outcome,
//! reason, result, state): never object names or ids.

use crate::edas::Operation;
use crate::edas::client::CallObserver;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub operation: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChangeOrderLabels {
    /// ScaleIn or ScaleOut.
    pub direction: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabel {
    pub ready: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabel, Counter>,
    pub reconcile_errors: Family<ReasonLabel, Counter>,
    pub reconcile_duration: Histogram,
    pub edas_calls: Family<CallLabels, Counter>,
    pub edas_call_duration: Family<OperationLabel, Histogram>,
    pub change_orders: Family<ChangeOrderLabels, Counter>,
    pub resources: Family<ReadyLabel, Gauge>,
    /// Ready state per object key, to keep `resources` exact.
    ready_by_object: Mutex<HashMap<String, &'static str>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("edas_operator");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles run, by result (ok, error)",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by condition reason",
            reconcile_errors.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            reconcile_duration.clone(),
        );
        let edas_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "edas_calls",
            "EDAS API calls, by operation and outcome (success or error class)",
            edas_calls.clone(),
        );
        let edas_call_duration = Family::<OperationLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register(
            "edas_call_duration_seconds",
            "Latency of EDAS API calls, by operation",
            edas_call_duration.clone(),
        );
        let change_orders = Family::<ChangeOrderLabels, Counter>::default();
        registry.register(
            "change_orders",
            "Change orders, by direction (ScaleIn, ScaleOut) and result (started, succeeded, failed, aborted, adopted, forced)",
            change_orders.clone(),
        );
        let resources = Family::<ReadyLabel, Gauge>::default();
        registry.register(
            "resources",
            "EdasAppMembership resources by Ready condition status",
            resources.clone(),
        );
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            edas_calls,
            edas_call_duration,
            change_orders,
            resources,
            ready_by_object: Mutex::new(HashMap::new()),
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn change_order(&self, direction: &str, result: &str) {
        self.change_orders
            .get_or_create(&ChangeOrderLabels {
                direction: direction.into(),
                result: result.into(),
            })
            .inc();
    }

    /// Record an object's Ready status ("True", "False", "Unknown"), or `None` when deleted.
    pub fn set_ready(&self, key: &str, ready: Option<&str>) {
        let mut map = crate::lock(&self.ready_by_object);
        let label = ready.map(|r| match r {
            "True" => "true",
            "False" => "false",
            _ => "unknown",
        });
        match label {
            Some(l) => {
                map.insert(key.to_string(), l);
            }
            None => {
                map.remove(key);
            }
        }
        for state in ["true", "false", "unknown"] {
            let n = map.values().filter(|v| **v == state).count() as i64;
            self.resources
                .get_or_create(&ReadyLabel {
                    ready: state.into(),
                })
                .set(n);
        }
    }
}

impl Metrics {
    /// Forget objects that no longer exist (deleted resources never reconcile again).
    pub fn retain_objects(&self, exists: impl Fn(&str) -> bool) {
        let gone: Vec<String> = crate::lock(&self.ready_by_object)
            .keys()
            .filter(|k| !exists(k))
            .cloned()
            .collect();
        for k in gone {
            self.set_ready(&k, None);
        }
    }

    /// Objects whose Ready state is counted.
    pub fn tracked_objects(&self) -> usize {
        crate::lock(&self.ready_by_object).len()
    }
}

impl CallObserver for Metrics {
    fn observe(&self, op: Operation, outcome: &'static str, elapsed: Duration) {
        self.edas_calls
            .get_or_create(&CallLabels {
                operation: op.name().into(),
                outcome: outcome.into(),
            })
            .inc();
        self.edas_call_duration
            .get_or_create(&OperationLabel {
                operation: op.name().into(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn deleted_objects_leave_the_ready_gauge() {
        let m = Metrics::new();
        m.set_ready("ns/a", Some("True"));
        m.set_ready("ns/b", Some("False"));
        assert_eq!(m.tracked_objects(), 2);
        m.retain_objects(|k| k == "ns/a");
        assert_eq!(m.tracked_objects(), 1);
        let text = m.encode();
        assert!(
            text.contains(r#"edas_operator_resources{ready="false"} 0"#),
            "{text}"
        );
    }

    use super::*;

    #[test]
    fn metrics_are_prefixed_and_labels_bounded() {
        let m = Metrics::new();
        m.observe(
            Operation::ScaleInApplication,
            "success",
            Duration::from_millis(3),
        );
        m.set_ready("ns/a", Some("True"));
        m.set_ready("ns/b", Some("False"));
        m.set_ready("ns/b", None);
        let text = m.encode();
        assert!(text.contains(
            r#"edas_operator_edas_calls_total{operation="ScaleInApplication",outcome="success"} 1"#
        ), "{text}");
        assert!(
            text.contains(r#"edas_operator_resources{ready="true"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"edas_operator_resources{ready="false"} 0"#),
            "{text}"
        );
        assert!(!text.contains("ns/a"));
    }
}
