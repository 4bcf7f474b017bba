//! The queue's unit tests (local claims, SQLite).

use super::*;
use std::time::Duration;

fn job(queue: &str, id: &str, dedupe: bool, priority: i32) -> NewJob {
    NewJob {
        queue: queue.into(),
        payload: format!("\"{id}\""),
        job_id: id.into(),
        dedupe,
        delay_ms: 0,
        priority,
        ordering_key: None,
    }
}

fn queue() -> (Queue, Clock) {
    let clock = Clock::virtual_at(1_000_000);
    let q = Queue::open(Database::in_memory().unwrap(), clock.clone()).unwrap();
    (q, clock)
}

#[test]
fn forgetting_delivered_copies_keeps_queued_ones_and_dead_letters() {
    let (q, clock) = queue();
    q.register_consumer("jobs", "a", 0);
    for id in ["done", "dead", "waiting"] {
        q.enqueue(&job("jobs", id, true, 0)).unwrap();
    }
    let done = q.take_due().unwrap().unwrap();
    q.complete(&done).unwrap();
    let dead = q.take_due().unwrap().unwrap();
    assert_eq!(q.fail(&dead, "boom").unwrap(), FailOutcome::Dead);
    clock.advance(std::time::Duration::from_secs(1)).unwrap();
    assert_eq!(q.forget_done(clock.now_ms()).unwrap(), 1);
    assert_eq!(q.queued_count().unwrap(), 1);
    assert_eq!(q.dead_letters().unwrap().len(), 1);
    assert_eq!(q.forget_done(clock.now_ms()).unwrap(), 0);
}

#[test]
fn every_group_gets_its_own_copy_in_fifo_within_priority() {
    let (q, _) = queue();
    q.register_consumer("jobs", "a", 0);
    q.register_consumer("jobs", "b", 0);
    assert_eq!(q.enqueue(&job("jobs", "1", false, 0)).unwrap(), 2);
    q.enqueue(&job("jobs", "2", false, 0)).unwrap();
    q.enqueue(&job("jobs", "urgent", false, 5)).unwrap();
    let mut order = Vec::new();
    while let Some(d) = q.take_due().unwrap() {
        order.push(format!(
            "{}:{}",
            d.consumer_group,
            d.payload.trim_matches('"')
        ));
        q.complete(&d).unwrap();
    }
    assert_eq!(order, ["a:urgent", "b:urgent", "a:1", "b:1", "a:2", "b:2"]);
}

#[test]
fn copies_of_a_removed_consumer_wait_until_it_is_registered_again() {
    let (q, _clock) = queue();
    q.register_consumer("jobs", "old", 0);
    q.register_consumer("jobs", "kept", 0);
    q.enqueue(&job("jobs", "a", true, 0)).unwrap();
    // a new version no longer consumes "jobs" in group "old"
    q.replace_consumers(&[("jobs".into(), "kept".into(), 0)]);
    let d = q.take_due().unwrap().unwrap();
    assert_eq!(d.consumer_group, "kept");
    q.complete(&d).unwrap();
    assert!(
        q.take_due().unwrap().is_none(),
        "the old group's copy waits"
    );
    assert_eq!(q.next_due_at().unwrap(), None);
    // a rollback registers it again: the copy is delivered
    q.replace_consumers(&[("jobs".into(), "old".into(), 0)]);
    assert_eq!(q.take_due().unwrap().unwrap().consumer_group, "old");
}

#[test]
fn a_pending_job_id_deduplicates() {
    let (q, _) = queue();
    q.register_consumer("jobs", "a", 0);
    assert_eq!(q.enqueue(&job("jobs", "daily", true, 0)).unwrap(), 1);
    assert_eq!(q.enqueue(&job("jobs", "daily", true, 0)).unwrap(), 0);
    let d = q.take_due().unwrap().unwrap();
    assert_eq!(
        q.enqueue(&job("jobs", "daily", true, 0)).unwrap(),
        0,
        "in flight still counts"
    );
    q.complete(&d).unwrap();
    assert_eq!(
        q.enqueue(&job("jobs", "daily", true, 0)).unwrap(),
        1,
        "done: a new run may queue"
    );
}

#[test]
fn delays_hold_a_job_until_due() {
    let (q, clock) = queue();
    q.register_consumer("jobs", "a", 0);
    q.enqueue(&NewJob {
        delay_ms: 5_000,
        ..job("jobs", "later", false, 0)
    })
    .unwrap();
    assert!(q.take_due().unwrap().is_none());
    assert_eq!(q.next_due_at().unwrap(), Some(1_005_000));
    clock.advance(Duration::from_secs(5)).unwrap();
    assert!(q.take_due().unwrap().is_some());
}

#[test]
fn failures_retry_with_exponential_backoff_then_die() {
    let (q, clock) = queue();
    q.register_consumer("jobs", "a", 2);
    q.enqueue(&job("jobs", "flaky", false, 0)).unwrap();
    let mut outcomes = Vec::new();
    loop {
        let Some(d) = q.take_due().unwrap() else {
            match q.next_due_at().unwrap() {
                Some(at) => {
                    clock.set_ms(at).unwrap();
                    continue;
                }
                None => break,
            }
        };
        outcomes.push(q.fail(&d, "boom").unwrap());
    }
    assert_eq!(
        outcomes,
        [
            FailOutcome::RetryAt(1_001_000),
            FailOutcome::RetryAt(1_003_000),
            FailOutcome::Dead
        ]
    );
    let dead = q.dead_letters().unwrap();
    assert_eq!(
        (dead.len(), dead[0].delivery.attempt, dead[0].error.as_str()),
        (1, 2, "boom")
    );
}

#[test]
fn a_restart_redelivers_in_flight_jobs_and_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("slo-queue-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let clock = Clock::virtual_at(0);
    {
        let q = Queue::open(Database::file(&dir).unwrap(), clock.clone()).unwrap();
        q.register_consumer("jobs", "a", 0);
        q.enqueue(&job("jobs", "1", false, 0)).unwrap();
        q.enqueue(&job("jobs", "2", false, 0)).unwrap();
        let taken = q.take_due().unwrap().unwrap();
        assert_eq!(taken.payload, "\"1\"");
        // the host process stops here, mid-job
    }
    let q = Queue::open(Database::file(&dir).unwrap(), clock).unwrap();
    q.register_consumer("jobs", "a", 0);
    let mut payloads = Vec::new();
    while let Some(d) = q.take_due().unwrap() {
        payloads.push(d.payload.clone());
        q.complete(&d).unwrap();
    }
    assert_eq!(payloads, ["\"1\"", "\"2\""]);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", dir.display()));
    }
}

#[test]
fn completing_twice_is_an_error() {
    let (q, _) = queue();
    q.register_consumer("jobs", "a", 0);
    q.enqueue(&job("jobs", "1", false, 0)).unwrap();
    let d = q.take_due().unwrap().unwrap();
    q.complete(&d).unwrap();
    assert_eq!(q.complete(&d), Err(QueueError::NotInFlight(d.seq)));
}
