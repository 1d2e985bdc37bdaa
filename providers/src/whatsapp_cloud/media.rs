//! Files people send: the webhook names a media id; `GET /{version}/{media_id}` with the
//! token answers `{"url", "mime_type", "sha256", "file_size", "id", "messaging_product"}`,
//! and the file is a `GET` of that `url` with the same token (the URL lives five minutes,
//! so both calls are made per attempt).
//!
//! Source: <https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media>
//! ("Retrieve Media URL", "Download Media").

use serde::Deserialize;

use super::send::{PROVIDER, WhatsappCloud, graph_error};
use crate::{
    DeliveryError,
    http::transport_error,
    media::{Fetch, Fetched, download},
};

#[derive(Deserialize)]
struct MediaUrl {
    url: String,
    #[serde(default)]
    mime_type: Option<String>,
}

impl WhatsappCloud {
    pub async fn fetch_media(&self, fetch: Fetch<'_>) -> Result<Fetched, DeliveryError> {
        let id = fetch.reference;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(DeliveryError::permanent(format!(
                "{PROVIDER}: the media id is not one Meta gives"
            )));
        }
        let response = self
            .http
            .get(format!("{}/{id}", self.graph))
            .bearer_auth(self.access_token.expose())
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = crate::http::body(PROVIDER, response).await?;
        if !status.is_success() {
            return Err(graph_error(PROVIDER, status, &headers, &body, &[]));
        }
        let media: MediaUrl = serde_json::from_slice(&body).map_err(|_| {
            DeliveryError::retryable(format!(
                "{PROVIDER}: answered {status} with a body that is not a media URL"
            ))
        })?;
        let mut fetched = download(
            PROVIDER,
            self.http
                .get(&media.url)
                .bearer_auth(self.access_token.expose()),
            fetch.limit,
        )
        .await?;
        if media.mime_type.is_some() {
            fetched.content_type = media.mime_type;
        }
        Ok(fetched)
    }
}
