use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How urgently a notification must go out. Maps onto Temporal's task-queue priority so
/// that, under a backlog, alerts are dispatched before confirmations and promotions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Medium,
    Low,
}

/// The notification types of the source document, each with its fixed priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    Alert,
    Confirmation,
    Promo,
}

impl NotificationType {
    pub fn priority(self) -> Priority {
        match self {
            NotificationType::Alert => Priority::High,
            NotificationType::Confirmation => Priority::Medium,
            NotificationType::Promo => Priority::Low,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Alert => "alert",
            NotificationType::Confirmation => "confirmation",
            NotificationType::Promo => "promo",
        }
    }
}

impl Priority {
    /// Most urgent first.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Medium, Priority::Low];

    /// Position in [`Priority::ALL`]: 0 for the most urgent.
    pub fn index(self) -> usize {
        match self {
            Priority::High => 0,
            Priority::Medium => 1,
            Priority::Low => 2,
        }
    }

    /// Temporal priority key: 1 is dispatched first, 5 last (3 is Temporal's default).
    pub fn temporal_key(self) -> u32 {
        match self {
            Priority::High => 1,
            Priority::Medium => 3,
            Priority::Low => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "high" => Ok(Priority::High),
            "medium" => Ok(Priority::Medium),
            "low" => Ok(Priority::Low),
            other => Err(format!("unknown priority `{other}`")),
        }
    }
}

impl std::str::FromStr for NotificationType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "alert" => Ok(NotificationType::Alert),
            "confirmation" => Ok(NotificationType::Confirmation),
            "promo" => Ok(NotificationType::Promo),
            other => Err(format!("unknown notification type `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_the_seed_priorities_and_keys_order_them() {
        assert_eq!(NotificationType::Alert.priority(), Priority::High);
        assert_eq!(NotificationType::Confirmation.priority(), Priority::Medium);
        assert_eq!(NotificationType::Promo.priority(), Priority::Low);
        assert!(Priority::High.temporal_key() < Priority::Medium.temporal_key());
        assert!(Priority::Medium.temporal_key() < Priority::Low.temporal_key());
    }
}
