//! `spawn_app`: each test gets the API on a free port, a fresh database, its own Temporal
//! task queue (so tests sharing one Temporal server never take each other's work), and a
//! worker, against the shared real servers.

pub mod database;
pub mod histories;
pub mod maildev;
pub mod providers;
pub mod s3;
pub mod servers;
pub mod smtp;
pub mod webdriver;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use pombo_config::{Config, ProviderAccountConfig};
use pombo_contract::{
    config::{Secret, WorkflowStarts},
    outbound::OutboundPolicy,
};
use pombo_store::Db;
use serde_json::{Value, json};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use tokio::sync::oneshot;
use uuid::Uuid;

pub use servers::servers;

pub struct AppOptions {
    /// Server-wide provider accounts; default: one per non-email channel, on the fakes.
    pub providers: Option<fn(&pombo_fakes::Fakes) -> Vec<ProviderAccountConfig>>,
    /// SMTP port the worker sends to (default: maildev's).
    pub smtp_port: Option<u16>,
    /// Start an in-process worker with the app.
    pub worker: bool,
    /// Temporal address for the API (default: the shared server).
    pub api_temporal: Option<String>,
    /// Reuse this database instead of a fresh one.
    pub database_url: Option<String>,
    pub attempt_timeout_secs: u64,
    /// How fast a dead worker's attempt is retried.
    pub heartbeat_timeout_secs: u64,
    pub dispatch_grace_secs: u64,
    /// Whether the API runs its sweeps (`api.sweeps`; default on).
    pub sweeps: bool,
    /// How long workflows wait for delivery reports after sending (every channel).
    pub confirmation_timeout_secs: u64,
    /// Per channel instead (`confirmation_timeout_secs` is then ignored).
    pub confirmation_timeouts: Option<pombo_contract::config::ConfirmationTimeouts>,
    /// The API's per-tenant rate limit (default: on, but too high for tests to reach).
    pub rate_limit: Option<pombo_contract::config::RateLimitConfig>,
    /// The provider callbacks' per-address limits (default: the server's defaults).
    pub callback_rate_limit: Option<pombo_contract::config::CallbackRateLimitConfig>,
    /// Object storage for `/v1/files` (default: none reachable, and no bucket is created).
    pub storage: Option<pombo_contract::config::StorageConfig>,
    /// Share another app's task queue (a second API process of the same deployment).
    pub task_queue: Option<String>,
    /// Who starts workflows (default: the workers; the API itself when the app has no
    /// in-process worker).
    pub starts: Option<WorkflowStarts>,
    /// Private `host:port` targets tenants may use besides the fakes.
    pub allowed_private_targets: Vec<String>,
    /// Serve HTTPS with these files (`address` is then `https://localhost:PORT`).
    pub api_tls: Option<pombo_contract::config::ApiTls>,
    /// Reach Temporal (API and worker both) at this address with these TLS settings.
    pub temporal_tls: Option<(String, pombo_contract::config::TemporalTls)>,
    /// Configure no encryption key for this app's API (`encryption.keys` empty); use with
    /// `worker: false` (a worker would install no keyring process-wide).
    pub no_encryption_key: bool,
    /// The event stream's settings (default: `StreamConfig::default()`).
    pub stream: Option<pombo_contract::config::StreamConfig>,
    /// Webhook deliveries' settings; default: the server's, with retries a second apart.
    pub webhooks: Option<pombo_contract::config::WebhooksConfig>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            providers: None,
            smtp_port: None,
            worker: true,
            api_temporal: None,
            database_url: None,
            attempt_timeout_secs: 30,
            heartbeat_timeout_secs: 5,
            dispatch_grace_secs: 30,
            sweeps: true,
            confirmation_timeout_secs: 0,
            confirmation_timeouts: None,
            rate_limit: None,
            callback_rate_limit: None,
            storage: None,
            task_queue: None,
            starts: None,
            allowed_private_targets: Vec::new(),
            api_tls: None,
            temporal_tls: None,
            no_encryption_key: false,
            stream: None,
            webhooks: None,
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub api_key: String,
    pub db: Db,
    pub config: Config,
    pub http: reqwest::Client,
    /// This app's own provider fakes (every provider, on 127.0.0.1).
    pub fakes: pombo_fakes::Fakes,
    _database: Option<database::TestDatabase>,
    _shutdown: oneshot::Sender<()>,
    _worker: Option<InProcessWorker>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let servers = servers();
    let (database, database_url) = match options.database_url.clone() {
        Some(url) => (None, url),
        None => {
            let db = database::fresh_database().await;
            let url = db.url.clone();
            (Some(db), url)
        }
    };
    let api_key = format!("pombo_test_{}", Uuid::new_v4().simple());
    let mut config = Config {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url,
        ..Config::default()
    };
    config.temporal.address = servers.temporal.clone();
    if let Some((address, tls)) = options.temporal_tls.clone() {
        config.temporal.address = address;
        config.temporal.tls = Some(tls);
    }
    config.temporal.task_queue = options
        .task_queue
        .clone()
        .unwrap_or_else(|| format!("pombo-test-{}", Uuid::new_v4().simple()));
    config.smtp.port = options.smtp_port.unwrap_or(servers.smtp_port);
    config.delivery.retry_interval_secs = 1;
    config.delivery.attempt_timeout_secs = options.attempt_timeout_secs;
    config.delivery.heartbeat_timeout_secs = options.heartbeat_timeout_secs;
    let wait = options.confirmation_timeout_secs;
    config.delivery.confirmation_timeout_secs =
        options
            .confirmation_timeouts
            .unwrap_or(pombo_contract::config::ConfirmationTimeouts {
                email: wait,
                sms: wait,
                push: wait,
                whatsapp: wait,
                instagram: wait,
                telegram: wait,
                webhook: wait,
                in_app: wait,
            });
    config.worker_metrics_listen = None;
    config.stream = options.stream.clone().unwrap_or_default();
    config.webhooks =
        options
            .webhooks
            .clone()
            .unwrap_or_else(|| pombo_contract::config::WebhooksConfig {
                retry_schedule_secs: vec![1, 1, 1],
                attempt_timeout_secs: 5,
                ..Default::default()
            });
    config.render.program = Some(render_binary());
    // Tests share one Temporal server: a worker per test must not rewrite one server-wide
    // retention schedule to point at its own short-lived task queue. Retention tests turn
    // it on with a schedule id of their own.
    config.retention.days = 0;
    // The same for the chat hub's schedules; the hub's tests turn them on with ids of their own.
    config.hub.ping_every_secs = 0;
    config.hub.import_users_every_secs = 0;
    config.api.dispatch_sweep_secs = 1;
    config.api.sweeps = options.sweeps;
    config.api.dispatch_grace_secs = options.dispatch_grace_secs;
    match options.rate_limit.clone() {
        Some(rate_limit) => config.api.rate_limit = rate_limit,
        None => {
            config.api.rate_limit.per_second = 10_000;
            config.api.rate_limit.burst = 10_000;
        }
    }
    if let Some(limits) = options.callback_rate_limit.clone() {
        config.api.callback_rate_limit = limits;
    }
    match options.storage.clone() {
        Some(storage) => config.storage = storage,
        // Tests without files never reach for the default store (`make run`'s).
        None => config.storage.create_bucket = false,
    }
    config.dev_api_key = Some(Secret::new(api_key.clone()));
    config.encryption.current_key = "test".into();
    // One key for the whole test process: the personal-data keyring is process-wide.
    static TEST_KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let key = TEST_KEY.get_or_init(pombo_store::sealed::Keyring::generate_key);
    if !options.no_encryption_key {
        config
            .encryption
            .keys
            .insert("test".into(), Secret::new(key.clone()));
    }
    let fakes = pombo_fakes::Fakes::start().await;
    // The fakes listen on loopback over http: the one private target tenants may use.
    let mut allowed = vec![fakes.addr.to_string()];
    allowed.extend(options.allowed_private_targets.iter().cloned());
    config.outbound = OutboundPolicy::parse(&allowed).expect("host:port targets");
    config.providers = match options.providers {
        Some(make) => make(&fakes),
        None => providers::on_fakes(&fakes),
    };

    let mut api_config = config.clone();
    api_config.api.tls = options.api_tls.clone();
    // Without a worker of its own, the API starts each workflow itself, so a test sees it in
    // Temporal (queued there until a worker comes) as it would with a worker.
    api_config.temporal.starts = options.starts.unwrap_or(if options.worker {
        WorkflowStarts::Worker
    } else {
        WorkflowStarts::Api
    });
    if let Some(address) = &options.api_temporal {
        api_config.temporal.address = address.clone();
    }
    let state = pombo_api::prepare(api_config).await.expect("API prepares");
    if options.no_encryption_key {
        // `prepare` installed no keyring process-wide; other tests of this process seal
        // with the test key, so only this app's own state goes without one.
        let mut with_key = config.encryption.clone();
        with_key
            .keys
            .insert("test".into(), Secret::new(key.clone()));
        pombo_store::sealed::install(
            pombo_store::sealed::Keyring::from_config(&with_key).expect("the test key"),
        );
    }
    let db = state.db.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = match options.api_tls {
        // The name the test certificates are issued for.
        Some(_) => format!(
            "https://localhost:{}",
            listener.local_addr().unwrap().port()
        ),
        None => format!("http://{}", listener.local_addr().unwrap()),
    };
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        pombo_api::run(state, listener, async {
            let _ = stopped.await;
        })
        .await
        .expect("API serves");
    });
    // The worker learns the API's address as a deployment tells it (`api.public_url`),
    // for the links it puts in emails.
    let mut worker_config = config.clone();
    worker_config
        .api
        .public_url
        .get_or_insert_with(|| address.clone());
    let worker = options
        .worker
        .then(|| InProcessWorker::start(worker_config));
    TestApp {
        address,
        api_key,
        db,
        config,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        fakes,
        _database: database,
        _shutdown: shutdown,
        _worker: worker,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_notification(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/v1/notifications"))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .expect("POST /v1/notifications")
    }

    /// POSTs and expects 202; returns the notification id.
    pub async fn send(&self, body: &Value) -> String {
        let response = self.post_notification(body).await;
        let status = response.status();
        let json: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "{json}");
        json["id"].as_str().unwrap().to_owned()
    }

    /// Posts a provider's callback, as its fake built it, to `path`: status and JSON body.
    pub async fn post_callback(
        &self,
        path: &str,
        callback: &pombo_fakes::FakeCallback,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", &callback.content_type)
            .body(callback.body.clone());
        for (name, value) in &callback.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Any API call with the app's key: status and JSON body (`null` when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_as(&self.api_key, method, path, body).await
    }

    /// Any API call with `key`: status and JSON body (`null` when empty).
    pub async fn call_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get_notification(&self, id: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(&format!("/v1/notifications/{id}")))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// `GET /v1/notifications{query}` with `key`: status and body.
    pub async fn list_as(&self, key: &str, query: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(&format!("/v1/notifications{query}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Polls until the notification has `status`, and returns it.
    pub async fn wait_for_status(&self, id: &str, status: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (code, n) = self.get_notification(id).await;
            assert_eq!(code, 200, "{n}");
            if n["status"] == status {
                return n;
            }
            assert!(
                start.elapsed() < limit,
                "{id} still `{}` after {limit:?}, expected `{status}`: {n}",
                n["status"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A second tenant with its own key.
    pub async fn other_tenant_key(&self) -> String {
        let tenant = pombo_store::tenants::create(&self.db, &format!("other-{}", Uuid::new_v4()))
            .await
            .unwrap();
        let key = format!("pombo_other_{}", Uuid::new_v4().simple());
        pombo_store::tenants::add_api_key(&self.db, tenant.id, &key, "test")
            .await
            .unwrap();
        key
    }

    /// Polls Temporal's visibility store until the notification's workflow matches `query`
    /// (it is eventually consistent).
    pub async fn wait_for_workflow(&self, id: &str, query: &str) {
        let client = self.temporal().await;
        let full = format!(
            "WorkflowId = '{}' AND {query}",
            pombo_contract::workflow::workflow_id(id.parse().unwrap())
        );
        for _ in 0..150 {
            let count = client
                .count_workflows(
                    full.clone(),
                    temporalio_client::WorkflowCountOptions::default(),
                )
                .await
                .unwrap();
            if count.count() == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no workflow matches `{full}`");
    }

    /// The notification's workflow history, in order.
    pub async fn history_events(
        &self,
        id: &str,
    ) -> Vec<temporalio_common::protos::temporal::api::history::v1::HistoryEvent> {
        self.temporal()
            .await
            .get_workflow_handle::<pombo_workflows::NotificationWorkflow>(
                pombo_contract::workflow::workflow_id(id.parse().unwrap()),
            )
            .fetch_history(Default::default())
            .into_events()
            .await
            .unwrap()
    }

    /// The event types of the notification's workflow history, in order.
    pub async fn history(&self, id: &str) -> Vec<EventType> {
        self.history_events(id)
            .await
            .iter()
            .map(|e| e.event_type())
            .collect()
    }

    /// Records the notification's workflow history as the replay fixture
    /// `notification/<case>.json` when `POMBO_RECORD_HISTORIES` asks for it (see
    /// [`histories`]).
    pub async fn record_history(&self, case: &str, id: &str) {
        let workflow_id = pombo_contract::workflow::workflow_id(id.parse().unwrap());
        histories::record(&self.config, "notification", case, &workflow_id).await;
    }

    pub async fn temporal(&self) -> temporalio_client::Client {
        pombo_worker::connect_temporal(&self.config.temporal)
            .await
            .expect("connects to Temporal")
    }
}

/// A notification's timeline as (status, source) pairs, oldest first.
pub fn timeline(n: &Value) -> Vec<(String, String)> {
    n["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_owned(),
                e["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// An address no other test uses, so its mails can be told apart in the shared maildev.
/// The `field` of each error of a validation problem, in order.
/// A call with the app's key that must answer `expected`; its JSON body.
pub async fn expect(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    expected: u16,
) -> Value {
    let (code, answer) = app.call(method, path, body.as_ref()).await;
    assert_eq!(code, expected, "{method} {path}: {answer}");
    answer
}

pub fn problem_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", Uuid::new_v4().simple())
}

pub fn email_request(to: &str) -> Value {
    json!({
        "channel": "email",
        "to": to,
        "content": {"subject": "Hello {{ name }}", "text": "Your code is {{ code }}."},
        "data": {"name": "Ana", "code": 4242},
    })
}

/// A worker inside the test process, on its own thread (the SDK's worker future is not
/// `Send`). Dropping it asks it to stop.
pub struct InProcessWorker {
    _stop: oneshot::Sender<()>,
}

impl InProcessWorker {
    pub fn start(config: Config) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Err(e) = pombo_worker::run(config, async {
                    let _ = stopped.await;
                })
                .await
                {
                    eprintln!("in-process worker failed: {e:#}");
                }
            });
        });
        InProcessWorker { _stop: stop }
    }
}

/// The real `pombo-api` binary in a child process with `config` (on a port of its own):
/// a second API process, or one to kill. Killed when dropped.
pub struct ApiProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _config_dir: tempfile::TempDir,
}

impl ApiProcess {
    /// Started, and answering `/healthz`.
    pub async fn start(config: &Config) -> ApiProcess {
        Self::start_with_env(config, &[]).await
    }

    /// [`Self::start`] with these environment variables set too.
    pub async fn start_with_env(config: &Config, env: &[(&str, &str)]) -> ApiProcess {
        let mut config = config.clone();
        config.listen = format!("127.0.0.1:{}", servers::free_port())
            .parse()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pombo.toml");
        std::fs::write(&path, toml::to_string(&config).expect("config serialises")).unwrap();
        let child = Command::new(workspace_binary("pombo-api"))
            .env("POMBO_CONFIG", &path)
            .env("RUST_LOG", "error")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting pombo-api");
        let base = format!("http://{}", config.listen);
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ApiProcess {
            child,
            base,
            _config_dir: dir,
        }
    }

    /// SIGKILL, and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The real `pombo-worker` binary in a child process, for crash tests.
pub struct WorkerProcess {
    child: Child,
    _config_dir: tempfile::TempDir,
}

impl WorkerProcess {
    pub fn spawn(config: &Config) -> Self {
        Self::spawn_binary(&worker_binary(), config)
    }

    /// [`Self::spawn`] with these environment variables set too, its log lines (standard output) written to `log`.
    pub fn spawn_logging_to(config: &Config, env: &[(&str, &str)], log: &std::path::Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        Self::spawn_binary_logging(&worker_binary(), config, env, Stdio::from(file))
    }

    /// A `pombo-worker` built elsewhere (an older version, for upgrade tests).
    pub fn spawn_binary(binary: &std::path::Path, config: &Config) -> Self {
        Self::spawn_binary_with_env(binary, config, &[])
    }

    fn spawn_binary_with_env(
        binary: &std::path::Path,
        config: &Config,
        env: &[(&str, &str)],
    ) -> Self {
        Self::spawn_binary_logging(binary, config, env, Stdio::null())
    }

    fn spawn_binary_logging(
        binary: &std::path::Path,
        config: &Config,
        env: &[(&str, &str)],
        stdout: Stdio,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pombo.toml");
        std::fs::write(&path, toml::to_string(config).expect("config serialises")).unwrap();
        let child = Command::new(binary)
            .env("POMBO_CONFIG", &path)
            .env(
                "RUST_LOG",
                std::env::var("POMBO_TEST_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting pombo-worker");
        WorkerProcess {
            child,
            _config_dir: dir,
        }
    }

    /// SIGKILL: no graceful shutdown, in-flight work is abandoned mid-way.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `pombo-worker` binary, built now if it is stale: `cargo nextest run -p pombo-api`
/// rebuilds this test but not the worker, and a crash test of an old worker proves nothing.
/// (A no-op under `make test`, which builds every binary first.)
fn worker_binary() -> PathBuf {
    workspace_binary("pombo-worker")
}

/// The `pombo-render` binary the API and the worker render in, built now if it is stale
/// (see [`worker_binary`]).
pub fn render_binary() -> PathBuf {
    workspace_binary("pombo-render")
}

pub fn workspace_binary(name: &str) -> PathBuf {
    // `make test` builds every binary before any test and says so: building here again
    // would only thrash cargo's fingerprints between `cargo build` and nextest's build.
    static BUILT: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("POMBO_TEST_BINARIES_BUILT").is_none() {
        BUILT.call_once(build_worker);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-… → target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join(name);
    assert!(
        path.exists(),
        "{} is missing after building it",
        path.display()
    );
    path
}

fn build_worker() {
    let status = Command::new(env!("CARGO"))
        .args([
            // The very command `make test` builds with: the same feature unification, so
            // a no-op there (a narrower `-p pombo-worker` rebuilds half the tree).
            "build",
            "--quiet",
            "--workspace",
            "--bins",
            "--tests",
        ])
        .current_dir(servers::repo_root())
        .status()
        .expect("running cargo build");
    assert!(status.success(), "building pombo-worker failed");
}
