//! Pombo as deployed: the release `pombo-api` and `pombo-worker` binaries in child
//! processes, on a fresh database, sending SMS to the Twilio fake of this process.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use pombo_config::Config;
use pombo_contract::config::{ConfirmationTimeouts, Secret};
use pombo_contract::outbound::OutboundPolicy;
use pombo_fakes::Fakes;
use pombo_store::Db;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

pub struct Stack {
    pub url: String,
    pub database: String,
    pub config: Config,
    pub fakes: Fakes,
    db: Db,
    poster: Poster,
    api: Child,
    worker: Child,
    /// Where the processes send their traces (`POMBO_BENCH_OTLP=1`); `None`: traces off.
    pub traces: Option<crate::otlp_sink::Sink>,
    /// The PostgreSQL server's admin URL and the run's database, dropped by [`Stack::close`].
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// Posts notifications; cheap to clone into a task per request.
#[derive(Clone)]
pub struct Poster {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Poster {
    /// Any call with the key: its status and JSON body.
    pub async fn call(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .request(
                method.parse().expect("a method"),
                format!("{}{path}", self.url),
            )
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a notification and insists on 202: a benchmark of refused requests is no
    /// benchmark.
    pub async fn post(&self, body: &Value) {
        self.post_to("/v1/notifications", body).await;
    }

    pub async fn post_to(&self, path: &str, body: &Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .expect("the API answers");
        let status = response.status();
        let json: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status.as_u16(), 202, "{path}: {json}");
        json
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `target/release/<name>`, beside this benchmark's own binary.
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?
        .parent()
        .context("no parent directory")?
        .join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build it first (make bench does)",
            path.display()
        );
    }
    Ok(path)
}

impl Stack {
    pub async fn start() -> anyhow::Result<Stack> {
        let fakes = Fakes::start().await;
        let dir = tempfile::tempdir()?;
        let mut postgres = None;
        let (database_url, database) = match std::env::var("POMBO_BENCH_DB").as_deref() {
            Ok("postgres") => {
                let admin = std::env::var("POMBO_TEST_POSTGRES")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
                let name = format!("pombo_bench_{}", uuid::Uuid::new_v4().simple());
                let conn = sea_orm::Database::connect(format!("{admin}/postgres")).await?;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                postgres = Some((admin.clone(), name.clone()));
                (format!("{admin}/{name}"), "postgresql".to_owned())
            }
            _ => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("pombo.db").display()
                ),
                "sqlite".to_owned(),
            ),
        };
        let key = format!("pombo_bench_{}", uuid::Uuid::new_v4().simple());
        let mut config = Config {
            listen: ([127, 0, 0, 1], free_port()).into(),
            database_url,
            ..Config::default()
        };
        config.temporal.address = std::env::var("POMBO_TEST_TEMPORAL")
            .context("POMBO_TEST_TEMPORAL (make bench starts a Temporal dev server)")?;
        config.temporal.task_queue = format!("pombo-bench-{}", uuid::Uuid::new_v4().simple());
        // SMS through Twilio; what people write to the WhatsApp account goes to the bench's
        // tenant (`make run`'s dev tenant), for the inbound scenario.
        config.providers = pombo_fakes::accounts::accounts(&format!("http://{}", fakes.addr))
            .into_iter()
            .filter(|a| a["name"] == "twilio" || a["name"] == crate::inbound::ACCOUNT)
            .map(|mut a| {
                if a["name"] == crate::inbound::ACCOUNT {
                    a["inbound_tenant"] = "dev".into(); // the tenant of `dev_api_key`
                }
                serde_json::from_value(a)
            })
            .collect::<Result<_, _>>()?;
        config.smtp.enabled = false;
        config.delivery.retry_interval_secs = 1;
        config.delivery.confirmation_timeout_secs = ConfirmationTimeouts {
            email: 0,
            sms: 0,
            push: 0,
            whatsapp: 0,
            instagram: 0,
            telegram: 0,
            webhook: 0,
            in_app: 0,
        };
        config.api.rate_limit.per_second = 1_000_000;
        config.api.rate_limit.burst = 1_000_000;
        // Every callback of the inbound scenario comes from 127.0.0.1, where providers call
        // from many addresses: the per-address callback limit would measure itself.
        config.api.callback_rate_limit.enabled = false;
        config.storage.create_bucket = false;
        // Scenario 10 connects a thousand clients as one tenant.
        config.stream.max_connections_per_tenant = 5_000;
        // Scenario 11 measures both ways of delivering webhooks.
        config.webhooks.first_attempt_in_worker =
            std::env::var("POMBO_BENCH_WEBHOOK_WORKFLOW_ONLY").as_deref() != Ok("1");
        config.worker_metrics_listen = None;
        config.dev_api_key = Some(Secret::new(key.clone()));
        config.encryption.current_key = "bench".into();
        config.encryption.keys.insert(
            "bench".into(),
            Secret::new(pombo_store::sealed::Keyring::generate_key()),
        );
        // The fakes listen on loopback over http.
        config.outbound = OutboundPolicy::allowing(&[&fakes.addr.to_string()]);
        let path = dir.path().join("pombo.toml");
        std::fs::write(&path, toml::to_string(&config)?)?;
        // POMBO_BENCH_OTLP=1: traces on, exported to a local sink (what they cost).
        let traces = match std::env::var("POMBO_BENCH_OTLP").as_deref() {
            Ok("1") => Some(crate::otlp_sink::Sink::start().await?),
            _ => None,
        };
        let otel_env: Vec<(&str, String)> = traces
            .as_ref()
            .map(|sink| {
                // The batch's other settings (OTEL_BSP_*) are the defaults, or the bench's own
                // environment's, which the processes inherit.
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint.clone())]
            })
            .unwrap_or_default();

        let spawn = |name: &str| -> anyhow::Result<Child> {
            Command::new(sibling(name)?)
                .env("POMBO_CONFIG", &path)
                .envs(otel_env.iter().map(|(k, v)| (*k, v.as_str())))
                // POMBO_BENCH_LOG (a RUST_LOG filter) to see what the processes do.
                .env(
                    "RUST_LOG",
                    std::env::var("POMBO_BENCH_LOG").unwrap_or_else(|_| "error".into()),
                )
                // Their log (stdout) only when asked for with POMBO_BENCH_LOG.
                .stdout(if std::env::var_os("POMBO_BENCH_LOG").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                })
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("starting {name}"))
        };
        // The API migrates the database first; the worker then finds it ready.
        let api = spawn("pombo-api")?;
        let url = format!("http://{}", config.listen);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()?;
        let started = Instant::now();
        while http.get(format!("{url}/healthz")).send().await.is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the API did not start");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let worker = spawn("pombo-worker")?;
        let db = pombo_store::open(&config.database_url).await?;
        Ok(Stack {
            poster: Poster {
                http,
                url: url.clone(),
                key,
            },
            url,
            database,
            config,
            fakes,
            db,
            api,
            worker,
            traces,
            postgres,
            _dir: dir,
        })
    }

    /// Stops the processes and drops the run's PostgreSQL database (a run with the analytics
    /// scenario leaves a million rows otherwise).
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.stop_processes();
        if let Some((admin, name)) = self.postgres.take() {
            let conn = sea_orm::Database::connect(format!("{admin}/postgres")).await?;
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }

    fn stop_processes(&mut self) {
        for child in [&mut self.api, &mut self.worker] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The stack's database, as the processes see it.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn poster(&self) -> Poster {
        self.poster.clone()
    }

    /// A poster for a second tenant with its own API key (tenant B of the fairness run).
    pub async fn second_tenant(&self) -> anyhow::Result<Poster> {
        let tenant =
            pombo_store::tenants::create(&self.db, &format!("bench-{}", uuid::Uuid::new_v4()))
                .await?;
        let key = format!("pombo_bench_b_{}", uuid::Uuid::new_v4().simple());
        pombo_store::tenants::add_api_key(&self.db, tenant.id, &key, "bench").await?;
        Ok(Poster {
            key,
            ..self.poster.clone()
        })
    }

    pub async fn post(&self, body: &Value) {
        self.poster.post(body).await
    }

    async fn count(&self, sql: &str) -> anyhow::Result<i64> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await?
            .context("a count")?;
        Ok(row.try_get_by_index::<i64>(0)?)
    }

    pub async fn count_sent(&self) -> anyhow::Result<i64> {
        self.count("SELECT COUNT(*) FROM notifications WHERE status = 'sent'")
            .await
    }

    async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl AsyncFnMut() -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        while !done().await? {
            if start.elapsed() > limit {
                bail!("{what}: not done after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Until `n` notifications in all are recorded as sent.
    pub async fn wait_sent(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        self.wait_until("sent", limit, async || {
            Ok(self.count_sent().await? >= n as i64)
        })
        .await
    }

    /// Until every accepted notification's workflow has started.
    pub async fn wait_dispatched(&self, limit: Duration) -> anyhow::Result<()> {
        self.wait_until("dispatched", limit, async || {
            Ok(self
                .count("SELECT COUNT(*) FROM notifications WHERE dispatched_at IS NULL")
                .await?
                == 0)
        })
        .await
    }

    /// Message texts the Twilio fake received, with when.
    pub fn received(&self) -> Vec<(String, DateTime<Utc>)> {
        self.fakes
            .requests("twilio")
            .into_iter()
            .filter_map(|r| Some((r.form_value("Body")?, r.at)))
            .collect()
    }

    pub async fn wait_received(
        &self,
        matches: impl Fn(&str) -> bool,
        n: usize,
        limit: Duration,
    ) -> anyhow::Result<()> {
        self.wait_until("received", limit, async || {
            Ok(self.received().iter().filter(|(m, _)| matches(m)).count() >= n)
        })
        .await
    }

    /// One batch of `size` recipients: recipients/s from accept to every recipient sent,
    /// or `None` when this build has no batch endpoint.
    pub async fn batch(&self, size: usize, first: usize) -> anyhow::Result<Option<f64>> {
        let recipients: Vec<Value> = (0..size)
            .map(|i| json!({"to": crate::phone(first + i), "data": {"i": i}}))
            .collect();
        let body = json!({
            "channel": "sms",
            "content": {"text": "batch {{ i }}"},
            "priority": "low",
            "recipients": recipients,
        });
        let probe = self
            .poster
            .http
            .post(format!("{}/v1/notifications/batch", self.url))
            .bearer_auth(&self.poster.key)
            .json(&json!({}))
            .send()
            .await?;
        if probe.status() == 404 || probe.status() == 405 {
            return Ok(None);
        }
        let before = self.count_sent().await?;
        let start = Instant::now();
        self.poster.post_to("/v1/notifications/batch", &body).await;
        self.wait_sent(before as usize + size, Duration::from_secs(3600))
            .await?;
        Ok(Some(size as f64 / start.elapsed().as_secs_f64()))
    }

    /// CPU seconds used so far by the API, the worker and the Temporal server (the last
    /// when `make bench` gives its pid in `POMBO_BENCH_TEMPORAL_PID`, else NaN).
    pub fn cpu_secs(&self) -> [f64; 3] {
        let temporal = std::env::var("POMBO_BENCH_TEMPORAL_PID")
            .ok()
            .and_then(|p| p.parse().ok());
        [
            cpu_secs(Some(self.api.id())),
            cpu_secs(Some(self.worker.id())),
            cpu_secs(temporal),
        ]
    }

    /// Prints the peak RSS so far, so that the table's peak can be traced to a step.
    pub fn log_peak_rss(&self) {
        let (api, worker) = self.peak_rss_mb();
        eprintln!("    peak RSS so far: API {api:.1} MB, worker {worker:.1} MB");
    }

    /// The API's resident memory now (VmRSS), in KB.
    pub fn api_rss_kb(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.api.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .unwrap_or(f64::NAN)
    }

    /// The bench tenant's API key.
    pub fn key(&self) -> &str {
        &self.poster.key
    }

    /// Peak resident memory (VmHWM) of the API and the worker, in MB.
    pub fn peak_rss_mb(&self) -> (f64, f64) {
        let of = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|kb| kb.parse::<f64>().ok())
                })
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (of(self.api.id()), of(self.worker.id()))
    }
}

/// User + system CPU seconds of a process (`std::process::id()` for this one).
pub fn cpu_secs(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return f64::NAN };
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 =
                fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            // Linux reports in USER_HZ, 100 on every architecture Rust targets here.
            Some(ticks / 100.0)
        })
        .unwrap_or(f64::NAN)
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop_processes();
    }
}

/// Where the time of some notifications went, from their own rows: each stage's
/// durations, sorted.
pub struct Stages {
    /// Stored → its workflow's start recorded (claim, start, `dispatched_at` written).
    pub started: Vec<Duration>,
    /// Stored → rendered by the worker (`sending_at`): the start and the first workflow task.
    pub rendered: Vec<Duration>,
    /// Rendered → recorded as sent: the provider call and its bookkeeping.
    pub sent: Vec<Duration>,
}

/// A notification's `created_at`, `dispatched_at`, `sending_at` and `sent_at`.
type Times = (
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// A stage's start and end, when the notification went through both.
type Span = Option<(DateTime<Utc>, DateTime<Utc>)>;

impl Stack {
    /// The stages of the `priority` notifications stored since `since`.
    pub async fn stages(&self, priority: &str, since: DateTime<Utc>) -> anyhow::Result<Stages> {
        use pombo_store::entities::notification::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
        let rows: Vec<Times> = Entity::find()
            .select_only()
            .column(Column::CreatedAt)
            .column(Column::DispatchedAt)
            .column(Column::SendingAt)
            .column(Column::SentAt)
            .filter(Column::Priority.eq(priority))
            .filter(Column::CreatedAt.gte(since))
            .into_tuple()
            .all(&self.db)
            .await?;
        let stage = |span: fn(&Times) -> Span| {
            let mut spans: Vec<Duration> = rows
                .iter()
                .filter_map(span)
                .map(|(from, to)| (to - from).to_std().unwrap_or_default())
                .collect();
            spans.sort();
            spans
        };
        Ok(Stages {
            started: stage(|t| Some((t.0, t.1?))),
            rendered: stage(|t| Some((t.0, t.2?))),
            sent: stage(|t| Some((t.2?, t.3?))),
        })
    }
}
