//! `--watch`: swap in process when the component file changes (as `spin watch` does, without a
//! restart). The file's directory is watched, so that a build that replaces the file by a
//! rename is seen too; events are debounced, so that a file still being written is read once
//! it has settled.
//!
//! The watcher acts on what the *file* holds, not on what serves: it swaps when the file's
//! content differs from what it last saw there. So a rollback sticks until the file changes
//! again, reading the file (which itself raises access events) never loops, and a component
//! the host refuses is not retried until it is replaced; its reason shows in `/admin/status`
//! and the old version keeps serving.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};

use super::api::swap_to;
use super::component_file::{read_component, ComponentFileError};
use super::shared::{Shared, WatchStatus};
use crate::runtime::digest_of;

/// How long the file must stay quiet before it is read.
const SETTLE: Duration = Duration::from_millis(300);

/// A running watcher; dropping it stops watching.
pub struct ComponentWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher>,
}

/// Watches `component` and swaps the plugin in `shared` when it changes.
pub fn watch(shared: Arc<Shared>, component: &Path) -> anyhow::Result<ComponentWatcher> {
    let component = std::path::absolute(component)?;
    let directory = component
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("{} has no directory", component.display()))?;
    *shared.watch_status() = Some(WatchStatus {
        path: component.clone(),
        ..WatchStatus::default()
    });
    let mut seen = FileState::of(&component, shared.max_component_bytes);
    let target = component.clone();
    let mut debouncer = new_debouncer(SETTLE, move |events: DebounceEventResult| match events {
        Ok(events) => {
            if events.iter().any(|e| same_file(&e.path, &target)) {
                on_change(&shared, &target, &mut seen);
            }
        }
        Err(error) => tracing::warn!("watching {} failed: {error}", target.display()),
    })?;
    debouncer
        .watcher()
        .watch(&directory, RecursiveMode::NonRecursive)?;
    Ok(ComponentWatcher {
        _debouncer: debouncer,
    })
}

/// Whether an event's path names the watched file (watchers may report the directory
/// canonicalised, so compare file names within the same directory).
fn same_file(event: &Path, target: &Path) -> bool {
    event == target
        || (event.file_name() == target.file_name()
            && event.parent().and_then(|p| p.canonicalize().ok())
                == target.parent().and_then(|p| p.canonicalize().ok()))
}

/// What the watcher last saw in the file: its metadata (cheap to compare on every event) and
/// the digest of its content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FileState {
    stamp: Option<(SystemTime, u64)>,
    digest: Option<String>,
}

impl FileState {
    fn of(path: &Path, cap: u64) -> Self {
        FileState {
            stamp: stamp(path),
            digest: read_component(path, cap).ok().map(|b| digest_of(&b)),
        }
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn on_change(shared: &Shared, component: &Path, seen: &mut FileState) {
    if shared.is_stopping() {
        return;
    }
    let now = stamp(component);
    if now.is_none() || now == seen.stamp {
        // Removed or mid-rename (the next event brings the new file), or only read.
        return;
    }
    let bytes = match read_component(component, shared.max_component_bytes) {
        Ok(bytes) => bytes,
        Err(e @ ComponentFileError::Unreadable { .. }) => {
            tracing::debug!("unreadable for now: {e}");
            return;
        }
        Err(e) => {
            seen.stamp = now;
            tracing::warn!("{e}; the old version keeps serving");
            if let Some(status) = shared.watch_status().as_mut() {
                status.last_error = Some(e.to_string());
            }
            return;
        }
    };
    let digest = digest_of(&bytes);
    seen.stamp = now;
    if seen.digest.as_deref() == Some(digest.as_str()) {
        return;
    }
    seen.digest = Some(digest.clone());
    if shared.host.plugin().is_some_and(|p| p.digest() == digest) {
        return;
    }
    let outcome = swap_to(shared, &mut shared.simulation(), &bytes);
    let mut status = shared.watch_status();
    let Some(status) = status.as_mut() else {
        return;
    };
    match outcome {
        Ok(report) => {
            status.swaps += 1;
            status.last_swap = Some(report);
            status.last_error = None;
        }
        Err(error) => {
            tracing::warn!(
                "{} changed but was refused; the old version keeps serving: {error}",
                component.display()
            );
            status.last_error = Some(error);
        }
    }
}
