//! Routing rules: a tenant's ordered rules that choose a notification's channel, and the
//! provider account to try first, from what is known when the API accepts it.
//!
//! Evaluation is pure and happens once, at accept time: the API records which rule decided
//! on the notification, so the decision is deterministic, visible, and never re-made by a
//! workflow that runs later (when the rules may have changed).
//!
//! A rule applies when all its conditions hold *and* its action can be honoured: the channel
//! it chooses (its `channel`, or the channel of its provider account) must be one the
//! request is open to. A request naming one `channel` is open to that channel only, so
//! rules never override an explicit channel; they may still prefer a provider account for
//! it. The first rule that applies, in `position` order, decides.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{Channel, NotificationType, Priority};

/// What must hold for a rule to apply; every condition given must hold (none: always).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The request is open to at least one of these channels; the rule then chooses among
    /// those only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_in: Option<Vec<Channel>>,
    /// The content's `text` starts with this (as given, before placeholders are filled).
    /// Requests using a stored template have no text yet when rules run: never holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_starts_with: Option<String>,
    /// The notification's `type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<NotificationType>,
    /// The notification's priority (given, or implied by its `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// ISO 3166-1 alpha-2 codes (`BR`, `US`): the country of the recipient's phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Vec<String>>,
}

/// What a rule decides: a channel, a provider account to try first, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Send on this channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Try this provider account of the tenant first; the channel's other accounts stay
    /// behind it as failover. Alone, it also chooses the account's channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_account_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: Uuid,
    pub conditions: Conditions,
    pub action: Action,
}

/// What is known of a request when it is accepted.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The channels the request is open to: its `channel`, its `channels`, or all of them,
    /// less those its recipient profile has no address for.
    pub channels: &'a [Channel],
    pub text: Option<&'a str>,
    pub notification_type: Option<NotificationType>,
    pub priority: Priority,
    /// ISO 3166-1 alpha-2 code of the recipient's phone number, if it has one.
    pub country: Option<&'a str>,
}

/// The rule that decided, and what it decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub rule_id: Uuid,
    pub channel: Channel,
    pub provider_account_id: Option<Uuid>,
}

/// A problem in a rule, at the path of its field (`conditions.country[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: String,
    pub reason: String,
}

impl RuleError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RuleError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

const MAX_PREFIX_CHARS: usize = 100;

impl Conditions {
    /// Whether every condition holds for `facts`. Which channels the rule may then choose
    /// from is [`Conditions::open_channels`].
    pub fn hold(&self, facts: &Facts) -> bool {
        let channels_ok = self
            .channel_in
            .as_ref()
            .is_none_or(|list| facts.channels.iter().any(|c| list.contains(c)));
        let text_ok = self
            .text_starts_with
            .as_deref()
            .is_none_or(|prefix| facts.text.is_some_and(|t| t.starts_with(prefix)));
        let type_ok = self
            .notification_type
            .is_none_or(|t| facts.notification_type == Some(t));
        let priority_ok = self.priority.is_none_or(|p| facts.priority == p);
        let country_ok = self.country.as_ref().is_none_or(|list| {
            facts
                .country
                .is_some_and(|c| list.iter().any(|x| x.eq_ignore_ascii_case(c)))
        });
        channels_ok && text_ok && type_ok && priority_ok && country_ok
    }

    /// The channels of `facts` this rule may choose: all of them, or those in `channel_in`.
    pub fn open_channels(&self, facts: &Facts) -> Vec<Channel> {
        facts
            .channels
            .iter()
            .copied()
            .filter(|c| self.channel_in.as_ref().is_none_or(|l| l.contains(c)))
            .collect()
    }

    /// Checks the conditions and puts them in canonical form (country codes upper-case,
    /// channels without repeats).
    pub fn normalize(&mut self) -> Vec<RuleError> {
        let mut errors = Vec::new();
        if let Some(list) = &mut self.channel_in {
            if list.is_empty() {
                errors.push(RuleError::new(
                    "conditions.channel_in",
                    "give at least one channel, or leave the condition out",
                ));
            }
            let mut seen = Vec::new();
            list.retain(|c| {
                let new = !seen.contains(c);
                seen.push(*c);
                new
            });
        }
        if let Some(prefix) = &self.text_starts_with
            && (prefix.is_empty() || prefix.chars().count() > MAX_PREFIX_CHARS)
        {
            errors.push(RuleError::new(
                "conditions.text_starts_with",
                format!("1 to {MAX_PREFIX_CHARS} characters"),
            ));
        }
        if let Some(list) = &mut self.country {
            if list.is_empty() {
                errors.push(RuleError::new(
                    "conditions.country",
                    "give at least one country code, or leave the condition out",
                ));
            }
            for (i, code) in list.iter_mut().enumerate() {
                let upper = code.to_ascii_uppercase();
                if is_country(&upper) {
                    *code = upper;
                } else {
                    errors.push(RuleError::new(
                        format!("conditions.country[{i}]"),
                        format!("`{code}` is not an ISO 3166-1 alpha-2 country code like `BR`"),
                    ));
                }
            }
            let mut seen = Vec::new();
            list.retain(|c| {
                let new = !seen.contains(c);
                seen.push(c.clone());
                new
            });
        }
        errors
    }
}

impl Action {
    /// The action must do something. (Whether its account exists, and delivers its channel,
    /// is for the caller to check: that needs the tenant's accounts.)
    pub fn check(&self, conditions: &Conditions) -> Vec<RuleError> {
        let mut errors = Vec::new();
        if self.channel.is_none() && self.provider_account_id.is_none() {
            errors.push(RuleError::new(
                "action",
                "give `channel`, `provider_account_id`, or both",
            ));
        }
        if let (Some(channel), Some(list)) = (self.channel, &conditions.channel_in)
            && !list.contains(&channel)
        {
            errors.push(RuleError::new(
                "action.channel",
                format!(
                    "`{channel}` is not among `conditions.channel_in`: the rule could never apply"
                ),
            ));
        }
        errors
    }
}

/// The first rule (in the order given) that applies to `facts`, and what it decides.
/// `account_channel` tells the channel of a tenant's provider account, `None` when the
/// account no longer exists: a rule naming a missing account still chooses its `channel`,
/// without the preference; with no `channel` either, it does not apply.
pub fn decide(
    rules: &[Rule],
    facts: &Facts,
    account_channel: impl Fn(Uuid) -> Option<Channel>,
) -> Option<Decision> {
    rules.iter().find_map(|rule| {
        if !rule.conditions.hold(facts) {
            return None;
        }
        let account = rule
            .action
            .provider_account_id
            .and_then(|id| account_channel(id).map(|c| (id, c)));
        let channel = match (rule.action.channel, account) {
            (Some(chosen), Some((_, of_account))) if chosen != of_account => return None,
            (Some(chosen), _) => chosen,
            (None, Some((_, of_account))) => of_account,
            (None, None) => return None,
        };
        rule.conditions
            .open_channels(facts)
            .contains(&channel)
            .then_some(Decision {
                rule_id: rule.id,
                channel,
                provider_account_id: account.map(|(id, _)| id),
            })
    })
}

/// The ISO 3166-1 alpha-2 code of an E.164 phone number's country (`+5511…` → `BR`), if
/// it is a valid number.
pub fn country_of(phone: &str) -> Option<String> {
    let number = phonenumber::parse(None, phone).ok()?;
    if !phonenumber::is_valid(&number) {
        return None;
    }
    number.country().id().map(|id| id.as_ref().to_owned())
}

/// Whether `code` is an upper-case ISO 3166-1 alpha-2 code the numbering plans know.
pub fn is_country(code: &str) -> bool {
    code.len() == 2
        && code.chars().all(|c| c.is_ascii_uppercase())
        && code.parse::<phonenumber::country::Id>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(n: u128, conditions: Conditions, action: Action) -> Rule {
        Rule {
            id: Uuid::from_u128(n),
            conditions,
            action,
        }
    }

    fn to(channel: Channel) -> Action {
        Action {
            channel: Some(channel),
            provider_account_id: None,
        }
    }

    fn facts<'a>(channels: &'a [Channel], text: Option<&'a str>) -> Facts<'a> {
        Facts {
            channels,
            text,
            notification_type: None,
            priority: Priority::Medium,
            country: None,
        }
    }

    /// The seed rule: a chat message starting with `@` goes to Instagram, otherwise WhatsApp.
    fn seed() -> Vec<Rule> {
        vec![
            rule(
                1,
                Conditions {
                    text_starts_with: Some("@".into()),
                    ..Default::default()
                },
                to(Channel::Instagram),
            ),
            rule(2, Conditions::default(), to(Channel::Whatsapp)),
        ]
    }

    #[test]
    fn the_seed_rule_sends_at_messages_to_instagram_and_the_rest_to_whatsapp() {
        let open = [Channel::Whatsapp, Channel::Instagram];
        let at = decide(&seed(), &facts(&open, Some("@ana hi")), |_| None).unwrap();
        assert_eq!(
            (at.rule_id, at.channel),
            (Uuid::from_u128(1), Channel::Instagram)
        );
        let plain = decide(&seed(), &facts(&open, Some("hello @ana")), |_| None).unwrap();
        assert_eq!(
            (plain.rule_id, plain.channel),
            (Uuid::from_u128(2), Channel::Whatsapp)
        );
        // No text (a template request): the prefix condition does not hold.
        let none = decide(&seed(), &facts(&open, None), |_| None).unwrap();
        assert_eq!(none.channel, Channel::Whatsapp);
    }

    #[test]
    fn a_rule_never_chooses_a_channel_the_request_is_not_open_to() {
        // Open to WhatsApp only (say the profile has no Instagram id): `@…` falls through.
        let d = decide(&seed(), &facts(&[Channel::Whatsapp], Some("@ana")), |_| {
            None
        })
        .unwrap();
        assert_eq!(d.rule_id, Uuid::from_u128(2));
        // An explicit email request: neither rule can apply.
        assert_eq!(
            decide(&seed(), &facts(&[Channel::Email], Some("@ana")), |_| None),
            None
        );
    }

    #[test]
    fn first_match_wins_in_the_order_given() {
        let rules = vec![
            rule(1, Conditions::default(), to(Channel::Sms)),
            rule(2, Conditions::default(), to(Channel::Email)),
        ];
        let open = [Channel::Email, Channel::Sms];
        assert_eq!(
            decide(&rules, &facts(&open, None), |_| None)
                .unwrap()
                .rule_id,
            Uuid::from_u128(1)
        );
    }

    #[test]
    fn channel_in_holds_when_the_request_is_open_to_one_of_them_and_narrows_the_choice() {
        let c = Conditions {
            channel_in: Some(vec![Channel::Sms, Channel::Whatsapp]),
            ..Default::default()
        };
        assert!(c.hold(&facts(&[Channel::Email, Channel::Sms], None)));
        assert!(!c.hold(&facts(&[Channel::Email, Channel::Push], None)));
        assert_eq!(
            c.open_channels(&facts(&[Channel::Email, Channel::Sms], None)),
            [Channel::Sms]
        );
        // Choosing email is outside `channel_in`: the rule does not apply.
        let rules = vec![rule(1, c, to(Channel::Email))];
        assert_eq!(
            decide(
                &rules,
                &facts(&[Channel::Email, Channel::Sms], None),
                |_| None
            ),
            None
        );
    }

    #[test]
    fn type_priority_and_country_conditions() {
        let mut f = facts(&[Channel::Sms], None);
        let alerts = Conditions {
            notification_type: Some(NotificationType::Alert),
            ..Default::default()
        };
        assert!(!alerts.hold(&f));
        f.notification_type = Some(NotificationType::Alert);
        assert!(alerts.hold(&f));
        f.notification_type = Some(NotificationType::Promo);
        assert!(!alerts.hold(&f));

        let high = Conditions {
            priority: Some(Priority::High),
            ..Default::default()
        };
        assert!(!high.hold(&f));
        f.priority = Priority::High;
        assert!(high.hold(&f));

        let brazil = Conditions {
            country: Some(vec!["BR".into(), "PT".into()]),
            ..Default::default()
        };
        assert!(!brazil.hold(&f), "no phone number, no country");
        f.country = Some("BR");
        assert!(brazil.hold(&f));
        f.country = Some("US");
        assert!(!brazil.hold(&f));
    }

    #[test]
    fn a_provider_account_prefers_it_and_alone_chooses_its_channel() {
        let b = Uuid::from_u128(0xb);
        let accounts = |id: Uuid| (id == b).then_some(Channel::Sms);
        let rules = vec![rule(
            1,
            Conditions {
                country: Some(vec!["BR".into()]),
                ..Default::default()
            },
            Action {
                channel: None,
                provider_account_id: Some(b),
            },
        )];
        let mut f = facts(&[Channel::Sms], None);
        f.country = Some("BR");
        let d = decide(&rules, &f, accounts).unwrap();
        assert_eq!((d.channel, d.provider_account_id), (Channel::Sms, Some(b)));
        // A WhatsApp request cannot use an SMS account: the rule does not apply.
        let whatsapp = Facts {
            channels: &[Channel::Whatsapp],
            ..f
        };
        assert_eq!(decide(&rules, &whatsapp, accounts), None);
        // The account is gone: without a channel of its own the rule does nothing.
        assert_eq!(decide(&rules, &f, |_| None), None);
    }

    #[test]
    fn a_missing_account_keeps_the_rules_channel_without_the_preference() {
        let rules = vec![rule(
            1,
            Conditions::default(),
            Action {
                channel: Some(Channel::Sms),
                provider_account_id: Some(Uuid::from_u128(9)),
            },
        )];
        let d = decide(&rules, &facts(&[Channel::Sms], None), |_| None).unwrap();
        assert_eq!((d.channel, d.provider_account_id), (Channel::Sms, None));
        // An account of another channel than the rule's: inconsistent, so it never applies.
        assert_eq!(
            decide(&rules, &facts(&[Channel::Sms], None), |_| Some(
                Channel::Email
            )),
            None
        );
    }

    #[test]
    fn conditions_are_checked_and_canonicalised() {
        let mut c = Conditions {
            channel_in: Some(vec![Channel::Sms, Channel::Sms]),
            text_starts_with: Some(String::new()),
            country: Some(vec!["br".into(), "XX".into(), "BRA".into()]),
            ..Default::default()
        };
        let errors = c.normalize();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "conditions.text_starts_with",
                "conditions.country[1]",
                "conditions.country[2]"
            ]
        );
        assert_eq!(c.channel_in, Some(vec![Channel::Sms]));
        assert_eq!(c.country.as_ref().unwrap()[0], "BR");
        let mut empty = Conditions {
            channel_in: Some(vec![]),
            country: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(empty.normalize().len(), 2);
    }

    #[test]
    fn an_action_must_do_something_within_its_conditions() {
        let none = Action::default();
        assert_eq!(none.check(&Conditions::default())[0].field, "action");
        let only_sms = Conditions {
            channel_in: Some(vec![Channel::Sms]),
            ..Default::default()
        };
        assert_eq!(
            to(Channel::Email).check(&only_sms)[0].field,
            "action.channel"
        );
        assert!(to(Channel::Sms).check(&only_sms).is_empty());
    }

    #[test]
    fn countries_of_phone_numbers() {
        assert_eq!(country_of("+5511987654321").as_deref(), Some("BR"));
        assert_eq!(country_of("+14155552671").as_deref(), Some("US"));
        assert_eq!(country_of("+447400123456").as_deref(), Some("GB"));
        assert_eq!(country_of("not a number"), None);
        assert!(is_country("BR") && is_country("PT"));
        assert!(!is_country("br") && !is_country("XX") && !is_country("BRA"));
    }
}
