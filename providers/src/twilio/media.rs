//! Files people send: an inbound message's `MediaUrlN` (`…/Accounts/{sid}/Messages/{sid}/
//! Media/{sid}`), which answers with a redirect to the file. Accounts that turned on "HTTP
//! Basic Authentication for media access" need the account's credentials, so they are sent
//! when the URL is on the account's own API origin, and never elsewhere (the redirect to
//! the CDN drops them: a client never carries `Authorization` to another host).
//!
//! Source: <https://www.twilio.com/docs/messaging/guides/webhook-request> (`MediaUrl{N}`),
//! <https://www.twilio.com/docs/usage/security#http-authentication>.

use super::send::{PROVIDER, Twilio};
use crate::{
    DeliveryError,
    media::{Fetch, Fetched, download, same_origin, url_of},
};

impl Twilio {
    pub async fn fetch_media(&self, fetch: Fetch<'_>) -> Result<Fetched, DeliveryError> {
        let url = url_of(PROVIDER, fetch.reference)?;
        let mut request = self.http.get(url);
        if same_origin(url, &self.url) {
            request = request.basic_auth(&self.account_sid, Some(self.auth_token.expose()));
        }
        download(PROVIDER, request, fetch.limit).await
    }
}
