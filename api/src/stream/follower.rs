//! One API process's follower of the event log: it reads every tenant's new events once,
//! with what the filters need, and broadcasts them to the process's stream connections, so
//! a thousand connections cost one query, not a thousand.
//!
//! The log is the truth and the only path between processes: an event written by a worker or
//! another API process reaches this one's clients because this follower reads it. PostgreSQL
//! wakes it at once (`LISTEN pombo_event_log`, notified by the log's trigger at commit);
//! otherwise, and on SQLite, it reads every `stream.poll_millis`. No broker in between.

use std::{sync::Arc, time::Duration};

use pombo_store::{
    Db,
    event_log::{self, Cursor},
};
use sea_orm::DbBackend;
use tokio::sync::{Notify, broadcast};

use super::session::Arrived;

/// Events read per query.
const BATCH: u64 = 500;
/// Batches a connection may be behind before it reads the log itself.
const CAPACITY: usize = 256;

pub struct Follower {
    sender: broadcast::Sender<Arc<[Arrived]>>,
    wake: Notify,
}

impl Follower {
    /// Starts following from the log's current end.
    pub fn start(db: Db, poll: Duration) -> Arc<Follower> {
        let (sender, _) = broadcast::channel(CAPACITY);
        let follower = Arc::new(Follower {
            sender,
            wake: Notify::new(),
        });
        if db.get_database_backend() == DbBackend::Postgres {
            tokio::spawn(listen(db.clone(), Arc::downgrade(&follower)));
        }
        tokio::spawn(follow(db, poll, Arc::downgrade(&follower)));
        follower
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[Arrived]>> {
        let receiver = self.sender.subscribe();
        // A first connection after a quiet spell need not wait for the slow poll.
        self.wake.notify_one();
        receiver
    }
}

async fn follow(db: Db, poll: Duration, follower: std::sync::Weak<Follower>) {
    let mut cursor = loop {
        match event_log::end(&db).await {
            Ok(cursor) => break cursor,
            Err(e) => {
                tracing::warn!(error = %e, "finding the end of the event log; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        let Some(follower) = follower.upgrade() else {
            return;
        };
        // Nobody listening: read seldom (the connections read the log themselves first).
        let wait = if follower.sender.receiver_count() == 0 {
            Duration::from_secs(1)
        } else {
            poll
        };
        let _ = tokio::time::timeout(wait, follower.wake.notified()).await;
        loop {
            let events = match event_log::follow(&db, cursor, BATCH).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, "following the event log");
                    break;
                }
            };
            let Some(last) = events.last().map(Cursor::of) else {
                break;
            };
            let full = events.len() as u64 == BATCH;
            let batch: Arc<[Arrived]> = match Arrived::all(&db, events).await {
                Ok(arrived) => arrived.into(),
                Err(e) => {
                    tracing::warn!(error = %e, "following the event log");
                    break;
                }
            };
            metrics::counter!("pombo_stream_events_total").increment(batch.len() as u64);
            let _ = follower.sender.send(batch);
            cursor = last;
            if !full {
                break;
            }
        }
    }
}

/// PostgreSQL's wake-up: each notification on `pombo_event_log` wakes the follower. The
/// follower reads on its poll anyway, so a lost connection only costs latency until it is
/// back.
async fn listen(db: Db, follower: std::sync::Weak<Follower>) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut pause = Duration::from_secs(1);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
            listener.listen("pombo_event_log").await?;
            loop {
                listener.recv().await?;
                match follower.upgrade() {
                    Some(follower) => follower.wake.notify_one(),
                    None => return Ok::<(), sea_orm::sqlx::Error>(()),
                }
            }
        }
        .await;
        match connected {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "listening for new events; the poll goes on meanwhile");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
        if follower.strong_count() == 0 {
            return;
        }
    }
}
