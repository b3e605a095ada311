//! Server frames as a client reads them. Every line a server sends is one
//! [`ServerFrame`]: the response to the request in flight (`ok`, whose payload
//! is typed by that request's kind, see [`OkFrame::reply`]; or `error`, with its
//! [`ErrorCode`]), or an event.
//!
//! The types the server writes ([`frames`](super::frames)) are read back here
//! wherever they fit, so both directions share one definition. A client must be
//! more lenient than the server is strict, and the few types of its own here
//! exist for that: a newer server may add event types, error codes, bye reasons
//! and fields (unknown ones are kept, never an error), an older one leaves out
//! 1.1's `epoch`, and history items may be events other than messages (1.2's moderation
//! events, and whatever a newer server numbers).

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::epoch::Epoch;
use super::error::ErrorCode;
use super::frames::{
    ByeReason, Event, HelloOk, MessageOk, NickOk, RoomOk, RoomsOk, TopicOk, WhoDetailOk, WhoOk,
};
use super::moderation::{
    AccountOk, AccountRequest, Extended, FlagsOk, InviteOk, ModRequest, ModerationOk,
};
use super::names::{Nick, RoomName};
use super::request::{Request, RequestId};

/// A name on the wire from a closed list this build knows (error codes, bye
/// reasons).
pub trait WireName: Copy + 'static {
    /// The name as the wire spells it.
    fn wire(self) -> &'static str;
    /// The one of ours the wire text names, if any.
    fn from_wire(text: &str) -> Option<Self>;
}

impl WireName for ErrorCode {
    fn wire(self) -> &'static str {
        self.as_str()
    }

    fn from_wire(text: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == text)
    }
}

impl WireName for ByeReason {
    fn wire(self) -> &'static str {
        self.as_str()
    }

    fn from_wire(text: &str) -> Option<ByeReason> {
        ByeReason::from_wire(text)
    }
}

/// A wire name this build may not know: a newer server's error code or bye
/// reason is kept as its text, so it can still be shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OrUnknown<T> {
    Known(T),
    Unknown(String),
}

impl<T: WireName> OrUnknown<T> {
    pub fn parse(text: &str) -> OrUnknown<T> {
        match T::from_wire(text) {
            Some(known) => OrUnknown::Known(known),
            None => OrUnknown::Unknown(text.to_owned()),
        }
    }

    /// The known name, if it is one.
    pub fn known(&self) -> Option<T> {
        match self {
            OrUnknown::Known(known) => Some(*known),
            OrUnknown::Unknown(_) => None,
        }
    }

    /// The wire text.
    pub fn as_str(&self) -> &str {
        match self {
            OrUnknown::Known(known) => known.wire(),
            OrUnknown::Unknown(text) => text,
        }
    }
}

/// Why a server line could not be read as a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFrame {
    #[error("the server sent a line that is not a JSON object")]
    NotAnObject,
    #[error("the server sent a frame without a type")]
    NoType,
    #[error("the server sent a {kind} frame this client cannot read: {reason}")]
    Malformed { kind: String, reason: String },
}

/// One line from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    Ok(OkFrame),
    Error(ErrorFrame),
    Event(ServerEvent),
}

impl ServerFrame {
    /// Reads one line. An `ok` keeps its payload unread until the client says
    /// which request it answers ([`OkFrame::reply`]).
    pub fn parse(line: &str) -> Result<ServerFrame, BadFrame> {
        let fields = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => fields,
            _ => return Err(BadFrame::NotAnObject),
        };
        match kind(&fields)? {
            "ok" => Ok(ServerFrame::Ok(OkFrame::from_fields(fields))),
            "error" => Ok(ServerFrame::Error(ErrorFrame::from_fields(fields))),
            _ => ServerEvent::from_fields(fields).map(ServerFrame::Event),
        }
    }

    /// The `id` of a response; `None` for events and responses without one.
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            ServerFrame::Ok(ok) => ok.id.as_ref(),
            ServerFrame::Error(error) => error.id.as_ref(),
            ServerFrame::Event(_) => None,
        }
    }
}

fn kind(fields: &Map<String, Value>) -> Result<&str, BadFrame> {
    fields
        .get("type")
        .and_then(Value::as_str)
        .ok_or(BadFrame::NoType)
}

/// A response's `id`. The protocol allows only an integer or a short string; a
/// server that echoes anything else has no id a client could have sent, which
/// the client finds out by comparing.
fn take_id(fields: &mut Map<String, Value>) -> Option<RequestId> {
    fields
        .remove("id")
        .and_then(|id| serde_json::from_value(id).ok())
}

/// An `ok` response.
#[derive(Debug, Clone, PartialEq)]
pub struct OkFrame {
    pub id: Option<RequestId>,
    /// Everything but `type` and `id`.
    payload: Map<String, Value>,
}

impl OkFrame {
    fn from_fields(mut fields: Map<String, Value>) -> OkFrame {
        fields.remove("type");
        let id = take_id(&mut fields);
        OkFrame {
            id,
            payload: fields,
        }
    }

    /// The payload, typed by the kind of `request` it answers.
    pub fn reply(self, request: &Request) -> Result<Reply, BadFrame> {
        Ok(match request {
            Request::Hello { .. } => Reply::Hello(self.payload()?),
            Request::Join { .. } => Reply::Join(self.payload()?),
            Request::Leave { .. } => Reply::Leave(self.payload()?),
            Request::Message { .. } => Reply::Message(self.payload()?),
            Request::Typing { .. } => Reply::Typing,
            Request::Nick { .. } => Reply::Nick(self.payload()?),
            Request::Topic { .. } => Reply::Topic(self.payload()?),
            Request::Rooms { .. } => Reply::Rooms(self.payload()?),
            Request::Who { detail: false, .. } => Reply::Who(self.payload()?),
            Request::Who { detail: true, .. } => Reply::WhoDetail(self.payload()?),
            Request::History { .. } => Reply::History(self.payload()?),
            Request::Ping => Reply::Ping,
            Request::Quit { .. } => Reply::Quit,
            Request::Extended(extended) => match extended {
                Extended::Account(AccountRequest::Register { .. }) => {
                    Reply::Account(self.payload()?)
                }
                Extended::Moderate(ModRequest::Flags { .. }) => Reply::Flags(self.payload()?),
                Extended::Moderate(ModRequest::Invite { .. }) => Reply::Invite(self.payload()?),
                Extended::Moderate(_) => Reply::Moderation(self.payload()?),
                Extended::Account(_) | Extended::Operator(_) => Reply::Done,
            },
        })
    }

    fn payload<T: DeserializeOwned>(&self) -> Result<T, BadFrame> {
        serde_json::from_value(Value::Object(self.payload.clone())).map_err(|e| {
            BadFrame::Malformed {
                kind: "ok".into(),
                reason: e.to_string(),
            }
        })
    }
}

/// An `ok` payload, by the kind of request it answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Hello(HelloOk),
    Join(JoinAnswer),
    Leave(RoomOk),
    Message(MessageOk),
    Typing,
    Nick(NickOk),
    Topic(TopicOk),
    Rooms(RoomsOk),
    Who(WhoOk),
    WhoDetail(WhoDetailOk),
    History(HistoryAnswer),
    Ping,
    Quit,
    /// 1.2: `register`.
    Account(AccountOk),
    /// 1.2: a moderation request that may have become a room event.
    Moderation(ModerationOk),
    Flags(FlagsOk),
    Invite(InviteOk),
    /// 1.2: `set_password`, `drop_account`, `kill`, `suspend`, `unsuspend`.
    Done,
}

/// A `join` answer as a client reads it. The server's [`JoinOk`](super::frames::JoinOk)
/// holds its history as stored frames; here they are events, and `epoch` is
/// optional because a 1.0 server does not send it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JoinAnswer {
    pub room: RoomName,
    pub topic: String,
    pub members: Vec<Nick>,
    /// The numbering the history's seqs belong to; `None` from a server that
    /// does not report epochs.
    #[serde(default)]
    pub epoch: Option<Epoch>,
    pub history: Vec<ServerEvent>,
    pub more: bool,
}

/// A `history` answer as a client reads it (see [`JoinAnswer`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HistoryAnswer {
    pub room: RoomName,
    #[serde(default)]
    pub epoch: Option<Epoch>,
    pub messages: Vec<ServerEvent>,
    pub more: bool,
}

/// An `error` response. A server that leaves out `code` or `message` still
/// refused the request: they are read leniently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFrame {
    pub id: Option<RequestId>,
    pub code: OrUnknown<ErrorCode>,
    pub message: String,
    /// `epoch_changed` carries the room's current epoch.
    pub epoch: Option<Epoch>,
}

impl ErrorFrame {
    fn from_fields(mut fields: Map<String, Value>) -> ErrorFrame {
        let id = take_id(&mut fields);
        let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or("");
        ErrorFrame {
            id,
            code: OrUnknown::parse(text("code")),
            message: text("message").to_owned(),
            epoch: fields
                .get("epoch")
                .and_then(Value::as_str)
                .and_then(|e| Epoch::parse(e).ok()),
        }
    }
}

/// An event: one this build knows, or one a newer server added.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    Known(Event),
    Unknown(UnknownEvent),
}

/// An event of a type this build does not know, kept whole so it can be shown
/// generically (and its `room` and `seq`, if any, still counted).
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownEvent {
    pub kind: String,
    /// Every field but `type`.
    pub fields: Map<String, Value>,
}

impl ServerEvent {
    fn from_fields(mut fields: Map<String, Value>) -> Result<ServerEvent, BadFrame> {
        let kind = kind(&fields)?.to_owned();
        if Event::KINDS.contains(&kind.as_str()) {
            // A known type with fields of the wrong shape is a broken server,
            // not a newer one: that is an error.
            return serde_json::from_value(Value::Object(fields))
                .map(ServerEvent::Known)
                .map_err(|e| BadFrame::Malformed {
                    kind,
                    reason: e.to_string(),
                });
        }
        fields.remove("type");
        Ok(ServerEvent::Unknown(UnknownEvent { kind, fields }))
    }

    /// The room the event happened in, if it names one.
    pub fn room(&self) -> Option<RoomName> {
        match self {
            ServerEvent::Known(Event::Message(message)) => message.room.clone(),
            ServerEvent::Known(
                Event::Join { room, .. } | Event::Leave { room, .. } | Event::Topic { room, .. },
            ) => Some(room.clone()),
            ServerEvent::Known(Event::Typing { room, .. }) => room.clone(),
            ServerEvent::Known(Event::Invite { room, .. }) => Some(room.clone()),
            ServerEvent::Known(event) => event.room_action().map(|action| action.room.clone()),
            ServerEvent::Unknown(event) => event
                .fields
                .get("room")
                .and_then(Value::as_str)
                .and_then(|room| RoomName::parse(room).ok()),
        }
    }

    /// The event's place in its room's numbering, if it has one: messages, and
    /// whatever later room events a newer server numbers the same way.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ServerEvent::Known(Event::Message(message)) => message.seq,
            ServerEvent::Known(event) => event.room_action().map(|action| action.seq),
            ServerEvent::Unknown(event) => event.fields.get("seq").and_then(Value::as_u64),
        }
    }
}

impl<'de> Deserialize<'de> for ServerEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ServerEvent, D::Error> {
        let fields = Map::<String, Value>::deserialize(deserializer)?;
        ServerEvent::from_fields(fields).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ProtocolError;
    use crate::protocol::frames::{
        self, AdvertisedLimits, Empty, HistoryOk, JoinOk, Message, RoomAction, RoomSummary,
        Sanction,
    };
    use crate::protocol::moderation::RoomFlags;
    use crate::protocol::request::{HistoryPage, Target};

    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn action(seq: u64) -> RoomAction {
        RoomAction {
            room: room("ops"),
            seq,
            ts: "t".into(),
            by: nick("carol"),
        }
    }

    fn sanction(seq: u64) -> Sanction {
        Sanction {
            action: action(seq),
            account: Some(nick("bob")),
            nick: None,
            reason: Some("spam".into()),
            until: Some("u".into()),
        }
    }

    fn message(seq: u64, text: &str) -> Message {
        Message {
            room: Some(room("ops")),
            to: None,
            seq: Some(seq),
            ts: "2026-11-21T10:15:30.123Z".into(),
            from: nick("alice"),
            text: text.into(),
            action: false,
        }
    }

    /// One of every event; the match makes a new variant a compile error here
    /// until it is added to the list.
    fn every_event() -> Vec<Event> {
        let events = vec![
            Event::Message(message(1, "hi")),
            Event::Message(Message {
                room: None,
                to: Some(nick("bob")),
                seq: None,
                action: true,
                ..message(0, "psst")
            }),
            Event::Join {
                room: room("ops"),
                nick: nick("bob"),
                ts: "t".into(),
            },
            Event::Leave {
                room: room("ops"),
                nick: nick("bob"),
                reason: Some("lunch".into()),
                ts: "t".into(),
            },
            Event::Leave {
                room: room("ops"),
                nick: nick("bob"),
                reason: None,
                ts: "t".into(),
            },
            Event::Nick {
                old: nick("bob"),
                new: nick("Bobby"),
                ts: "t".into(),
            },
            Event::Topic {
                room: room("ops"),
                topic: "deploys".into(),
                by: nick("carol"),
                ts: "t".into(),
            },
            Event::Typing {
                room: Some(room("ops")),
                to: None,
                nick: nick("bob"),
                active: true,
            },
            Event::Typing {
                room: None,
                to: Some(nick("alice")),
                nick: nick("bob"),
                active: false,
            },
            Event::Ping,
            Event::Bye {
                reason: ByeReason::Shutdown.as_str().into(),
            },
            Event::Claim(action(1)),
            Event::Role {
                action: action(2),
                account: nick("bob"),
                role: "op".into(),
            },
            Event::Kick {
                action: action(3),
                nick: nick("bob"),
                reason: Some("spam".into()),
            },
            Event::Ban(sanction(4)),
            Event::Unban(sanction(5)),
            Event::Mute(sanction(6)),
            Event::Unmute(sanction(7)),
            Event::Flags {
                action: action(8),
                flags: RoomFlags {
                    invite_only: true,
                    ..RoomFlags::default()
                },
            },
            Event::Invite {
                room: room("ops"),
                by: nick("carol"),
                ts: "t".into(),
            },
        ];
        for event in &events {
            match event {
                Event::Message(_)
                | Event::Join { .. }
                | Event::Leave { .. }
                | Event::Nick { .. }
                | Event::Topic { .. }
                | Event::Typing { .. }
                | Event::Ping
                | Event::Bye { .. }
                | Event::Claim(_)
                | Event::Role { .. }
                | Event::Kick { .. }
                | Event::Ban(_)
                | Event::Unban(_)
                | Event::Mute(_)
                | Event::Unmute(_)
                | Event::Flags { .. }
                | Event::Invite { .. } => {}
            }
        }
        events
    }

    #[test]
    fn every_event_reads_back_as_the_server_wrote_it() {
        let events = every_event();
        let mut kinds = std::collections::HashSet::new();
        for event in &events {
            let line = event.encode();
            let kind = serde_json::from_str::<Value>(line.get()).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(Event::KINDS.contains(&kind.as_str()), "{kind}");
            kinds.insert(kind);
            assert_eq!(
                ServerFrame::parse(line.get()),
                Ok(ServerFrame::Event(ServerEvent::Known(event.clone()))),
                "{}",
                line.get()
            );
        }
        assert_eq!(kinds.len(), Event::KINDS.len(), "an event kind is untested");
        assert_eq!(events.len(), 20);
    }

    #[test]
    fn unknown_fields_are_ignored_in_every_event() {
        for event in every_event() {
            let mut value = serde_json::to_value(&event).unwrap();
            value["from_the_future"] = serde_json::json!({"x": [1, 2]});
            let parsed = ServerFrame::parse(&value.to_string());
            assert_eq!(parsed, Ok(ServerFrame::Event(ServerEvent::Known(event))));
        }
    }

    #[test]
    fn unknown_events_are_kept_with_their_room_and_seq() {
        let line = r#"{"type":"redact","room":"ops","seq":7,"ts":"t","by":"alice","nick":"bob"}"#;
        let Ok(ServerFrame::Event(event)) = ServerFrame::parse(line) else {
            panic!("not an event");
        };
        assert_eq!(event.room(), Some(room("ops")));
        assert_eq!(event.seq(), Some(7));
        let ServerEvent::Unknown(unknown) = event else {
            panic!("known?");
        };
        assert_eq!(unknown.kind, "redact");
        assert_eq!(unknown.fields["by"], "alice");
        assert!(!unknown.fields.contains_key("type"));
    }

    #[test]
    fn broken_frames_are_told_apart() {
        assert_eq!(ServerFrame::parse("[1]"), Err(BadFrame::NotAnObject));
        assert_eq!(ServerFrame::parse("nope"), Err(BadFrame::NotAnObject));
        assert_eq!(ServerFrame::parse(r#"{"id":1}"#), Err(BadFrame::NoType));
        assert!(matches!(
            ServerFrame::parse(r#"{"type":"message","room":"ops"}"#),
            Err(BadFrame::Malformed { kind, .. }) if kind == "message"
        ));
    }

    #[test]
    fn every_error_reads_back_with_its_code() {
        let id = RequestId::Int(3);
        for code in ErrorCode::ALL {
            let line = format!(
                r#"{{"type":"error","id":3,"code":"{}","message":"m"}}"#,
                code.as_str()
            );
            let expected = ErrorFrame {
                id: Some(id.clone()),
                code: OrUnknown::Known(code),
                message: "m".into(),
                epoch: None,
            };
            assert_eq!(ServerFrame::parse(&line), Ok(ServerFrame::Error(expected)));
        }
        let epoch = Epoch::parse("E2").unwrap();
        let frame = frames::error(
            Some(&id),
            &ProtocolError::EpochChanged {
                current: epoch.clone(),
            },
        );
        let Ok(ServerFrame::Error(error)) = ServerFrame::parse(frame.get()) else {
            panic!("not an error");
        };
        assert_eq!(error.code.known(), Some(ErrorCode::EpochChanged));
        assert_eq!(error.epoch, Some(epoch));
        assert_eq!(error.id, Some(id));
    }

    #[test]
    fn codes_and_reasons_from_a_newer_server_are_kept() {
        let line = r#"{"type":"error","code":"frozen","message":"you are frozen"}"#;
        let Ok(ServerFrame::Error(error)) = ServerFrame::parse(line) else {
            panic!("not an error");
        };
        assert_eq!(error.code, OrUnknown::Unknown("frozen".into()));
        assert_eq!(error.code.as_str(), "frozen");
        assert_eq!(error.id, None);
        for reason in ByeReason::ALL {
            assert_eq!(OrUnknown::parse(reason.as_str()), OrUnknown::Known(reason));
            let wire = serde_json::to_value(reason).unwrap();
            assert_eq!(wire, Value::from(reason.as_str()));
            assert_eq!(serde_json::from_value::<ByeReason>(wire).unwrap(), reason);
            let read: OrUnknown<ByeReason> =
                serde_json::from_value(reason.as_str().into()).unwrap();
            assert_eq!(read, OrUnknown::Known(reason));
        }
        let killed: OrUnknown<ByeReason> = OrUnknown::parse("killed by op: spam");
        assert_eq!(killed.known(), None);
        assert_eq!(killed.as_str(), "killed by op: spam");
    }

    fn reply_to(frame: &frames::Frame, request: &Request) -> Reply {
        let Ok(ServerFrame::Ok(ok)) = ServerFrame::parse(frame.get()) else {
            panic!("not an ok: {}", frame.get());
        };
        assert_eq!(ok.id, Some(RequestId::Str("x".into())));
        ok.reply(request).unwrap()
    }

    #[test]
    fn ok_payloads_read_back_by_request_kind() {
        let id = RequestId::Str("x".into());
        let epoch = Epoch::parse("E1").unwrap();
        let join = Request::Join {
            room: room("ops"),
            history: None,
            since: Some(3),
            epoch: Some(epoch.clone()),
        };
        let frame = frames::ok(
            Some(&id),
            JoinOk {
                room: room("ops"),
                topic: "t".into(),
                members: vec![nick("alice")],
                epoch: epoch.clone(),
                history: vec![Event::Message(message(4, "four")).encode()],
                more: true,
            },
        );
        let Reply::Join(answer) = reply_to(&frame, &join) else {
            panic!("not a join answer");
        };
        assert_eq!(answer.epoch, Some(epoch.clone()));
        assert_eq!(
            answer.history,
            [ServerEvent::Known(Event::Message(message(4, "four")))]
        );
        assert!(answer.more);

        let history = Request::History {
            room: room("ops"),
            page: HistoryPage::After(4),
            limit: None,
            epoch: Some(epoch.clone()),
        };
        let frame = frames::ok(
            Some(&id),
            HistoryOk {
                room: room("ops"),
                epoch: epoch.clone(),
                messages: vec![Event::Message(message(5, "five")).encode()],
                more: false,
            },
        );
        let Reply::History(answer) = reply_to(&frame, &history) else {
            panic!("not a history answer");
        };
        assert_eq!(answer.epoch, Some(epoch));
        assert_eq!(answer.messages.len(), 1);

        let frame = frames::ok(
            Some(&id),
            HelloOk {
                nick: nick("alice"),
                server: "s".into(),
                version: "0.1.0".into(),
                protocol: Some("1.1".into()),
                motd: None,
                limits: AdvertisedLimits {
                    max_line_bytes: 1,
                    max_text_bytes: 2,
                    max_rooms: 3,
                    history_max: 4,
                    max_page_bytes: Some(5),
                },
                account: None,
            },
        );
        let hello = Request::Hello {
            nick: nick("alice"),
            password: None,
            client: None,
            account_password: None,
        };
        let Reply::Hello(ok) = reply_to(&frame, &hello) else {
            panic!("not a hello answer");
        };
        assert_eq!(
            (
                ok.protocol.as_deref(),
                ok.limits.history_max,
                ok.limits.max_page_bytes
            ),
            (Some("1.1"), 4, Some(5))
        );

        let frame = frames::ok(
            Some(&id),
            RoomsOk {
                rooms: vec![RoomSummary {
                    room: room("ops"),
                    members: 2,
                    topic: String::new(),
                }],
                more: true,
            },
        );
        let rooms = Request::Rooms {
            after: None,
            limit: None,
        };
        assert!(
            matches!(reply_to(&frame, &rooms), Reply::Rooms(ok) if ok.rooms.len() == 1 && ok.more)
        );
        // A 1.0 server lists every room and says nothing of more.
        let frame = r#"{"type":"ok","id":1,"rooms":[]}"#;
        let Ok(ServerFrame::Ok(ok)) = ServerFrame::parse(frame) else {
            panic!("not an ok");
        };
        assert!(matches!(ok.reply(&rooms), Ok(Reply::Rooms(ok)) if !ok.more));
        let frame = frames::ok(
            Some(&id),
            MessageOk {
                seq: Some(9),
                ts: "t".into(),
            },
        );
        let send = Request::Message {
            target: Target::Room(room("ops")),
            text: "x".into(),
            action: false,
        };
        assert!(matches!(reply_to(&frame, &send), Reply::Message(ok) if ok.seq == Some(9)));
        let frame = frames::ok(Some(&id), Empty {});
        assert!(matches!(reply_to(&frame, &Request::Ping), Reply::Ping));
    }

    #[test]
    fn answers_of_a_server_without_epochs_still_read() {
        let line = r#"{"type":"ok","id":1,"room":"ops","topic":"","members":["a"],"history":[],"more":false,"newer_field":true}"#;
        let Ok(ServerFrame::Ok(ok)) = ServerFrame::parse(line) else {
            panic!("not an ok");
        };
        let join = Request::Join {
            room: room("ops"),
            history: None,
            since: None,
            epoch: None,
        };
        let Reply::Join(answer) = ok.reply(&join).unwrap() else {
            panic!("not a join answer");
        };
        assert_eq!(answer.epoch, None);
        // The same payload is not a `who` answer: typed by the request it answers.
        let Ok(ServerFrame::Ok(ok)) = ServerFrame::parse(r#"{"type":"ok","id":1}"#) else {
            panic!("not an ok");
        };
        assert!(ok
            .reply(&Request::Who {
                room: room("ops"),
                detail: false
            })
            .is_err());
    }
}
