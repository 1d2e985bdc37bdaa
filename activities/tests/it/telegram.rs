//! Contract tests of the `telegram` provider against its fake. TODO.
