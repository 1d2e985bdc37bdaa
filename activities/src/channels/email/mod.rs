//! The email channel. SMTP is the first provider; HTTP APIs (SendGrid, Mailgun, SES) join
//! here as sibling modules.

pub mod smtp;
