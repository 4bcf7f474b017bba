//! Plugin versions: hot-swap, instant rollback and the crash policy.
//!
//! A swap prepares the candidate completely (compile or take from the artifact cache, link
//! against the contract, read its manifest, refuse another plugin id, plan its registrations,
//! then run its pending migrations and its `init` in one transaction) before it switches. The
//! switch replaces one `Arc` under a lock: an invocation that already holds the old version
//! finishes on it, and every later one gets the new. The old version stays loaded as the
//! previous one, so `rollback` is a pointer swap (migrations are not undone, which is why they
//! must be additive). A version whose invocations trap `rollback_after_traps` times in a row is
//! rolled back automatically when a previous version exists.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{LoadError, LoadedPlugin, PluginHost};
use crate::runtime::CacheOutcome;

/// A version as reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Plugin id.
    pub id: String,
    /// Manifest version.
    pub version: String,
    /// `sha256:<hex>` of the component.
    pub digest: String,
}

impl VersionInfo {
    /// The identity of a loaded version.
    pub fn of(plugin: &LoadedPlugin) -> Self {
        VersionInfo {
            id: plugin.id().into(),
            version: plugin.version().into(),
            digest: plugin.digest().into(),
        }
    }
}

/// What a swap did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapReport {
    /// The version that served before.
    pub from: VersionInfo,
    /// The version serving now.
    pub to: VersionInfo,
    /// Whether the compiled artifact came from the cache.
    pub compile: CacheOutcome,
    /// Migrations applied by this swap.
    pub migrations_applied: Vec<String>,
    /// From the call to the switch.
    #[serde(serialize_with = "as_millis")]
    pub elapsed: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// A change of the serving version, recorded in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum VersionEvent {
    /// A swap (or a first load replacing nothing is not recorded).
    Swapped {
        /// Before.
        from: VersionInfo,
        /// After.
        to: VersionInfo,
    },
    /// An explicit rollback.
    RolledBack {
        /// Before.
        from: VersionInfo,
        /// After.
        to: VersionInfo,
    },
    /// The crash policy rolled back a version that kept trapping.
    AutoRolledBack {
        /// The trapping version.
        from: VersionInfo,
        /// The restored one.
        to: VersionInfo,
        /// Consecutive traps that triggered it.
        traps: u32,
    },
}

/// Why a rollback could not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    /// No version was replaced yet.
    #[error("there is no previous version to roll back to")]
    NoPrevious,
}

impl PluginHost {
    /// Swaps the serving plugin for the component `bytes` of the same plugin. Any failure
    /// before the switch leaves the old version serving and the database as it was.
    pub fn swap_bytes(&self, bytes: &[u8]) -> Result<SwapReport, LoadError> {
        let started = Instant::now();
        let from = self.plugin().ok_or(LoadError::NothingLoaded)?;
        let to = self.activate(bytes, Some(from.id()))?;
        let report = SwapReport {
            from: VersionInfo::of(&from),
            to: VersionInfo::of(&to),
            compile: to.compile_outcome(),
            migrations_applied: to.migrations().applied.clone(),
            elapsed: started.elapsed(),
        };
        self.record(VersionEvent::Swapped {
            from: report.from.clone(),
            to: report.to.clone(),
        });
        Ok(report)
    }

    /// Swaps to the component file at `path`.
    pub fn swap_file(&self, path: &std::path::Path) -> Result<SwapReport, LoadError> {
        let bytes = std::fs::read(path).map_err(|cause| LoadError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        self.swap_bytes(&bytes)
    }

    /// Switches back to the previous version at once (the current one becomes the previous).
    pub fn rollback(&self) -> Result<(VersionInfo, VersionInfo), RollbackError> {
        let (from, to) = self.switch_to_previous()?;
        self.record(VersionEvent::RolledBack {
            from: from.clone(),
            to: to.clone(),
        });
        Ok((from, to))
    }

    fn switch_to_previous(&self) -> Result<(VersionInfo, VersionInfo), RollbackError> {
        let mut current = self.plugin.write().unwrap_or_else(|p| p.into_inner());
        let mut previous = self.previous.write().unwrap_or_else(|p| p.into_inner());
        let (Some(now), Some(before)) = (current.clone(), previous.clone()) else {
            return Err(RollbackError::NoPrevious);
        };
        // The restored version's registrations were valid when it served; re-plan them (a
        // plan can only fail on another owner's kinds, and there is none new).
        // (Each plan is bound first: the registry's read guard must be gone before the write.)
        let entities = self.entity_registry().plan(before.manifest());
        if let Ok(planned) = entities {
            self.entities
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .install(planned);
        }
        let triggers = self.trigger_registry().plan(before.manifest());
        if let Ok(planned) = triggers {
            self.triggers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .install(planned);
        }
        *current = Some(before.clone());
        *previous = Some(now.clone());
        self.generation.fetch_add(1, Ordering::SeqCst);
        tracing::warn!(
            from = now.digest(),
            to = before.digest(),
            "plugin rolled back to {} {}",
            before.id(),
            before.version()
        );
        Ok((VersionInfo::of(&now), VersionInfo::of(&before)))
    }

    /// The previous version, if a swap replaced one.
    pub fn previous_plugin(&self) -> Option<Arc<LoadedPlugin>> {
        self.previous
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every version change so far, in order.
    pub fn version_events(&self) -> Vec<VersionEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Increases on every change of the serving version (load, swap, rollback), so that
    /// whoever mirrors its manifest (subscriptions, schedules) knows to re-register.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn record(&self, event: VersionEvent) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }

    /// The crash policy: counts consecutive trapping invocations of the serving version and
    /// rolls it back when the count reaches the limit and a previous version exists.
    pub(super) fn note_outcome(&self, plugin: &LoadedPlugin, trapped: bool) {
        let Some(limit) = self.rollback_after_traps else {
            return;
        };
        let traps = {
            let mut streak = self.trap_streak.lock().unwrap_or_else(|p| p.into_inner());
            if streak.0 != plugin.digest() {
                *streak = (plugin.digest().to_owned(), 0);
            }
            streak.1 = if trapped { streak.1 + 1 } else { 0 };
            streak.1
        };
        let serving = self.plugin().is_some_and(|p| p.digest() == plugin.digest());
        let restorable = self
            .previous_plugin()
            .is_some_and(|p| p.digest() != plugin.digest());
        if trapped && traps >= limit && serving && restorable {
            if let Ok((from, to)) = self.switch_to_previous() {
                tracing::error!(
                    "plugin {} {} trapped {traps} times in a row: rolled back to {}",
                    from.id,
                    from.version,
                    to.version
                );
                self.record(VersionEvent::AutoRolledBack { from, to, traps });
                *self.trap_streak.lock().unwrap_or_else(|p| p.into_inner()) = (String::new(), 0);
            }
        }
    }
}
