//! The email channel: SMTP, SendGrid, Mailgun.

pub mod mailgun;
pub mod sendgrid;
pub mod smtp;
