//! Logs written to a file or a pipe (what `make run` and every process manager do) are
//! plain text: no terminal colour codes around the level and the fields.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{render_binary, workspace_binary};

#[test]
fn the_api_logs_without_colour_codes_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/pombo.db?mode=rwc", dir.path().display());
    let mut api = Command::new(workspace_binary("pombo-api"))
        .current_dir(dir.path())
        .env("POMBO_DATABASE_URL", database)
        .env("POMBO_LISTEN", "127.0.0.1:0")
        .env("POMBO_RENDER__PROGRAM", render_binary())
        .env("POMBO_STORAGE__CREATE_BUCKET", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = api.stdout.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // Without encryption keys the API warns at start: a log line with a level and a field.
    let started = Instant::now();
    let line = loop {
        let left = Duration::from_secs(60).saturating_sub(started.elapsed());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains("encryption.keys is empty") => break line,
            Ok(_) => continue,
            Err(e) => panic!("no start-up warning from pombo-api: {e}"),
        }
    };
    let _ = api.kill();
    let _ = api.wait();
    assert!(line.contains("WARN"), "{line}");
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
}
