//! Files people send: the update names a `file_id`; `getFile?file_id=` answers
//! `{"ok":true,"result":{"file_id","file_unique_id","file_size","file_path"}}`, and the
//! file is `GET {base_url}/file/bot{token}/{file_path}` (bots download files up to 20 MB;
//! the path lives at least an hour, so both calls are made per attempt).
//!
//! Source: <https://core.telegram.org/bots/api#getfile>.

use serde::Deserialize;

use super::send::{NAME, Telegram};
use crate::{
    DeliveryError,
    http::{self, transport_error},
    media::{Fetch, Fetched, download, failed},
};

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    result: Option<File>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    file_path: Option<String>,
}

impl Telegram {
    pub async fn fetch_media(&self, fetch: Fetch<'_>) -> Result<Fetched, DeliveryError> {
        let response = self
            .http
            .get(format!("{}/getFile", self.bot_url.expose()))
            .query(&[("file_id", fetch.reference)])
            .send()
            .await
            .map_err(|e| transport_error(NAME, e))?;
        let status = response.status();
        let body = http::body(NAME, response).await?;
        let answer: Option<Answer> = serde_json::from_slice(&body).ok();
        let path = match answer {
            Some(Answer {
                ok: true,
                result: Some(File {
                    file_path: Some(path),
                }),
                ..
            }) if !path.is_empty() && !path.contains("..") => path,
            Some(Answer {
                description: Some(why),
                ..
            }) if !status.is_success() => {
                let why = http::clean(&why, http::MAX_REASON);
                let message = format!("{NAME}: getFile answered {status}: {why}");
                return Err(if failed(NAME, status).is_permanent() {
                    DeliveryError::permanent(message)
                } else {
                    DeliveryError::retryable(message)
                });
            }
            _ if !status.is_success() => return Err(failed(NAME, status)),
            _ => {
                return Err(DeliveryError::permanent(format!(
                    "{NAME}: getFile gave no file path (a file over 20 MB cannot be downloaded by a bot)"
                )));
            }
        };
        download(
            NAME,
            self.http.get(format!("{}/{path}", self.file_url.expose())),
            fetch.limit,
        )
        .await
    }
}
