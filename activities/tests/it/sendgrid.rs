//! Contract tests of the `sendgrid` provider against its fake. TODO.
