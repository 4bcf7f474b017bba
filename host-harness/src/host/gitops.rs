//! The GitOps export `gitops.reconcile`: the host hands a plugin one declarative document of a
//! kind its manifest declares, with the entity id it recorded for that document last time, and
//! records the answer (with the spec it applied) in the plugin's own transaction: a crash never
//! leaves an entity the record does not know, so applying the document again cannot create a
//! second one. The record and applying documents are `crate::gitops`.

use super::{InvocationError, PluginHost};
use crate::bindings::exports::checkstack::plugin::gitops::GitopsEntity;
use crate::runtime::{Failure, PluginError};

/// One GitOps document, as the plugin receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitopsDocument {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec`, JSON text.
    pub spec: String,
}

impl PluginHost {
    /// Reconciles `document` (`gitops.reconcile`): creates or updates what it describes;
    /// answers the entity id. A kind the serving plugin does not declare is refused before
    /// the plugin is called.
    pub fn gitops_reconcile(
        &self,
        document: &GitopsDocument,
        existing_id: Option<&str>,
    ) -> Result<String, InvocationError> {
        let export = format!("gitops.reconcile({}/{})", document.kind, document.name);
        let plugin = self.current(&export)?;
        let declared = plugin
            .manifest()
            .gitops_kinds
            .iter()
            .any(|k| k.kind == document.kind && k.api_version == document.api_version);
        if !declared {
            return Err(InvocationError {
                plugin: plugin.id().into(),
                version: plugin.version().into(),
                export,
                failure: Failure::Rejected {
                    error: PluginError::Invalid(format!(
                        "the plugin declares no GitOps kind {} {}",
                        document.api_version, document.kind
                    )),
                },
            });
        }
        let entity = GitopsEntity {
            api_version: document.api_version.clone(),
            kind: document.kind.clone(),
            name: document.name.clone(),
            spec: document.spec.clone(),
        };
        let existing = existing_id.map(str::to_owned);
        let record = |id: &String, tx: Option<&crate::capabilities::sql::Transaction>| {
            let conn = super::exports::open_connection(tx, "reconcile")?;
            crate::gitops::record(conn, document, id).map_err(|e| Failure::Host {
                message: format!("the GitOps record could not be written: {e}"),
            })
        };
        self.invoke_then(
            &plugin,
            &export,
            move |p, store| p.call_reconcile(store, &entity, existing.as_deref()),
            record,
        )
    }
}
