//! Contract tests of the `twilio` provider against its fake. TODO.
