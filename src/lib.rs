//! xelion-cti: the server that connects a Xelion PBX to CRMs.

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod logging;
