//! Contract tests of the `apns` provider against its fake. TODO.
