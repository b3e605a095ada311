//! The client's core: the conversation and what it knows and decides, with no
//! terminal code, so that every face (line mode and scripts, the full-screen
//! interface) shares it and unit tests reach every rule.
//!
//! - `connection`: TCP, TLS, and lines in and out; `backoff`: the waits
//!   between reconnection attempts
//! - `conversation`: one session from connect to quit, with reconnect and
//!   catch-up, reporting everything to a face
//! - `buffers`: the full-screen face's model: a buffer per conversation, its
//!   lines, unread and mention counts, the focus and the session's state
//! - `rooms`: the rooms joined, how far each was shown (epoch and seq), and the
//!   catch-up after a reconnect
//! - `update`: what the conversation tells a face, as data

pub mod backoff;
pub mod buffers;
pub mod connection;
pub mod conversation;
pub mod rooms;
pub mod update;
