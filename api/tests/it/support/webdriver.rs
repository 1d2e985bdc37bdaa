//! A real headless Chromium driven through ChromeDriver (W3C WebDriver over HTTP, spoken
//! with reqwest: a few requests, no client crate): type into fields, click, read what the
//! page shows, run a script in it, see its cookies as the browser keeps them.
//!
//! Both come from Debian (`chromium`, `chromium-driver`), installed by `scripts/tools.sh`.
//! Without them the browser tests fail, unless `POMBO_SKIP_BROWSER=1` says to skip them on
//! purpose: a test that returns early passes while asserting nothing.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::servers::{dies_with_this_process, free_port, wait_port};

/// W3C WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).find_map(|dir| {
        names
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// Chromium and ChromeDriver (`POMBO_TEST_CHROMIUM`, `POMBO_TEST_CHROMEDRIVER` name others),
/// or `None` when the browser tests are skipped on purpose; panics when they are missing
/// without that choice.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("POMBO_TEST_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| find_on_path(&["chromium", "chromium-browser", "google-chrome"]));
    let driver = std::env::var_os("POMBO_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_on_path(&["chromedriver"]));
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ => {
            assert_eq!(
                std::env::var("POMBO_SKIP_BROWSER").as_deref(),
                Ok("1"),
                "Chromium or ChromeDriver is not installed: run `bash scripts/tools.sh` (it \
                 installs Debian's `chromium` and `chromium-driver`), name them in \
                 POMBO_TEST_CHROMIUM / POMBO_TEST_CHROMEDRIVER, or set POMBO_SKIP_BROWSER=1 \
                 to skip the browser tests on purpose"
            );
            eprintln!("POMBO_SKIP_BROWSER=1: the browser test is skipped on purpose");
            None
        }
    }
}

/// One browser session; the driver and the browser end with it.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
    driver: Child,
}

impl Drop for Browser {
    /// Ends the browser session (ChromeDriver then closes Chromium, which killing the driver
    /// alone would leave running), then the driver. Blocking, raw HTTP: `drop` cannot await.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Some(rest) = self.session.strip_prefix("http://")
            && let Some((host, path)) = rest.split_once('/')
            && let Ok(mut stream) = std::net::TcpStream::connect(host)
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    pub async fn start(chromium: &PathBuf, driver: &PathBuf) -> Browser {
        let port = free_port();
        let mut command = Command::new(driver);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = dies_with_this_process(&mut command)
            .spawn()
            .expect("chromedriver starts");
        wait_port(port, Duration::from_secs(30));
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--disable-extensions",
                         "--no-first-run", "--no-default-browser-check",
                         format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_owned();
        Browser {
            http,
            session: format!("{base}/session/{session}"),
            _profile: profile,
            driver: child,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|error| panic!("webdriver {path}: {error}"))
    }

    /// The command's value, or the error WebDriver answered.
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_string() {
            return Err(answer["value"].clone());
        }
        Ok(answer["value"].clone())
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Clears the field and types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Runs `body` as an async function in the page (its last argument is the callback
    /// to call with the result) and returns what it passed.
    pub async fn run_async(&self, body: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": body, "args": []})),
        )
        .await
    }

    pub async fn run(&self, body: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": body, "args": []})),
        )
        .await
    }

    /// Resizes the window (a screenshot shows what fits in it).
    pub async fn set_window(&self, width: u32, height: u32) {
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// The window as a PNG, written to `path` (for a person to look at).
    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let data = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 PNG"))
            .expect("a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// The page's current DOM, serialised.
    pub async fn source(&self) -> String {
        self.command(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The cookies the browser keeps for the current page, with their attributes.
    pub async fn cookies(&self) -> Vec<Value> {
        self.command(reqwest::Method::GET, "/cookie", None)
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// Whether the element is shown (present and not `hidden`, nor inside a hidden one).
    pub async fn visible(&self, css: &str) -> bool {
        self.run(&format!(
            "const e = document.querySelector({}); return !!e && e.checkVisibility();",
            serde_json::to_string(css).unwrap()
        ))
        .await
        .as_bool()
        .unwrap()
    }

    pub async fn text(&self, css: &str) -> String {
        // The page may draw the element again between finding and reading it (a tab's data
        // arriving): a stale element is found again.
        for _ in 0..20 {
            let id = self.element(css).await;
            let path = format!("/element/{id}/text");
            match self.try_command(reqwest::Method::GET, &path, None).await {
                Ok(text) => return text.as_str().unwrap().to_owned(),
                Err(error) if error["error"] == "stale element reference" => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("webdriver {path}: {error}"),
            }
        }
        panic!("`{css}` was drawn again each time it was read")
    }

    /// Waits up to 20 s until the page's DOM satisfies `ready`; panics with the DOM
    /// otherwise.
    pub async fn wait_until(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let dom = self.source().await;
            if ready(&dom) {
                return dom;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("the page never showed {what}:\n{dom}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to 20 s until the element is shown (or hidden, with `shown` false).
    pub async fn wait_visible(&self, css: &str, shown: bool) {
        let start = Instant::now();
        while self.visible(css).await != shown {
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "{css} never became {}:\n{}",
                    if shown { "visible" } else { "hidden" },
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
