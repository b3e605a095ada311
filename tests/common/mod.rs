//! Helpers shared by the integration tests. A test binary includes this module
//! (`mod common;`) and names every helper as `common::NAME`: the helpers live in
//! one submodule per concern and are all re-exported here.
//!
//! - `server`: [`TestServer`], the real server started in-process on
//!   `127.0.0.1:0`, and the test config it runs with.
//! - `client`: [`Client`], a line-oriented connection to it over TLS or plaintext,
//!   every read bounded by [`FRAME_TIMEOUT`].
//! - `frames`: assertions on whole frames ([`assert_frame`], [`assert_error`],
//!   [`normalize`]) and the expected values many tests share.
//! - `tls`: the client config pinning a certificate fingerprint, and certificate
//!   files for `[tls]`; the benchmarks include this file too.
//! - `logs`: message-log files on disk.
//! - `binary`: the `confab` binary as a child process ([`BinaryServer`],
//!   [`run_confab`]).
//! - `process`: a process's resident memory; the benchmarks include this file
//!   too.
//! - `source`: connections from a chosen client address (127.0.0.2), for the
//!   per-address rules.
//! - `websocket`: [`WsClient`], a browser's WebSocket to a `websocket = true`
//!   listener, and [`http_get`] for the web client's files.
//! - `browser`: [`Chromedriver`] and [`Browser`], the web client in headless
//!   Chromium driven over WebDriver.

// Each test binary compiles this module on its own and uses a different subset
// of the helpers.
#![allow(dead_code)]

pub mod accounts;
mod binary;
mod browser;
mod client;
mod frames;
mod logs;
mod process;
mod server;
mod source;
mod tls;
mod websocket;

// A binary that uses nothing of a submodule would see its re-export as unused.
#[allow(unused_imports)]
pub use self::{
    binary::*, browser::*, client::*, frames::*, logs::*, process::*, server::*, source::*, tls::*,
    websocket::*,
};
