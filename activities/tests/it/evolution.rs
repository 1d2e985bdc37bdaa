//! Contract tests of the `evolution` provider against its fake. TODO.
