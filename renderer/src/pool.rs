//! The parent's side: a pool of `pombo-render` children, each rendering one job at a time.
//!
//! Why children: MiniJinja's fuel bounds the work of a template and our output cap bounds
//! what it prints, but nothing bounds the memory of the values it builds (`s ~ s` doubles a
//! string in one instruction), and Rust cannot recover from a failed allocation. In a child
//! with `RLIMIT_AS`, the failed allocation ends the child, not the API or the worker.
//!
//! Children are started lazily, at most `render.processes` at once, and reused while they
//! answer. A child that runs past [`render::DEADLINE`] is killed (an overloaded machine:
//! [`Unavailable`], try again); one that dies saying an allocation failed refuses the
//! template ([`RenderError`] on `content`); one that dies otherwise is [`Unavailable`].

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use pombo_contract::{
    config::RenderConfig,
    content::Content,
    render::{self, RenderError},
};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStderr, ChildStdin, ChildStdout, Command},
    sync::Semaphore,
};

use crate::job::{Answer, Item, Job};

/// What Rust's default allocation-error handler prints before it aborts.
const ALLOCATION_FAILED: &str = "memory allocation of";

/// Messages per job when many are rendered together (a batch chunk): each may render up to
/// `render::MAX_OUTPUT_BYTES`, and the child holds a job's answers at once.
const MESSAGES_PER_JOB: usize = 16;

/// Rendering did not happen, through no fault of the content: try again later (API: 503,
/// worker: a retried activity).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    #[error("rendering took longer than the {}-second limit", render::DEADLINE.as_secs())]
    Overtime,
    #[error("the render process failed: {0}")]
    Crashed(String),
}

/// Why the renderer could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(String);

/// Renders contents with tenants' data. Cheap to clone (one shared pool).
#[derive(Clone)]
pub struct Renderer {
    inner: Arc<Inner>,
}

enum Inner {
    Children(Pool),
    InProcess,
}

struct Pool {
    program: PathBuf,
    memory_limit_bytes: u64,
    /// One permit per child that may run at once.
    slots: Semaphore,
    idle: Mutex<Vec<RenderChild>>,
    deadline: Duration,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.inner {
            Inner::Children(pool) => f
                .debug_struct("Renderer")
                .field("program", &pool.program)
                .field("memory_limit_bytes", &pool.memory_limit_bytes)
                .finish(),
            Inner::InProcess => f.write_str("Renderer(in process)"),
        }
    }
}

impl Renderer {
    /// The pool `config` describes, after one child has answered a job (a missing or broken
    /// `pombo-render` stops the process at start, not at its first notification).
    pub async fn start(config: &RenderConfig) -> Result<Renderer, StartError> {
        let program = match &config.program {
            Some(path) => path.clone(),
            None => next_to_this_executable()?,
        };
        let processes = match config.processes {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let pool = Pool {
            program,
            memory_limit_bytes: config.memory_limit_mib.saturating_mul(1024 * 1024),
            slots: Semaphore::new(processes),
            idle: Mutex::new(Vec::new()),
            deadline: render::DEADLINE,
        };
        let renderer = Renderer {
            inner: Arc::new(Inner::Children(pool)),
        };
        let probe = pombo_contract::content::Content::Sms(pombo_contract::content::TextContent {
            text: "{{ n }}".into(),
        });
        match renderer
            .render(&probe, Some(&serde_json::json!({"n": 1})))
            .await
        {
            Ok(Ok(_)) => Ok(renderer),
            Ok(Err(e)) => Err(StartError(format!(
                "the render process refused a probe: {e}"
            ))),
            Err(e) => Err(StartError(format!("{e} (render.program)"))),
        }
    }

    /// Renders in this process, without the memory limit: for fuzzing the validators and for
    /// unit tests, never for tenants' content (no configuration reaches it).
    pub fn in_process() -> Renderer {
        Renderer {
            inner: Arc::new(Inner::InProcess),
        }
    }

    /// Renders one message within one message's budget (`render::render`).
    pub async fn render(
        &self,
        content: &Content,
        data: Option<&Value>,
    ) -> Result<Result<Content, RenderError>, Unavailable> {
        let mut out = self.render_many(vec![Item::new(content, data)]).await?;
        Ok(out.pop().expect("one answer per item"))
    }

    /// Renders each item within its own message budget; the answers in order.
    pub async fn render_many(
        &self,
        items: Vec<Item>,
    ) -> Result<Vec<Result<Content, RenderError>>, Unavailable> {
        let mut out = Vec::with_capacity(items.len());
        for group in items.chunks(MESSAGES_PER_JOB) {
            let answers = match self.messages(group.to_vec()).await? {
                Ok(answers) => answers,
                // One of them ran out of memory: which one, only rendering each alone says.
                Err(_) if group.len() > 1 => {
                    let mut answers = Vec::with_capacity(group.len());
                    for item in group {
                        answers.push(match self.messages(vec![item.clone()]).await? {
                            Ok(mut one) => one.pop().expect("one answer per item"),
                            Err(e) => Err(e),
                        });
                    }
                    answers
                }
                Err(e) => vec![Err(e)],
            };
            for (item, answer) in group.iter().zip(answers) {
                out.push(answer.and_then(|value| {
                    Content::parse(item.channel, &value).map_err(|e| RenderError {
                        field: e.field,
                        reason: format!("rendered content: {}", e.reason),
                    })
                }));
            }
        }
        Ok(out)
    }

    /// A batch's problems per recipient (see [`Job::BatchProblems`]); `Err` when the content
    /// cannot render for any of them (it needs more memory than a render may have).
    pub async fn batch_problems(
        &self,
        content: &Content,
        data: Vec<Option<Value>>,
    ) -> Result<Result<Vec<Vec<String>>, RenderError>, Unavailable> {
        let job = Job::BatchProblems {
            channel: content.channel(),
            content: content.to_value(),
            data,
        };
        Ok(match self.run(job).await? {
            Ok(Answer::BatchProblems(problems)) => Ok(problems),
            Ok(other) => return Err(mismatch(other)),
            Err(e) => Err(e),
        })
    }

    /// One `Messages` job: `Err` when it ran out of memory.
    async fn messages(
        &self,
        items: Vec<Item>,
    ) -> Result<Result<Vec<Result<Value, RenderError>>, RenderError>, Unavailable> {
        let count = items.len();
        Ok(match self.run(Job::Messages { items }).await? {
            Ok(Answer::Messages(answers)) if answers.len() == count => Ok(answers),
            Ok(other) => return Err(mismatch(other)),
            Err(e) => Err(e),
        })
    }

    /// Runs `job` in a child; `Ok(Err(..))` when the child died of its memory limit.
    async fn run(&self, job: Job) -> Result<Result<Answer, RenderError>, Unavailable> {
        let pool = match &*self.inner {
            Inner::InProcess => return Ok(Ok(job.run())),
            Inner::Children(pool) => pool,
        };
        let line = serde_json::to_string(&job).expect("jobs serialise") + "\n";
        let _slot = pool
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let reused = pool.idle.lock().expect("not poisoned").pop();
        let fresh = reused.is_none();
        let mut child = match reused {
            Some(child) => child,
            None => pool.spawn()?,
        };
        let mut outcome = tokio::time::timeout(pool.deadline, child.exchange(&line)).await;
        // An idle child can have died meanwhile (killed from outside): once more, on a new one.
        if !fresh && matches!(outcome, Ok(Err(Exchange::Write(_)))) {
            child = pool.spawn()?;
            outcome = tokio::time::timeout(pool.deadline, child.exchange(&line)).await;
        }
        match outcome {
            Ok(Ok(answer)) => {
                let answer: Answer = serde_json::from_str(&answer)
                    .map_err(|e| Unavailable::Crashed(format!("an unreadable answer: {e}")))?;
                pool.idle.lock().expect("not poisoned").push(child);
                Ok(Ok(answer))
            }
            Ok(Err(_)) => {
                let why = child.death().await;
                if why.contains(ALLOCATION_FAILED) {
                    tracing::warn!(%why, "a render ran out of memory");
                    Ok(Err(RenderError {
                        field: "content".into(),
                        reason: format!(
                            "the template needs more memory than a render may use ({} MiB)",
                            pool.memory_limit_bytes / (1024 * 1024)
                        ),
                    }))
                } else {
                    tracing::error!(%why, "a render process died");
                    Err(Unavailable::Crashed(why))
                }
            }
            Err(_) => {
                // `kill_on_drop`: the runaway work ends with the child.
                drop(child);
                Err(Unavailable::Overtime)
            }
        }
    }
}

fn mismatch(answer: Answer) -> Unavailable {
    Unavailable::Crashed(format!("an answer to another job: {answer:?}"))
}

/// `pombo-render` beside the running binary (`target/<profile>/`, or an installed `bin/`),
/// or one directory up for test binaries (`target/<profile>/deps/`).
fn next_to_this_executable() -> Result<PathBuf, StartError> {
    let exe = std::env::current_exe()
        .map_err(|e| StartError(format!("finding this executable's directory: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [Some(dir), dir.parent()];
    candidates
        .into_iter()
        .flatten()
        .map(|d| d.join("pombo-render"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            StartError(format!(
                "no pombo-render next to {}: build it (`cargo build --bins`) or set render.program (POMBO_RENDER__PROGRAM)",
                exe.display()
            ))
        })
}

impl Pool {
    fn spawn(&self) -> Result<RenderChild, Unavailable> {
        let mut process = Command::new(&self.program)
            .arg("--memory-limit-bytes")
            .arg(self.memory_limit_bytes.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_clear()
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Unavailable::Crashed(format!("starting {}: {e}", self.program.display()))
            })?;
        let pipes = (
            process.stdin.take(),
            process.stdout.take(),
            process.stderr.take(),
        );
        let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
            unreachable!("all three pipes were asked for");
        };
        Ok(RenderChild {
            process,
            stdin,
            stdout: BufReader::new(stdout),
            stderr,
        })
    }
}

struct RenderChild {
    process: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: ChildStderr,
}

enum Exchange {
    Write(#[allow(dead_code)] std::io::Error),
    Read,
}

impl RenderChild {
    /// Writes one job line and reads one answer line.
    async fn exchange(&mut self, line: &str) -> Result<String, Exchange> {
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(Exchange::Write)?;
        self.stdin.flush().await.map_err(Exchange::Write)?;
        let mut answer = String::new();
        match self.stdout.read_line(&mut answer).await {
            Ok(n) if n > 0 && answer.ends_with('\n') => Ok(answer),
            _ => Err(Exchange::Read),
        }
    }

    /// How the child ended: its exit status and the start of what it wrote to stderr.
    async fn death(mut self) -> String {
        let status = match tokio::time::timeout(Duration::from_secs(5), self.process.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            _ => "still running".into(),
        };
        let mut said = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            (&mut self.stderr).take(4096).read_to_end(&mut said),
        )
        .await;
        let said = String::from_utf8_lossy(&said);
        format!("{status}; {}", said.trim())
    }
}
