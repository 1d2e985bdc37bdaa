//! Callbacks of `whatsapp_cloud`. STUB: to be implemented.

use pombo_contract::providers::WhatsappCloudSettings;

use super::{CallbackError, CallbackRequest, ProviderEvent};

#[allow(unused_variables)]
pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &WhatsappCloudSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    Err(CallbackError::Malformed("whatsapp_cloud callbacks are not supported yet".into()))
}
