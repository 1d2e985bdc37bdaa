//! The render children, for real: the `pombo-render` binary cargo built for this test, with
//! its memory limit. A template that outgrows it is refused and the pool goes on; a missing
//! program stops start-up.

use pombo_contract::{
    config::RenderConfig,
    content::{Content, TextContent},
};
use pombo_renderer::{Item, Renderer};
use serde_json::{Value, json};

/// Doubles a string 40 times: about 240 instructions (fuel never notices) for a terabyte.
const DOUBLING: &str = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}";

fn config() -> RenderConfig {
    RenderConfig {
        program: Some(env!("CARGO_BIN_EXE_pombo-render").into()),
        processes: 2,
        memory_limit_mib: 128,
    }
}

fn sms(text: &str) -> Content {
    Content::Sms(TextContent { text: text.into() })
}

fn text_of(content: &Content) -> &str {
    match content {
        Content::Sms(t) => &t.text,
        other => panic!("an SMS stays an SMS: {other:?}"),
    }
}

#[tokio::test]
async fn renders_and_keeps_rendering() {
    let renderer = Renderer::start(&config()).await.unwrap();
    for n in 0..20 {
        let out = renderer
            .render(
                &sms("Hi {{ name }} #{{ n }}"),
                Some(&json!({"name": "Ana", "n": n})),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(text_of(&out), format!("Hi Ana #{n}"));
    }
    // A refusal inside the child is an answer, not a crash.
    let err = renderer
        .render(&sms("Hi {{ name }}"), Some(&json!({})))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.field, "content.text");
}

#[tokio::test]
async fn a_template_that_outgrows_the_memory_limit_is_refused_and_the_next_one_renders() {
    let renderer = Renderer::start(&config()).await.unwrap();
    // `'x' * n` is capped by MiniJinja at 100 MB, then doubled past the limit.
    for bomb in [
        DOUBLING,
        "{% set s = 'x' * 100000000 %}{% set t = s ~ s %}{{ t | length }}",
    ] {
        let err = renderer
            .render(&sms(bomb), None)
            .await
            .expect("a memory refusal is an answer, not an unavailable renderer")
            .unwrap_err();
        assert_eq!(err.field, "content");
        assert!(err.reason.contains("more memory"), "{}", err.reason);
        assert!(err.reason.contains("128 MiB"), "{}", err.reason);
        let out = renderer
            .render(&sms("{{ n }}"), Some(&json!({"n": 7})))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(text_of(&out), "7");
    }
}

#[tokio::test]
async fn among_many_only_the_one_that_outgrows_the_limit_is_refused() {
    let renderer = Renderer::start(&config()).await.unwrap();
    let items: Vec<Item> = (0..5)
        .map(|i| {
            let text = if i == 3 { DOUBLING } else { "#{{ i }}" };
            Item::new(&sms(text), Some(&json!({ "i": i })))
        })
        .collect();
    let out = renderer.render_many(items).await.unwrap();
    assert_eq!(out.len(), 5);
    for (i, answer) in out.iter().enumerate() {
        match (i, answer) {
            (3, Err(e)) => assert!(e.reason.contains("more memory"), "{}", e.reason),
            (_, Ok(c)) => assert_eq!(text_of(c), format!("#{i}")),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_batch_that_outgrows_the_limit_is_refused_as_a_whole() {
    let renderer = Renderer::start(&config()).await.unwrap();
    let data: Vec<Option<Value>> = (0..3).map(|i| Some(json!({ "i": i }))).collect();
    let err = renderer
        .batch_problems(&sms(DOUBLING), data.clone())
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.reason.contains("more memory"), "{}", err.reason);
    // A fine batch answers per recipient; a missing value is that recipient's problem.
    let problems = renderer
        .batch_problems(&sms("{{ i }} {{ name }}"), {
            let mut data = data;
            data[1] = Some(json!({"i": 1, "name": "Ana"}));
            data
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(problems.len(), 3);
    assert!(problems[1].is_empty(), "{problems:?}");
    assert!(problems[0][0].starts_with("content.text: "), "{problems:?}");
}

#[tokio::test]
async fn many_renders_at_once_share_the_children() {
    let renderer = Renderer::start(&config()).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let renderer = renderer.clone();
            tokio::spawn(async move {
                let out = renderer
                    .render(&sms("{{ n }}"), Some(&json!({ "n": n })))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(text_of(&out), n.to_string());
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn start_up_fails_loudly_without_the_program() {
    let err = Renderer::start(&RenderConfig {
        program: Some("/nonexistent/pombo-render".into()),
        ..config()
    })
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/pombo-render"),
        "{err}"
    );
    // A program that is not a render child (exits at once) is caught by the probe too.
    let err = Renderer::start(&RenderConfig {
        program: Some("/bin/true".into()),
        ..config()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("render process"), "{err}");
}
