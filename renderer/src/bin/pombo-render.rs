//! The render child: reads one JSON job per line on stdin, answers one JSON line on stdout,
//! until stdin closes. Started and fed by `pombo_renderer::Renderer`, never by hand.
//!
//! It exists for its limit: `--memory-limit-bytes` caps its address space (`RLIMIT_AS`), so a
//! template that grows a string without bound (`{% set ns.s = ns.s ~ ns.s %}` in a loop: a
//! few instructions, so fuel never sees it) makes an allocation fail here. Rust then prints
//! `memory allocation of N bytes failed` and aborts this process alone; the parent reads
//! that, refuses the template, and starts another child.

use std::io::{BufRead, Write};

use pombo_renderer::job::Job;

fn main() {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("--memory-limit-bytes"), Some(bytes)) => {
            let bytes: u64 = bytes
                .parse()
                .unwrap_or_else(|_| fail(&format!("not a number of bytes: {bytes}")));
            limit_address_space(bytes);
        }
        _ => fail("usage: pombo-render --memory-limit-bytes N (started by the API and the worker)"),
    }
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lines() {
        let Ok(line) = line else { break };
        // A job the parent wrote is always valid: anything else is a bug worth a crash the
        // parent reports, not an answer it would misread.
        let job: Job = serde_json::from_str(&line)
            .unwrap_or_else(|e| fail(&format!("a job that is not valid JSON: {e}")));
        let answer = serde_json::to_string(&job.run()).expect("answers serialise");
        if writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break; // the parent is gone
        }
    }
}

fn limit_address_space(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass and touches nothing else of ours.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        fail(&format!(
            "setrlimit(RLIMIT_AS, {bytes}): {}",
            std::io::Error::last_os_error()
        ));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("pombo-render: {message}");
    std::process::exit(2)
}
