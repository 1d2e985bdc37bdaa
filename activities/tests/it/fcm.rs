//! Contract tests of the `fcm` provider against its fake. TODO.
