//! Callbacks of `twilio`. STUB: to be implemented.

use pombo_contract::providers::TwilioSettings;

use super::{CallbackError, CallbackRequest, ProviderEvent};

#[allow(unused_variables)]
pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &TwilioSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    Err(CallbackError::Malformed("twilio callbacks are not supported yet".into()))
}
