//! Files people send: `message_created`'s `attachments[]` are URLs, fetched as they are
//! (Callbell's API token is not sent: they point at its storage, not its API).
//!
//! Source: <https://docs.callbell.eu/api/reference/webhooks/message_events/message_created>.

use super::send::{Callbell, PROVIDER};
use crate::{
    DeliveryError,
    media::{Fetch, Fetched, download, url_of},
};

impl Callbell {
    pub async fn fetch_media(&self, fetch: Fetch<'_>) -> Result<Fetched, DeliveryError> {
        let url = url_of(PROVIDER, fetch.reference)?;
        download(PROVIDER, self.http.get(url), fetch.limit).await
    }
}
