//! Files people send, fetched by each provider's client from its fake the provider's way
//! (`media.rs` in each provider's folder): the bytes exactly as the person sent them, the
//! provider's credentials where it documents them, and a classified error when the file is
//! gone (final) or the provider is down (retried).

use pombo_fakes::{Fakes, Fault};
use pombo_providers::{
    Client, ProviderSettings,
    media::{Fetch, Fetched},
    outbound::Trust,
};

/// The client of the fakes' account `name`, as the configuration file gives it.
fn client(fakes: &Fakes, name: &str) -> Client {
    let mut table = pombo_fakes::accounts::accounts(&format!("http://{}", fakes.addr))
        .into_iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("the fakes have no account `{name}`"));
    let table = table.as_object_mut().unwrap();
    for not_settings in ["name", "rate_limit", "inbound_tenant"] {
        table.remove(not_settings);
    }
    let settings: ProviderSettings =
        serde_json::from_value(serde_json::Value::Object(table.clone())).unwrap();
    Client::new(&settings, &crate::operator_clients(), Trust::Operator).unwrap()
}

async fn fetch(client: &Client, reference: &str, limit: u64) -> Fetched {
    client
        .fetch_media(Fetch {
            reference,
            content_type: None,
            limit,
        })
        .await
        .unwrap_or_else(|e| panic!("{reference}: {e:?}"))
        .expect("a provider that brings files in")
}

/// Bytes no text decoding would keep intact.
fn photo(seed: u8) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    bytes.extend((0..=255u8).map(|b| b.wrapping_mul(seed)));
    bytes.extend([0x0D, 0x0A, 0x00, 0x1A, 0x0A, 0xFF, 0xD9]);
    bytes
}

#[tokio::test]
async fn each_provider_fetches_a_file_byte_for_byte_with_its_own_credentials() {
    let fakes = Fakes::start().await;
    let base = format!("http://{}", fakes.addr);
    let sid = pombo_fakes::accounts::TWILIO_ACCOUNT_SID;
    let cases: [(&str, &str, String, &str); 7] = [
        (
            "whatsapp-cloud",
            "4490709327384033",
            "4490709327384033".into(),
            "image/jpeg",
        ),
        (
            "telegram",
            "AgACAgQAAxkBAAIBZ2Zf",
            "AgACAgQAAxkBAAIBZ2Zf".into(),
            "image/jpeg",
        ),
        (
            "twilio",
            "ME0123456789abcdef0123456789abcdef",
            format!(
                "{base}/twilio/2010-04-01/Accounts/{sid}/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef0123456789abcdef"
            ),
            "image/png",
        ),
        (
            "waha",
            "false_5511987650004@c.us_AAAA.jpeg",
            format!("{base}/waha/api/files/default/false_5511987650004@c.us_AAAA.jpeg"),
            "image/jpeg",
        ),
        (
            "evolution",
            "3EB0C767D26A1D8E2F0A",
            "3EB0C767D26A1D8E2F0A".into(),
            "audio/ogg",
        ),
        (
            "instagram",
            "ig-attachment-1",
            format!("{base}/instagram/cdn/ig-attachment-1"),
            "video/mp4",
        ),
        (
            "callbell",
            "cb-upload-1",
            format!("{base}/callbell/uploads/cb-upload-1"),
            "application/pdf",
        ),
    ];
    for (seed, (account, id, reference, content_type)) in cases.iter().enumerate() {
        let bytes = photo(seed as u8 + 3);
        fakes.state.media.put(id, bytes.clone(), content_type);
        let fetched = fetch(&client(&fakes, account), reference, 1 << 20).await;
        assert_eq!(fetched.bytes, bytes, "{account}");
        assert_eq!(
            fetched.content_type.as_deref(),
            Some(*content_type),
            "{account}"
        );
    }

    // Meta: the media node and its download, both with the access token.
    let wa = fakes.requests("whatsapp_cloud");
    let paths: Vec<&str> = wa.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/v21.0/4490709327384033", "/lookaside/4490709327384033"]
    );
    assert!(
        wa.iter()
            .all(|r| r.headers["authorization"].starts_with("Bearer "))
    );
    // Telegram: getFile, then the file path under /file/bot<token>/.
    let tg = fakes.requests("telegram");
    assert!(tg[0].path.ends_with("/getFile"), "{tg:?}");
    assert_eq!(tg[0].query.as_deref(), Some("file_id=AgACAgQAAxkBAAIBZ2Zf"));
    assert!(tg[1].path.starts_with("/file/bot"), "{tg:?}");
    // Twilio: the account's credentials, its media URL being on the account's API origin.
    assert!(crate::only_request(&fakes, "twilio").headers["authorization"].starts_with("Basic "));
    // WAHA: the server's key.
    assert_eq!(
        crate::only_request(&fakes, "waha").headers["x-api-key"],
        "waha-test-key"
    );
    // Evolution: the key id of the message, through the instance.
    let evo = crate::only_request(&fakes, "evolution");
    assert_eq!(evo.path, "/chat/getBase64FromMediaMessage/pombo");
    let body: serde_json::Value = serde_json::from_str(&evo.body).unwrap();
    assert_eq!(body["message"]["key"]["id"], "3EB0C767D26A1D8E2F0A");
    // Attachment URLs are fetched as they are: no token goes with them.
    for cdn in ["instagram", "callbell"] {
        let request = crate::only_request(&fakes, cdn);
        assert!(!request.headers.contains_key("authorization"), "{cdn}");
    }
}

#[tokio::test]
async fn a_missing_file_is_final_and_a_provider_that_is_down_is_retried() {
    let fakes = Fakes::start().await;
    let base = format!("http://{}", fakes.addr);
    let missing = |client: Client, reference: String| async move {
        client
            .fetch_media(Fetch {
                reference: &reference,
                content_type: None,
                limit: 1 << 20,
            })
            .await
            .unwrap_err()
    };
    for (account, reference) in [
        ("whatsapp-cloud", "1111111111".to_owned()),
        ("telegram", "no-such-file".to_owned()),
        ("evolution", "3EB0000000000000".to_owned()),
        ("instagram", format!("{base}/instagram/cdn/gone")),
        ("waha", format!("{base}/waha/api/files/default/gone.jpeg")),
    ] {
        let e = missing(client(&fakes, account), reference).await;
        assert!(e.is_permanent(), "{account}: {e:?}");
    }

    fakes
        .state
        .media
        .put("4490709327384033", photo(1), "image/jpeg");
    fakes.fail_next("whatsapp_cloud", 1, Fault::status(503));
    let wa = client(&fakes, "whatsapp-cloud");
    let e = missing(client(&fakes, "whatsapp-cloud"), "4490709327384033".into()).await;
    assert!(!e.is_permanent(), "{e:?}");
    // The next attempt gets it.
    assert_eq!(
        fetch(&wa, "4490709327384033", 1 << 20).await.bytes,
        photo(1)
    );

    // A URL that is not http(s) is never fetched.
    let e = missing(client(&fakes, "instagram"), "file:///etc/passwd".into()).await;
    assert!(e.is_permanent(), "{e:?}");
}

#[tokio::test]
async fn a_file_past_the_size_cap_is_refused_for_good() {
    let fakes = Fakes::start().await;
    fakes
        .state
        .media
        .put("4490709327384033", vec![7; 4096], "image/jpeg");
    fakes
        .state
        .media
        .put("3EB0C767D26A1D8E2F0A", vec![7; 4096], "image/jpeg");
    for (account, reference) in [
        ("whatsapp-cloud", "4490709327384033"),
        ("evolution", "3EB0C767D26A1D8E2F0A"),
    ] {
        let e = client(&fakes, account)
            .fetch_media(Fetch {
                reference,
                content_type: None,
                limit: 1000,
            })
            .await
            .unwrap_err();
        assert!(e.is_permanent(), "{account}: {e:?}");
        assert_eq!(e.code(), Some("too_large"), "{account}: {e:?}");
    }
}

#[tokio::test]
async fn providers_without_inbound_files_say_so() {
    let fakes = Fakes::start().await;
    let fetched = client(&fakes, "vonage")
        .fetch_media(Fetch {
            reference: "x",
            content_type: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(fetched, None);
}
