//! Contract tests of the `mailgun` provider against its fake. TODO.
