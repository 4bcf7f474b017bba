//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes most of a load (hundreds of milliseconds for the
//! SLO plugin). A compiled artifact is only valid for the engine that made it, so entries are
//! keyed by the engine's precompile-compatibility hash (wasmtime version, target, compiler
//! settings) and the component's sha256 digest: loading a version seen before, by any process
//! with the same engine configuration, skips compilation.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

/// Whether a compile was served from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    /// Deserialised from a cached artifact.
    Hit,
    /// Compiled (and stored, when a cache is configured).
    Miss,
    /// No cache configured.
    Off,
}

/// A directory of compiled artifacts for one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    /// A cache in `dir` (created if missing) for artifacts of `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.to_owned(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the artifact of the component with `digest` (`sha256:<hex>`) lives.
    pub fn path_for(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join(format!("{}-{hex}.cwasm", self.engine_key))
    }

    /// The cached component for `digest`, if there is a usable one. An unreadable or
    /// incompatible entry is removed and reported as absent.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path_for(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is one this cache wrote with `Component::serialize` for an engine
        // with the same compatibility hash, in a directory the host owns; wasmtime still checks
        // its header (version, target, settings) and refuses a mismatch.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(
                    "dropping unusable cached artifact {}: {e:#}",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `component` for `digest` (written to a temporary file, then renamed, so a reader
    /// never sees half an artifact).
    pub fn store(&self, digest: &str, component: &Component) -> anyhow::Result<()> {
        let bytes = component.serialize()?;
        let path = self.path_for(digest);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}
