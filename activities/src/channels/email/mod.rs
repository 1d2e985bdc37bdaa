//! The email channel: SMTP, SendGrid, Mailgun, Amazon SES.

pub mod mailgun;
pub mod sendgrid;
pub mod ses;
pub mod smtp;
