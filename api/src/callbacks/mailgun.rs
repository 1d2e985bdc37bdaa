//! Callbacks of `mailgun`. STUB: to be implemented.

use pombo_contract::providers::MailgunSettings;

use super::{CallbackError, CallbackRequest, ProviderEvent};

#[allow(unused_variables)]
pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &MailgunSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    Err(CallbackError::Malformed("mailgun callbacks are not supported yet".into()))
}
