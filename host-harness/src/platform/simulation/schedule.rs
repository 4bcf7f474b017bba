//! What falls due on the clock: recurring jobs (cron), delayed and retried queue jobs, and
//! automation timers, on the virtual clock (a scenario's [`Simulation::advance_to`]) or on the
//! real one (`serve`'s driver calls [`Simulation::run_due`]).

use super::*;

impl Simulation {
    /// Enqueues a recurring job's run now, as the scheduler would.
    pub fn run_job_now(&mut self, queue: &str) -> Result<(), SimulationError> {
        let plugin = self.host.plugin().ok_or_else(|| host_error("no plugin"))?;
        let payload = plugin
            .manifest()
            .recurring_jobs
            .iter()
            .find(|j| j.queue == queue)
            .map_or_else(|| "{}".to_owned(), |j| j.payload.clone());
        let job_id = format!("{queue}:manual:{}", self.clock.now_ms());
        self.queue
            .enqueue(&NewJob {
                queue: queue.into(),
                payload,
                job_id,
                dedupe: true,
                delay_ms: 0,
                priority: 0,
                ordering_key: None,
            })
            .map_err(host_error)?;
        self.settle()
    }

    /// One tick of a host on the real clock: every recurring job due by now is enqueued once
    /// (missed firings coalesce into one run, see [`Scheduler::take_due_coalesced`]), then
    /// everything due runs. Answers when the next cron firing or delayed job is due.
    ///
    /// A firing is taken, recorded under its (job, instant) key and enqueued in one write
    /// transaction: a crash cannot lose it or run it twice, and of several instances reaching
    /// the same instant exactly one fires it (the others find it taken, or its key present).
    pub fn run_due(&mut self) -> Result<Option<i64>, SimulationError> {
        let now = self.clock.now_ms();
        let instance = self.instance_name();
        while self.in_host_transaction(|sim, conn| {
            let Some(due) = sim
                .scheduler
                .take_due_coalesced_on(conn, now)
                .map_err(|e| e.to_string())?
            else {
                return Ok(false);
            };
            let fresh = conn
                .execute(
                    "INSERT INTO _host_cron_firings (job_id, at, instance) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    crate::sql_params![&due.job_id, due.at, &instance],
                )
                .map_err(|e| e.to_string())?;
            if fresh == 1 {
                let job = recurring_job(due);
                sim.queue
                    .enqueue_on(conn, &job, &sim.queue.groups(&job.queue))
                    .map_err(|e| e.to_string())?;
            }
            Ok(true)
        })? {}
        self.sweep_orphans()?;
        self.settle()?;
        self.fire_due_timers()?;
        self.next_due_at()
    }

    /// When the next cron firing, delayed (retrying) job or automation timer is due, if any.
    pub fn next_due_at(&self) -> Result<Option<i64>, SimulationError> {
        let cron = self.scheduler.next_at().map_err(host_error)?;
        let delayed = self.queue.next_due_at().map_err(host_error)?;
        let timer = self.next_timer_at()?;
        Ok([cron, delayed, timer].into_iter().flatten().min())
    }

    fn enqueue_recurring(
        &mut self,
        due: crate::capabilities::scheduler::DueJob,
    ) -> Result<(), SimulationError> {
        self.queue
            .enqueue(&recurring_job(due))
            .map_err(host_error)?;
        Ok(())
    }

    /// Moves the clock to `target`, running every cron and delayed job due on the way at its
    /// own instant, oldest first, settling after each.
    pub fn advance_to(&mut self, target: i64) -> Result<(), SimulationError> {
        while let Some(at) = self.next_due_at()?.filter(|t| *t <= target) {
            if at > self.clock.now_ms() {
                self.clock.set_ms(at).map_err(host_error)?;
            }
            while let Some(due) = self
                .scheduler
                .take_due(self.clock.now_ms())
                .map_err(host_error)?
            {
                self.enqueue_recurring(due)?;
            }
            self.settle()?;
            // A run records nothing that needs delivering: no settle after the timers.
            self.fire_due_timers()?;
        }
        if target > self.clock.now_ms() {
            self.clock.set_ms(target).map_err(host_error)?;
        }
        self.settle()
    }
}

/// The queue job of a recurring job's firing: its id is the (job, instant) key.
fn recurring_job(due: crate::capabilities::scheduler::DueJob) -> NewJob {
    NewJob {
        job_id: format!("{}:{}", due.job_id, due.at),
        queue: due.queue,
        payload: due.payload,
        dedupe: true,
        delay_ms: 0,
        priority: 0,
        ordering_key: None,
    }
}
