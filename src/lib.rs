//! confab: a chat daemon and its client, speaking line-delimited JSON over TLS.
//!
//! The binary (`src/main.rs`) only parses arguments and calls into this library,
//! so the integration tests drive exactly the code the binary runs.

pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod manual;
pub mod protocol;
pub mod server;
pub mod telemetry;
pub mod tls;
