//! The protocol's error codes: [`ErrorCode`], the codes as the wire spells them
//! (both ways, so a client reads the same names the server writes), and
//! [`ProtocolError`], the typed error a server answers a request with. Every
//! `ProtocolError` maps to exactly one code; its `Display` text is the
//! human-readable `message` of the `error` frame. No I/O errors live here: those
//! are the server's own business.

use serde::{Deserialize, Serialize};

use super::epoch::Epoch;

/// Every error code of protocol 1.2, as the `code` field of an `error` frame
/// carries it. A client that may meet a newer server reads codes as
/// [`OrUnknown<ErrorCode>`](super::incoming::OrUnknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadFrame,
    LineTooLong,
    BadRequest,
    UnknownType,
    NotRegistered,
    AlreadyRegistered,
    BadNick,
    NickInUse,
    AuthFailed,
    BadRoom,
    NoSuchRoom,
    NotInRoom,
    NoSuchUser,
    BadText,
    TooManyRooms,
    RateLimited,
    Unavailable,
    /// 1.1: a `history` page asked in a numbering the room no longer has.
    EpochChanged,
    /// 1.1: the per-address connection limit; `bye` follows.
    TooManyConnections,
    /// 1.1: a password tried during the address's back-off; `bye` follows.
    AuthThrottled,
    /// 1.2: the nick is an account; log in with `account_password`.
    NickRegistered,
    /// 1.2: the request needs a logged-in connection.
    NeedsAccount,
    /// 1.2: the requester's role (or the room's flags) does not allow it.
    NotPermitted,
    /// 1.2: the requester is banned from the room.
    Banned,
    /// 1.2: the requester is muted in the room.
    Muted,
    /// 1.2: the room is invite-only and the requester has no invite.
    InviteOnly,
    /// 1.2: no account has that name.
    NoSuchAccount,
    /// 1.2: a password shorter than 8 or longer than 1024 bytes.
    WeakPassword,
}

impl ErrorCode {
    /// Every code, in the order the protocol lists them.
    pub const ALL: [ErrorCode; 28] = [
        ErrorCode::BadFrame,
        ErrorCode::LineTooLong,
        ErrorCode::BadRequest,
        ErrorCode::UnknownType,
        ErrorCode::NotRegistered,
        ErrorCode::AlreadyRegistered,
        ErrorCode::BadNick,
        ErrorCode::NickInUse,
        ErrorCode::AuthFailed,
        ErrorCode::BadRoom,
        ErrorCode::NoSuchRoom,
        ErrorCode::NotInRoom,
        ErrorCode::NoSuchUser,
        ErrorCode::BadText,
        ErrorCode::TooManyRooms,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::EpochChanged,
        ErrorCode::TooManyConnections,
        ErrorCode::AuthThrottled,
        ErrorCode::NickRegistered,
        ErrorCode::NeedsAccount,
        ErrorCode::NotPermitted,
        ErrorCode::Banned,
        ErrorCode::Muted,
        ErrorCode::InviteOnly,
        ErrorCode::NoSuchAccount,
        ErrorCode::WeakPassword,
    ];

    /// The code as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::LineTooLong => "line_too_long",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::NotRegistered => "not_registered",
            ErrorCode::AlreadyRegistered => "already_registered",
            ErrorCode::BadNick => "bad_nick",
            ErrorCode::NickInUse => "nick_in_use",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::BadRoom => "bad_room",
            ErrorCode::NoSuchRoom => "no_such_room",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::NoSuchUser => "no_such_user",
            ErrorCode::BadText => "bad_text",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::EpochChanged => "epoch_changed",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::AuthThrottled => "auth_throttled",
            ErrorCode::NickRegistered => "nick_registered",
            ErrorCode::NeedsAccount => "needs_account",
            ErrorCode::NotPermitted => "not_permitted",
            ErrorCode::Banned => "banned",
            ErrorCode::Muted => "muted",
            ErrorCode::InviteOnly => "invite_only",
            ErrorCode::NoSuchAccount => "no_such_account",
            ErrorCode::WeakPassword => "weak_password",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// `auth_failed` for a password checked after `hello` (`set_password`,
    /// `drop_account`): the connection stays.
    #[error("wrong password")]
    WrongPassword,
    /// `not_in_room` for another member (a `kick` of someone who is not there).
    #[error("{nick} is not in {room}")]
    TargetNotInRoom { nick: String, room: String },
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
    /// `too_many_rooms` for the whole server (`max_total_rooms`).
    #[error("the server has too many rooms open (at most {max}); join a room that exists")]
    ServerRoomsFull { max: usize },
    /// `rate_limited` for new rooms (`room_creations_per_minute`).
    #[error(
        "you are creating rooms too fast (at most {per_minute} a minute); \
         wait a little, or join a room that exists"
    )]
    RoomCreationLimited { per_minute: u32 },
    #[error("{0}")]
    Unavailable(String),
    #[error("the room's numbering has changed; its current epoch is {current}")]
    EpochChanged { current: Epoch },
    #[error("too many connections from your address (at most {max})")]
    TooManyConnections { max: usize },
    #[error("too many failed passwords from your address; try again in {wait_secs}s")]
    AuthThrottled { wait_secs: u64 },
    /// `auth_throttled` for an account that is waiting after failed passwords
    /// (1.2), wherever they came from.
    #[error("too many failed passwords for this account; try again in {wait_secs}s")]
    AccountThrottled { wait_secs: u64 },
    #[error("nick {0} is a registered account; log in with its password or choose another nick")]
    NickRegistered(String),
    #[error("{0}")]
    NeedsAccount(String),
    #[error("{0}")]
    NotPermitted(String),
    #[error("{0}")]
    Banned(String),
    #[error("{0}")]
    Muted(String),
    #[error("{0} is invite-only; ask one of its operators for an invite")]
    InviteOnly(String),
    #[error("no such account: {0}")]
    NoSuchAccount(String),
    #[error("{0}")]
    WeakPassword(String),
}

impl ProtocolError {
    /// The wire code of this error, as the `code` field carries it.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The code of this error, typed.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ProtocolError::BadFrame(_) => ErrorCode::BadFrame,
            ProtocolError::LineTooLong { .. } => ErrorCode::LineTooLong,
            ProtocolError::BadRequest(_) => ErrorCode::BadRequest,
            ProtocolError::UnknownType(_) => ErrorCode::UnknownType,
            ProtocolError::NotRegistered => ErrorCode::NotRegistered,
            ProtocolError::AlreadyRegistered => ErrorCode::AlreadyRegistered,
            ProtocolError::BadNick(_) => ErrorCode::BadNick,
            ProtocolError::NickInUse(_) => ErrorCode::NickInUse,
            ProtocolError::AuthFailed | ProtocolError::WrongPassword => ErrorCode::AuthFailed,
            ProtocolError::TargetNotInRoom { .. } => ErrorCode::NotInRoom,
            ProtocolError::BadRoom(_) => ErrorCode::BadRoom,
            ProtocolError::NoSuchRoom(_) => ErrorCode::NoSuchRoom,
            ProtocolError::NotInRoom(_) => ErrorCode::NotInRoom,
            ProtocolError::NoSuchUser(_) => ErrorCode::NoSuchUser,
            ProtocolError::BadText(_) => ErrorCode::BadText,
            ProtocolError::TooManyRooms { .. } => ErrorCode::TooManyRooms,
            ProtocolError::RateLimited => ErrorCode::RateLimited,
            ProtocolError::ServerRoomsFull { .. } => ErrorCode::TooManyRooms,
            ProtocolError::RoomCreationLimited { .. } => ErrorCode::RateLimited,
            ProtocolError::Unavailable(_) => ErrorCode::Unavailable,
            ProtocolError::EpochChanged { .. } => ErrorCode::EpochChanged,
            ProtocolError::TooManyConnections { .. } => ErrorCode::TooManyConnections,
            ProtocolError::AuthThrottled { .. } | ProtocolError::AccountThrottled { .. } => {
                ErrorCode::AuthThrottled
            }
            ProtocolError::NickRegistered(_) => ErrorCode::NickRegistered,
            ProtocolError::NeedsAccount(_) => ErrorCode::NeedsAccount,
            ProtocolError::NotPermitted(_) => ErrorCode::NotPermitted,
            ProtocolError::Banned(_) => ErrorCode::Banned,
            ProtocolError::Muted(_) => ErrorCode::Muted,
            ProtocolError::InviteOnly(_) => ErrorCode::InviteOnly,
            ProtocolError::NoSuchAccount(_) => ErrorCode::NoSuchAccount,
            ProtocolError::WeakPassword(_) => ErrorCode::WeakPassword,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_name() {
        for code in ErrorCode::ALL {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, serde_json::Value::from(code.as_str()), "{code:?}");
            let back: ErrorCode = serde_json::from_value(wire).unwrap();
            assert_eq!(back, code);
        }
        let distinct: std::collections::HashSet<_> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(distinct.len(), ErrorCode::ALL.len());
        assert!(serde_json::from_str::<ErrorCode>(r#""no_such_code""#).is_err());
    }

    #[test]
    fn every_protocol_error_names_its_own_code() {
        let epoch = Epoch::parse("E1").unwrap();
        let errors = [
            ProtocolError::BadFrame("x".into()),
            ProtocolError::LineTooLong { max: 1 },
            ProtocolError::BadRequest("x".into()),
            ProtocolError::UnknownType("x".into()),
            ProtocolError::NotRegistered,
            ProtocolError::AlreadyRegistered,
            ProtocolError::BadNick("x".into()),
            ProtocolError::NickInUse("x".into()),
            ProtocolError::AuthFailed,
            ProtocolError::BadRoom("x".into()),
            ProtocolError::NoSuchRoom("x".into()),
            ProtocolError::NotInRoom("x".into()),
            ProtocolError::NoSuchUser("x".into()),
            ProtocolError::BadText("x".into()),
            ProtocolError::TooManyRooms { max: 1 },
            ProtocolError::RateLimited,
            ProtocolError::Unavailable("x".into()),
            ProtocolError::EpochChanged { current: epoch },
            ProtocolError::TooManyConnections { max: 1 },
            ProtocolError::AuthThrottled { wait_secs: 1 },
            ProtocolError::NickRegistered("x".into()),
            ProtocolError::NeedsAccount("x".into()),
            ProtocolError::NotPermitted("x".into()),
            ProtocolError::Banned("x".into()),
            ProtocolError::Muted("x".into()),
            ProtocolError::InviteOnly("x".into()),
            ProtocolError::NoSuchAccount("x".into()),
            ProtocolError::WeakPassword("x".into()),
        ];
        let codes: std::collections::HashSet<_> =
            errors.iter().map(ProtocolError::error_code).collect();
        assert_eq!(codes.len(), errors.len(), "two errors share a code");
        for error in &errors {
            assert_eq!(error.code(), error.error_code().as_str());
        }
    }

    #[test]
    fn server_wide_room_limits_reuse_the_per_connection_codes() {
        let full = ProtocolError::ServerRoomsFull { max: 3 };
        assert_eq!(full.code(), "too_many_rooms");
        assert!(full.to_string().contains("server has too many rooms"));
        let fast = ProtocolError::RoomCreationLimited { per_minute: 2 };
        assert_eq!(fast.code(), "rate_limited");
        assert!(fast.to_string().contains("creating rooms too fast"));
    }
}
