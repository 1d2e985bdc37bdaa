//! The chat hub's contract (source document 003): chat platforms registered by a tenant,
//! their users, rooms whose members come from several platforms, and messages forwarded
//! to every other platform of a room.
//!
//! Everything the hub owes a platform (a user, a room, a message) is a *forward*, stored
//! before the hub answers and delivered by one long-lived workflow per target platform
//! ([`HubForwardWorkflow`'s name](HUB_FORWARD_WORKFLOW)), in the order the hub stored
//! them, one at a time. One queue per platform rather than per (room, platform): a room
//! must reach a platform before its messages, and a user before the rooms naming them;
//! a platform that is down is down for all its rooms alike. While it is down the forwards
//! wait, retried with a growing backoff; when it is back they drain in order. A platform
//! that refuses one forward for good (a 4xx other than 408/429) gets that one marked
//! failed, so one bad message never holds the rest forever.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_common::ActivityError;
use temporalio_macros::activity_definitions;
use uuid::Uuid;

/// Name under which the forwarding workflow is registered.
pub const HUB_FORWARD_WORKFLOW: &str = "HubForwardWorkflow";

/// The signal that wakes a forwarder.
pub const WAKE_SIGNAL: &str = "wake";

/// Why a forwarder is woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wake {
    /// A forward was stored: an idle forwarder drains it now; one waiting out a platform
    /// that is down keeps waiting (a burst of messages must not hammer it).
    Forward,
    /// The platform says it is back (`POST /hub/ping`): drain now, whatever the wait.
    PlatformUp,
}

/// One forwarder per platform: a second start is refused, a signal-with-start wakes it.
pub fn forward_workflow_id(platform_id: Uuid) -> String {
    format!("hub-forward-{platform_id}")
}

/// What a platform can show. A message carrying something a platform cannot show reaches
/// it as text with a link instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Audio,
    Image,
    Video,
    File,
    Groups,
}

impl Capability {
    pub const ALL: [Capability; 5] = [
        Capability::Audio,
        Capability::Image,
        Capability::Video,
        Capability::File,
        Capability::Groups,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Audio => "audio",
            Capability::Image => "image",
            Capability::Video => "video",
            Capability::File => "file",
            Capability::Groups => "groups",
        }
    }
}

impl Capability {
    /// What a platform must be able to show for a file of `content_type`.
    pub fn of_content_type(content_type: &str) -> Capability {
        match content_type.split('/').next().unwrap_or_default() {
            "image" => Capability::Image,
            "audio" => Capability::Audio,
            "video" => Capability::Video,
            _ => Capability::File,
        }
    }
}

/// The key under which a forward's stored body names a file message's file; replaced at
/// send time by a `file` with a fresh link (or a link in the text), never sent as is.
pub const FILE_ID_FIELD: &str = "fileId";

impl std::str::FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!("unknown capability `{s}` (audio, image, video, file or groups)")
            })
    }
}

/// What a forward carries, and the platform route it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForwardKind {
    User,
    Room,
    Message,
}

impl ForwardKind {
    pub const ALL: [ForwardKind; 3] = [ForwardKind::User, ForwardKind::Room, ForwardKind::Message];

    pub fn as_str(self) -> &'static str {
        match self {
            ForwardKind::User => "user",
            ForwardKind::Room => "room",
            ForwardKind::Message => "message",
        }
    }

    /// The route of the platform's API it is POSTed to, relative to its `endpoint`
    /// (`…/api/`), as the source's apps implement them.
    pub fn route(self) -> &'static str {
        match self {
            ForwardKind::User => "user",
            ForwardKind::Room => "room",
            ForwardKind::Message => "message",
        }
    }
}

impl std::str::FromStr for ForwardKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ForwardKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown forward kind `{s}`"))
    }
}

/// Where a forward stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForwardStatus {
    /// Waiting for its turn, or for its platform to come back.
    Pending,
    /// The platform answered 2xx.
    Delivered,
    /// The platform refused it for good (a 4xx other than 408 and 429).
    Failed,
}

impl ForwardStatus {
    pub const ALL: [ForwardStatus; 3] = [
        ForwardStatus::Pending,
        ForwardStatus::Delivered,
        ForwardStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ForwardStatus::Pending => "pending",
            ForwardStatus::Delivered => "delivered",
            ForwardStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for ForwardStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ForwardStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown forward status `{s}`"))
    }
}

/// Whether a platform answered lately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlatformStatus {
    /// Nothing sent to it yet.
    Unknown,
    Up,
    /// Its last forward found it unreachable or failing (5xx, 408, 429, a timeout).
    Down,
}

impl PlatformStatus {
    pub const ALL: [PlatformStatus; 3] = [
        PlatformStatus::Unknown,
        PlatformStatus::Up,
        PlatformStatus::Down,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PlatformStatus::Unknown => "unknown",
            PlatformStatus::Up => "up",
            PlatformStatus::Down => "down",
        }
    }
}

impl std::str::FromStr for PlatformStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PlatformStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown platform status `{s}`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardInput {
    pub platform_id: Uuid,
    pub tenant_id: Uuid,
    /// How long a silent round is taken for a dead worker's (`delivery.heartbeat_timeout_secs`).
    pub heartbeat_timeout_secs: u64,
    /// Failed rounds in a row when the run continued as new (the backoff goes on).
    #[serde(default)]
    pub failures: u32,
}

/// What one round of draining a platform's queue came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DrainOutcome {
    /// Nothing is pending any more.
    Drained { delivered: u32 },
    /// The round's bound was reached with more pending: drain again at once.
    More { delivered: u32 },
    /// The platform is unreachable or failing: the head forward waits for the next round.
    Down { delivered: u32, error: String },
    /// The platform was removed: its forwarder ends.
    Gone,
}

/// How long a forwarder waits after `failures` failed rounds in a row before trying the
/// platform again: 1 s, doubling, at most a minute (a wake — a ping from the platform, a
/// new forward — tries at once).
pub fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(6);
    Duration::from_secs(secs.min(60))
}

/// How long an idle forwarder sleeps before looking at its queue again even if nobody
/// woke it (a wake lost with the API process that meant to send it).
pub const IDLE_RECHECK: Duration = Duration::from_secs(60);

/// Rounds before a forwarder continues as new, so its history stays small.
pub const ROUNDS_PER_RUN: u32 = 200;

/// Name under which the scheduled checks' workflow is registered.
pub const HUB_CHECK_WORKFLOW: &str = "HubCheckWorkflow";

/// A scheduled check of every platform of every hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubCheck {
    /// `GET {endpoint}users` answered below 500: up (a platform back up has its backlog
    /// sent at once); otherwise down.
    Ping,
    /// The platform's users (`GET {endpoint}users`, `[{"id", "name"}]`) stored; new or
    /// renamed ones told to the other platforms.
    ImportUsers,
}

/// What a check found, for the Temporal UI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubCheckOutcome {
    pub platforms: u32,
    /// Platforms that answered (the ping) or whose users were read (the import).
    pub answered: u32,
    pub failed: u32,
    /// Users new or renamed (the import).
    pub users_changed: u32,
}

pub struct HubActivities;

#[activity_definitions]
impl HubActivities {
    /// Runs `check` over every platform, one after another, each bounded; a platform that
    /// fails is counted, not an error.
    #[activity(name = "hub_check")]
    pub fn check(check: HubCheck) -> Result<HubCheckOutcome, ActivityError> {
        unimplemented!()
    }

    /// Delivers the platform's pending forwards in order, one at a time, until none is
    /// left, one fails or the round's bound is reached; records each outcome and the
    /// platform's status.
    #[activity(name = "hub_drain")]
    pub fn drain(input: ForwardInput) -> Result<DrainOutcome, ActivityError> {
        unimplemented!()
    }
}

/// The generated marker types, so other crates can implement these definitions.
pub use hub_activities::{Check, Drain};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_to_a_minute() {
        let secs: Vec<u64> = (0..10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn enums_read_back_their_wire_names() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
        }
        for k in ForwardKind::ALL {
            assert_eq!(k.as_str().parse::<ForwardKind>(), Ok(k));
        }
        assert!("sticker".parse::<Capability>().is_err());
    }
}
