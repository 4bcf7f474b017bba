//! Structural equality and the entity diff (host-contract.md §1.4, §1.5).
//!
//! Values compare by their canonical JSON: object keys sorted (serde_json's map is ordered),
//! array order significant, an explicit `null` different from a missing key. The diff runs over
//! the union of top-level keys; nested values compare whole.

use serde_json::{Map, Value};

/// The diff of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Changed top-level fields, sorted.
    pub changed_fields: Vec<String>,
    /// Each changed field's next value (`null` when dropped); `{}` for a tombstone.
    pub delta: Value,
}

impl Diff {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.changed_fields.is_empty()
    }
}

/// The canonical text of a value (sorted keys, compact).
pub fn canonical(value: &Value) -> String {
    value.to_string()
}

fn fields(state: Option<&Value>) -> Map<String, Value> {
    match state {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    }
}

/// Diffs `prev` against `next`. A create reports every field of next (delta = next); a
/// tombstone every field of prev with delta `{}`; removing an absent entity is empty.
pub fn diff(prev: Option<&Value>, next: Option<&Value>) -> Diff {
    let (before, after) = (fields(prev), fields(next));
    let mut changed: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key).map(canonical) != after.get(*key).map(canonical))
        .cloned()
        .collect();
    changed.sort();
    changed.dedup();
    let delta = if next.is_none() {
        Value::Object(Map::new())
    } else {
        Value::Object(
            changed
                .iter()
                .map(|key| (key.clone(), after.get(key).cloned().unwrap_or(Value::Null)))
                .collect(),
        )
    };
    Diff {
        changed_fields: changed,
        delta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_create_reports_every_field_and_the_whole_state() {
        let next = json!({"b": 1, "a": 2});
        let d = diff(None, Some(&next));
        assert_eq!(d.changed_fields, ["a", "b"]);
        assert_eq!(d.delta, next);
    }

    #[test]
    fn only_changed_top_level_fields_count_and_nested_values_compare_whole() {
        let prev = json!({"n": 1, "o": {"x": 1, "y": [1, 2]}, "s": "a"});
        let same_nested = json!({"n": 1, "o": {"y": [1, 2], "x": 1}, "s": "b"});
        let d = diff(Some(&prev), Some(&same_nested));
        assert_eq!(d.changed_fields, ["s"]);
        assert_eq!(d.delta, json!({"s": "b"}));
        let reordered = json!({"n": 1, "o": {"x": 1, "y": [2, 1]}, "s": "a"});
        assert_eq!(
            diff(Some(&prev), Some(&reordered)).changed_fields,
            ["o"],
            "array order matters"
        );
    }

    #[test]
    fn null_differs_from_missing_and_a_dropped_field_maps_to_null() {
        let prev = json!({"a": 1, "b": null});
        let next = json!({"a": 1});
        let d = diff(Some(&prev), Some(&next));
        assert_eq!(d.changed_fields, ["b"]);
        assert_eq!(d.delta, json!({"b": null}));
        assert!(diff(Some(&next), Some(&json!({"a": 1}))).is_empty());
    }

    #[test]
    fn a_tombstone_reports_every_prev_field_with_an_empty_delta() {
        let prev = json!({"name": "API", "description": null, "metadata": {}});
        let d = diff(Some(&prev), None);
        assert_eq!(d.changed_fields, ["description", "metadata", "name"]);
        assert_eq!(d.delta, json!({}));
        assert!(
            diff(None, None).is_empty(),
            "removing an absent entity is a no-op"
        );
    }
}
