//! Files people send: `messaging[].message.attachments[].payload.url`, a CDN URL fetched
//! as it is (no token: the URL is the credential, and it expires).
//!
//! Source: <https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook>.

use super::send::{Instagram, PROVIDER};
use crate::{
    DeliveryError,
    media::{Fetch, Fetched, download, url_of},
};

impl Instagram {
    pub async fn fetch_media(&self, fetch: Fetch<'_>) -> Result<Fetched, DeliveryError> {
        let url = url_of(PROVIDER, fetch.reference)?;
        download(PROVIDER, self.http.get(url), fetch.limit).await
    }
}
