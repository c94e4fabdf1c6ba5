//! Black-box tests: the real server on port 0 against the Xelion and CRM simulators, on
//! SQLite and on PostgreSQL.

mod helpers;

mod cli;
mod deliveries;
mod environment;
mod integrations;
mod mappings;
mod secrets;
mod session;
mod tenants;
mod users;
