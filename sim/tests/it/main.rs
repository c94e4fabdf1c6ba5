//! The simulators against real HTTP and websocket clients on loopback.

mod calls;
mod control;
mod crm_resource;
mod crm_token;
mod faults;
mod helpers;
mod xelion_login;
mod xelion_rest;
mod xelion_ws;
