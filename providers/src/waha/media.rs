//! Files people send: a `message` event's `payload.media.url`, served by the WAHA server
//! itself (`{base_url}/api/files/{session}/{file}`, behind the same `X-Api-Key` as its
//! API) or by the storage it was configured with. The key goes only to the server's own
//! origin.
//!
//! Source: <https://waha.devlike.pro/docs/how-to/receive-messages/> ("Media files").

use super::send::{PROVIDER, Waha};
use crate::{
    DeliveryError,
    media::{Fetch, Fetched, download, same_origin, url_of},
};

impl Waha {
    pub async fn fetch_media(&self, fetch: Fetch<'_>) -> Result<Fetched, DeliveryError> {
        let url = url_of(PROVIDER, fetch.reference)?;
        let mut request = self.http.get(url);
        if let Some(key) = &self.api_key
            && same_origin(url, &self.base)
        {
            request = request.header("X-Api-Key", key.expose());
        }
        download(PROVIDER, request, fetch.limit).await
    }
}
