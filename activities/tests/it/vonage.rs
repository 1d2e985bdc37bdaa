//! Contract tests of the `vonage` provider against its fake. TODO.
