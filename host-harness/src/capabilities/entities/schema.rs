//! The declared state schema of an entity kind (host-contract.md §1.1, §1.3 step 3).
//!
//! A kind's state is a JSON object; its manifest gives a JSON Schema for it. The schema is
//! compiled once at registration (a schema that is not an object schema, or does not compile,
//! refuses the load) and every applied state is validated against it before anything is
//! recorded or emitted.

use serde_json::Value;

/// How many violations one error message lists.
const LISTED_VIOLATIONS: usize = 3;

/// A compiled state schema.
pub struct StateSchema {
    source: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for StateSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSchema")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl StateSchema {
    /// Compiles `text`, which must be a JSON Schema whose `type` is `object` (states are
    /// objects: the diff runs over their top-level fields). The error says what is wrong.
    pub fn compile(text: &str) -> Result<Self, String> {
        let source: Value =
            serde_json::from_str(text).map_err(|e| format!("the state schema is not JSON: {e}"))?;
        if source.get("type").and_then(Value::as_str) != Some("object") {
            return Err("the state schema must be an object schema (\"type\": \"object\")".into());
        }
        let validator = jsonschema::validator_for(&source)
            .map_err(|e| format!("the state schema does not compile: {e}"))?;
        Ok(StateSchema { source, validator })
    }

    /// The schema as declared (for introspection).
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Checks `state`; the error lists the first violations with their JSON pointers.
    pub fn validate(&self, state: &Value) -> Result<(), String> {
        let violations: Vec<String> = self
            .validator
            .iter_errors(state)
            .take(LISTED_VIOLATIONS + 1)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                format!("{at}: {e}")
            })
            .collect();
        if violations.is_empty() {
            return Ok(());
        }
        let more = if violations.len() > LISTED_VIOLATIONS {
            "; …"
        } else {
            ""
        };
        let listed = violations
            .iter()
            .take(LISTED_VIOLATIONS)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        Err(format!("{listed}{more}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str =
        r#"{"type":"object","properties":{"n":{"type":"integer","minimum":0}},"required":["n"]}"#;

    #[test]
    fn valid_states_pass_and_violations_name_their_field() {
        let schema = StateSchema::compile(SCHEMA).unwrap();
        assert!(schema.validate(&json!({"n": 3})).is_ok());
        let error = schema.validate(&json!({"n": -1})).unwrap_err();
        assert!(error.starts_with("/n: "), "{error}");
        let error = schema.validate(&json!({})).unwrap_err();
        assert!(error.contains("\"n\" is a required property"), "{error}");
    }

    #[test]
    fn only_object_schemas_that_compile_are_accepted() {
        assert!(StateSchema::compile("{not json")
            .unwrap_err()
            .contains("not JSON"));
        assert!(StateSchema::compile(r#"{"type":"string"}"#)
            .unwrap_err()
            .contains("object schema"));
        assert!(
            StateSchema::compile(r#"{"type":"object","minProperties":"x"}"#)
                .unwrap_err()
                .contains("does not compile")
        );
    }
}
