//! `classifyHealthChange` (host-contract.md §4.1): what a `health` entity change means.

use serde_json::Value;

/// The meaning of one `health` entity change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    /// The system (the entity id).
    pub system_id: String,
    /// `prev.status`, when a string.
    pub previous: Option<String>,
    /// `next.status`, when a string.
    pub current: Option<String>,
    /// healthy → not healthy.
    pub degraded: bool,
    /// not healthy → healthy.
    pub recovered: bool,
}

fn status(state: Option<&Value>) -> Option<String> {
    state
        .and_then(|s| s.get("status"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Classifies a change: a create, a tombstone, a move between two unhealthy statuses or a
/// change of other fields is neither a degradation nor a recovery.
pub fn classify(system_id: &str, prev: Option<&Value>, next: Option<&Value>) -> HealthChange {
    let previous = status(prev);
    let current = status(next);
    let (degraded, recovered) = match (previous.as_deref(), current.as_deref()) {
        (Some(p), Some(n)) => (
            p == "healthy" && n != "healthy",
            n == "healthy" && p != "healthy",
        ),
        _ => (false, false),
    };
    HealthChange {
        system_id: system_id.to_owned(),
        previous,
        current,
        degraded,
        recovered,
    }
}

#[cfg(test)]
mod tests {
    //! host-contract.md §4.4.
    use super::*;
    use serde_json::json;

    fn c(prev: Option<Value>, next: Option<Value>) -> (bool, bool) {
        let h = classify("sys", prev.as_ref(), next.as_ref());
        (h.degraded, h.recovered)
    }

    #[test]
    fn fixture_rules() {
        let s = |x: &str| Some(json!({"status": x, "healthyChecks": 1, "totalChecks": 1}));
        assert_eq!(c(s("healthy"), s("unhealthy")), (true, false));
        assert_eq!(c(s("healthy"), s("degraded")), (true, false));
        assert_eq!(c(s("degraded"), s("healthy")), (false, true));
        assert_eq!(c(s("degraded"), s("unhealthy")), (false, false));
        assert_eq!(c(None, s("unhealthy")), (false, false));
        assert_eq!(c(s("unhealthy"), None), (false, false));
        assert_eq!(c(s("healthy"), s("healthy")), (false, false));
    }
}
