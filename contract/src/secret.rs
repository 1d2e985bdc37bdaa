//! Credentials as a type: a [`Secret`] never shows in logs or debug output, and an answer
//! built through [`serialize_masked`] shows the mask in its place, wherever it is nested.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A string that never shows up in logs or debug output, nor in an answer: serialised
/// through [`serialize_masked`], it is written as the mask.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

thread_local! {
    /// Set by [`serialize_masked`] for the length of one serialisation on this thread.
    static MASK_SECRETS: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match MASK_SECRETS.with(std::cell::Cell::get) {
            Some(mask) => serializer.serialize_str(mask),
            None => serializer.serialize_str(&self.0),
        }
    }
}

/// `value` as JSON with every [`Secret`] in it written as `mask`, whatever type holds it:
/// what an answer shows of credentials, and how the fields that hold them are found (by
/// their type, never by a list of names that a new field could be missing from).
pub fn serialize_masked<T: Serialize>(
    value: &T,
    mask: &'static str,
) -> serde_json::Result<serde_json::Value> {
    struct Restore(Option<&'static str>);
    impl Drop for Restore {
        fn drop(&mut self) {
            MASK_SECRETS.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(MASK_SECRETS.with(|m| m.replace(Some(mask))));
    serde_json::to_value(value)
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
