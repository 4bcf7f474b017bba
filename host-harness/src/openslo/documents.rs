//! YAML files of one or more documents, and the errors that name one of them.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// One document of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it came from: the file and its position (1-based) in it.
    pub origin: String,
    /// Its content.
    pub value: Value,
}

impl Document {
    /// `kind name` for messages (`SLO search-slo`), or what is missing.
    pub fn label(&self) -> String {
        let kind = self.value["kind"].as_str().unwrap_or("(no kind)");
        let name = self.value["metadata"]["name"]
            .as_str()
            .unwrap_or("(no name)");
        format!("{kind} {name}")
    }
}

/// A refused document: which, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin} ({label}): {field}: {why}")]
pub struct DocumentError {
    /// The file and the document's position.
    pub origin: String,
    /// `kind name`.
    pub label: String,
    /// The field's path (`spec.timeWindow[0].isRolling`).
    pub field: String,
    /// Why.
    pub why: String,
}

impl DocumentError {
    /// An error about `field` of `document`.
    pub fn at(document: &Document, field: &str, why: impl Into<String>) -> Self {
        DocumentError {
            origin: document.origin.clone(),
            label: document.label(),
            field: field.to_owned(),
            why: why.into(),
        }
    }
}

/// The documents of a YAML text (`---`-separated; empty documents are skipped).
pub fn parse(origin: &str, text: &str) -> Result<Vec<Document>, DocumentError> {
    let mut out = Vec::new();
    for (n, part) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let position = format!("{origin} document {}", n + 1);
        let value = Value::deserialize(part).map_err(|e| DocumentError {
            origin: position.clone(),
            label: "unreadable".into(),
            field: "(document)".into(),
            why: format!("not YAML: {e}"),
        })?;
        if !value.is_null() {
            out.push(Document {
                origin: position,
                value,
            });
        }
    }
    Ok(out)
}

/// The documents of every file, in order.
pub fn read_files(files: &[impl AsRef<Path>]) -> Result<Vec<Document>, Vec<DocumentError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let file = file.as_ref();
        let origin = file.display().to_string();
        match std::fs::read_to_string(file) {
            Ok(text) => match parse(&origin, &text) {
                Ok(docs) => out.extend(docs),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(DocumentError {
                origin,
                label: "unreadable".into(),
                field: "(file)".into(),
                why: e.to_string(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Writes `documents` as one YAML stream (`---` between documents).
pub fn to_yaml(documents: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    for (n, doc) in documents.iter().enumerate() {
        if n > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_yaml_ng::to_string(doc).map_err(|e| e.to_string())?);
    }
    Ok(out)
}
