//! The README's examples, run as a newcomer pastes them. `scripts/run.sh` (what `make run`
//! runs) starts the whole stack in a folder of its own on free ports; every ` ```sh ` block
//! of the README then runs, in order, in one bash session from that folder (so
//! `.data/dev-api-key` is the stack's), with the README's ports rewritten to the stack's
//! and `curl` made to fail on any answer that is not a 2xx, because the README shows
//! success everywhere. Afterwards every notification the examples made must have ended where
//! the README says: sent, delivered, read, cancelled or skipped, or failed with a fallback that went
//! out. Blocks marked ` ```sh not-run ` (the two commands themselves, a production start) are
//! the only ones left out.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{
    servers::{free_port, repo_root},
    workspace_binary,
};

/// One ` ```sh ` block of the README: the line it starts on, and its text.
struct Block {
    line: usize,
    text: String,
}

fn runnable_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (n, line) in readme.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match current.take() {
            Some(block) if fence => blocks.push(block),
            Some(mut block) => {
                block.text.push_str(line);
                block.text.push('\n');
                current = Some(block);
            }
            // `sh not-run`, `json`, `toml`, … are read, not run.
            None if line.trim() == "```sh" => {
                current = Some(Block {
                    line: n + 1,
                    text: String::new(),
                })
            }
            None => {}
        }
    }
    assert!(current.is_none(), "README: a ```sh block is never closed");
    blocks
}

#[test]
fn blocks_are_found_and_not_run_ones_left_out() {
    let readme = "a\n```sh\ncurl x\n```\n```sh not-run\nmake run\n```\n```json\n{}\n```\n";
    let blocks = runnable_blocks(readme);
    assert_eq!(blocks.len(), 1);
    assert_eq!((blocks[0].line, blocks[0].text.as_str()), (2, "curl x\n"));
}

/// The stack's ports, and the README's defaults they replace.
struct Ports {
    api: u16,
    temporal: u16,
    temporal_ui: u16,
    smtp: u16,
    mail_ui: u16,
    fakes: u16,
    s3: u16,
}

impl Ports {
    fn free() -> Ports {
        Ports {
            api: free_port(),
            temporal: free_port(),
            temporal_ui: free_port(),
            smtp: free_port(),
            mail_ui: free_port(),
            fakes: free_port(),
            s3: free_port(),
        }
    }

    fn rewrite(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (default, port) in [
            (8080, self.api),
            (8233, self.temporal_ui),
            (1080, self.mail_ui),
            (4010, self.fakes),
            (9000, self.s3),
        ] {
            for host in ["127.0.0.1", "localhost"] {
                text = text.replace(&format!("{host}:{default}"), &format!("127.0.0.1:{port}"));
            }
        }
        text
    }
}

/// `scripts/run.sh` running; stopped (with everything it started) when dropped.
struct Stack {
    run: tokio::process::Child,
    data: PathBuf,
}

impl Stack {
    async fn start(root: &Path, data: &Path, ports: &Ports) -> Stack {
        let mut command = tokio::process::Command::new("bash");
        command
            .arg(root.join("scripts/run.sh"))
            .env("POMBO_DATA_DIR", data)
            .env("POMBO_RUN_PREBUILT", "1")
            .env("API_PORT", ports.api.to_string())
            .env("TEMPORAL_PORT", ports.temporal.to_string())
            .env("TEMPORAL_UI_PORT", ports.temporal_ui.to_string())
            .env("SMTP_PORT", ports.smtp.to_string())
            .env("MAIL_UI_PORT", ports.mail_ui.to_string())
            .env("FAKES_PORT", ports.fakes.to_string())
            .env("S3_PORT", ports.s3.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // What `make run` would see on a newcomer's machine, not the test's settings.
        for (name, _) in std::env::vars() {
            if name.starts_with("POMBO_") && !name.starts_with("POMBO_TEST") {
                command.env_remove(name);
            }
        }
        let mut run = command.spawn().expect("starting scripts/run.sh");
        let mut lines = BufReader::new(run.stdout.take().expect("stdout")).lines();
        let started = Instant::now();
        let mut said = String::new();
        let ready = tokio::time::timeout(Duration::from_secs(180), async {
            while let Ok(Some(line)) = lines.next_line().await {
                said.push_str(&line);
                said.push('\n');
                if line.contains("Pombo is running") {
                    return true;
                }
            }
            false
        })
        .await;
        let stack = Stack {
            run,
            data: data.to_owned(),
        };
        assert!(
            matches!(ready, Ok(true)),
            "make run's stack did not start within {:?}:\n{said}\n{}",
            started.elapsed(),
            stack.logs()
        );
        // Keep reading, so that the script never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        stack
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for name in ["api", "worker", "fakes", "temporal", "maildev", "s3"] {
            let path = self.data.join("logs").join(format!("{name}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            all.push_str(&format!("--- {} (last lines)\n", path.display()));
            for line in tail.into_iter().rev() {
                all.push_str(line);
                all.push('\n');
            }
        }
        all
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // run.sh stops what it started on SIGTERM (its trap), then exits.
        if let Some(pid) = self.run.id() {
            // SAFETY: a plain kill(2) of our own child.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if matches!(self.run.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.run.start_kill();
        }
    }
}

/// Run before the blocks: bash's strict mode, and `curl` failing on any non-2xx (with the
/// answer shown) while behaving as pasted otherwise; `cargo run … pombo-admin` is the
/// binary `make test` built, against the stack's database (the default `.data/pombo.db`,
/// relative to the folder the blocks run in, as on `make run`).
const PRELUDE: &str = r#"set -euo pipefail
curl() { command curl --fail-with-body --show-error "$@" && echo; }
cargo() {
  local expected=(run -q -p pombo-api --bin pombo-admin --)
  for word in "${expected[@]}"; do
    if [ "${1:-}" != "$word" ]; then echo "README test: unexpected cargo call: cargo $*" >&2; return 2; fi
    shift
  done
  "$POMBO_ADMIN_BIN" "$@"
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn every_readme_example_works_as_pasted_on_make_run() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = runnable_blocks(&readme);
    assert!(
        blocks.len() >= 12,
        "expected the README's examples, found {} runnable blocks",
        blocks.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(".data");
    let ports = Ports::free();
    let stack = Stack::start(&root, &data, &ports).await;

    let mut script = String::from(PRELUDE);
    for block in &blocks {
        script.push_str(&format!("echo '### README.md line {}' >&2\n", block.line));
        script.push_str(&ports.rewrite(&block.text));
        script.push('\n');
    }
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .env("POMBO_ADMIN_BIN", workspace_binary("pombo-admin"))
            .env_remove("POMBO_CONFIG")
            .env_remove("POMBO_DATABASE_URL")
            .output(),
    )
    .await
    .expect("the README's examples took over 300 s")
    .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "a README example failed (the last `### README.md line` is the block):\n\
         --- stdout\n{stdout}\n--- stderr\n{stderr}\n{}",
        stack.logs()
    );

    let key = std::fs::read_to_string(data.join("dev-api-key")).expect("dev key");
    let api = format!("http://127.0.0.1:{}", ports.api);
    let notifications = settled(&api, key.trim()).await;
    assert!(
        notifications.len() >= 10,
        "the examples sent {} notifications",
        notifications.len()
    );
    let by_id = |id: &str| notifications.iter().find(|n| n["id"] == id);
    for n in &notifications {
        let status = n["status"].as_str().unwrap_or_default();
        let ok = match status {
            // `skipped`: the recipient's preferences example turns promotions off.
            "sent" | "delivered" | "read" | "cancelled" | "skipped" => true,
            "failed" => n["fallback_id"].as_str().and_then(by_id).is_some_and(|f| {
                matches!(f["status"].as_str(), Some("sent" | "delivered" | "read"))
            }),
            _ => false,
        };
        assert!(
            ok,
            "a README example's notification ended `{status}`:\n{n:#}\n--- stdout\n{stdout}\n{}",
            stack.logs()
        );
    }
}

/// Every notification of the dev tenant, once none is still pending or being sent.
async fn settled(api: &str, key: &str) -> Vec<Value> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{api}/v1/notifications?limit=100");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = http
                .get(&url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            all.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let busy = all
            .iter()
            .filter(|n| matches!(n["status"].as_str(), Some("pending" | "sending")))
            .count();
        if busy == 0 {
            return all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{busy} notifications still pending or sending after 120 s: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
