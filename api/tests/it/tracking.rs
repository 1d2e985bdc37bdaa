//! Email engagement: an email that asked for it carries an open pixel and tracked links;
//! showing the pixel records `opened`, following a link records `clicked` (by the link's
//! position) and lands on the link as written; both move the notification to `read` and
//! reach the event log once. A forged token, or a position the email does not have,
//! leads nowhere.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{expect, maildev, spawn_app, unique_email};

const WITHIN: Duration = Duration::from_secs(60);

/// The `src` and `href` values of the email's HTML as it was received, in order.
fn urls(html: &str, attribute: &str) -> Vec<String> {
    let needle = format!("{attribute}=\"");
    html.split(&needle)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|url| url.replace("&amp;", "&"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tracked_email_reports_its_open_and_clicks_and_redirects_to_the_links_as_written() {
    let app = spawn_app().await;
    let to = unique_email("tracked");
    let html = "<html><body><p>Hi! <a href=\"https://shop.example/sale?x=1&amp;y=2\">Sale</a> \
                <a href=\"mailto:help@example.com\">help</a> \
                <a href=\"https://shop.example/unsubscribe\">other</a></p></body></html>";
    let id = app
        .send(
            &json!({"channel": "email", "to": to, "type": "confirmation",
                      "tracking": {"opens": true, "clicks": true},
                      "content": {"subject": "Tracked", "html": html}}),
        )
        .await;
    app.wait_for_status(&id, "sent", WITHIN).await;
    let mails = maildev::wait_for_mails(&to, 1, WITHIN).await;
    let received = mails[0]["html"].as_str().unwrap();
    let links = urls(received, "href");
    assert_eq!(links.len(), 3, "{received}");
    assert!(
        links[0].starts_with(&app.url("/v1/t/")) && links[0].ends_with("/click/0"),
        "{received}"
    );
    assert_eq!(
        links[1], "mailto:help@example.com",
        "only http(s) links are tracked"
    );
    assert!(links[2].ends_with("/click/1"), "{received}");
    let pixel = urls(received, "src").pop().expect("an open pixel");
    assert!(pixel.ends_with("/open.gif"), "{pixel}");

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Shown twice: one open.
    for _ in 0..2 {
        let shown = http.get(&pixel).send().await.unwrap();
        assert_eq!(shown.status(), 200);
        assert_eq!(shown.headers()["content-type"], "image/gif");
        assert_eq!(shown.bytes().await.unwrap().len(), 43);
    }
    let clicked = http.get(&links[0]).send().await.unwrap();
    assert_eq!(clicked.status(), 302);
    assert_eq!(
        clicked.headers()["location"],
        "https://shop.example/sale?x=1&y=2"
    );
    let n = app.wait_for_status(&id, "read", WITHIN).await;
    assert!(n["timestamps"]["opened"].is_string(), "{n}");
    assert!(n["timestamps"]["clicked"].is_string(), "{n}");
    let tracking: Vec<(String, Value)> = n["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "tracking")
        .map(|e| {
            (
                e["raw_status"].as_str().unwrap().to_owned(),
                e["code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        tracking,
        [
            ("opened".to_owned(), Value::Null),
            ("clicked".to_owned(), json!("0"))
        ],
        "{n}"
    );
    // The log shows an event once every transaction begun before it has ended (a worker's
    // fan-out may still be open when the status reads `read`): asked until both show.
    let started = std::time::Instant::now();
    let (events, kinds) = loop {
        let events = expect(
            &app,
            "GET",
            "/v1/events?types=notification.opened,notification.clicked",
            None,
            200,
        )
        .await;
        let kinds: Vec<String> = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        if kinds.len() >= 2 || started.elapsed() > WITHIN {
            break (events, kinds);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        kinds,
        ["notification.opened", "notification.clicked"],
        "{events}"
    );

    // The figures count them.
    let figures = expect(&app, "GET", "/v1/analytics?group_by=channel", None, 200).await;
    let email = figures["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["group"] == "email")
        .cloned()
        .unwrap_or_else(|| panic!("{figures}"));
    assert_eq!(email["totals"]["opened"], 1, "{email}");
    assert_eq!(email["totals"]["clicked"], 1, "{email}");
    assert_eq!(email["rates"]["click"], 1.0, "{email}");
    assert_eq!(email["totals"]["tracked"], 1, "{email}");
    assert_eq!(
        email["rates"]["open"], 1.0,
        "of the tracked emails: {email}"
    );

    // A forged token, an altered one, a position the email does not have: nowhere.
    let forged = links[0].replace("/v1/t/", "/v1/t/0");
    for bad in [
        forged,
        links[0].replace("/click/0", "/click/7"),
        app.url("/v1/t/nothing/open.gif"),
    ] {
        let answer = http.get(&bad).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{bad}");
        assert!(answer.headers().get("location").is_none());
    }

    // Without `tracking`, an email goes as written.
    let plain_to = unique_email("untracked");
    let plain = app
        .send(
            &json!({"channel": "email", "to": plain_to, "type": "confirmation",
                      "content": {"subject": "Plain", "html": html}}),
        )
        .await;
    app.wait_for_status(&plain, "sent", WITHIN).await;
    let mails = maildev::wait_for_mails(&plain_to, 1, WITHIN).await;
    let received = mails[0]["html"].as_str().unwrap();
    assert!(received.contains("https://shop.example/sale"), "{received}");
    assert!(!received.contains("/v1/t/"), "{received}");
    // And only emails track.
    let refused = expect(
        &app,
        "POST",
        "/v1/notifications",
        Some(
            json!({"channel": "sms", "to": "+5511987654321", "content": {"text": "x"},
                    "tracking": {"opens": true}}),
        ),
        422,
    )
    .await;
    assert_eq!(crate::support::problem_fields(&refused), ["tracking"]);
}
