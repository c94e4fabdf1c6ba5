//! Dispatch: what the dispatcher does with a delivery, as pure parts: `render` turns a mapping
//! and a call event into the request to send (templates compiled once per mapping version and
//! shared through `cache`), `outcome` turns the answer into a verdict and the time of the next
//! attempt.

mod cache;
pub mod outcome;
pub mod render;
