//! How a SQLite connection waits for the write lock that another connection holds.
//!
//! SQLite has one writer at a time. What `busy_timeout` installs waits 1, 2, 5, 10, 15, 20,
//! 25 ms… between tries, however soon the lock is free: an API insert that meets a 3 ms
//! write of the worker waits 8 ms, one that meets a 9 ms write waits 18 ms. Measured during
//! the benchmark's 200 requests/s (`perf record -e syscalls:sys_enter_clock_nanosleep -g`
//! on the API): 753 of its 757 sleeps were SQLite's busy callback, and they made the accept
//! latency's p99. This handler tries again after 25 µs, doubling up to 500 µs: a waiter
//! gets the lock within half a millisecond of its release, for a few cheap lock attempts.

use std::{
    ffi::{c_int, c_void},
    time::Duration,
};

use sea_orm::sqlx::{self, sqlite::SqliteConnection};

const FIRST_PAUSE_MICROS: u64 = 25;
const MAX_PAUSE_MICROS: u64 = 500;
/// Then the statement fails with `SQLITE_BUSY`, as it would after `busy_timeout`.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

/// The pause before try `tries + 1`.
fn pause(tries: u32) -> Duration {
    Duration::from_micros((FIRST_PAUSE_MICROS << tries.min(10)).min(MAX_PAUSE_MICROS))
}

/// How long `tries` pauses take in all.
fn waited(tries: u32) -> Duration {
    // The pauses double up to the cap within the first five tries; the rest are capped.
    let ramp: Duration = (0..tries.min(5)).map(pause).sum();
    ramp + Duration::from_micros(MAX_PAUSE_MICROS) * tries.saturating_sub(5)
}

/// SQLite calls this with the number of times it has already called it for the same lock;
/// non-zero means "try again".
extern "C" fn busy(_: *mut c_void, tries: c_int) -> c_int {
    let tries = u32::try_from(tries).unwrap_or(0);
    if waited(tries) >= GIVE_UP_AFTER {
        return 0;
    }
    std::thread::sleep(pause(tries));
    1
}

/// Installs the handler on a new connection (in place of the one `busy_timeout` set).
pub(crate) async fn install(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is this connection's, open and locked for us, so nothing else
    // calls into it meanwhile; the callback keeps no state and cannot unwind.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_busy_handler(
            handle.as_raw_handle().as_ptr(),
            Some(busy),
            std::ptr::null_mut(),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("installing the SQLite busy handler failed (code {rc})").into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_ramp_up_to_the_cap_and_stop_after_the_timeout() {
        let micros = |tries| pause(tries).as_micros();
        assert_eq!(
            (0..7).map(micros).collect::<Vec<_>>(),
            [25, 50, 100, 200, 400, 500, 500]
        );
        assert_eq!(micros(u32::MAX), 500);
        assert_eq!(waited(0), Duration::ZERO);
        assert_eq!(waited(3).as_micros(), 175);
        assert_eq!(waited(7).as_micros(), 775 + 1_000);
        // About 10 s of tries, as `busy_timeout` gave, then SQLITE_BUSY.
        let last = (0..).find(|&t| waited(t) >= GIVE_UP_AFTER).unwrap();
        assert!((19_990..20_010).contains(&last), "{last}");
        assert_eq!(busy(std::ptr::null_mut(), last as c_int), 0);
    }
}
