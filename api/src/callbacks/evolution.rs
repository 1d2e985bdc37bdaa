//! Callbacks of `evolution`. STUB: to be implemented.

use pombo_contract::providers::EvolutionSettings;

use super::{CallbackError, CallbackRequest, ProviderEvent};

#[allow(unused_variables)]
pub fn parse(
    req: &CallbackRequest<'_>,
    settings: &EvolutionSettings,
) -> Result<Vec<ProviderEvent>, CallbackError> {
    Err(CallbackError::Malformed("evolution callbacks are not supported yet".into()))
}
