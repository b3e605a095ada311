//! The client's core: what a conversation knows and decides, with no terminal
//! and no I/O, so that every face (the line client today, a full-screen one
//! later) shares it and unit tests reach every rule.
//!
//! - `buffers`: the full-screen face's model: a buffer per conversation, its
//!   lines, unread and mention counts, the focus and the session's state
//! - `rooms`: the rooms joined, how far each was shown (epoch and seq), and the
//!   catch-up after a reconnect
//! - `update`: what the conversation tells a face, as data

pub mod buffers;
pub mod rooms;
pub mod update;
