//! The full-screen interface, built on ratatui and crossterm: the pieces of it
//! that are pure logic, with no terminal, so unit tests reach every rule.
//!
//! - `text`: what a message looks like on screen (marks for anything that
//!   would not show), its wrapping into rows and folding, nick colours and
//!   mentions
//! - `editor`: the input line, its editing keys and history
//! - `complete`: Tab completion of commands, rooms and nicks

pub mod complete;
pub mod editor;
pub mod text;
