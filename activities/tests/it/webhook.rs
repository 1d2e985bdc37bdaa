//! Contract tests of the `webhook` provider against its fake. TODO.
