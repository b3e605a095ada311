//! The confab wire protocol, version 1.2: line-delimited JSON frames. This module is
//! pure (no I/O): the line codec, request parsing and validation, the frames the
//! server sends (`frames`) and the same frames as a client reads them
//! (`incoming`). Server and client share this one definition of every frame.

pub mod codec;
pub mod epoch;
pub mod error;
pub mod frames;
pub mod incoming;
pub mod moderation;
pub mod names;
pub mod request;
pub mod time;

pub use error::ProtocolError;

/// The protocol version this build speaks, as `hello`'s `ok` reports it.
pub const PROTOCOL_VERSION: &str = "1.2";
