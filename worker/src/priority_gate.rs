//! Lower-priority work yields to more urgent work running in the same worker process.
//!
//! Each priority has its own task queue and slots, so an alert never waits for a slot held
//! by a promotion. But the queues share the machine and the Temporal server: while a
//! backlog of promotions keeps its slots busy, every step of an alert waits behind their
//! database writes and server round trips. So, before a medium or low activity (local or
//! not) starts, it waits while a more urgent one runs here or ran within [`QUIET`]: a
//! workflow between two steps is away for a server round trip only. With the lower
//! activities held, their workflow tasks hold their slots too, and the lower queues stop
//! polling until the urgent burst is through.
//!
//! The wait is bounded (`temporal.yield_to_urgent_ms`), well under the heartbeat and
//! workflow-task timeouts, so a held send is never mistaken for a dead one, and a steady
//! stream of alerts slows promotions down without starving them. It is per process:
//! alerts on another worker do not hold this one's promotions (Temporal's priority keys
//! still order each queue's backlog).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use pombo_contract::Priority;
use temporalio_sdk::interceptors::{
    ActivityInboundInterceptor, ExecuteActivityInput, ExecuteActivityOutput, Next,
};
use tokio::time::Instant;

/// How long after the last urgent activity ended lower ones stay held: longer than the
/// round trip between two steps of one workflow, so a burst is not interleaved.
pub const QUIET: Duration = Duration::from_millis(250);

/// How often a held activity looks again.
const POLL: Duration = Duration::from_millis(10);

pub struct PriorityGate {
    origin: Instant,
    /// Activities running now, per priority (most urgent first).
    running: [AtomicUsize; 3],
    /// When the last activity of each priority ended, in ms since `origin` (+1; 0: never).
    last_ended: [AtomicU64; 3],
    max_hold: Duration,
}

impl PriorityGate {
    pub fn new(max_hold: Duration) -> Arc<Self> {
        Arc::new(PriorityGate {
            origin: Instant::now(),
            running: Default::default(),
            last_ended: Default::default(),
            max_hold,
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether an activity more urgent than `priority` runs now or ended within [`QUIET`].
    pub fn more_urgent_active(&self, priority: Priority) -> bool {
        let now = self.now_ms();
        (0..priority.index()).any(|i| {
            let ended = self.last_ended[i].load(Ordering::Acquire);
            self.running[i].load(Ordering::Acquire) > 0
                || (ended > 0 && (now + 1).saturating_sub(ended) < QUIET.as_millis() as u64)
        })
    }

    /// Waits while more urgent work is active, at most `max_hold`. Returns how long it
    /// waited.
    pub async fn yield_to_urgent(&self, priority: Priority) -> Duration {
        let start = Instant::now();
        while self.more_urgent_active(priority) && start.elapsed() < self.max_hold {
            tokio::time::sleep(POLL).await;
        }
        start.elapsed()
    }

    /// Marks an activity of `priority` as running until the guard is dropped.
    pub fn running(self: &Arc<Self>, priority: Priority) -> Running {
        self.running[priority.index()].fetch_add(1, Ordering::AcqRel);
        Running {
            gate: self.clone(),
            index: priority.index(),
        }
    }

    /// The interceptor for the worker of one priority's queue.
    pub fn interceptor(self: &Arc<Self>, priority: Priority) -> GateInterceptor {
        GateInterceptor {
            gate: self.clone(),
            priority,
        }
    }
}

pub struct Running {
    gate: Arc<PriorityGate>,
    index: usize,
}

impl Drop for Running {
    fn drop(&mut self) {
        let gate = &self.gate;
        gate.last_ended[self.index].store(gate.now_ms() + 1, Ordering::Release);
        gate.running[self.index].fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct GateInterceptor {
    gate: Arc<PriorityGate>,
    priority: Priority,
}

impl ActivityInboundInterceptor for GateInterceptor {
    fn execute_activity<'a>(
        &'a self,
        input: ExecuteActivityInput,
        next: Next<'a, ExecuteActivityInput, ExecuteActivityOutput<'a>>,
    ) -> ExecuteActivityOutput<'a> {
        Box::pin(async move {
            let held = self.gate.yield_to_urgent(self.priority).await;
            if !held.is_zero() {
                metrics::histogram!("pombo_worker_yield_seconds", "priority" => self.priority.as_str())
                    .record(held.as_secs_f64());
            }
            let _running = self.gate.running(self.priority);
            next.run(input).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lower_priorities_wait_for_running_and_recent_urgent_work() {
        let gate = PriorityGate::new(Duration::from_secs(3));
        assert!(!gate.more_urgent_active(Priority::Low));

        let high = gate.running(Priority::High);
        assert!(gate.more_urgent_active(Priority::Low));
        assert!(gate.more_urgent_active(Priority::Medium));
        assert!(
            !gate.more_urgent_active(Priority::High),
            "high waits for nothing"
        );
        let medium = gate.running(Priority::Medium);
        drop(high);
        // Ended just now: still held for QUIET, then free.
        assert!(gate.more_urgent_active(Priority::Medium));
        tokio::time::advance(QUIET + Duration::from_millis(5)).await;
        assert!(!gate.more_urgent_active(Priority::Medium));
        assert!(gate.more_urgent_active(Priority::Low), "medium still runs");
        drop(medium);
        tokio::time::advance(QUIET + Duration::from_millis(5)).await;
        assert!(!gate.more_urgent_active(Priority::Low));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_activity_goes_once_the_urgent_one_is_done_or_at_the_bound() {
        let gate = PriorityGate::new(Duration::from_secs(3));
        let high = gate.running(Priority::High);
        let release = {
            let gate = gate.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                drop(high);
                drop(gate);
            })
        };
        let held = gate.yield_to_urgent(Priority::Low).await;
        release.await.unwrap();
        assert!(
            held >= Duration::from_secs(1) + QUIET && held < Duration::from_secs(2),
            "held {held:?}"
        );

        // Urgent work that never ends holds a lower activity for the bound only.
        let _forever = gate.running(Priority::High);
        let held = gate.yield_to_urgent(Priority::Low).await;
        assert!(
            held >= Duration::from_secs(3) && held < Duration::from_secs(3) + 2 * POLL,
            "held {held:?}"
        );
    }
}
