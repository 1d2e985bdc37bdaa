//! Contract tests of the `waha` provider against its fake. TODO.
