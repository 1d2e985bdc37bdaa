//! Contract tests of the `callbell` provider against its fake. TODO.
