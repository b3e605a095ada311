//! The client's core: what a conversation knows and decides, with no terminal
//! and no I/O, so that every face (the line client today, a full-screen one
//! later) shares it and unit tests reach every rule.
//!
//! - `connection`: TCP, TLS, and lines in and out; `backoff`: the waits
//!   between reconnection attempts
//! - `conversation`: one session from connect to quit, with reconnect and
//!   catch-up, reporting everything to a face
//! - `rooms`: the rooms joined, how far each was shown (epoch and seq), and the
//!   catch-up after a reconnect
//! - `update`: what the conversation tells a face, as data

pub mod backoff;
pub mod connection;
pub mod conversation;
pub mod rooms;
pub mod update;
