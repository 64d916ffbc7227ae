//! Kubernetes events: one place that publishes them.
//!
//! kube-runtime's `Recorder` merges events with the same (type, reason, action, reporter,
//! object) into a series that keeps the FIRST note; an event about a change order therefore
//! carries that order's id in its action, so each order gets its own series and its own text.

use super::{Context, object_key};
use crate::crd::EdasAppMembership;
use kube::Resource;
use kube::runtime::events::{Event, EventType};

/// The events API refuses notes over 1 kB.
pub const NOTE_LIMIT_BYTES: usize = 1024;
/// `action` is at most 128 characters.
const ACTION_LIMIT_BYTES: usize = 128;

/// An event a decision asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    /// The change order (or forced call) the event is about, if any: part of its series key.
    pub subject: Option<String>,
    pub text: String,
}

impl Note {
    pub fn normal(reason: &'static str, text: String) -> Self {
        Self {
            warning: false,
            reason,
            subject: None,
            text,
        }
    }
    pub fn warning(reason: &'static str, text: String) -> Self {
        Self {
            warning: true,
            reason,
            subject: None,
            text,
        }
    }
    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The event's action: "Reconcile", or "ChangeOrder <id>" for an event about an order.
pub fn action(note: &Note) -> String {
    match &note.subject {
        Some(s) if !s.is_empty() => {
            cut_bytes(&format!("ChangeOrder {s}"), ACTION_LIMIT_BYTES).into()
        }
        _ => "Reconcile".into(),
    }
}

pub async fn publish(ctx: &Context, obj: &EdasAppMembership, note: &Note) {
    let ev = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.into(),
        note: Some(cut_bytes(&note.text, NOTE_LIMIT_BYTES).into()),
        action: action(note),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(object = %object_key(obj), error = %e, "cannot publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_on_a_byte_boundary_under_the_api_limit() {
        let chinese = "变更单执行失败".repeat(100); // 3 bytes a character
        let cut = cut_bytes(&chinese, NOTE_LIMIT_BYTES);
        assert!(cut.len() <= NOTE_LIMIT_BYTES);
        assert!(cut.len() > NOTE_LIMIT_BYTES - 3);
        assert!(chinese.starts_with(cut));
        assert_eq!(cut_bytes("short", NOTE_LIMIT_BYTES), "short");
    }

    #[test]
    fn each_order_gets_its_own_event_series() {
        let a = Note::normal("ChangeOrderStarted", "x".into()).about("co-1");
        let b = Note::normal("ChangeOrderStarted", "y".into()).about("co-2");
        assert_ne!(action(&a), action(&b));
        assert_eq!(action(&Note::normal("Converged", "z".into())), "Reconcile");
    }
}
