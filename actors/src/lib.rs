//! The actor system of xelion-cti: the supervisor, tenants, tokens, dispatch, their
//! messages (the command API the HTTP layer calls), storage, and the clients.

pub mod admin;
pub mod api;
pub mod clock;
pub mod diagnose;
pub mod dispatch;
pub mod domain;
pub mod error;
pub mod external;
pub mod messages;
pub mod metrics;
pub mod outbound;
pub mod outbox;
pub mod secrets;
pub mod store;
pub mod supervisor;
pub mod tenant;
pub mod token;
pub mod xelion;

pub use admin::{Admin, AdminSettings};
pub use error::ApiError;
pub use supervisor::Supervisor;
