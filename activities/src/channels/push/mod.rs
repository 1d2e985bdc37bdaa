//! The push channel: FCM for Android/web (and iOS through Firebase), APNs for iOS.

pub mod apns;
pub mod fcm;
