//! The state both listeners share, and how handlers reach it.
//!
//! Each simulator keeps its state behind its own mutex, never held across an `.await`:
//! handlers copy what they need out of it and then talk to the network.

use std::sync::{Mutex, MutexGuard};

use actix_web::web;

use crate::crm::CrmState;
use crate::xelion::XelionState;

/// The state both listeners share.
pub struct Shared {
    /// The Xelion side.
    pub xelion: Mutex<XelionState>,
    /// The CRM side.
    pub crm: Mutex<CrmState>,
}

/// Shared state as actix hands it to handlers.
pub type Data = web::Data<Shared>;

/// Locks a mutex, carrying on after a panic elsewhere poisoned it (the data stays usable:
/// every update is a few field assignments).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
