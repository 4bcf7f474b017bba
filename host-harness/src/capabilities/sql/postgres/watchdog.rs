//! Cancels PostgreSQL statements still running at their invocation's deadline.
//!
//! One thread per process keeps the watched statements' deadlines. At a deadline it sends
//! PostgreSQL's cancel request for that connection; the statement then fails with
//! `query_canceled`, which the backend reports as an interrupted statement. A watch ends (its
//! guard drops) when the statement returns; if a cancel for it is on its way at that moment,
//! the drop waits for it, so a late cancel can never hit the connection's next statement.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

use postgres::{CancelToken, NoTls};

#[derive(Default)]
struct Watches {
    next: u64,
    waiting: BTreeMap<u64, (Instant, CancelToken)>,
    cancelling: BTreeSet<u64>,
    /// When the watchdog thread wakes next on its own (`None`: only when notified). A new
    /// watch wakes it only when it is due earlier: statements of one invocation share one
    /// deadline, so most watches cost no thread wake-up.
    wakes_at: Option<Instant>,
}

struct Watchdog {
    watches: Mutex<Watches>,
    changed: Condvar,
}

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(|| {
        std::thread::Builder::new()
            .name("pg-deadline".into())
            .spawn(run)
            .expect("cannot start the PostgreSQL deadline thread");
        Watchdog {
            watches: Mutex::new(Watches::default()),
            changed: Condvar::new(),
        }
    })
}

fn run() {
    let dog = watchdog();
    let mut watches = dog.watches.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        let due = watches
            .waiting
            .iter()
            .min_by_key(|(_, (at, _))| *at)
            .map(|(id, (at, _))| (*id, *at));
        match due {
            None => {
                watches.wakes_at = None;
                watches = dog.changed.wait(watches).unwrap_or_else(|p| p.into_inner());
            }
            Some((id, at)) if at <= now => {
                let Some((_, token)) = watches.waiting.remove(&id) else {
                    continue;
                };
                watches.cancelling.insert(id);
                drop(watches);
                if let Err(e) = token.cancel_query(NoTls) {
                    tracing::warn!("cancelling a statement past its deadline failed: {e}");
                }
                watches = dog.watches.lock().unwrap_or_else(|p| p.into_inner());
                watches.cancelling.remove(&id);
                dog.changed.notify_all();
            }
            Some((_, at)) => {
                watches.wakes_at = Some(at);
                watches = dog
                    .changed
                    .wait_timeout(watches, at - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }
}

/// Watches one statement until the guard drops.
pub struct Watch {
    id: u64,
}

/// Cancels the statement on `token`'s connection if it still runs at `deadline`.
pub fn watch(deadline: Instant, token: CancelToken) -> Watch {
    let dog = watchdog();
    let mut watches = dog.watches.lock().unwrap_or_else(|p| p.into_inner());
    watches.next += 1;
    let id = watches.next;
    watches.waiting.insert(id, (deadline, token));
    if watches.wakes_at.is_none_or(|at| deadline < at) {
        watches.wakes_at = Some(deadline);
        dog.changed.notify_all();
    }
    Watch { id }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let dog = watchdog();
        let mut watches = dog.watches.lock().unwrap_or_else(|p| p.into_inner());
        watches.waiting.remove(&self.id);
        while watches.cancelling.contains(&self.id) {
            watches = dog.changed.wait(watches).unwrap_or_else(|p| p.into_inner());
        }
    }
}
