//! The OpenAPI document is exact about errors: every error answer it declares is an
//! `application/problem+json` Problem, every route declares the problems its inputs can
//! produce, and requests that used to get axum's plain-text rejections (a malformed id in
//! the path, a query that does not fit, a callback body over the limit) or were accepted
//! against the document (an array for an object) get a declared problem. schemathesis checks the rest against a running server (`make test`).

use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_app_with};

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await
}

async fn document(app: &TestApp) -> Value {
    app.http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn declared(doc: &Value, method: &str, path: &str) -> Vec<u16> {
    let responses = doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is in the document"));
    responses.keys().map(|s| s.parse().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_declared_error_is_a_problem_and_every_route_declares_its_inputs_problems() {
    let app = app().await;
    let doc = document(&app).await;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let route = format!("{} {path}", method.to_uppercase());
            let responses = operation["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.as_str() < "400" {
                    continue;
                }
                assert_eq!(
                    response["content"],
                    json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}),
                    "{route} {status}"
                );
            }
            let has = |status: &str| responses.contains_key(status);
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let takes = |place: &str| parameters.iter().any(|p| p["in"] == place);
            if operation.get("security").is_some() {
                for status in ["401", "403", "429"] {
                    assert!(has(status), "{route} declares {status}");
                }
                assert!(
                    responses["429"]["headers"]["Retry-After"].is_object(),
                    "{route}: 429 with Retry-After"
                );
                if operation["requestBody"]["content"]["application/json"].is_object() {
                    for status in ["400", "413", "415", "422"] {
                        assert!(has(status), "{route} takes JSON: declares {status}");
                    }
                }
            }
            if takes("path") {
                assert!(has("404"), "{route} takes an id: declares 404");
            }
            if takes("query") {
                assert!(has("422"), "{route} takes a query: declares 422");
            }
            operations += 1;
        }
    }
    assert!(operations >= 49, "only {operations} operations");
    // Problems without field errors leave `errors` out: the schema must not require it.
    let required = &doc["components"]["schemas"]["Problem"]["required"];
    assert!(
        !required.as_array().unwrap().contains(&json!("errors")),
        "{required}"
    );
}

/// A request, the operation of the document it is for, and the problem it must get.
struct Case {
    method: &'static str,
    documented: &'static str,
    path: String,
    /// Content type and body.
    body: Option<(&'static str, String)>,
    status: u16,
    /// The field `errors` names first, for a 422.
    field: Option<&'static str>,
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_paths_queries_and_bodies_get_the_problems_the_document_declares() {
    let app = app().await;
    let doc = document(&app).await;
    let limit = app.config.api.max_body_bytes;
    let case = |method, documented, path: &str, status, field| Case {
        method,
        documented,
        path: path.to_owned(),
        body: None,
        status,
        field,
    };
    let cases = [
        case(
            "get",
            "/v1/providers/{id}",
            "/v1/providers/not-a-uuid",
            404,
            None,
        ),
        case(
            "delete",
            "/v1/routing-rules/{id}",
            "/v1/routing-rules/%FF",
            404,
            None,
        ),
        case(
            "get",
            "/v1/templates/{id}",
            "/v1/templates/%FF%FE",
            404,
            None,
        ),
        case(
            "get",
            "/v1/templates/{id}/versions/{version}",
            "/v1/templates/welcome/versions/first",
            404,
            None,
        ),
        case(
            "get",
            "/v1/providers",
            "/v1/providers?channel=pigeon",
            422,
            Some("channel"),
        ),
        case(
            "get",
            "/v1/audit-log",
            "/v1/audit-log?limit=many",
            422,
            Some("limit"),
        ),
        case(
            "get",
            "/v1/audit-log",
            "/v1/audit-log?cursor=nope",
            422,
            Some("cursor"),
        ),
        case(
            "get",
            "/v1/notifications",
            "/v1/notifications?limit=0",
            422,
            Some("limit"),
        ),
        Case {
            body: Some(("application/x-www-form-urlencoded", "x".repeat(limit + 1))),
            ..case(
                "post",
                "/v1/callbacks/{type}/{account}",
                "/v1/callbacks/twilio/nobody",
                413,
                None,
            )
        },
        case(
            "get",
            "/v1/callbacks/{type}/{account}",
            "/v1/callbacks/whatsapp_cloud/%FF",
            404,
            None,
        ),
        // serde alone takes an array of a struct's fields for the struct.
        Case {
            body: Some(("application/json", "[null, null]".into())),
            ..case(
                "post",
                "/v1/recipients",
                "/v1/recipients",
                422,
                Some("body"),
            )
        },
        Case {
            body: Some((
                "application/json",
                json!({"name": "by-position", "action": ["email"]}).to_string(),
            )),
            ..case(
                "post",
                "/v1/routing-rules",
                "/v1/routing-rules",
                422,
                Some("action"),
            )
        },
    ];
    for Case {
        method,
        documented,
        path,
        body,
        status,
        field,
    } in cases
    {
        let mut request = app
            .http
            .request(method.to_uppercase().parse().unwrap(), app.url(&path))
            .bearer_auth(&app.api_key);
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{method} {path}: {text}"
        );
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["status"], status, "{problem}");
        if let Some(field) = field {
            assert_eq!(
                problem["errors"][0]["field"], field,
                "{method} {path}: {problem}"
            );
        }
        assert!(
            declared(&doc, method, documented).contains(&status),
            "{method} {documented} declares {status}"
        );
    }
}
