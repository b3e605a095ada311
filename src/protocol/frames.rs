//! Server frames: responses (`ok`, `error`) and events, serialized once into a
//! shared [`Frame`] that every recipient's queue and the room history hold by
//! reference. Field order on the wire follows the protocol's examples: `type`
//! first, then `id`, then the payload.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::epoch::Epoch;
use super::error::ProtocolError;
use super::moderation::RoomFlags;
use super::names::{Nick, RoomName};
use super::request::RequestId;

/// One serialized server frame, without its trailing newline. Cloning is a
/// reference-count increment, so a fan-out to many members costs no copies.
pub type Frame = Arc<RawValue>;

/// Serializes a frame once.
pub fn encode<T: Serialize>(value: &T) -> Frame {
    // Our frame types are plain structs with string keys: serializing them
    // cannot fail, short of running out of memory.
    let raw = serde_json::value::to_raw_value(value).expect("server frames always serialize");
    Arc::from(raw)
}

#[derive(Serialize)]
struct Reply<'a, P> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a RequestId>,
    #[serde(flatten)]
    payload: P,
}

/// An `ok` response carrying `payload`'s fields.
pub fn ok<P: Serialize>(id: Option<&RequestId>, payload: P) -> Frame {
    encode(&Reply {
        kind: "ok",
        id,
        payload,
    })
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'a str,
    /// `epoch_changed` names the room's current epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<&'a Epoch>,
}

/// An `error` response.
pub fn error(id: Option<&RequestId>, error: &ProtocolError) -> Frame {
    encode(&Reply {
        kind: "error",
        id,
        payload: ErrorBody {
            code: error.code(),
            message: &error.to_string(),
            epoch: match error {
                ProtocolError::EpochChanged { current } => Some(current),
                _ => None,
            },
        },
    })
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A chat message, as fanned out and as stored in history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Nick>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub ts: String,
    pub from: Nick,
    pub text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
}

/// Every frame the server sends that is not a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Message(Message),
    Join {
        room: RoomName,
        nick: Nick,
        ts: String,
    },
    Leave {
        room: RoomName,
        nick: Nick,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        ts: String,
    },
    Nick {
        old: Nick,
        new: Nick,
        ts: String,
    },
    Topic {
        room: RoomName,
        topic: String,
        by: Nick,
        ts: String,
    },
    Typing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Nick>,
        nick: Nick,
        active: bool,
    },
    Ping,
    Bye {
        reason: String,
    },
    /// 1.2 room events: moderation, numbered and kept like messages.
    Claim(RoomAction),
    Role {
        #[serde(flatten)]
        action: RoomAction,
        account: Nick,
        /// `none` when the role was taken away.
        role: String,
    },
    Kick {
        #[serde(flatten)]
        action: RoomAction,
        nick: Nick,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Ban(Sanction),
    Unban(Sanction),
    Mute(Sanction),
    Unmute(Sanction),
    Flags {
        #[serde(flatten)]
        action: RoomAction,
        #[serde(flatten)]
        flags: RoomFlags,
    },
    /// 1.2: to the invitee only; not a room event (no seq).
    Invite {
        room: RoomName,
        by: Nick,
        ts: String,
    },
}

/// What every moderation event carries: where, its place, when, and who.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomAction {
    pub room: RoomName,
    pub seq: u64,
    pub ts: String,
    pub by: Nick,
}

/// A ban, unban, mute or unmute event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sanction {
    #[serde(flatten)]
    pub action: RoomAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Nick>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<Nick>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When a ban or mute with a duration ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl Event {
    /// The `type` of every event this build knows.
    pub const KINDS: [&'static str; 17] = [
        "message", "join", "leave", "nick", "topic", "typing", "ping", "bye", "claim", "role",
        "kick", "ban", "unban", "mute", "unmute", "flags", "invite",
    ];

    /// The moderation part of a 1.2 room event.
    pub fn room_action(&self) -> Option<&RoomAction> {
        match self {
            Event::Claim(action)
            | Event::Role { action, .. }
            | Event::Kick { action, .. }
            | Event::Flags { action, .. } => Some(action),
            Event::Ban(sanction)
            | Event::Unban(sanction)
            | Event::Mute(sanction)
            | Event::Unmute(sanction) => Some(&sanction.action),
            _ => None,
        }
    }

    pub fn encode(&self) -> Frame {
        encode(self)
    }
}

/// Why the server closes a connection: the `reason` of its last frame, `bye`.
/// Serde reads and writes the wire text; a client reading a reason a newer
/// server added uses [`ByeReason::from_wire`] or
/// [`OrUnknown<ByeReason>`](super::incoming::OrUnknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ByeReason {
    #[serde(rename = "quit")]
    Quit,
    #[serde(rename = "server shutting down")]
    Shutdown,
    #[serde(rename = "idle timeout")]
    IdleTimeout,
    #[serde(rename = "registration timeout")]
    RegistrationTimeout,
    #[serde(rename = "slow consumer")]
    SlowConsumer,
    #[serde(rename = "flooding")]
    Flooding,
    #[serde(rename = "server full")]
    ServerFull,
    #[serde(rename = "auth failed")]
    AuthFailed,
    /// 1.1: the per-address connection limit.
    #[serde(rename = "too many connections from your address")]
    TooManyConnections,
    /// 1.1: a password tried during its address's back-off (after the
    /// `auth_throttled` error).
    #[serde(rename = "auth throttled")]
    AuthThrottled,
}

impl ByeReason {
    /// Every reason this build knows.
    pub const ALL: [ByeReason; 10] = [
        ByeReason::Quit,
        ByeReason::Shutdown,
        ByeReason::IdleTimeout,
        ByeReason::RegistrationTimeout,
        ByeReason::SlowConsumer,
        ByeReason::Flooding,
        ByeReason::ServerFull,
        ByeReason::AuthFailed,
        ByeReason::TooManyConnections,
        ByeReason::AuthThrottled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ByeReason::Quit => "quit",
            ByeReason::Shutdown => "server shutting down",
            ByeReason::IdleTimeout => "idle timeout",
            ByeReason::RegistrationTimeout => "registration timeout",
            ByeReason::SlowConsumer => "slow consumer",
            ByeReason::Flooding => "flooding",
            ByeReason::ServerFull => "server full",
            ByeReason::AuthFailed => "auth failed",
            ByeReason::TooManyConnections => "too many connections from your address",
            ByeReason::AuthThrottled => "auth throttled",
        }
    }

    /// The reason a `bye`'s text names, if this build knows it.
    pub fn from_wire(reason: &str) -> Option<ByeReason> {
        ByeReason::ALL.into_iter().find(|r| r.as_str() == reason)
    }

    pub fn frame(self) -> Frame {
        Event::Bye {
            reason: self.as_str().to_owned(),
        }
        .encode()
    }
}

/// The `limits` object of the `hello` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvertisedLimits {
    pub max_line_bytes: usize,
    pub max_text_bytes: usize,
    pub max_rooms: usize,
    pub history_max: usize,
    /// Most bytes of one `join`, `history` or `rooms` answer (1.1; absent
    /// from older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_page_bytes: Option<usize>,
}

/// `hello` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelloOk {
    pub nick: Nick,
    pub server: String,
    pub version: String,
    /// The protocol version spoken (absent from servers older than 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motd: Option<String>,
    pub limits: AdvertisedLimits,
    /// The account the connection is logged in to (1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Nick>,
}

/// `join` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinOk {
    pub room: RoomName,
    pub topic: String,
    pub members: Vec<Nick>,
    /// The numbering the history's seqs belong to.
    pub epoch: Epoch,
    pub history: Vec<Frame>,
    pub more: bool,
}

/// Payload naming just a room (`leave`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomOk {
    pub room: RoomName,
}

/// `message` response payload: `seq` only for room messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageOk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub ts: String,
}

/// `nick` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NickOk {
    pub nick: Nick,
}

/// `topic` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicOk {
    pub room: RoomName,
    pub topic: String,
}

/// One entry of the `rooms` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub room: RoomName,
    pub members: usize,
    pub topic: String,
}

/// `rooms` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomsOk {
    pub rooms: Vec<RoomSummary>,
    /// Rooms after the last one listed exist (1.1; an older server lists
    /// every room and says nothing).
    #[serde(default)]
    pub more: bool,
}

/// `who` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoOk {
    pub room: RoomName,
    pub members: Vec<Nick>,
}

/// `who` response payload with `detail` (1.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoDetailOk {
    pub room: RoomName,
    pub members: Vec<super::moderation::MemberDetail>,
}

/// `history` response payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryOk {
    pub room: RoomName,
    /// The numbering the messages' seqs belong to.
    pub epoch: Epoch,
    pub messages: Vec<Frame>,
    pub more: bool,
}

/// An `ok` with no payload (`typing`, `ping`, `quit`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moderation_events_are_flat_objects_that_read_back() {
        let action = || RoomAction {
            room: RoomName::parse("ops").unwrap(),
            seq: 7,
            ts: "2026-11-21T10:15:30.123Z".into(),
            by: Nick::parse("alice").unwrap(),
        };
        let ban = Event::Ban(Sanction {
            action: action(),
            account: Some(Nick::parse("bob").unwrap()),
            nick: None,
            reason: Some("spam".into()),
            until: None,
        });
        let frame = ban.encode();
        assert_eq!(
            frame.get(),
            r#"{"type":"ban","room":"ops","seq":7,"ts":"2026-11-21T10:15:30.123Z","by":"alice","account":"bob","reason":"spam"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(frame.get()).unwrap(), ban);
        let flags = Event::Flags {
            action: action(),
            flags: RoomFlags {
                moderated: true,
                ..RoomFlags::default()
            },
        };
        let frame = flags.encode();
        assert!(frame
            .get()
            .contains(r#""by":"alice","invite_only":false,"moderated":true"#));
        assert_eq!(serde_json::from_str::<Event>(frame.get()).unwrap(), flags);
        assert_eq!(flags.room_action().map(|a| a.seq), Some(7));
    }

    #[test]
    fn responses_put_type_and_id_first() {
        let id = RequestId::Int(1);
        let frame = ok(
            Some(&id),
            RoomOk {
                room: RoomName::parse("ops").unwrap(),
            },
        );
        assert_eq!(frame.get(), r#"{"type":"ok","id":1,"room":"ops"}"#);
        assert_eq!(ok(None, Empty {}).get(), r#"{"type":"ok"}"#);
        let frame = error(None, &ProtocolError::NotRegistered);
        assert_eq!(
            frame.get(),
            r#"{"type":"error","code":"not_registered","message":"send hello first"}"#
        );
    }

    #[test]
    fn message_events_match_the_protocol_examples() {
        let message = Message {
            room: Some(RoomName::parse("general").unwrap()),
            to: None,
            seq: Some(42),
            ts: "2026-11-21T10:15:30.123Z".into(),
            from: Nick::parse("alice").unwrap(),
            text: "hi\nthere".into(),
            action: false,
        };
        assert_eq!(
            Event::Message(message.clone()).encode().get(),
            r#"{"type":"message","room":"general","seq":42,"ts":"2026-11-21T10:15:30.123Z","from":"alice","text":"hi\nthere"}"#
        );
        let action = Event::Message(Message {
            action: true,
            ..message
        });
        assert!(action.encode().get().ends_with(r#","action":true}"#));
    }

    #[test]
    fn history_embeds_stored_frames_verbatim() {
        let stored = Event::Ping.encode();
        let frame = ok(
            None,
            HistoryOk {
                room: RoomName::parse("ops").unwrap(),
                epoch: Epoch::parse("E1").unwrap(),
                messages: vec![stored],
                more: false,
            },
        );
        assert_eq!(
            frame.get(),
            r#"{"type":"ok","room":"ops","epoch":"E1","messages":[{"type":"ping"}],"more":false}"#
        );
    }
}
