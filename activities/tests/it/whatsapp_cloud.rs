//! Contract tests of the `whatsapp_cloud` provider against its fake. TODO.
