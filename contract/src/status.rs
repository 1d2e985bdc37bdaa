use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The one status model of a notification.
///
/// `pending → sending → sent → delivered → read`, with `failed`, `cancelled` and `skipped`
/// terminal.
/// Status only moves forward: a late or duplicated event never drags a notification back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Accepted and stored; its workflow may not have started yet.
    Pending,
    /// A worker is rendering or handing it to a provider.
    Sending,
    /// The provider accepted it.
    Sent,
    Delivered,
    Read,
    /// Gave up: permanent provider error or retries exhausted.
    Failed,
    Cancelled,
    /// Not sent, by the recipient's choice or the suppression list (the reason is on its
    /// timeline): neither a failure nor redriven.
    Skipped,
}

impl NotificationStatus {
    pub const ALL: [NotificationStatus; 8] = [
        NotificationStatus::Pending,
        NotificationStatus::Sending,
        NotificationStatus::Sent,
        NotificationStatus::Delivered,
        NotificationStatus::Read,
        NotificationStatus::Failed,
        NotificationStatus::Cancelled,
        NotificationStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sending => "sending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Delivered => "delivered",
            NotificationStatus::Read => "read",
            NotificationStatus::Failed => "failed",
            NotificationStatus::Cancelled => "cancelled",
            NotificationStatus::Skipped => "skipped",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            NotificationStatus::Read
                | NotificationStatus::Failed
                | NotificationStatus::Cancelled
                | NotificationStatus::Skipped
        )
    }

    fn rank(self) -> u8 {
        match self {
            NotificationStatus::Pending => 0,
            NotificationStatus::Sending => 1,
            NotificationStatus::Sent => 2,
            NotificationStatus::Delivered => 3,
            NotificationStatus::Read => 4,
            NotificationStatus::Failed
            | NotificationStatus::Cancelled
            | NotificationStatus::Skipped => 5,
        }
    }

    /// Whether moving from `self` to `next` is allowed. Re-entering the same status is
    /// allowed so that a retried activity can record again without failing.
    pub fn can_move_to(self, next: NotificationStatus) -> bool {
        if self == next {
            return true;
        }
        if self.is_terminal() {
            return false;
        }
        match next {
            // Cancelling (or skipping) only makes sense before the provider has the message.
            NotificationStatus::Cancelled | NotificationStatus::Skipped => {
                self.rank() <= NotificationStatus::Sending.rank()
            }
            // A provider may report failure after accepting (bounce), but not after a read.
            NotificationStatus::Failed => true,
            _ => next.rank() > self.rank(),
        }
    }
}

impl std::fmt::Display for NotificationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NotificationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotificationStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::NotificationStatus::*;

    #[test]
    fn status_moves_forward_only() {
        assert!(Pending.can_move_to(Sending));
        assert!(Sending.can_move_to(Sent));
        assert!(Sent.can_move_to(Delivered));
        assert!(Delivered.can_move_to(Read));
        assert!(Pending.can_move_to(Sent));
        assert!(!Sent.can_move_to(Sending));
        assert!(!Delivered.can_move_to(Sent));
        assert!(!Read.can_move_to(Delivered));
    }

    #[test]
    fn terminal_statuses_stay_put_and_repeats_are_harmless() {
        for terminal in [Read, Failed, Cancelled, Skipped] {
            for other in super::NotificationStatus::ALL {
                assert_eq!(
                    terminal.can_move_to(other),
                    terminal == other,
                    "{terminal}->{other}"
                );
            }
        }
        assert!(Sending.can_move_to(Sending));
    }

    #[test]
    fn failure_and_cancellation_rules() {
        assert!(Sending.can_move_to(Failed));
        assert!(Sent.can_move_to(Failed));
        assert!(Pending.can_move_to(Cancelled));
        assert!(!Sent.can_move_to(Cancelled));
        assert!(Pending.can_move_to(Skipped));
        assert!(!Sent.can_move_to(Skipped));
    }
}
