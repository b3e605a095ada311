//! The protocol's error codes as one typed error. Every variant maps to exactly one
//! wire code; the `Display` text is the human-readable `message` of the `error`
//! frame. No I/O errors live here: those are the server's own business.

use super::epoch::Epoch;

/// An error the protocol answers a request with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("{0}")]
    BadFrame(String),
    #[error("line longer than {max} bytes; discarded up to the next newline")]
    LineTooLong { max: usize },
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown request type {0:?}")]
    UnknownType(String),
    #[error("send hello first")]
    NotRegistered,
    #[error("already registered; hello is accepted once per connection")]
    AlreadyRegistered,
    #[error("{0}")]
    BadNick(String),
    #[error("nick {0} is already in use")]
    NickInUse(String),
    #[error("wrong or missing password")]
    AuthFailed,
    #[error("{0}")]
    BadRoom(String),
    #[error("no such room: {0}")]
    NoSuchRoom(String),
    #[error("you are not in {0}")]
    NotInRoom(String),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("{0}")]
    BadText(String),
    #[error("you are already in {max} rooms, the most a connection may join")]
    TooManyRooms { max: usize },
    #[error("too many requests; slow down")]
    RateLimited,
    #[error("{0}")]
    Unavailable(String),
    #[error("the room's numbering has changed; its current epoch is {current}")]
    EpochChanged { current: Epoch },
}

impl ProtocolError {
    /// The wire code of this error, as the `code` field carries it.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::BadFrame(_) => "bad_frame",
            ProtocolError::LineTooLong { .. } => "line_too_long",
            ProtocolError::BadRequest(_) => "bad_request",
            ProtocolError::UnknownType(_) => "unknown_type",
            ProtocolError::NotRegistered => "not_registered",
            ProtocolError::AlreadyRegistered => "already_registered",
            ProtocolError::BadNick(_) => "bad_nick",
            ProtocolError::NickInUse(_) => "nick_in_use",
            ProtocolError::AuthFailed => "auth_failed",
            ProtocolError::BadRoom(_) => "bad_room",
            ProtocolError::NoSuchRoom(_) => "no_such_room",
            ProtocolError::NotInRoom(_) => "not_in_room",
            ProtocolError::NoSuchUser(_) => "no_such_user",
            ProtocolError::BadText(_) => "bad_text",
            ProtocolError::TooManyRooms { .. } => "too_many_rooms",
            ProtocolError::RateLimited => "rate_limited",
            ProtocolError::Unavailable(_) => "unavailable",
            ProtocolError::EpochChanged { .. } => "epoch_changed",
        }
    }
}
