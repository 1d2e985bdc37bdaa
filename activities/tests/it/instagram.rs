//! Contract tests of the `instagram` provider against its fake. TODO.
