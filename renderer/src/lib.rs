//! Where tenants' templates are rendered: in `pombo-render` child processes with a memory
//! limit ([`pool`]), doing the pure work of [`pombo_contract::render`] ([`job`]). The API
//! renders through a [`Renderer`] to refuse bad content at accept time, the worker to send.
//!
//! Fuel, the output cap and the deadline (in `pombo_contract::render`) bound a template's
//! work and output; the child's address-space limit bounds what fuel cannot see, the memory
//! its values take. A template over any of them is refused with the field it failed in; a
//! render that could not run (overloaded machine, a crashed child) is [`Unavailable`].

pub mod job;
pub mod pool;

pub use job::Item;
pub use pool::{Renderer, StartError, Unavailable};
