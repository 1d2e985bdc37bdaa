//! Attempts recorded together: a group commit.
//!
//! Every attempt ends in a write (the attempt, its delivery's status, its endpoint's
//! health). One transaction each made the database's single writer (SQLite's lock, an
//! endpoint's row lock on PostgreSQL) the limit of deliveries per second; here the attempts
//! that finish while a transaction commits wait for the next one and commit together. An
//! attempt returns once its record has committed, as before, so nothing is acknowledged
//! that could still be lost; a worker that dies first leaves its delivery claimed and
//! pending, and another worker attempts it again.

use std::sync::{Arc, OnceLock};

use pombo_store::{
    Db,
    webhooks::{
        deliveries::{self, AttemptRecord, Delivery},
        endpoints::HealthRules,
    },
};
use tokio::sync::{mpsc, oneshot};

/// Most attempts one transaction records.
const MOST_AT_ONCE: usize = pombo_contract::webhooks::MOST_POSTS_AT_ONCE;

struct Job {
    delivery: Delivery,
    record: AttemptRecord,
    done: oneshot::Sender<Result<(), String>>,
}

/// Hands attempts to a task that records them in batches; started on first use (inside the
/// worker's runtime), shared by clones.
#[derive(Clone)]
pub struct Recorder {
    db: Db,
    rules: HealthRules,
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
}

impl Recorder {
    pub fn new(db: Db, rules: HealthRules) -> Self {
        Recorder {
            db,
            rules,
            queue: Arc::new(OnceLock::new()),
        }
    }

    /// Records `record` of `delivery`; returns when it has committed.
    pub async fn record(&self, delivery: Delivery, record: AttemptRecord) -> Result<(), String> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(MOST_AT_ONCE * 4);
            tokio::spawn(record_forever(self.db.clone(), self.rules, receiver));
            sender
        });
        let (done, committed) = oneshot::channel();
        queue
            .send(Job {
                delivery,
                record,
                done,
            })
            .await
            .map_err(|_| "the attempt recorder has stopped".to_owned())?;
        committed
            .await
            .map_err(|_| "the attempt recorder has stopped".to_owned())?
    }
}

async fn record_forever(db: Db, rules: HealthRules, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MOST_AT_ONCE);
    while queue.recv_many(&mut jobs, MOST_AT_ONCE).await > 0 {
        let batch: Vec<Job> = std::mem::take(&mut jobs);
        let attempts: Vec<(Delivery, AttemptRecord)> = batch
            .iter()
            .map(|job| (job.delivery.clone(), job.record.clone()))
            .collect();
        match deliveries::record_attempts(&db, &attempts, rules).await {
            Ok(_) => {
                for job in batch {
                    let _ = job.done.send(Ok(()));
                }
            }
            // One bad record must not fail the others': each alone, then.
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %e, attempts = batch.len(), "recording attempts together failed; recording each alone");
                for (job, (delivery, record)) in batch.into_iter().zip(attempts) {
                    let result = deliveries::record_attempt(&db, &delivery, record, rules)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string());
                    let _ = job.done.send(result);
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.done.send(Err(e.to_string()));
                }
            }
        }
    }
}
