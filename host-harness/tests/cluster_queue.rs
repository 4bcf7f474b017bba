//! The leased queue on PostgreSQL, as two instances see it: takes in batches never overlap
//! (`FOR UPDATE SKIP LOCKED`), a lapsed lease is rescued by the other instance and the first
//! one's completion then fails (nothing it did can commit), leases renew, a job whose
//! instances keep dying ends as a dead letter, an entity's changes are handed out one at a
//! time in order, and a restarted instance takes back its own leases.

use std::collections::BTreeSet;

use slo_host::capabilities::clock::Clock;
use slo_host::capabilities::queue::{self, Claims, NewJob, Queue, QueueError};
use slo_host::capabilities::sql::Database;

fn leased(url: &str, owner: &str, clock: &Clock, batch: usize) -> Queue {
    let q = Queue::open_with(
        Database::at(url).unwrap(),
        clock.clone(),
        Claims::Leased {
            owner: owner.into(),
            lease_ms: 10_000,
            batch,
        },
    )
    .unwrap();
    q.register_consumer("jobs", "workers", 3);
    q
}

fn job(id: &str, key: Option<&str>) -> NewJob {
    NewJob {
        queue: "jobs".into(),
        payload: format!("\"{id}\""),
        job_id: id.into(),
        dedupe: true,
        delay_ms: 0,
        priority: 0,
        ordering_key: key.map(str::to_owned),
    }
}

#[test]
fn two_instances_share_a_leased_queue_without_overlap_and_rescue_lapsed_leases() {
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let clock = Clock::virtual_at(1_000_000);
    let a = leased(&url, "a", &clock, 4);
    let b = leased(&url, "b", &clock, 4);
    for n in 0..10 {
        a.enqueue(&job(&format!("j{n}"), None)).unwrap();
    }
    // Batches of 4: a takes j0..j3, b takes j4..j7, without overlap.
    let first_a = a.take_due().unwrap().unwrap();
    let first_b = b.take_due().unwrap().unwrap();
    let mut seen_a = vec![first_a.clone()];
    let mut seen_b = vec![first_b.clone()];
    for _ in 0..3 {
        seen_a.push(a.take_due().unwrap().unwrap());
        seen_b.push(b.take_due().unwrap().unwrap());
    }
    let ids = |v: &[queue::Delivery]| v.iter().map(|d| d.job_id.clone()).collect::<BTreeSet<_>>();
    assert!(
        ids(&seen_a).is_disjoint(&ids(&seen_b)),
        "{seen_a:?} {seen_b:?}"
    );
    assert_eq!(ids(&seen_a).len() + ids(&seen_b).len(), 8);

    // a completes one; b cannot complete a's.
    a.complete(&seen_a[0]).unwrap();
    assert_eq!(
        b.complete(&seen_a[1]),
        Err(QueueError::NotInFlight(seen_a[1].seq)),
        "only the lease holder completes"
    );

    // b renews its leases; a does not (it hangs). Past the lease, a's copies are rescued by b,
    // b's are not.
    clock.advance(std::time::Duration::from_secs(9)).unwrap();
    let conn = Database::at(&url).unwrap();
    queue::renew_leases(&conn.checkout().unwrap(), "b", clock.now_ms() + 10_000).unwrap();
    clock.advance(std::time::Duration::from_secs(2)).unwrap();
    let mut rescued = Vec::new();
    while let Some(d) = b.take_due().unwrap() {
        rescued.push(d);
    }
    let rescued_ids = ids(&rescued);
    for d in &seen_a[1..] {
        assert!(rescued_ids.contains(&d.job_id), "{} was rescued", d.job_id);
    }
    for d in &seen_b {
        assert!(
            !rescued_ids.contains(&d.job_id),
            "{} is b's, renewed",
            d.job_id
        );
    }
    // a wakes up: its completion of a rescued copy fails, so its handler's writes roll back.
    assert_eq!(
        a.complete(&seen_a[1]),
        Err(QueueError::NotInFlight(seen_a[1].seq))
    );
    for d in rescued.iter().chain(&seen_b) {
        b.complete(d).unwrap();
    }
    assert_eq!(a.queued_count().unwrap(), 0);
}

#[test]
fn one_entitys_changes_are_handed_out_one_at_a_time_in_order() {
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let clock = Clock::virtual_at(1_000_000);
    let a = leased(&url, "a", &clock, 8);
    let b = leased(&url, "b", &clock, 8);
    a.enqueue(&job("down", Some("health/api"))).unwrap();
    a.enqueue(&job("up", Some("health/api"))).unwrap();
    a.enqueue(&job("other", Some("health/db"))).unwrap();
    let taken_a: Vec<String> = std::iter::from_fn(|| a.take_due().unwrap())
        .map(|d| d.job_id)
        .collect();
    assert_eq!(taken_a, ["down", "other"], "up waits for down");
    assert!(b.take_due().unwrap().is_none(), "nor can b take it");
    // A failed attempt goes back with a delay: still first for its key.
    let down = Database::at(&url).unwrap();
    let seq: i64 = down
        .checkout()
        .unwrap()
        .query_row(
            "SELECT seq FROM _host_queue_jobs WHERE job_id = 'down'",
            &[],
        )
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    let delivery = queue::Delivery {
        seq,
        queue: "jobs".into(),
        consumer_group: "workers".into(),
        job_id: "down".into(),
        payload: "\"down\"".into(),
        attempt: 0,
        enqueued_at: 0,
        due_at: 0,
    };
    a.fail(&delivery, "boom").unwrap();
    clock.advance(std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(
        b.take_due().unwrap().map(|d| d.job_id).as_deref(),
        Some("down")
    );
}

#[test]
fn a_restarted_instance_takes_back_its_own_leases_only() {
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let clock = Clock::virtual_at(1_000_000);
    let a = leased(&url, "a", &clock, 1);
    let b = leased(&url, "b", &clock, 1);
    a.enqueue(&job("mine", None)).unwrap();
    a.enqueue(&job("theirs", None)).unwrap();
    let mine = a.take_due().unwrap().unwrap();
    let theirs = b.take_due().unwrap().unwrap();
    drop(a); // killed
    let a = leased(&url, "a", &clock, 1);
    assert_eq!(a.take_due().unwrap().map(|d| d.job_id), Some(mine.job_id));
    assert!(a.take_due().unwrap().is_none(), "b's lease is b's");
    b.complete(&theirs).unwrap();
}

#[test]
fn a_job_whose_instances_keep_dying_ends_as_a_dead_letter() {
    let url = slo_host::postgres_cluster::fresh_database().unwrap_or_else(|e| panic!("{e:#}"));
    let clock = Clock::virtual_at(1_000_000);
    let a = leased(&url, "a", &clock, 1);
    let b = leased(&url, "b", &clock, 1);
    a.enqueue(&job("poison", None)).unwrap();
    let mut attempts = Vec::new();
    for n in 0..4 {
        let taker = if n % 2 == 0 { &a } else { &b };
        let d = taker
            .take_due()
            .unwrap()
            .expect("due again once the lease lapsed");
        attempts.push(d.attempt);
        // The taker dies (no heartbeat renews its lease).
        clock.advance(std::time::Duration::from_secs(11)).unwrap();
    }
    assert_eq!(
        attempts,
        [0, 1, 2, 3],
        "each rescue counts as a failed attempt"
    );
    assert!(
        a.take_due().unwrap().is_none(),
        "max_retries 3: the fifth try is not made"
    );
    let dead = a.dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].error.contains("stopped while handling it 4 times"),
        "{}",
        dead[0].error
    );
}
