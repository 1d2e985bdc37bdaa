//! Tenants, API keys and scopes: a key's life through the API (issued, used, listed
//! without its secret, revoked, expired, its tenant disabled), every route of the OpenAPI
//! document held to the scope it declares, and `pombo-admin` making a tenant and a key that
//! the API accepts.

use chrono::{Duration, Utc};
use pombo_contract::Scope;
use pombo_store::tenants::{self, NewKey};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{AppOptions, TestApp, email_request, spawn_app_with};

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        worker: false,
        ..Default::default()
    })
    .await
}

/// A key with exactly `scopes`, issued through the store (as `pombo-admin` does).
async fn key_with(app: &TestApp, tenant_id: Uuid, scopes: &[Scope]) -> String {
    tenants::issue_key(
        &app.db,
        NewKey {
            tenant_id,
            scopes: scopes.to_vec(),
            label: "test".into(),
            expires_at: None,
            created_by_key_id: None,
        },
    )
    .await
    .unwrap()
    .0
}

async fn admin_key(app: &TestApp) -> String {
    let system = tenants::ensure(&app.db, tenants::SYSTEM_TENANT)
        .await
        .unwrap();
    key_with(app, system.id, &[Scope::Admin]).await
}

fn assert_problem(status: u16, body: &Value, expected: u16, kind: &str, detail_has: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(
        body["type"],
        format!("https://pombo.dev/problems/{kind}"),
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(detail_has),
        "detail `{detail}` should name {detail_has}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_is_issued_used_listed_revoked_and_refused() {
    let app = app().await;
    let admin = admin_key(&app).await;

    // An administrator creates a tenant and a send-only key for it.
    let name = format!("acme-{}", Uuid::new_v4().simple());
    let (code, tenant) = app
        .call_as(&admin, "POST", "/v1/tenants", Some(&json!({"name": name})))
        .await;
    assert_eq!(code, 201, "{tenant}");
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let (code, body) = app
        .call_as(&admin, "POST", "/v1/tenants", Some(&json!({"name": name})))
        .await;
    assert_eq!(code, 409, "{body}");
    let (code, body) = app
        .call_as(
            &admin,
            "POST",
            "/v1/tenants",
            Some(&json!({"name": "_mine"})),
        )
        .await;
    assert_eq!(code, 422, "{body}");

    let keys_path = format!("/v1/tenants/{tenant_id}/keys");
    let (code, created) = app
        .call_as(
            &admin,
            "POST",
            &keys_path,
            Some(&json!({"scopes": ["send"], "label": "checkout"})),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pombo_") && key.len() >= 40, "{key}");
    assert_eq!(created["prefix"], &key[..12]);
    assert_eq!(created["scopes"], json!(["send"]));
    assert!(created["last_used_at"].is_null());

    // The key sends, and cannot read what it sent.
    let (code, sent) = app
        .call_as(
            &key,
            "POST",
            "/v1/notifications",
            Some(&email_request("keys@example.com")),
        )
        .await;
    assert_eq!(code, 202, "{sent}");
    let id = sent["id"].as_str().unwrap();
    let (code, body) = app
        .call_as(&key, "GET", &format!("/v1/notifications/{id}"), None)
        .await;
    assert_problem(code, &body, 403, "missing-scope", "`read`");
    // Nor can an administrator's key act inside a tenant.
    let (code, body) = app
        .call_as(
            &admin,
            "POST",
            "/v1/notifications",
            Some(&email_request("keys@example.com")),
        )
        .await;
    assert_problem(code, &body, 403, "missing-scope", "`send`");

    // Listed with its use, never with the key or its hash.
    let (code, list) = app.call_as(&admin, "GET", &keys_path, None).await;
    assert_eq!(code, 200, "{list}");
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .expect("the key is listed")
        .clone();
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert_eq!(listed["prefix"], &key[..12]);
    assert_eq!(listed["label"], "checkout");
    assert!(listed.get("key").is_none() && listed.get("key_hash").is_none());
    assert!(!list.to_string().contains(&key[12..]), "{list}");
    let stored = tenants::get_key(&app.db, key_id.parse().unwrap())
        .await
        .unwrap();
    assert_ne!(stored.key_hash, key, "stored hashed");

    // Revoked: the next request is refused, saying so.
    let (code, revoked) = app
        .call_as(&admin, "DELETE", &format!("{keys_path}/{key_id}"), None)
        .await;
    assert_eq!(code, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (code, body) = app
        .call_as(
            &key,
            "POST",
            "/v1/notifications",
            Some(&email_request("keys@example.com")),
        )
        .await;
    assert_problem(code, &body, 401, "unauthorized", "revoked");

    // An expired key.
    let expired = tenants::issue_key(
        &app.db,
        NewKey {
            tenant_id: tenant_id.parse().unwrap(),
            scopes: Scope::TENANT.to_vec(),
            label: "old".into(),
            expires_at: Some(Utc::now() - Duration::seconds(1)),
            created_by_key_id: None,
        },
    )
    .await
    .unwrap()
    .0;
    let (code, body) = app
        .call_as(&expired, "GET", "/v1/notifications", None)
        .await;
    assert_problem(code, &body, 401, "unauthorized", "expired");
    let (code, body) = app
        .call_as(
            &admin,
            "POST",
            &keys_path,
            Some(&json!({"scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(code, 422, "{body}");

    // A disabled tenant's keys are refused at once, and accepted again when re-enabled.
    let (code, reader) = app
        .call_as(
            &admin,
            "POST",
            &keys_path,
            Some(&json!({"scopes": ["read", "manage"], "expires_at": "2999-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(code, 201, "{reader}");
    let reader = reader["key"].as_str().unwrap().to_owned();
    let (code, _) = app.call_as(&reader, "GET", "/v1/notifications", None).await;
    assert_eq!(code, 200);
    let tenant_path = format!("/v1/tenants/{tenant_id}");
    let (code, body) = app
        .call_as(
            &admin,
            "PATCH",
            &tenant_path,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["disabled"], true);
    let (code, body) = app.call_as(&reader, "GET", "/v1/notifications", None).await;
    assert_problem(code, &body, 403, "tenant-disabled", "disabled");
    let (code, _) = app
        .call_as(
            &admin,
            "PATCH",
            &tenant_path,
            Some(&json!({"disabled": false})),
        )
        .await;
    assert_eq!(code, 200);
    let (code, _) = app.call_as(&reader, "GET", "/v1/notifications", None).await;
    assert_eq!(code, 200);

    // A tenant's manage key handles its own keys, granting no more than it holds.
    let (code, body) = app
        .call_as(
            &reader,
            "POST",
            "/v1/keys",
            Some(&json!({"scopes": ["send"]})),
        )
        .await;
    assert_problem(code, &body, 403, "forbidden", "`send`");
    let (code, body) = app
        .call_as(
            &reader,
            "POST",
            "/v1/keys",
            Some(&json!({"scopes": ["admin"]})),
        )
        .await;
    assert!(code == 403 || code == 422, "{code} {body}");
    let (code, own) = app
        .call_as(
            &reader,
            "POST",
            "/v1/keys",
            Some(&json!({"scopes": ["read"]})),
        )
        .await;
    assert_eq!(code, 201, "{own}");
    let (code, mine) = app.call_as(&reader, "GET", "/v1/keys", None).await;
    assert_eq!(code, 200);
    assert_eq!(mine["data"].as_array().unwrap().len(), 4, "{mine}");
    let (code, _) = app
        .call_as(
            &reader,
            "DELETE",
            &format!("/v1/keys/{}", own["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(code, 200);
    // Another tenant's key is not found there.
    let (code, _) = app
        .call_as(&app.api_key, "DELETE", &format!("/v1/keys/{key_id}"), None)
        .await;
    assert_eq!(code, 404);

    // The tenant's audit log has it all, with the acting key's id.
    let (code, log) = app.call_as(&reader, "GET", "/v1/audit-log", None).await;
    assert_eq!(code, 200, "{log}");
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "tenant.created",
        "key.created",
        "key.revoked",
        "tenant.disabled",
        "tenant.enabled",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let revocation = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "key.revoked" && e["target"] == key_id.as_str())
        .unwrap();
    assert!(revocation["key_id"].is_string(), "{revocation}");
    assert!(!log.to_string().contains(&key[12..]), "no key in the log");
}

/// A key is stored as its SHA-256 only: its row holds the digest (computed here, not by the
/// store's own function) and the key is nowhere in the database; the key still works.
#[tokio::test(flavor = "multi_thread")]
async fn keys_are_stored_as_their_sha256_only() {
    use pombo_store::entities::api_key;
    use sea_orm::EntityTrait;
    use sha2::{Digest, Sha256};

    let app = app().await;
    let (code, created) = app
        .call(
            "POST",
            "/v1/keys",
            Some(&json!({"scopes": ["read"], "label": "hashed"})),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();

    let row = api_key::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    crate::support::database::assert_not_stored(&app, &key, "the key").await;
    // Nor the configured development key.
    crate::support::database::assert_not_stored(&app, &app.api_key, "the dev key").await;
    assert_ne!(row.key_hash, key);
    assert_eq!(row.key_hash, hex::encode(Sha256::digest(key.as_bytes())));
    assert_eq!(row.prefix, key[..12], "only the shown prefix is kept");

    let (code, body) = app.call_as(&key, "GET", "/v1/notifications", None).await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_account_changes_are_audited_with_the_key() {
    let app = app().await;
    let (code, account) = app
        .call(
            "POST",
            "/v1/providers",
            Some(&json!({
                "name": "audited",
                "settings": {"type": "sendgrid", "api_key": "k", "from": "Pombo <pombo@example.com>"},
            })),
        )
        .await;
    assert_eq!(code, 201, "{account}");
    let id = account["id"].as_str().unwrap();
    let (code, _) = app
        .call(
            "PATCH",
            &format!("/v1/providers/{id}"),
            Some(&json!({"priority": 5})),
        )
        .await;
    assert_eq!(code, 200);
    let (code, _) = app
        .call("DELETE", &format!("/v1/providers/{id}"), None)
        .await;
    assert_eq!(code, 204);
    let (_, log) = app.call("GET", "/v1/audit-log", None).await;
    let entries: Vec<&Value> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == id)
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["provider.deleted", "provider.updated", "provider.created"]
    );
    assert!(entries.iter().all(|e| e["key_id"].is_string()));
    assert_eq!(entries[1]["details"]["changed"], json!(["priority"]));
}

/// Every operation the OpenAPI document marks as secured, with a key holding every scope
/// but the one it declares: 403 naming that scope, before any 404 or 422. A key with no
/// scope: 403 everywhere. And a key with only that scope is not refused for its scope (the
/// document and the handler agree).
#[tokio::test(flavor = "multi_thread")]
async fn every_route_refuses_keys_without_its_scope() {
    let app = app().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = tenants::create(&app.db, &format!("scopes-{}", Uuid::new_v4()))
        .await
        .unwrap();
    let none = key_with(&app, tenant.id, &[]).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(security) = operation.get("security") else {
                continue;
            };
            let route = format!("{} {path}", method.to_uppercase());
            let scopes = security[0]["api_key"].as_array().unwrap();
            assert_eq!(scopes.len(), 1, "{route} declares one scope: {security}");
            let needed: Scope = scopes[0].as_str().unwrap().parse().unwrap();
            assert!(
                operation["responses"].get("403").is_some(),
                "{route} documents its 403"
            );
            let concrete = fill_params(path);
            let others: Vec<Scope> = Scope::ALL.into_iter().filter(|s| *s != needed).collect();
            let all_but = key_with(&app, tenant.id, &others).await;
            for (key, what) in [(&all_but, "every other scope"), (&none, "no scope")] {
                let (code, body) = request(&app, key, method, &concrete).await;
                assert_eq!(
                    code, 403,
                    "{route} with {what} must be refused for lacking `{needed}`: {body}"
                );
                assert!(
                    body["detail"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(&format!("`{needed}`")),
                    "{route}: {body}"
                );
            }
            let only = key_with(&app, tenant.id, &[needed]).await;
            // Allowed, the event stream would stay open: a bad cursor ends it at once, after
            // the scope was checked.
            let concrete = if path == "/v1/stream/sse" {
                format!("{concrete}?after=not-a-cursor")
            } else {
                concrete
            };
            let (code, body) = request(&app, &only, method, &concrete).await;
            assert!(
                !(code == 403 && body["type"] == "https://pombo.dev/problems/missing-scope"),
                "{route} refuses a key with its declared scope `{needed}`: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 45, "only {checked} secured operations found");
}

fn fill_params(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                Uuid::new_v4().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn request(app: &TestApp, key: &str, method: &str, path: &str) -> (u16, Value) {
    let body = json!({});
    let with_body = !matches!(method, "get" | "delete");
    app.call_as(
        key,
        &method.to_uppercase(),
        path,
        with_body.then_some(&body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn pombo_admin_makes_a_tenant_and_a_key_the_api_accepts() {
    use pombo_api::admin_cli::run;
    let app = app().await;
    let admin = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let config = app.config.clone();
        async move { run(&config, &args).await }
    };
    let name = format!("cli-{}", Uuid::new_v4().simple());
    let out = admin(&["tenant", "create", &name]).await.unwrap();
    assert!(out.stdout.contains(&name), "{out:?}");
    let listed = admin(&["tenant", "list"]).await.unwrap().stdout;
    assert!(listed.contains(&name), "{listed}");

    let out = admin(&[
        "key",
        "create",
        "--tenant",
        &name,
        "--scope",
        "send,read",
        "--label",
        "ci",
    ])
    .await
    .unwrap();
    let key = out.stdout.trim().to_owned();
    assert!(key.starts_with("pombo_"), "{out:?}");
    assert!(
        admin(&["key", "create", "--tenant", &name, "--scope", "root"])
            .await
            .is_err()
    );

    let (code, sent) = app
        .call_as(
            &key,
            "POST",
            "/v1/notifications",
            Some(&email_request("cli@example.com")),
        )
        .await;
    assert_eq!(code, 202, "{sent}");
    let (code, _) = app
        .call_as(
            &key,
            "GET",
            &format!("/v1/notifications/{}", sent["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(code, 200);
    let (code, body) = app
        .call_as(&key, "POST", "/v1/providers", Some(&json!({})))
        .await;
    assert_problem(code, &body, 403, "missing-scope", "`manage`");

    let keys = admin(&["key", "list", "--tenant", &name])
        .await
        .unwrap()
        .stdout;
    assert!(
        keys.contains(&key[..12]) && !keys.contains(&key[12..]),
        "{keys}"
    );
    let key_id = keys
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();

    // The first administrator key, and what it can do.
    let first_admin = admin(&["key", "create", "--admin", "--label", "root"])
        .await
        .unwrap()
        .stdout
        .trim()
        .to_owned();
    let (code, all) = app.call_as(&first_admin, "GET", "/v1/tenants", None).await;
    assert_eq!(code, 200, "{all}");
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == name.as_str()),
        "{all}"
    );
    assert!(!all.to_string().contains(tenants::SYSTEM_TENANT));

    admin(&["tenant", "disable", &name]).await.unwrap();
    let (code, body) = app.call_as(&key, "GET", "/v1/notifications", None).await;
    assert_problem(code, &body, 403, "tenant-disabled", "disabled");
    admin(&["tenant", "enable", &name]).await.unwrap();
    admin(&["key", "revoke", &key_id]).await.unwrap();
    let (code, body) = app.call_as(&key, "GET", "/v1/notifications", None).await;
    assert_problem(code, &body, 401, "unauthorized", "revoked");
}

/// An administrator sets a tenant's weight (1 to 100); a weight out of range is named.
#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_sets_a_tenants_weight_within_its_range() {
    let app = crate::support::spawn_app().await;
    let admin = admin_key(&app).await;
    let (code, tenant) = app
        .call_as(
            &admin,
            "POST",
            "/v1/tenants",
            Some(&serde_json::json!({"name": "weighted"})),
        )
        .await;
    assert_eq!(code, 201, "{tenant}");
    assert_eq!(tenant["weight"], 1);
    let path = format!("/v1/tenants/{}", tenant["id"].as_str().unwrap());
    let (code, changed) = app
        .call_as(
            &admin,
            "PATCH",
            &path,
            Some(&serde_json::json!({"weight": 3})),
        )
        .await;
    assert_eq!(code, 200, "{changed}");
    assert_eq!(
        (changed["weight"].clone(), changed["disabled"].clone()),
        (3.into(), false.into())
    );
    for bad in [0, 101] {
        let (code, problem) = app
            .call_as(
                &admin,
                "PATCH",
                &path,
                Some(&serde_json::json!({"weight": bad})),
            )
            .await;
        assert_eq!(code, 422, "{problem}");
        assert_eq!(crate::support::problem_fields(&problem), ["weight"]);
    }
    // A tenant's own key cannot.
    let (code, _) = app
        .call("PATCH", &path, Some(&serde_json::json!({"weight": 9})))
        .await;
    assert_eq!(code, 403);
}
