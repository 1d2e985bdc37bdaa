//! Enum columns typed in the entities: a `channel`, `priority` or `status` column is the
//! contract's own enum ([`Text<Channel>`]), kept in a text column under its wire name
//! (`"email"`, `"high"`, `"delivered"`), so no query parses a `String` again. A value that
//! is none of the enum's (a hand-edited row) fails the load of its row with a database
//! error naming the column's type, never a default.
//!
//! A wrapper rather than sea-orm's `DeriveActiveEnum` on the enums themselves: those live in
//! `pombo-contract`, which the workflows depend on and which stays free of the database.

use std::{ops::Deref, str::FromStr, sync::Arc};

use pombo_contract::{
    Channel, NotificationStatus, Priority,
    conversation::{ConversationStatus, Direction, MediaState, MessageKind},
    hub::{ForwardKind, ForwardStatus, PlatformStatus},
    webhooks::DeliveryStatus,
};
use sea_orm::{
    ActiveValue, ColIdx, DbErr, IntoActiveValue, QueryResult, TryGetError, TryGetable, Value,
    sea_query::{ArrayType, ColumnType, Nullable, StringLen, ValueType, ValueTypeErr},
};

/// An enum of the contract that a text column holds under its wire name.
pub trait TextEnum: Copy + FromStr<Err = String> + Send + Sync + 'static {
    /// Its name in errors.
    const TYPE: &'static str;
    /// Its wire name, as the API shows it and the column keeps it.
    fn text(self) -> &'static str;
}

/// Each enum of the contract kept in a column, by its `as_str`.
macro_rules! text_enums {
    ($($ty:ident),+ $(,)?) => {$(
        impl TextEnum for $ty {
            const TYPE: &'static str = stringify!($ty);
            fn text(self) -> &'static str {
                self.as_str()
            }
        }
    )+};
}

text_enums!(
    DeliveryStatus,
    Channel,
    Priority,
    NotificationStatus,
    Direction,
    MessageKind,
    ConversationStatus,
    MediaState,
    ForwardKind,
    ForwardStatus,
    PlatformStatus,
);

/// The column type of an entity field that holds a [`TextEnum`]: reads as the enum itself
/// (`row.channel.as_str()`, `*row.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Text<T>(pub T);

impl<T> Deref for Text<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: PartialEq> PartialEq<T> for Text<T> {
    fn eq(&self, other: &T) -> bool {
        self.0 == *other
    }
}

/// Compares by wire name: `row.status == "delivered"`.
impl<T: TextEnum> PartialEq<&str> for Text<T> {
    fn eq(&self, other: &&str) -> bool {
        self.0.text() == *other
    }
}

impl<T: TextEnum> std::fmt::Display for Text<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.text())
    }
}

impl<T: TextEnum> From<T> for Text<T> {
    fn from(value: T) -> Self {
        Text(value)
    }
}

/// So a text enum can be part of a composite primary key; never made from a number.
impl<T: TextEnum> sea_orm::TryFromU64 for Text<T> {
    fn try_from_u64(_: u64) -> Result<Self, DbErr> {
        Err(DbErr::ConvertFromU64(T::TYPE))
    }
}

impl<T: TextEnum> From<Text<T>> for Value {
    fn from(value: Text<T>) -> Value {
        value.0.text().into()
    }
}

impl<T: TextEnum> TryGetable for Text<T> {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        let text = String::try_get_by(res, idx)?;
        text.parse().map(Text).map_err(|reason: String| {
            TryGetError::DbErr(DbErr::TryIntoErr {
                from: "String",
                into: T::TYPE,
                source: Arc::new(std::io::Error::other(reason)),
            })
        })
    }
}

impl<T: TextEnum> ValueType for Text<T> {
    fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
        let text = <String as ValueType>::try_from(value)?;
        text.parse().map(Text).map_err(|_| ValueTypeErr)
    }

    fn type_name() -> String {
        T::TYPE.to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::String
    }

    fn column_type() -> ColumnType {
        ColumnType::String(StringLen::None)
    }
}

impl<T: TextEnum> Nullable for Text<T> {
    fn null() -> Value {
        Value::String(None)
    }
}

impl<T: TextEnum> IntoActiveValue<Text<T>> for Text<T> {
    fn into_active_value(self) -> ActiveValue<Text<T>> {
        ActiveValue::Set(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant goes into its column and comes back as itself.
    #[test]
    fn every_variant_round_trips_through_its_column_value() {
        fn all<T: TextEnum + PartialEq + std::fmt::Debug>(values: &[T]) {
            for &v in values {
                let stored: Value = Text(v).into();
                assert_eq!(<Text<T> as ValueType>::try_from(stored).unwrap(), Text(v));
            }
        }
        all(&Channel::ALL);
        all(&NotificationStatus::ALL);
        all(&Priority::ALL);
        all(&Direction::ALL);
        all(&MessageKind::ALL);
        all(&ConversationStatus::ALL);
        all(&MediaState::ALL);
    }

    #[test]
    fn a_value_outside_the_enum_is_refused() {
        let stored: Value = "carrier-pigeon".into();
        assert!(<Text<Channel> as ValueType>::try_from(stored).is_err());
    }
}
