//! Black-box tests: the real server on port 0 against the Xelion and CRM simulators, on
//! SQLite and on PostgreSQL.

mod helpers;

mod bench;
mod cli;
mod database_down;
mod deliveries;
mod delivery;
mod demo;
mod environment;
mod external;
mod fuzz;
mod input;
mod integrations;
mod limits;
mod logging;
mod manage;
mod mappings;
mod ops;
mod preview;
mod prom;
mod readme;
mod restart;
mod secrets;
mod session;
mod tenants;
mod tokens;
mod ui;
mod ui_browser;
mod user_oid;
mod user_tokens;
mod users;
