//! What rendering in `pombo-render` children costs against rendering in the calling process
//! (what the API and the worker did before the children), on the same message in the same
//! run: one at a time (the latency an accept pays) and 32 at once (the throughput a batch
//! chunk or a burst of accepts gets), and the children's memory.

use std::time::Instant;

use futures::{StreamExt, stream};
use pombo_contract::{
    config::RenderConfig,
    content::{Content, EmailContent},
};
use pombo_renderer::Renderer;
use serde_json::{Value, json};

pub struct Figures {
    /// µs per render, one at a time: in process, in children.
    pub sequential_us: (f64, f64),
    /// Renders per second, 32 at once: in process (on blocking threads), in children.
    pub concurrent_per_s: (f64, f64),
    /// Peak resident memory of all render children together, and how many there were.
    pub children_rss_mb: (f64, usize),
}

/// A receipt: subject, text and HTML with a loop over ten lines; about 2 KB rendered.
fn message() -> (Content, Value) {
    let content = Content::Email(EmailContent {
        subject: "Your order {{ order }} has shipped".into(),
        text: Some(
            "Hi {{ name }},\n{% for i in items %}{{ i.qty }} x {{ i.name }}: {{ i.price }}\n{% endfor %}Total {{ total }}".into(),
        ),
        html: Some(
            "<p>Hi {{ name }},</p><ul>{% for i in items %}<li>{{ i.qty }} × {{ i.name }}: {{ i.price }}</li>{% endfor %}</ul><p>Total <b>{{ total }}</b></p>".into(),
        ),
        attachments: Vec::new(),
    });
    let items: Vec<Value> = (0..10)
        .map(|i| json!({"qty": i + 1, "name": format!("item <{i}>"), "price": format!("{}.90", 10 + i)}))
        .collect();
    (
        content,
        json!({"name": "Ana", "order": "A-42", "items": items, "total": "199.00"}),
    )
}

pub async fn measure(n: usize) -> anyhow::Result<Figures> {
    let children = Renderer::start(&RenderConfig::default()).await?;
    let in_process = Renderer::in_process();
    let (content, data) = message();

    let mut sequential = Vec::new();
    for renderer in [&in_process, &children] {
        let start = Instant::now();
        for _ in 0..n {
            renderer.render(&content, Some(&data)).await??;
        }
        sequential.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }

    // In process as before the children (on blocking threads), then in the children.
    let start = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(32, |_| {
            let (content, data) = (content.clone(), data.clone());
            async move {
                tokio::task::spawn_blocking(move || {
                    pombo_contract::render::render(&content, Some(&data))
                })
                .await
                .expect("renders")
                .expect("renders");
            }
        })
        .await;
    let in_process_per_s = n as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(32, |_| async {
            children
                .render(&content, Some(&data))
                .await
                .expect("renders")
                .expect("renders");
        })
        .await;
    let children_per_s = n as f64 / start.elapsed().as_secs_f64();
    Ok(Figures {
        sequential_us: (sequential[0], sequential[1]),
        concurrent_per_s: (in_process_per_s, children_per_s),
        children_rss_mb: children_peak_rss(),
    })
}

/// Sum of `VmHWM` over this process's `pombo-render` children.
fn children_peak_rss() -> (f64, usize) {
    let me = std::process::id().to_string();
    let mut total_kb = 0u64;
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
        };
        if field("Name:").as_deref() == Some("pombo-render")
            && field("PPid:").as_deref() == Some(&me)
        {
            total_kb += field("VmHWM:").and_then(|v| v.parse().ok()).unwrap_or(0);
            count += 1;
        }
    }
    (total_kb as f64 / 1024.0, count)
}
