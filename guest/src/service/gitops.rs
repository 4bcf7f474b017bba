//! The GitOps kind `SLO` (slo-behaviour.md §12 with decisions F36): documents name systems by
//! reference, the platform resolves them, and the objective is created or updated through the
//! same paths as the RPC procedures (so the status is broadcast and caches invalidated).

use serde_json::{json, Map, Value};

use super::rpc::{create_objective, update_objective};
use super::Env;
use crate::core::objective::Fields;
use crate::core::PluginError;
use crate::storage::{objectives, Database};

/// The document's `apiVersion`.
pub const API_VERSION: &str = "checkstack.io/v1alpha1";
/// The document's `kind`.
pub const KIND: &str = "SLO";

/// JSON Schema of the spec.
pub const SPEC_SCHEMA: &str = r##"{
  "type": "object",
  "properties": {
    "systemRef": {"$ref": "#/$defs/ref"},
    "healthcheckRef": {"$ref": "#/$defs/ref"},
    "target": {"type": "number", "minimum": 0, "maximum": 100},
    "windowDays": {"type": "integer", "minimum": 1, "maximum": 3650},
    "dependencyExclusion": {"enum": ["strict", "self-only"]},
    "excludedDependencyRefs": {"type": "array", "items": {"$ref": "#/$defs/ref"}},
    "excludeMaintenanceWindows": {"type": "boolean"},
    "burnRateThresholds": {"type": "object"}
  },
  "required": ["systemRef", "target", "windowDays"],
  "$defs": {"ref": {"type": "object", "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}, "required": ["kind", "name"]}}
}"##;

fn resolve(env: &dyn Env, label: &str, reference: &Value) -> Result<String, PluginError> {
    let kind = reference["kind"].as_str().unwrap_or_default();
    let name = reference["name"]
        .as_str()
        .ok_or_else(|| PluginError::invalid_field(label, "expected a reference {kind, name}"))?;
    env.resolve_ref(kind, name).ok_or_else(|| {
        PluginError::Invalid(format!(
            "Cannot resolve {label} ref \"{name}\" (kind: {kind}) — ensure the entity exists"
        ))
    })
}

/// Creates or updates the objective a document describes; answers its id.
///
/// F36: an update that would move the objective to another system is a `conflict` (delete and
/// recreate instead); a recorded id whose objective vanished is recreated.
pub fn reconcile(
    db: &dyn Database,
    env: &dyn Env,
    spec: &Value,
    existing_id: Option<&str>,
) -> Result<String, PluginError> {
    let fields = Fields::of(spec)?;
    let system_id = resolve(env, "system", fields.required("systemRef")?)?;
    let health_check = match fields.get("healthcheckRef") {
        None | Some(Value::Null) => None,
        Some(r) => Some(resolve(env, "healthcheck", r)?),
    };
    let excluded = match fields.get("excludedDependencyRefs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(refs)) => refs
            .iter()
            .map(|r| resolve(env, "excluded dependency", r))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(PluginError::invalid_field(
                "excludedDependencyRefs",
                "expected an array",
            ))
        }
    };
    let mut input = Map::new();
    for key in [
        "target",
        "windowDays",
        "dependencyExclusion",
        "excludeMaintenanceWindows",
        "burnRateThresholds",
    ] {
        if let Some(v) = fields.get(key) {
            input.insert(key.into(), v.clone());
        }
    }
    input.insert("excludedDependencyIds".into(), json!(excluded));

    let existing = existing_id
        .filter(|id| !id.starts_with("pending-"))
        .map(|id| objectives::get(db, id))
        .transpose()?
        .flatten();
    if let Some(objective) = existing {
        if health_check.is_some() && health_check != objective.health_check_configuration_id {
            return Err(PluginError::Conflict(format!(
                "healthcheckRef of SLO {} changed: an objective's health check cannot change; delete the document and create a new one",
                objective.id
            )));
        }
        if objective.system_id != system_id {
            return Err(PluginError::Conflict(format!(
                "systemRef of SLO {} changed from system {} to {system_id}: an objective cannot move; delete the document and create a new one",
                objective.id, objective.system_id
            )));
        }
        input.insert("id".into(), json!(objective.id));
        update_objective(db, env, &Value::Object(input))?;
        return Ok(objective.id);
    }
    input.insert("systemId".into(), json!(system_id));
    if let Some(hc) = health_check {
        input.insert("healthCheckConfigurationId".into(), json!(hc));
    }
    let created = create_objective(db, env, &Value::Object(input))?;
    created["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| PluginError::Internal("created objective has no id".into()))
}

/// Deletes the objective a removed document had created (nothing without an id).
pub fn delete(
    db: &dyn Database,
    env: &dyn Env,
    entity_id: Option<&str>,
) -> Result<(), PluginError> {
    if let Some(id) = entity_id {
        super::rpc::delete_objective(db, env, &json!({ "id": id }))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! slo-behaviour.md §16.10 and decisions.md F36.
    use super::*;
    use crate::storage::test_db::TestDb;
    use crate::test_env::FakeEnv;

    fn r(name: &str) -> Value {
        json!({"kind": "System", "name": name})
    }

    #[test]
    fn v2_to_v7_create_update_and_unresolvable_refs() {
        let (db, env) = (TestDb::new(), FakeEnv::new());
        let spec = json!({"systemRef": r("payments-api"), "target": 99.9, "windowDays": 30});
        let id = reconcile(&db, &env, &spec, None).unwrap();
        let o = objectives::get(&db, &id).unwrap().unwrap();
        assert_eq!(
            (
                o.system_id.as_str(),
                o.target,
                o.excluded_dependency_ids.clone()
            ),
            ("sys-payments-api", 99.9, Some(vec![]))
        );

        let with_refs = json!({"systemRef": r("payments-api"), "target": 99.95, "windowDays": 30,
            "dependencyExclusion": "self-only", "excludedDependencyRefs": [r("third-party-payments"), r("third-party-email")]});
        assert_eq!(
            reconcile(&db, &env, &with_refs, Some(&id)).unwrap(),
            id,
            "update in place"
        );
        let o = objectives::get(&db, &id).unwrap().unwrap();
        assert_eq!(o.target, 99.95);
        assert_eq!(
            o.excluded_dependency_ids,
            Some(vec![
                "sys-third-party-payments".into(),
                "sys-third-party-email".into()
            ])
        );

        let pending = reconcile(&db, &env, &spec, Some("pending-abc")).unwrap();
        assert_ne!(pending, id, "a pending id creates");

        let err = reconcile(
            &db,
            &env,
            &json!({"systemRef": r("nope"), "target": 99, "windowDays": 7}),
            None,
        )
        .unwrap_err();
        assert!(
            matches!(&err, PluginError::Invalid(m) if m.starts_with("Cannot resolve system ref \"nope\"")),
            "{err:?}"
        );
    }

    /// decisions.md F36: a changed systemRef is a clear error; a vanished objective is recreated.
    #[test]
    fn f36_ref_changes_and_vanished_objectives() {
        let (db, env) = (TestDb::new(), FakeEnv::new());
        let id = reconcile(
            &db,
            &env,
            &json!({"systemRef": r("a"), "target": 99, "windowDays": 7}),
            None,
        )
        .unwrap();
        let moved = reconcile(
            &db,
            &env,
            &json!({"systemRef": r("b"), "target": 99, "windowDays": 7}),
            Some(&id),
        );
        assert!(matches!(moved, Err(PluginError::Conflict(_))));
        objectives::delete(&db, &id).unwrap();
        let again = reconcile(
            &db,
            &env,
            &json!({"systemRef": r("a"), "target": 99, "windowDays": 7}),
            Some(&id),
        )
        .unwrap();
        assert!(objectives::get(&db, &again).unwrap().is_some());
        delete(&db, &env, Some(&again)).unwrap();
        assert!(objectives::get(&db, &again).unwrap().is_none());
        delete(&db, &env, None).unwrap();
    }
}
