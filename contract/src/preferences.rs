//! Recipients in control: what a person (or a tenant, by default) chose about which
//! notifications reach them, on which channel and when, and the one rule that turns those
//! choices into a decision at send time ([`decide`]): send now, skip (with the reason), or
//! wait until a moment in the recipient's time zone.
//!
//! Pure: the worker gathers the facts (preferences, the profile's time zone, how many of the
//! category went out in the last day, whether the address is suppressed) and asks. The rule
//! is evaluated when the workflow is about to send, not when the notification is accepted,
//! so a preference changed while a notification waits is honoured.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use crate::Channel;

/// The category of alerts: they bypass quiet hours and a global unsubscribe unless the
/// recipient opted out of this category itself (a security code must still arrive).
pub const ALERT: &str = "alert";

/// At most this many categories in one preferences document.
pub const MAX_CATEGORIES: usize = 50;

/// A person's choices, or a tenant's defaults for everyone (`PUT /v1/preferences`): what is
/// absent in a person's choices falls back to the tenant's, and then to "send".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Stops every category but `alert` (set by a one-click unsubscribe without category,
    /// or by a STOP keyword).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribed: Option<bool>,
    /// Per channel: `enabled` (false: nothing on this channel) and per-category opt-outs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, ChannelPreference>)]
    pub channels: BTreeMap<Channel, ChannelPreference>,
    /// Per category (`alert`, `confirmation`, `promo`, or a tenant's own, e.g. `newsletter`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, CategoryPreference>,
    /// Tenant defaults only: the words that, sent alone by a person on SMS or WhatsApp,
    /// stop or resume messages to their number on that channel (default [`DEFAULT_STOP`],
    /// [`DEFAULT_START`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Keywords>,
}

/// Opt-out and opt-in words, matched against a whole inbound message, ignoring case,
/// accents and surrounding spaces or punctuation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Keywords {
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default)]
    pub start: Vec<String>,
}

/// English, Portuguese and Spanish opt-out words (carriers' STOP list and the source
/// documents' languages).
pub const DEFAULT_STOP: &[&str] = &["stop", "stopall", "unsubscribe", "parar", "sair", "baja"];
/// Words that resume messages after a stop.
pub const DEFAULT_START: &[&str] = &["start", "unstop", "voltar", "alta"];

/// What an inbound message asks of the messages to its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
}

/// The keyword a whole inbound `text` is, if it is one: the tenant's lists, else the
/// defaults.
pub fn keyword(text: &str, tenant: Option<&Keywords>) -> Option<Keyword> {
    let said = fold(text.trim().trim_matches(|c: char| c.is_ascii_punctuation()));
    if said.is_empty() || said.len() > 64 {
        return None;
    }
    let matches = |words: &[String], defaults: &[&str], use_defaults: bool| {
        if use_defaults {
            defaults.iter().any(|w| fold(w) == said)
        } else {
            words.iter().any(|w| fold(w) == said)
        }
    };
    let (stop, start) = match tenant {
        Some(k) => (
            matches(&k.stop, DEFAULT_STOP, k.stop.is_empty()),
            matches(&k.start, DEFAULT_START, k.start.is_empty()),
        ),
        None => (
            matches(&[], DEFAULT_STOP, true),
            matches(&[], DEFAULT_START, true),
        ),
    };
    match (stop, start) {
        (true, _) => Some(Keyword::Stop),
        (false, true) => Some(Keyword::Start),
        _ => None,
    }
}

/// Lower case without the accents of Portuguese and Spanish (`SAÍR` is `sair`).
fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPreference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `{"promo": false}`: no promotions on this channel.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPreference {
    /// False: none of this category, on any channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Not sent between `start` and `end` (local time; may span midnight): the notification
    /// waits until `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<LocalWindow>,
    /// Sent only between `start` and `end` (local time): outside it, waits for `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_window: Option<LocalWindow>,
    /// Whether quiet hours and delivery windows are ignored (default: true for `alert`,
    /// false for every other category).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass_quiet_hours: Option<bool>,
    /// At most this many of the category to one recipient in 24 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_day: Option<u32>,
    /// What a notification over `max_per_day` does: `skip` (default) or `defer` (waits
    /// until the oldest counted one is 24 hours old).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_cap: Option<OverCap>,
    /// Collect this category's notifications to one recipient into one message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestRule>,
}

/// A digest: notifications of a category to one recipient on one channel within a window
/// go out as one message, rendered with `template` (its data: `items`, one per member with
/// its `id`, `created_at`, `data` and own rendered `content`, and `count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestRule {
    /// The stored template (name or id) the digest is rendered with.
    pub template: String,
    /// The window opens with the first member and lasts this long (1 s to 7 days)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    /// …or until this time of the recipient's day (`"09:00"`: a morning digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "09:00")]
    pub until: Option<LocalTime>,
}

/// The shortest and longest digest windows.
pub const DIGEST_WINDOW_SECS: std::ops::RangeInclusive<u64> = 1..=7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverCap {
    Skip,
    Defer,
}

/// A span of the local day, `"22:00"` to `"08:00"` (seconds allowed: `"22:00:30"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalWindow {
    #[schema(value_type = String, example = "22:00")]
    pub start: LocalTime,
    #[schema(value_type = String, example = "08:00")]
    pub end: LocalTime,
}

/// A wall-clock time, `HH:MM` or `HH:MM:SS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime(pub NaiveTime);

impl std::str::FromStr for LocalTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NaiveTime::parse_from_str(s, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
            .map(LocalTime)
            .map_err(|_| format!("`{s}` is not a time of day like `22:00`"))
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = if self.0.format("%S").to_string() == "00" {
            self.0.format("%H:%M").to_string()
        } else {
            self.0.format("%H:%M:%S").to_string()
        };
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl LocalWindow {
    /// Whether `t` falls inside; a window that ends before it starts spans midnight. An
    /// empty window (`start == end`) holds nothing.
    fn contains(&self, t: NaiveTime) -> bool {
        let (start, end) = (self.start.0, self.end.0);
        match start.cmp(&end) {
            std::cmp::Ordering::Less => start <= t && t < end,
            std::cmp::Ordering::Greater => t >= start || t < end,
            std::cmp::Ordering::Equal => false,
        }
    }
}

/// Why a notification was not sent (its `skipped` status says the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The recipient unsubscribed from everything (but alerts).
    Unsubscribed,
    /// The recipient turned the channel or the category off.
    OptedOut,
    /// The address is on the tenant's suppression list (bounced, complained, refused).
    Suppressed,
    /// More of the category than the recipient's `max_per_day`.
    FrequencyCap,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Unsubscribed => "unsubscribed",
            SkipReason::OptedOut => "opted_out",
            SkipReason::Suppressed => "suppressed",
            SkipReason::FrequencyCap => "frequency_cap",
        }
    }
}

/// What [`decide`] says about a notification about to go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Send,
    Skip {
        reason: SkipReason,
        detail: String,
    },
    /// Wait (a durable timer) until then, and ask again.
    Defer {
        until: DateTime<Utc>,
        detail: String,
    },
    /// Join the recipient's open digest of the category, or open one that goes out then.
    Digest {
        closes_at: DateTime<Utc>,
        template: String,
    },
}

/// What the worker knows about one notification at send time.
#[derive(Debug, Clone)]
pub struct SendFacts<'a> {
    pub channel: Channel,
    pub category: &'a str,
    pub now: DateTime<Utc>,
    /// The recipient profile's time zone, else the tenant's, else UTC.
    pub time_zone: Tz,
    /// Notifications of this category sent to this recipient in the last 24 hours, and
    /// when the oldest of them went (for a deferral over the cap).
    pub sent_last_day: u32,
    pub oldest_sent_last_day: Option<DateTime<Utc>>,
    /// The suppression list's reason for this address, if it is on it.
    pub suppressed: Option<&'a str>,
    /// The notification is itself a digest (never digested again).
    pub is_digest: bool,
}

/// The decision for one notification: the recipient's choices over the tenant's defaults.
/// Skips come first (a notification that will never go should not wait), then the cap,
/// then the clock.
pub fn decide(person: &Preferences, defaults: &Preferences, facts: &SendFacts<'_>) -> Decision {
    let category = facts.category;
    let skip = |reason, detail: String| Decision::Skip { reason, detail };
    if let Some(why) = facts.suppressed {
        return skip(
            SkipReason::Suppressed,
            format!("the address is suppressed on `{}` ({why})", facts.channel),
        );
    }
    let cat_person = person.categories.get(category);
    let cat_default = defaults.categories.get(category);
    let category_enabled = pick(cat_person, cat_default, |c| c.enabled);
    if category_enabled == Some(false) {
        return skip(
            SkipReason::OptedOut,
            format!("the recipient opted out of `{category}`"),
        );
    }
    let unsubscribed = person.unsubscribed.or(defaults.unsubscribed) == Some(true);
    if unsubscribed && category != ALERT {
        return skip(
            SkipReason::Unsubscribed,
            "the recipient unsubscribed".to_owned(),
        );
    }
    let channel_person = person.channels.get(&facts.channel);
    let channel_default = defaults.channels.get(&facts.channel);
    let channel_enabled = channel_person
        .and_then(|c| c.enabled)
        .or_else(|| channel_default.and_then(|c| c.enabled));
    if channel_enabled == Some(false) {
        return skip(
            SkipReason::OptedOut,
            format!("the recipient turned `{}` off", facts.channel),
        );
    }
    let on_channel = channel_person
        .and_then(|c| c.categories.get(category).copied())
        .or_else(|| channel_default.and_then(|c| c.categories.get(category).copied()));
    if on_channel == Some(false) {
        return skip(
            SkipReason::OptedOut,
            format!(
                "the recipient opted out of `{category}` on `{}`",
                facts.channel
            ),
        );
    }
    if !facts.is_digest
        && let Some(rule) = pick(cat_person, cat_default, |c| c.digest.clone())
    {
        let closes_at = match (rule.window_secs, rule.until) {
            (Some(secs), _) => facts.now + Duration::seconds(i64::try_from(secs).unwrap_or(0)),
            (None, Some(until)) => next_local(facts.now, facts.time_zone, until.0),
            (None, None) => facts.now,
        };
        return Decision::Digest {
            closes_at,
            template: rule.template,
        };
    }
    if let Some(cap) = pick(cat_person, cat_default, |c| c.max_per_day)
        && facts.sent_last_day >= cap
    {
        let detail = format!(
            "{} of `{category}` in the last 24 hours (at most {cap})",
            facts.sent_last_day
        );
        return match (
            pick(cat_person, cat_default, |c| c.over_cap),
            facts.oldest_sent_last_day,
        ) {
            (Some(OverCap::Defer), Some(oldest)) => Decision::Defer {
                until: (oldest + Duration::days(1)).max(facts.now + Duration::seconds(1)),
                detail,
            },
            _ => skip(SkipReason::FrequencyCap, detail),
        };
    }
    let bypass =
        pick(cat_person, cat_default, |c| c.bypass_quiet_hours).unwrap_or(category == ALERT);
    if bypass {
        return Decision::Send;
    }
    let tz = facts.time_zone;
    let local = facts.now.with_timezone(&tz).naive_local();
    if let Some(window) = pick(cat_person, cat_default, |c| c.delivery_window)
        && window.start != window.end
        && !window.contains(local.time())
    {
        let until = next_local(facts.now, tz, window.start.0);
        return Decision::Defer {
            detail: format!(
                "outside `{category}`'s delivery window {}–{} in {tz}",
                show(window.start),
                show(window.end)
            ),
            until,
        };
    }
    if let Some(quiet) = pick(cat_person, cat_default, |c| c.quiet_hours)
        && quiet.contains(local.time())
    {
        let until = next_local(facts.now, tz, quiet.end.0);
        return Decision::Defer {
            detail: format!(
                "quiet hours {}–{} in {tz}",
                show(quiet.start),
                show(quiet.end)
            ),
            until,
        };
    }
    Decision::Send
}

/// A category's setting: the person's, else the tenant's default.
fn pick<T>(
    person: Option<&CategoryPreference>,
    default: Option<&CategoryPreference>,
    f: impl Fn(&CategoryPreference) -> Option<T>,
) -> Option<T> {
    person.and_then(&f).or_else(|| default.and_then(&f))
}

fn show(t: LocalTime) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The first instant after `now` at which the clocks of `tz` read `time`. A time skipped
/// by a daylight-saving jump (00:30 on a night that goes from 00:00 to 01:00) is reached
/// when the clocks jump; a time that happens twice (the night the clocks go back) is its
/// first occurrence.
pub fn next_local(now: DateTime<Utc>, tz: Tz, time: NaiveTime) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    for day in 0..3 {
        let date: NaiveDate = today + Duration::days(day);
        if let Some(at) = resolve(tz, date.and_time(time))
            && at > now
        {
            return at;
        }
    }
    // Unreachable for real zones (some day in three has the time); never loops forever.
    now + Duration::days(1)
}

/// A local date-time as an instant: the earliest when it happens twice, the end of the
/// gap when it does not happen.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut probe = local;
    // Gaps are at most a few hours (0.5–2 h in practice); probe minute by minute.
    for _ in 0..=240 {
        if let Some(at) = tz.from_local_datetime(&probe).earliest() {
            return Some(at.with_timezone(&Utc));
        }
        probe = (probe + Duration::minutes(1))
            .with_second(0)
            .unwrap_or(probe + Duration::minutes(1));
    }
    None
}

use chrono::Timelike;

/// An IANA time zone by name (`America/Sao_Paulo`), for the API's checks.
pub fn time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("`{name}` is not an IANA time zone like `America/Sao_Paulo`"))
}

/// Whether `name` can be a category: 1 to 64 of `a-z`, `0-9`, `_`, `-`, `.`.
pub fn valid_category(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}

impl Preferences {
    /// Problems with a preferences document (a tenant's defaults, or a person's), each
    /// with the path of its field.
    pub fn problems(&self, tenant_defaults: bool) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(keywords) = &self.keywords {
            if !tenant_defaults {
                problems.push((
                    "keywords".to_owned(),
                    "set in the tenant's defaults (`PUT /v1/preferences`), not per recipient"
                        .to_owned(),
                ));
            }
            for (list, words) in [("stop", &keywords.stop), ("start", &keywords.start)] {
                if words.len() > 20 {
                    problems.push((format!("keywords.{list}"), "at most 20 words".to_owned()));
                }
                for (i, word) in words.iter().enumerate() {
                    if word.trim().is_empty() || word.chars().count() > 32 {
                        problems.push((
                            format!("keywords.{list}[{i}]"),
                            "1 to 32 characters".to_owned(),
                        ));
                    }
                }
            }
        }
        let category_rule = "1 to 64 characters of a-z, 0-9, `_`, `-`, `.`";
        if self.categories.len() > MAX_CATEGORIES {
            problems.push((
                "categories".to_owned(),
                format!("at most {MAX_CATEGORIES} categories"),
            ));
        }
        for (name, category) in &self.categories {
            if !valid_category(name) {
                problems.push((format!("categories.{name}"), category_rule.to_owned()));
            }
            if let Some(digest) = &category.digest {
                let at = format!("categories.{name}.digest");
                match (digest.window_secs, digest.until) {
                    (Some(_), Some(_)) | (None, None) => problems.push((
                        at.clone(),
                        "give `window_secs` or `until`, one of them".to_owned(),
                    )),
                    (Some(secs), None) if !DIGEST_WINDOW_SECS.contains(&secs) => problems.push((
                        format!("{at}.window_secs"),
                        format!(
                            "{} to {} seconds",
                            DIGEST_WINDOW_SECS.start(),
                            DIGEST_WINDOW_SECS.end()
                        ),
                    )),
                    _ => {}
                }
                if digest.template.trim().is_empty() || digest.template.len() > 64 {
                    problems.push((
                        format!("{at}.template"),
                        "a template's name or id".to_owned(),
                    ));
                }
            }
            if category.max_per_day == Some(0) {
                problems.push((
                    format!("categories.{name}.max_per_day"),
                    "at least 1 (turn the category off with `enabled: false`)".to_owned(),
                ));
            }
        }
        for (channel, pref) in &self.channels {
            if pref.categories.len() > MAX_CATEGORIES {
                problems.push((
                    format!("channels.{channel}.categories"),
                    format!("at most {MAX_CATEGORIES} categories"),
                ));
            }
            for name in pref.categories.keys() {
                if !valid_category(name) {
                    problems.push((
                        format!("channels.{channel}.categories.{name}"),
                        category_rule.to_owned(),
                    ));
                }
            }
        }
        problems
    }
}

/// The category of a notification: the one it names, else its template's, else its type,
/// else the type its priority stands for (high = alert, medium = confirmation, low = promo).
pub fn category_of(
    named: Option<&str>,
    template: Option<&str>,
    notification_type: Option<&str>,
    priority: crate::Priority,
) -> String {
    named
        .or(template)
        .or(notification_type)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            match priority {
                crate::Priority::High => "alert",
                crate::Priority::Medium => "confirmation",
                crate::Priority::Low => "promo",
            }
            .to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn quiet(start: &str, end: &str) -> Preferences {
        let json = serde_json::json!({
            "categories": {"promo": {"quiet_hours": {"start": start, "end": end}}}
        });
        serde_json::from_value(json).unwrap()
    }

    fn facts(now: &str, tz: &str) -> SendFacts<'static> {
        SendFacts {
            channel: Channel::Email,
            category: "promo",
            now: utc(now),
            time_zone: time_zone(tz).unwrap(),
            sent_last_day: 0,
            oldest_sent_last_day: None,
            suppressed: None,
            is_digest: false,
        }
    }

    fn deferred_until(d: Decision) -> DateTime<Utc> {
        match d {
            Decision::Defer { until, .. } => until,
            other => panic!("expected a deferral, got {other:?}"),
        }
    }

    #[test]
    fn lisbon_spring_forward_night_is_an_hour_shorter() {
        // 2026-03-29 01:00 UTC: Lisbon goes from WET (UTC+0) to WEST (UTC+1).
        let d = decide(
            &quiet("22:00", "08:00"),
            &Preferences::default(),
            &facts("2026-03-28T23:00:00Z", "Europe/Lisbon"),
        );
        assert_eq!(deferred_until(d), utc("2026-03-29T07:00:00Z"));
    }

    #[test]
    fn lisbon_fall_back_night_is_an_hour_longer() {
        // 2026-10-25 01:00 UTC: Lisbon goes from WEST (UTC+1) back to WET (UTC+0).
        let d = decide(
            &quiet("22:00", "08:00"),
            &Preferences::default(),
            &facts("2026-10-24T22:00:00Z", "Europe/Lisbon"),
        );
        assert_eq!(deferred_until(d), utc("2026-10-25T08:00:00Z"));
    }

    #[test]
    fn sao_paulo_end_of_quiet_hours_skipped_by_the_jump_is_the_jump() {
        // 2018-11-04 00:00 local (03:00 UTC): São Paulo jumped to 01:00 (UTC-2); 00:30 never
        // happened that night, so the window opens at the jump.
        let d = decide(
            &quiet("22:00", "00:30"),
            &Preferences::default(),
            &facts("2018-11-04T02:00:00Z", "America/Sao_Paulo"),
        );
        assert_eq!(deferred_until(d), utc("2018-11-04T03:00:00Z"));
    }

    #[test]
    fn sao_paulo_end_of_quiet_hours_that_happens_twice_is_the_first() {
        // 2019-02-17 00:00 local (02:00 UTC): clocks went back to 23:00 (UTC-3); 23:30 of the
        // 16th happened twice, first at 01:30 UTC.
        let d = decide(
            &quiet("22:00", "23:30"),
            &Preferences::default(),
            &facts("2019-02-17T00:30:00Z", "America/Sao_Paulo"),
        );
        assert_eq!(deferred_until(d), utc("2019-02-17T01:30:00Z"));
        // Today (no daylight saving since 2019): 22:30 local is 01:30 UTC, end 02:30 UTC.
        let d = decide(
            &quiet("22:00", "23:30"),
            &Preferences::default(),
            &facts("2026-12-08T01:30:00Z", "America/Sao_Paulo"),
        );
        assert_eq!(deferred_until(d), utc("2026-12-08T02:30:00Z"));
    }

    #[test]
    fn outside_quiet_hours_sends_and_alerts_bypass_them() {
        let prefs = quiet("22:00", "08:00");
        let noon = facts("2026-12-08T12:00:00Z", "Europe/Lisbon");
        assert_eq!(
            decide(&prefs, &Preferences::default(), &noon),
            Decision::Send
        );
        let mut night = facts("2026-12-08T23:00:00Z", "Europe/Lisbon");
        let mut alert_quiet = prefs.clone();
        alert_quiet
            .categories
            .insert(ALERT.to_owned(), prefs.categories["promo"].clone());
        night.category = ALERT;
        assert_eq!(
            decide(&alert_quiet, &Preferences::default(), &night),
            Decision::Send
        );
        // Unless the alert category says otherwise.
        alert_quiet
            .categories
            .get_mut(ALERT)
            .unwrap()
            .bypass_quiet_hours = Some(false);
        assert_eq!(
            deferred_until(decide(&alert_quiet, &Preferences::default(), &night)),
            utc("2026-12-09T08:00:00Z")
        );
    }

    #[test]
    fn delivery_window_waits_for_its_start() {
        let prefs: Preferences = serde_json::from_value(serde_json::json!({
            "categories": {"promo": {"delivery_window": {"start": "09:00", "end": "18:00"}}}
        }))
        .unwrap();
        let evening = facts("2026-12-08T21:00:00Z", "America/Sao_Paulo"); // 18:00 local
        assert_eq!(
            deferred_until(decide(&prefs, &Preferences::default(), &evening)),
            utc("2026-12-09T12:00:00Z")
        );
        let morning = facts("2026-12-08T13:00:00Z", "America/Sao_Paulo"); // 10:00 local
        assert_eq!(
            decide(&prefs, &Preferences::default(), &morning),
            Decision::Send
        );
    }

    #[test]
    fn opt_outs_and_unsubscribe_skip_with_their_reason() {
        let f = facts("2026-12-08T12:00:00Z", "UTC");
        let reason =
            |prefs: serde_json::Value, defaults: serde_json::Value, f: &SendFacts| match decide(
                &serde_json::from_value(prefs).unwrap(),
                &serde_json::from_value(defaults).unwrap(),
                f,
            ) {
                Decision::Skip { reason, .. } => Some(reason),
                _ => None,
            };
        let none = serde_json::json!({});
        assert_eq!(
            reason(
                serde_json::json!({"channels": {"email": {"enabled": false}}}),
                none.clone(),
                &f
            ),
            Some(SkipReason::OptedOut)
        );
        assert_eq!(
            reason(
                serde_json::json!({"channels": {"email": {"categories": {"promo": false}}}}),
                none.clone(),
                &f
            ),
            Some(SkipReason::OptedOut)
        );
        assert_eq!(
            reason(
                serde_json::json!({"channels": {"sms": {"enabled": false}}}),
                none.clone(),
                &f
            ),
            None
        );
        assert_eq!(
            reason(serde_json::json!({"unsubscribed": true}), none.clone(), &f),
            Some(SkipReason::Unsubscribed)
        );
        // The tenant's default off, the person's choice on: the person wins.
        let off = serde_json::json!({"categories": {"promo": {"enabled": false}}});
        assert_eq!(
            reason(none.clone(), off.clone(), &f),
            Some(SkipReason::OptedOut)
        );
        assert_eq!(
            reason(
                serde_json::json!({"categories": {"promo": {"enabled": true}}}),
                off,
                &f
            ),
            None
        );
        // Alerts survive a global unsubscribe, not an opt-out of alerts.
        let mut alert = f.clone();
        alert.category = ALERT;
        assert_eq!(
            reason(
                serde_json::json!({"unsubscribed": true}),
                none.clone(),
                &alert
            ),
            None
        );
        assert_eq!(
            reason(
                serde_json::json!({"categories": {"alert": {"enabled": false}}}),
                none.clone(),
                &alert
            ),
            Some(SkipReason::OptedOut)
        );
        let mut suppressed = f.clone();
        suppressed.suppressed = Some("hard_bounce");
        assert_eq!(
            reason(none, serde_json::json!({}), &suppressed),
            Some(SkipReason::Suppressed)
        );
    }

    #[test]
    fn a_cap_skips_or_defers_until_the_oldest_is_a_day_old() {
        let mut f = facts("2026-12-08T12:00:00Z", "UTC");
        f.sent_last_day = 3;
        f.oldest_sent_last_day = Some(utc("2026-12-08T01:00:00Z"));
        let capped = |over: &str| -> Preferences {
            serde_json::from_value(serde_json::json!({
                "categories": {"promo": {"max_per_day": 3, "over_cap": over}}
            }))
            .unwrap()
        };
        assert!(matches!(
            decide(&capped("skip"), &Preferences::default(), &f),
            Decision::Skip {
                reason: SkipReason::FrequencyCap,
                ..
            }
        ));
        assert_eq!(
            deferred_until(decide(&capped("defer"), &Preferences::default(), &f)),
            utc("2026-12-09T01:00:00Z")
        );
        f.sent_last_day = 2;
        assert_eq!(
            decide(&capped("skip"), &Preferences::default(), &f),
            Decision::Send
        );
    }

    #[test]
    fn times_and_names_are_checked() {
        assert!("25:00".parse::<LocalTime>().is_err());
        assert_eq!(
            "22:00:30".parse::<LocalTime>().unwrap().0,
            NaiveTime::from_hms_opt(22, 0, 30).unwrap()
        );
        assert!(
            serde_json::from_value::<Preferences>(serde_json::json!({"channels": {"fax": {}}}))
                .is_err()
        );
        let prefs: Preferences = serde_json::from_value(serde_json::json!({
            "categories": {"Promo!": {"max_per_day": 0}}
        }))
        .unwrap();
        let fields: Vec<_> = prefs.problems(false).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["categories.Promo!", "categories.Promo!.max_per_day"]
        );
        assert!(time_zone("America/Sao_Paulo").is_ok());
        assert!(time_zone("Mars/Olympus").is_err());
        let round: LocalWindow =
            serde_json::from_str(r#"{"start":"22:00","end":"08:00:30"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&round).unwrap(),
            r#"{"start":"22:00","end":"08:00:30"}"#
        );
    }

    #[test]
    fn keywords_are_whole_messages_in_any_case_or_accent() {
        assert_eq!(keyword("STOP", None), Some(Keyword::Stop));
        assert_eq!(keyword("  Sair. ", None), Some(Keyword::Stop));
        assert_eq!(keyword("SAÍR", None), Some(Keyword::Stop));
        assert_eq!(keyword("start", None), Some(Keyword::Start));
        assert_eq!(keyword("please stop sending", None), None);
        assert_eq!(keyword("", None), None);
        let own = Keywords {
            stop: vec!["chega".into()],
            start: vec![],
        };
        assert_eq!(keyword("Chega!", Some(&own)), Some(Keyword::Stop));
        assert_eq!(
            keyword("stop", Some(&own)),
            None,
            "the tenant's list replaces the default"
        );
        assert_eq!(keyword("voltar", Some(&own)), Some(Keyword::Start));
    }

    #[test]
    fn a_digested_category_joins_a_digest_that_is_never_digested_again() {
        let prefs: Preferences = serde_json::from_value(serde_json::json!({
            "categories": {"promo": {"digest": {"template": "promo-digest", "until": "09:00"}}}
        }))
        .unwrap();
        let mut f = facts("2026-12-08T23:00:00Z", "America/Sao_Paulo"); // 20:00 local
        assert_eq!(
            decide(&prefs, &Preferences::default(), &f),
            Decision::Digest {
                closes_at: utc("2026-12-09T12:00:00Z"),
                template: "promo-digest".into()
            }
        );
        f.is_digest = true;
        assert_eq!(decide(&prefs, &Preferences::default(), &f), Decision::Send);
        let both: Preferences = serde_json::from_value(serde_json::json!({
            "categories": {"promo": {"digest": {"template": "t", "until": "09:00", "window_secs": 60}}}
        }))
        .unwrap();
        assert_eq!(both.problems(false)[0].0, "categories.promo.digest");
    }
}
