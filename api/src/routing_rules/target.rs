//! Where a notification goes, decided once when the API accepts it: its recipient (an
//! address in `to`, or a stored profile in `recipient`), its channel (given in `channel`,
//! or chosen by the tenant's routing rules among `channels`, or among every channel when
//! neither is given), and the provider account a rule prefers. What was decided is stored
//! on the notification; the workflow only follows it.

use std::collections::HashMap;

use pombo_contract::{
    Channel, NotificationType,
    routing::{Facts, country_of, decide},
};
use pombo_store::{
    notifications::Routing,
    recipients::{Recipient, missing_address},
    routing_rules,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{error::ApiError, notifications::request::CreateNotification, state::AppState};

/// A notification's channel and address, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub channel: Channel,
    /// The address on `channel`: the request's `to`, or the profile's address, copied (a
    /// later change to the profile does not change an accepted notification).
    pub to: String,
    /// The profile's locale, for a template when the request names none.
    pub locale: Option<String>,
    pub routing: Routing,
}

/// Resolves the recipient and the channel of a request. Problems are 422s naming `to`,
/// `recipient`, `channel` or `channels`.
pub async fn resolve(
    state: &AppState,
    tenant_id: Uuid,
    body: &CreateNotification,
) -> Result<Target, ApiError> {
    let profile = match (&body.to, &body.recipient) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "recipient",
                "give `to` or `recipient`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::field(
                "to",
                "give `to` (an address) or `recipient` (a stored profile)",
            ));
        }
        (Some(_), None) => None,
        (None, Some(named)) => Some(crate::recipients::named(state, tenant_id, named).await?),
    };

    let asked: Vec<Channel> = match (body.channel, &body.channels) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "channels",
                "give `channel` or `channels`, not both",
            ));
        }
        (Some(channel), None) => vec![channel],
        (None, Some(list)) if list.is_empty() => {
            return Err(ApiError::field(
                "channels",
                "give at least one channel, or leave `channels` out to allow them all",
            ));
        }
        (None, Some(list)) => {
            let mut unique = Vec::new();
            for c in list {
                if !unique.contains(c) {
                    unique.push(*c);
                }
            }
            unique
        }
        (None, None) => Channel::ALL.to_vec(),
    };
    // A profile is open only to the channels it has an address for, so a rule choosing
    // another one falls through to the next.
    let open: Vec<Channel> = match &profile {
        Some(r) => asked
            .iter()
            .copied()
            .filter(|c| *c == Channel::InApp || r.profile.address(*c).is_some())
            .collect(),
        None => asked.clone(),
    };
    if open.is_empty() {
        let reason = match asked.as_slice() {
            [one] => missing_address(*one),
            many => format!(
                "recipient has no address for any of the channels {}",
                many.iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(ApiError::field("recipient", reason));
    }

    let country = match &profile {
        Some(r) => r.profile.country(),
        None => body.to.as_deref().and_then(country_of),
    };
    let facts = Facts {
        channels: &open,
        text: body
            .content
            .as_ref()
            .and_then(|c| c.get("text"))
            .and_then(Value::as_str),
        notification_type: body.notification_type,
        priority: body
            .priority
            .or(body.notification_type.map(NotificationType::priority))
            .unwrap_or_default(),
        country: country.as_deref(),
    };
    let rules = routing_rules::enabled(&state.db, tenant_id).await?;
    let accounts = if rules.iter().any(|r| r.action.provider_account_id.is_some()) {
        routing_rules::account_channels(&state.db, tenant_id).await?
    } else {
        HashMap::new()
    };
    let decision = decide(&rules, &facts, |id| accounts.get(&id).copied());

    let channel = match (decision, body.channel) {
        (Some(d), _) => d.channel,
        (None, Some(channel)) => channel,
        (None, None) => {
            return Err(ApiError::field(
                "channel",
                "no routing rule chose a channel: give `channel`, or add a routing rule that applies",
            ));
        }
    };
    // In-app: `to` names a recipient profile (its id or external_id), whose inbox it is.
    let profile = match (profile, channel, body.to.as_deref()) {
        (None, Channel::InApp, Some(to)) => Some(inbox_owner(state, tenant_id, to).await?),
        (profile, _, _) => profile,
    };
    let to = match &profile {
        None => body.to.clone().unwrap_or_default(),
        Some(r) => address(state, tenant_id, r, channel).await?,
    };
    Ok(Target {
        channel,
        to,
        locale: profile.as_ref().and_then(|r| r.profile.locale.clone()),
        routing: Routing {
            recipient_id: profile.as_ref().map(|r| r.id),
            rule_id: decision.map(|d| d.rule_id),
            preferred_provider_id: decision.and_then(|d| d.provider_account_id),
        },
    })
}

/// The profile whose inbox `to` names: its id, or else its `external_id`.
async fn inbox_owner(state: &AppState, tenant_id: Uuid, to: &str) -> Result<Recipient, ApiError> {
    if let Ok(id) = Uuid::parse_str(to) {
        match pombo_store::recipients::get(&state.db, tenant_id, id).await {
            Ok(found) => return Ok(found),
            Err(pombo_store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match pombo_store::recipients::by_external_id(&state.db, tenant_id, to).await {
        Ok(found) => Ok(found),
        Err(pombo_store::StoreError::NotFound) => Err(ApiError::field(
            "to",
            "no recipient profile with this id or external_id (in-app messages go to a profile's inbox)",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The profile's address for `channel`.
async fn address(
    state: &AppState,
    tenant_id: Uuid,
    recipient: &Recipient,
    channel: Channel,
) -> Result<String, ApiError> {
    let found = match channel {
        Channel::Push => {
            crate::recipients::push_token(state, tenant_id, &recipient.profile).await?
        }
        Channel::InApp => Some(recipient.id.to_string()),
        other => recipient.profile.address(other).map(str::to_owned),
    };
    found.ok_or_else(|| ApiError::field("recipient", missing_address(channel)))
}
