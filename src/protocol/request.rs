//! Client requests: turning one inbound line into a typed [`Request`], checked in
//! the order the protocol fixes — frame (`bad_frame`), shape (`bad_request`,
//! `unknown_type`), then names and text (`bad_nick`, `bad_room`, `bad_text`).
//! State checks (`not_registered`, `not_in_room`, …) belong to the server.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::epoch::Epoch;
use super::error::ProtocolError;
use super::moderation::{self, Extended};
use super::names::{check_reason, check_text, check_topic, Nick, RoomName};

/// Longest string `id`, in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// A request's `id`, echoed verbatim in its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Int(i64),
    Str(String),
}

/// Where a `message` or `typing` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Room(RoomName),
    User(Nick),
}

/// Which page a `history` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPage {
    /// The newest messages.
    Newest,
    /// Messages with a seq below this one, the newest of them.
    Before(u64),
    /// Messages with a seq above this one, the oldest of them.
    After(u64),
}

/// A well-formed request whose names and text passed validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Hello {
        nick: Nick,
        password: Option<String>,
        client: Option<String>,
        /// Logs in to the account `nick` (protocol 1.2).
        account_password: Option<String>,
    },
    Join {
        room: RoomName,
        history: Option<u64>,
        since: Option<u64>,
        /// The numbering `since` counts in (protocol 1.1).
        epoch: Option<Epoch>,
    },
    Leave {
        room: RoomName,
        reason: Option<String>,
    },
    Message {
        target: Target,
        text: String,
        action: bool,
    },
    Typing {
        target: Target,
        active: bool,
    },
    Nick {
        nick: Nick,
    },
    Topic {
        room: RoomName,
        topic: String,
    },
    /// A page of the room list: the rooms after `after` (by name), at most
    /// `limit` (protocol 1.1).
    Rooms {
        after: Option<RoomName>,
        limit: Option<u64>,
    },
    Who {
        room: RoomName,
        /// Members as objects with their account and role (protocol 1.2).
        detail: bool,
    },
    History {
        room: RoomName,
        page: HistoryPage,
        limit: Option<u64>,
        /// The numbering `before`/`after` count in (protocol 1.1).
        epoch: Option<Epoch>,
    },
    Ping,
    Quit {
        reason: Option<String>,
    },
    /// Accounts, moderation and server operators (protocol 1.2).
    Extended(Extended),
}

impl Request {
    /// The request's `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Join { .. } => "join",
            Request::Leave { .. } => "leave",
            Request::Message { .. } => "message",
            Request::Typing { .. } => "typing",
            Request::Nick { .. } => "nick",
            Request::Topic { .. } => "topic",
            Request::Rooms { .. } => "rooms",
            Request::Who { .. } => "who",
            Request::History { .. } => "history",
            Request::Ping => "ping",
            Request::Quit { .. } => "quit",
            Request::Extended(extended) => extended.kind(),
        }
    }

    /// The request as one wire line (without its `\n`), the inverse of
    /// [`parse_line`]: the client sends what the server parses, from one
    /// definition. Absent optional fields are left out.
    pub fn to_line(&self, id: Option<&RequestId>) -> String {
        let mut object = Map::new();
        object.insert("type".into(), self.kind().into());
        if let Some(id) = id {
            let id = match id {
                RequestId::Int(n) => Value::from(*n),
                RequestId::Str(s) => Value::from(s.as_str()),
            };
            object.insert("id".into(), id);
        }
        let mut put = |key: &str, value: Value| {
            object.insert(key.to_owned(), value);
        };
        match self {
            Request::Hello {
                nick,
                password,
                client,
                account_password,
            } => {
                put("nick", nick.as_str().into());
                if let Some(password) = password {
                    put("password", password.as_str().into());
                }
                if let Some(client) = client {
                    put("client", client.as_str().into());
                }
                if let Some(account_password) = account_password {
                    put("account_password", account_password.as_str().into());
                }
            }
            Request::Join {
                room,
                history,
                since,
                epoch,
            } => {
                put("room", room.as_str().into());
                if let Some(history) = history {
                    put("history", (*history).into());
                }
                if let Some(since) = since {
                    put("since", (*since).into());
                }
                if let Some(epoch) = epoch {
                    put("epoch", epoch.as_str().into());
                }
            }
            Request::Leave { room, reason } => {
                put("room", room.as_str().into());
                if let Some(reason) = reason {
                    put("reason", reason.as_str().into());
                }
            }
            Request::Message {
                target,
                text,
                action,
            } => {
                put_target(&mut put, target);
                put("text", text.as_str().into());
                if *action {
                    put("action", true.into());
                }
            }
            Request::Typing { target, active } => {
                put_target(&mut put, target);
                put("active", (*active).into());
            }
            Request::Nick { nick } => put("nick", nick.as_str().into()),
            Request::Topic { room, topic } => {
                put("room", room.as_str().into());
                put("topic", topic.as_str().into());
            }
            Request::Who { room, detail } => {
                put("room", room.as_str().into());
                if *detail {
                    put("detail", true.into());
                }
            }
            Request::Rooms { after, limit } => {
                if let Some(after) = after {
                    put("after", after.as_str().into());
                }
                if let Some(limit) = limit {
                    put("limit", (*limit).into());
                }
            }
            Request::History {
                room,
                page,
                limit,
                epoch,
            } => {
                put("room", room.as_str().into());
                match page {
                    HistoryPage::Newest => {}
                    HistoryPage::Before(seq) => put("before", (*seq).into()),
                    HistoryPage::After(seq) => put("after", (*seq).into()),
                }
                if let Some(limit) = limit {
                    put("limit", (*limit).into());
                }
                if let Some(epoch) = epoch {
                    put("epoch", epoch.as_str().into());
                }
            }
            Request::Quit { reason } => {
                if let Some(reason) = reason {
                    put("reason", reason.as_str().into());
                }
            }
            Request::Ping => {}
            Request::Extended(extended) => extended.put_fields(&mut put),
        }
        Value::Object(object).to_string()
    }
}

fn put_target(put: &mut impl FnMut(&str, Value), target: &Target) {
    match target {
        Target::Room(room) => put("room", room.as_str().into()),
        Target::User(nick) => put("to", nick.as_str().into()),
    }
}

/// One non-blank inbound line, parsed as far as it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The id to echo; `None` when absent or invalid.
    pub id: Option<RequestId>,
    /// Which rate limit the request counts against.
    pub rate: RateClass,
    pub request: Result<Request, ProtocolError>,
}

/// The rate limit a request counts against, read off its `type` alone, so that
/// a malformed request counts like a well-formed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    /// The connection's request bucket.
    Requests,
    /// A separate, more generous bucket: a `ping` is cheap, but not free.
    Pings,
    /// `quit` is never limited: leaving must always work.
    Exempt,
}

impl Envelope {
    /// A line rejected before any request could be read from it.
    pub fn rejected(error: ProtocolError) -> Envelope {
        Envelope {
            id: None,
            rate: RateClass::Requests,
            request: Err(error),
        }
    }
}

/// Parses one line (without its terminator). `None` for a blank line, which the
/// protocol ignores without a response.
pub fn parse_line(line: &[u8], max_text_bytes: usize) -> Option<Envelope> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Some(Envelope::rejected(ProtocolError::BadFrame(
            "the line is not valid UTF-8".into(),
        )));
    };
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Some(Envelope::rejected(ProtocolError::BadFrame(
                "a frame must be a JSON object".into(),
            )))
        }
        Err(e) => {
            return Some(Envelope::rejected(ProtocolError::BadFrame(format!(
                "not valid JSON: {e}"
            ))))
        }
    };
    Some(parse_object(&object, max_text_bytes))
}

fn parse_object(object: &Map<String, Value>, max_text_bytes: usize) -> Envelope {
    let id = match object.get("id").map(parse_id).transpose() {
        Ok(id) => id,
        Err(e) => return Envelope::rejected(e),
    };
    let Some(Value::String(kind)) = object.get("type") else {
        return Envelope {
            id,
            rate: RateClass::Requests,
            request: Err(bad_request("`type` must be a string")),
        };
    };
    Envelope {
        id,
        rate: match kind.as_str() {
            "ping" => RateClass::Pings,
            "quit" => RateClass::Exempt,
            _ => RateClass::Requests,
        },
        request: parse_request(kind, &Fields(object), max_text_bytes),
    }
}

fn parse_id(value: &Value) -> Result<RequestId, ProtocolError> {
    match value {
        Value::String(s) if s.len() <= MAX_ID_BYTES => Ok(RequestId::Str(s.clone())),
        Value::Number(n) if n.is_i64() => Ok(RequestId::Int(n.as_i64().unwrap_or_default())),
        _ => Err(bad_request(
            "`id` must be a string of at most 64 bytes or a 64-bit signed integer",
        )),
    }
}

fn parse_request(
    kind: &str,
    fields: &Fields,
    max_text_bytes: usize,
) -> Result<Request, ProtocolError> {
    match kind {
        "hello" => {
            let nick = fields.string("nick")?;
            let password = fields.opt_string("password")?;
            let client = fields.opt_string("client")?;
            let account_password = fields.opt_string("account_password")?;
            Ok(Request::Hello {
                nick: Nick::parse(nick)?,
                password: password.map(str::to_owned),
                client: client.map(str::to_owned),
                account_password: account_password.map(str::to_owned),
            })
        }
        "join" => {
            let room = fields.string("room")?;
            let history = fields.opt_count("history")?;
            let since = fields.opt_count("since")?;
            let epoch = fields.opt_epoch()?;
            Ok(Request::Join {
                room: RoomName::parse(room)?,
                history,
                since,
                epoch,
            })
        }
        "leave" => {
            let room = fields.string("room")?;
            let reason = fields.opt_string("reason")?;
            Ok(Request::Leave {
                room: RoomName::parse(room)?,
                reason: parse_reason(reason)?,
            })
        }
        "message" => {
            let target = fields.target()?;
            let text = fields.string("text")?;
            let action = fields.opt_bool("action")?.unwrap_or(false);
            let target = target.validate()?;
            check_text(text, max_text_bytes)?;
            Ok(Request::Message {
                target,
                text: text.to_owned(),
                action,
            })
        }
        "typing" => {
            let target = fields.target()?;
            let active = fields.opt_bool("active")?.unwrap_or(true);
            Ok(Request::Typing {
                target: target.validate()?,
                active,
            })
        }
        "nick" => Ok(Request::Nick {
            nick: Nick::parse(fields.string("nick")?)?,
        }),
        "topic" => {
            let room = fields.string("room")?;
            let topic = fields.string("topic")?;
            let room = RoomName::parse(room)?;
            check_topic(topic)?;
            Ok(Request::Topic {
                room,
                topic: topic.to_owned(),
            })
        }
        "rooms" => {
            let after = fields.opt_string("after")?;
            let limit = fields.opt_count("limit")?;
            Ok(Request::Rooms {
                after: after.map(RoomName::parse).transpose()?,
                limit,
            })
        }
        "who" => {
            let room = fields.string("room")?;
            let detail = fields.opt_bool("detail")?.unwrap_or(false);
            Ok(Request::Who {
                room: RoomName::parse(room)?,
                detail,
            })
        }
        "history" => {
            let room = fields.string("room")?;
            let page = match (fields.opt_count("before")?, fields.opt_count("after")?) {
                (Some(_), Some(_)) => {
                    return Err(bad_request("`before` and `after` exclude each other"))
                }
                (Some(before), None) => HistoryPage::Before(before),
                (None, Some(after)) => HistoryPage::After(after),
                (None, None) => HistoryPage::Newest,
            };
            let limit = fields.opt_count("limit")?;
            let epoch = fields.opt_epoch()?;
            Ok(Request::History {
                room: RoomName::parse(room)?,
                page,
                limit,
                epoch,
            })
        }
        "ping" => Ok(Request::Ping),
        "quit" => {
            let reason = fields.opt_string("reason")?;
            Ok(Request::Quit {
                reason: parse_reason(reason)?,
            })
        }
        other => match moderation::parse(other, fields) {
            Some(extended) => extended.map(Request::Extended),
            None => Err(ProtocolError::UnknownType(other.to_owned())),
        },
    }
}

/// An empty reason is no reason; any other is checked by the reason rules.
pub fn parse_reason(reason: Option<&str>) -> Result<Option<String>, ProtocolError> {
    match reason {
        None | Some("") => Ok(None),
        Some(reason) => {
            check_reason(reason)?;
            Ok(Some(reason.to_owned()))
        }
    }
}

fn bad_request(why: &str) -> ProtocolError {
    ProtocolError::BadRequest(why.to_owned())
}

/// A `room` or `to` whose shape is checked but whose name is not yet.
enum RawTarget<'a> {
    Room(&'a str),
    User(&'a str),
}

impl RawTarget<'_> {
    fn validate(self) -> Result<Target, ProtocolError> {
        match self {
            RawTarget::Room(room) => Ok(Target::Room(RoomName::parse(room)?)),
            RawTarget::User(nick) => Ok(Target::User(Nick::parse(nick)?)),
        }
    }
}

/// Typed access to a request's fields, where `null` counts as absent.
pub(super) struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|value| !value.is_null())
    }

    pub(super) fn string(&self, key: &str) -> Result<&'a str, ProtocolError> {
        self.opt_string(key)?
            .ok_or_else(|| ProtocolError::BadRequest(format!("`{key}` is required")))
    }

    pub(super) fn opt_string(&self, key: &str) -> Result<Option<&'a str>, ProtocolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ProtocolError::BadRequest(format!(
                "`{key}` must be a string"
            ))),
        }
    }

    pub(super) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ProtocolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ProtocolError::BadRequest(format!(
                "`{key}` must be true or false"
            ))),
        }
    }

    pub(super) fn opt_count(&self, key: &str) -> Result<Option<u64>, ProtocolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
            Some(_) => Err(ProtocolError::BadRequest(format!(
                "`{key}` must be a non-negative integer"
            ))),
        }
    }

    fn opt_epoch(&self) -> Result<Option<Epoch>, ProtocolError> {
        self.opt_string("epoch")?.map(Epoch::parse).transpose()
    }

    fn target(&self) -> Result<RawTarget<'a>, ProtocolError> {
        match (self.opt_string("room")?, self.opt_string("to")?) {
            (Some(room), None) => Ok(RawTarget::Room(room)),
            (None, Some(nick)) => Ok(RawTarget::User(nick)),
            (Some(_), Some(_)) => Err(bad_request("`room` and `to` exclude each other")),
            (None, None) => Err(bad_request("either `room` or `to` is required")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_survives_the_round_trip_through_its_line() {
        let room = || RoomName::parse("ops").unwrap();
        let nick = || Nick::parse("bob").unwrap();
        let requests = [
            Request::Hello {
                nick: nick(),
                password: Some("pw".into()),
                client: Some("confab".into()),
                account_password: Some("hunter22".into()),
            },
            Request::Join {
                room: room(),
                history: Some(5),
                since: Some(7),
                epoch: Some(Epoch::parse("e-1_A").unwrap()),
            },
            Request::Leave {
                room: room(),
                reason: Some("lunch".into()),
            },
            Request::Message {
                target: Target::User(nick()),
                text: "hi\tthere\nsecond line".into(),
                action: true,
            },
            Request::Typing {
                target: Target::Room(room()),
                active: false,
            },
            Request::Nick { nick: nick() },
            Request::Topic {
                room: room(),
                topic: "".into(),
            },
            Request::Rooms {
                after: None,
                limit: None,
            },
            Request::Rooms {
                after: Some(room()),
                limit: Some(0),
            },
            Request::Who {
                room: room(),
                detail: true,
            },
            Request::History {
                room: room(),
                page: HistoryPage::Before(3),
                limit: Some(2),
                epoch: Some(Epoch::parse("e2").unwrap()),
            },
            Request::History {
                room: room(),
                page: HistoryPage::After(3),
                limit: None,
                epoch: None,
            },
            Request::Ping,
            Request::Quit { reason: None },
        ];
        for (n, request) in requests.iter().enumerate() {
            let id = RequestId::Int(n as i64);
            let line = request.to_line(Some(&id));
            assert!(!line.contains('\n'), "{line}");
            let envelope = parse_line(line.as_bytes(), 4096).unwrap();
            assert_eq!(envelope.id, Some(id));
            assert_eq!(envelope.request.as_ref(), Ok(request), "{line}");
        }
        assert_eq!(requests.len(), 14);
        assert_eq!(
            Request::Ping.to_line(Some(&RequestId::Str("a".into()))),
            r#"{"id":"a","type":"ping"}"#
        );
    }

    fn parse(line: &str) -> Envelope {
        parse_line(line.as_bytes(), 4096).expect("not blank")
    }

    fn code(line: &str) -> &'static str {
        parse(line).request.unwrap_err().code()
    }

    #[test]
    fn blank_lines_are_ignored() {
        assert_eq!(parse_line(b"", 10), None);
        assert_eq!(parse_line(b" \t\r ", 10), None);
    }

    #[test]
    fn frame_errors() {
        let cases = [
            &b"\xff\xfe"[..],
            b"not json",
            b"[1,2]",
            b"\"str\"",
            br#"{"type":"ping","x":"\ud800"}"#,
        ];
        for line in cases {
            let envelope = parse_line(line, 10).unwrap();
            assert_eq!(envelope.request.unwrap_err().code(), "bad_frame");
            assert_eq!(envelope.id, None);
        }
        assert_eq!(cases.len(), 5);
    }

    #[test]
    fn id_rules() {
        assert_eq!(
            parse(r#"{"type":"ping","id":"abc"}"#).id,
            Some(RequestId::Str("abc".into()))
        );
        assert_eq!(
            parse(r#"{"type":"ping","id":-9223372036854775808}"#).id,
            Some(RequestId::Int(i64::MIN))
        );
        let long = "x".repeat(65);
        let bad = [
            format!(r#"{{"type":"ping","id":"{long}"}}"#),
            r#"{"type":"ping","id":1.5}"#.to_owned(),
            r#"{"type":"ping","id":true}"#.to_owned(),
            r#"{"type":"ping","id":null}"#.to_owned(),
            r#"{"type":"ping","id":[1]}"#.to_owned(),
            r#"{"type":"ping","id":9223372036854775808}"#.to_owned(),
        ];
        for line in &bad {
            let envelope = parse(line);
            assert_eq!(envelope.id, None, "{line}");
            assert_eq!(envelope.request.unwrap_err().code(), "bad_request");
        }
        assert_eq!(bad.len(), 6);
    }

    #[test]
    fn shape_is_checked_before_names() {
        assert_eq!(code(r#"{"id":1}"#), "bad_request");
        assert_eq!(code(r#"{"type":5}"#), "bad_request");
        assert_eq!(code(r#"{"type":"dance"}"#), "unknown_type");
        assert_eq!(
            code(r#"{"type":"message","room":"BAD ROOM","text":5}"#),
            "bad_request"
        );
        assert_eq!(
            code(r#"{"type":"message","room":"BAD ROOM","text":"hi"}"#),
            "bad_room"
        );
        assert_eq!(
            code(r#"{"type":"message","room":"ok","to":"bob","text":"hi"}"#),
            "bad_request"
        );
        assert_eq!(
            code(r#"{"type":"message","to":"9bob","text":"hi"}"#),
            "bad_nick"
        );
        assert_eq!(
            code(r#"{"type":"message","room":"ok","text":" "}"#),
            "bad_text"
        );
        assert_eq!(
            code(r#"{"type":"history","room":"ok","before":1,"after":2}"#),
            "bad_request"
        );
        assert_eq!(
            code(r#"{"type":"history","room":"ok","limit":-1}"#),
            "bad_request"
        );
        assert_eq!(
            code(r#"{"type":"join","room":"ok","since":1.0}"#),
            "bad_request"
        );
        assert_eq!(
            code(r#"{"type":"rooms","after":"BAD ROOM","limit":-1}"#),
            "bad_request"
        );
        assert_eq!(code(r#"{"type":"rooms","after":7}"#), "bad_request");
        assert_eq!(code(r#"{"type":"rooms","after":"BAD ROOM"}"#), "bad_room");
    }

    #[test]
    fn a_rooms_page_names_its_start_like_any_room() {
        let envelope = parse(r##"{"type":"rooms","after":"#Ops","limit":5}"##);
        assert_eq!(
            envelope.request,
            Ok(Request::Rooms {
                after: Some(RoomName::parse("ops").unwrap()),
                limit: Some(5),
            })
        );
        let envelope = parse(r#"{"type":"rooms","after":null,"limit":null}"#);
        assert_eq!(
            envelope.request,
            Ok(Request::Rooms {
                after: None,
                limit: None,
            })
        );
    }

    #[test]
    fn null_counts_as_absent() {
        let envelope = parse(r##"{"type":"join","room":"#Ops","history":null,"since":null}"##);
        assert_eq!(
            envelope.request,
            Ok(Request::Join {
                room: RoomName::parse("ops").unwrap(),
                history: None,
                since: None,
                epoch: None,
            })
        );
        assert_eq!(code(r#"{"type":"join","room":null}"#), "bad_request");
        assert_eq!(
            code(r#"{"type":"join","room":"ops","since":1,"epoch":"a b"}"#),
            "bad_request"
        );
        assert_eq!(
            code(r#"{"type":"history","room":"ops","epoch":7}"#),
            "bad_request"
        );
    }

    #[test]
    fn pings_have_their_own_limit_and_quit_none() {
        assert_eq!(parse(r#"{"type":"ping"}"#).rate, RateClass::Pings);
        assert_eq!(
            parse(r#"{"type":"quit","reason":5}"#).rate,
            RateClass::Exempt
        );
        assert_eq!(parse(r#"{"type":"rooms"}"#).rate, RateClass::Requests);
    }

    /// xorshift64*: a seeded, dependency-free source of arbitrary input.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    #[test]
    fn arbitrary_input_gets_an_answer_never_a_panic() {
        let pieces = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"type\"",
            "\"id\"",
            "\"room\"",
            "\"to\"",
            "\"text\"",
            "\"hello\"",
            "\"message\"",
            "\"history\"",
            "\"join\"",
            "null",
            "true",
            "-1",
            "1e999",
            "18446744073709551616",
            "\"\\ud800\"",
            "\"#Ops\"",
            "\"\\u0000\"",
            "\"x\"",
            " ",
            "\u{1b}",
            "\u{9b}",
            "é",
            "\"before\"",
            "\"after\"",
            "\"limit\"",
            "0",
        ];
        let mut noise = Noise(0x5eed_c0ff_ee00_d00d);
        let mut answered = 0;
        for round in 0..20_000 {
            let line: Vec<u8> = if round % 2 == 0 {
                let len = noise.next() % 40;
                (0..len)
                    .map(|_| noise.pick(&pieces))
                    .collect::<String>()
                    .into_bytes()
            } else {
                let len = noise.next() % 64;
                (0..len).map(|_| noise.next() as u8).collect()
            };
            // The check is that parsing returns (no panic) for every input, and
            // that every non-blank line yields something to answer.
            if parse_line(&line, 64).is_some() {
                answered += 1;
            }
        }
        assert!(answered > 15_000, "only {answered} lines were answered");
    }

    #[test]
    fn deep_nesting_is_a_bad_frame_not_a_stack_overflow() {
        let line = "[".repeat(100_000);
        assert_eq!(parse(&line).request.unwrap_err().code(), "bad_frame");
    }

    #[test]
    fn empty_reason_is_no_reason() {
        assert_eq!(
            parse(r#"{"type":"quit","reason":""}"#).request,
            Ok(Request::Quit { reason: None })
        );
    }
}
