//! The offline check behind `slo-host validate`: every document of the files, OpenSLO v1
//! (`SLO`, `Service`) or the plugin's own GitOps `SLO` (`checkstack.io/v1alpha1`), is checked
//! as an import would check it, without a database or a server. Every error names the
//! document, the field and why.

use serde_json::Value;

use super::documents::{Document, DocumentError};
use super::import::{self, Imported, GITOPS_API_VERSION, GITOPS_KIND};
use super::API_VERSION;

/// Checks `documents`; `gitops_schema` is the JSON Schema of the plugin's GitOps `SLO` spec
/// (from its manifest). Answers every error found (none: all valid).
pub fn validate(documents: &[Document], gitops_schema: &Value) -> Vec<DocumentError> {
    let validator = match jsonschema::validator_for(gitops_schema) {
        Ok(v) => v,
        Err(e) => {
            return vec![DocumentError {
                origin: "the plugin's manifest".into(),
                label: format!("{GITOPS_KIND} schema"),
                field: "specSchema".into(),
                why: format!("does not compile: {e}"),
            }]
        }
    };
    let check_spec = |doc: &Document, spec: &Value, errors: &mut Vec<DocumentError>| {
        for e in validator.iter_errors(spec) {
            let path = e.instance_path().to_string();
            let field = if path.is_empty() {
                "spec".to_owned()
            } else {
                format!("spec{}", path.replace('/', "."))
            };
            errors.push(DocumentError::at(doc, &field, e.to_string()));
        }
    };
    let mut errors = Vec::new();
    for doc in documents {
        match doc.value["apiVersion"].as_str() {
            Some(GITOPS_API_VERSION) => {
                if doc.value["kind"].as_str() != Some(GITOPS_KIND) {
                    errors.push(DocumentError::at(
                        doc,
                        "kind",
                        format!("expected {GITOPS_KIND}"),
                    ));
                    continue;
                }
                if doc.value["metadata"]["name"]
                    .as_str()
                    .is_none_or(|n| n.trim().is_empty())
                {
                    errors.push(DocumentError::at(doc, "metadata.name", "missing"));
                }
                check_spec(doc, &doc.value["spec"], &mut errors);
            }
            Some(API_VERSION) | None | Some(_) => match import::convert(doc) {
                Ok(Imported::Objective(gitops)) => {
                    let spec: Value = serde_json::from_str(&gitops.spec).unwrap_or(Value::Null);
                    check_spec(doc, &spec, &mut errors);
                }
                Ok(Imported::Service { .. }) => {}
                Err(e) => errors.push(e),
            },
        }
    }
    errors
}
