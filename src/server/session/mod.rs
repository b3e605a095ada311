//! One connection's life after its TLS handshake: reading lines, carrying out
//! requests one at a time, the registration, ping and idle timers, and the orderly
//! end (leave events to the rooms, `bye`, flush, close). Every request's events are
//! queued to their recipients before its response is queued to the sender.
//!
//! A room message goes to the sequencer with a hook of the session's: once the
//! message is stored and fanned out, the hook queues the session's `ok` (or
//! `unavailable`) right away, before the room's next message is fanned out. The
//! session reads on meanwhile, so a client's messages to one room can share a
//! batch, and its responses stay in request order as if carried out one at a
//! time: any other request (or a message to another room) waits until every
//! message in flight is answered. At most [`MAX_IN_FLIGHT`] messages are in
//! flight; beyond that the session stops reading, so TCP pushes back on the
//! client.
//!
//! Before carrying out a request, the session waits for its own outbound queue
//! to drain below its soft bound (at most the grace time, see `outbox`), so a
//! client that sends requests without reading their answers is pushed back by
//! TCP rather than cut off. A private message or typing notice waits the same
//! way for its target's queue.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{Secret, Settings};
use crate::protocol::codec::{Line, LineCodec};
use crate::protocol::epoch::Epoch;
use crate::protocol::frames::{
    self, AdvertisedLimits, ByeReason, Empty, Event, Frame, HelloOk, HistoryOk, Message, MessageOk,
    NickOk, RoomOk, RoomsOk, TopicOk, WhoDetailOk, WhoOk,
};
use crate::protocol::moderation::Extended;
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::{
    parse_line, Envelope, HistoryPage, RateClass, Request, RequestId, Target,
};
use crate::protocol::{time, ProtocolError, PROTOCOL_VERSION};

use super::address::AddressKey;
use super::admission::{Refusal, Ticket};
use super::auth_backoff::Attempt;
use super::hub::{Client, JoinHistory};
use super::outbox::{self, Bounds, Failure, Outbox, Pacing};
use super::page::{self, Keep};
use super::rate::{RateLimiter, Verdict};
use super::room::Room;
use super::sequencer::{Change, Committed, NotStored, Pending, Respond};
use super::Shared;

mod accounts;
mod joined;
mod moderation;
mod reader;

use joined::JoinedRooms;
use reader::LineReader;

/// `history` page size when the request names no `limit`.
const DEFAULT_HISTORY_LIMIT: u64 = 50;

/// Room messages of one connection that may be in flight (with the store,
/// unanswered) at once. Enough for pipelined messages to share group commits;
/// small enough that a client that only posts costs the server a bounded
/// amount (about this many messages' worth) however long it goes on.
pub const MAX_IN_FLIGHT: usize = 128;

/// Serves one connection until it ends. A connection admitted only to be
/// refused (see `admission.rs`) is told why, and nothing more.
pub(super) async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    ticket: Ticket,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    // The limits in force when the connection starts hold for its whole life
    // (a reload applies to the connections made after it).
    let settings = shared.settings();
    let limits = &settings.limits;
    let (reader, writer) = tokio::io::split(stream);
    let outbox = Arc::new(Outbox::new(Bounds::from_limits(limits)));
    let pacing = Pacing::from_limits(limits);
    let writer = tokio::spawn({
        let outbox = outbox.clone();
        async move { outbox::drain(&outbox, writer, pacing).await }
    });
    match ticket.refusal() {
        None => {
            info!(%peer, "connected");
            let codec = LineCodec::new(limits.max_line_bytes);
            let mut lines = LineReader::new(reader, codec);
            let mut session = Session::new(peer, shared.clone(), settings.clone(), outbox, ticket);
            let end = session.run(&mut lines, &shutdown).await;
            session.finish(&end).await;
        }
        Some(Refusal::ServerFull) => {
            info!(%peer, "refused: server full");
            outbox.close_with(ByeReason::ServerFull.frame());
        }
        Some(Refusal::TooManyConnections { max }) => {
            // Admission warned once for the address; a flood's every socket
            // is not worth a line of its own.
            debug!(%peer, "refused: too many connections from this address");
            outbox.push(&frames::error(
                None,
                &ProtocolError::TooManyConnections { max },
            ));
            outbox.close_with(ByeReason::TooManyConnections.frame());
        }
    }
    // The writer sends what is queued, `bye` last; each write is bounded by the
    // write timeout, so this wait is too.
    match writer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(%peer, "write ended: {e}"),
        Err(e) => warn!(%peer, "writer task failed: {e}"),
    }
}

/// How a session ended: what to tell the client (its last frame, `bye`),
/// and what to tell its rooms.
#[derive(Debug)]
struct End {
    bye: Option<Frame>,
    leave_reason: String,
}

impl End {
    fn bye(reason: ByeReason) -> End {
        End {
            bye: Some(reason.frame()),
            leave_reason: reason.as_str().to_owned(),
        }
    }

    fn closed() -> End {
        End {
            bye: None,
            leave_reason: "connection closed".to_owned(),
        }
    }

    fn failed(failure: Failure) -> End {
        match failure {
            Failure::SlowConsumer => End::bye(ByeReason::SlowConsumer),
            Failure::WriteFailed => End::closed(),
            // Its `bye` is queued already; `run` gives the reason.
            Failure::Ended => End::closed(),
        }
    }
}

/// A response to queue (`None`: a room message's hook queues it, or a `hello`
/// that found the server full ends the connection unanswered), and whether
/// the connection ends after it.
struct Reply {
    frame: Option<Frame>,
    end: Option<End>,
}

impl Reply {
    fn ok<P: serde::Serialize>(id: Option<&RequestId>, payload: P) -> Result<Reply, ProtocolError> {
        Ok(Reply {
            frame: Some(frames::ok(id, payload)),
            end: None,
        })
    }
}

struct Session {
    peer: SocketAddr,
    shared: Arc<Shared>,
    /// The settings this connection runs under: those in force when it
    /// started, then when it said `hello` (whose response reports its limits).
    settings: Arc<Settings>,
    /// The line codec's bound, fixed when the connection started.
    line_limit: usize,
    outbox: Arc<Outbox>,
    /// Counts this connection as pending, then (once `hello` succeeds) as a
    /// registered client.
    ticket: Ticket,
    /// Set once `hello` succeeds.
    client: Option<Arc<Client>>,
    /// The rooms this connection is in.
    rooms: JoinedRooms,
    rate: RateLimiter,
    /// `ping`s have a bucket of their own: cheap, but not free.
    ping_rate: RateLimiter,
    /// New rooms this connection may still create (`room_creations_per_minute`).
    creations: RateLimiter,
    /// Room messages handed to the sequencer and not yet answered, oldest
    /// first; at most [`MAX_IN_FLIGHT`], all to the same room.
    in_flight: VecDeque<InFlight>,
}

/// A room message with the sequencer. Its answer is queued by the hook handed
/// over with it, right after its fan-out; the session only waits for it.
struct InFlight {
    room: RoomName,
    pending: Pending,
    id: Option<RequestId>,
}

/// What woke the session's loop.
enum Wake {
    Shutdown,
    Failed(Failure),
    Line(Option<Result<Line, std::io::Error>>),
    /// The oldest message in flight is done; `false` when the sequencer went
    /// away without answering it.
    Answered(bool),
    Timer,
}

impl Session {
    fn new(
        peer: SocketAddr,
        shared: Arc<Shared>,
        settings: Arc<Settings>,
        outbox: Arc<Outbox>,
        ticket: Ticket,
    ) -> Session {
        let limits = &settings.limits;
        let now = Instant::now();
        let rate = RateLimiter::new(limits.rate_burst, limits.rate_per_second, now);
        let ping_rate = RateLimiter::new(limits.ping_rate_burst, limits.ping_rate_per_second, now);
        let per_minute = limits.room_creations_per_minute;
        let creations = RateLimiter::new(per_minute, f64::from(per_minute) / 60.0, now);
        Session {
            peer,
            shared,
            line_limit: limits.max_line_bytes,
            settings,
            outbox,
            ticket,
            client: None,
            rooms: JoinedRooms::default(),
            rate,
            ping_rate,
            creations,
            in_flight: VecDeque::new(),
        }
    }

    /// Waits until every room message in flight is answered.
    async fn settle(&mut self) {
        while let Some(message) = self.in_flight.pop_front() {
            let answered = message.pending.await.is_ok();
            self.unanswered(answered, message.id.as_ref());
        }
    }

    /// Drops the messages in flight that are answered already, oldest first.
    fn forget_answered(&mut self) {
        while let Some(message) = self.in_flight.front_mut() {
            let answered = match message.pending.try_recv() {
                Ok(_) => true,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => false,
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => return,
            };
            let message = self.in_flight.pop_front().expect("the front");
            self.unanswered(answered, message.id.as_ref());
        }
    }

    /// A message whose hook never ran (the sequencer was dropped, at the very
    /// end of a shutdown) still gets its one response.
    fn unanswered(&self, answered: bool, id: Option<&RequestId>) {
        if !answered {
            self.outbox.push(&message_answer(id, Err(NotStored)));
        }
    }

    /// Queues a response after every response still owed to messages in flight.
    async fn respond(&mut self, frame: &Frame) {
        self.settle().await;
        self.outbox.push(frame);
    }

    async fn run<R>(&mut self, lines: &mut LineReader<R>, shutdown: &CancellationToken) -> End
    where
        R: AsyncRead + Unpin,
    {
        // Only the three timings: a copy of all the limits would sit in every
        // idle connection's task.
        let (registration_timeout, ping_interval, idle_timeout) = {
            let limits = &self.settings.limits;
            (
                limits.registration_timeout,
                limits.ping_interval,
                limits.idle_timeout,
            )
        };
        let outbox = self.outbox.clone();
        let registration_deadline = Instant::now() + registration_timeout;
        let mut last_heard = Instant::now();
        let mut pinged = false;
        loop {
            let quiet_deadline = last_heard + if pinged { idle_timeout } else { ping_interval };
            let deadline = match self.client {
                None => quiet_deadline.min(registration_deadline),
                Some(_) => quiet_deadline,
            };
            self.forget_answered();
            let reading = self.in_flight.len() < MAX_IN_FLIGHT;
            // Only at the bound does the session wait for an answer: below it,
            // answers (queued by their hooks) need no wake-up of the session.
            let waiting = !reading;
            let front = self
                .in_flight
                .front_mut()
                .map(|message| &mut message.pending);
            let wake = tokio::select! {
                biased;
                () = shutdown.cancelled() => Wake::Shutdown,
                failure = outbox.failed() => Wake::Failed(failure),
                // Messages of a room are answered in seq order, which is
                // request order: the oldest one finishes first.
                answer = async { front.expect("checked").await }, if waiting => {
                    Wake::Answered(answer.is_ok())
                }
                // Not while the in-flight bound is reached: the client waits.
                line = lines.next(), if reading => Wake::Line(line),
                () = tokio::time::sleep_until(deadline) => Wake::Timer,
            };
            match wake {
                Wake::Shutdown => return End::bye(ByeReason::Shutdown),
                Wake::Failed(Failure::Ended) => {
                    return End {
                        bye: None,
                        leave_reason: outbox
                            .end_reason()
                            .unwrap_or_else(|| "ended by the server".to_owned()),
                    }
                }
                Wake::Failed(failure) => return End::failed(failure),
                Wake::Answered(answered) => {
                    let message = self.in_flight.pop_front().expect("answered one");
                    self.unanswered(answered, message.id.as_ref());
                }
                Wake::Line(line) => {
                    let line = match line {
                        Some(Ok(line)) => line,
                        Some(Err(e)) => {
                            debug!(peer = %self.peer, "read failed: {e}");
                            return End::closed();
                        }
                        None => return End::closed(),
                    };
                    last_heard = Instant::now();
                    pinged = false;
                    // Boxed: handling a request (a join that reads the
                    // store, say) takes a large state machine; inline, every
                    // idle connection's task would keep room for it.
                    if let Some(end) = Box::pin(self.handle_line(line)).await {
                        return end;
                    }
                }
                Wake::Timer => {
                    let now = Instant::now();
                    if self.client.is_none() && now >= registration_deadline {
                        return End::bye(ByeReason::RegistrationTimeout);
                    }
                    if pinged && now >= last_heard + idle_timeout {
                        return End::bye(ByeReason::IdleTimeout);
                    }
                    if !pinged && now >= last_heard + ping_interval {
                        pinged = true;
                        self.outbox.push(&Event::Ping.encode());
                    }
                }
            }
        }
    }

    /// Answers one line; `Some` when the connection ends after it.
    async fn handle_line(&mut self, line: Line) -> Option<End> {
        let limits = &self.settings.limits;
        let envelope = match line {
            Line::TooLong => Envelope::rejected(ProtocolError::LineTooLong {
                max: self.line_limit,
            }),
            Line::Text(bytes) => parse_line(&bytes, limits.max_text_bytes)?,
        };
        let Envelope { id, rate, request } = envelope;
        // Responses are pushed whatever the queue holds: this keeps them, and
        // what the client's own requests cause, from piling up unread.
        self.outbox.drained().await;
        let id = id.as_ref();
        let bucket = match rate {
            RateClass::Requests => Some(&mut self.rate),
            RateClass::Pings => Some(&mut self.ping_rate),
            RateClass::Exempt => None,
        };
        if let Some(bucket) = bucket {
            match bucket.check(Instant::now()) {
                Verdict::Allowed => {}
                Verdict::Limited => {
                    self.respond(&frames::error(id, &ProtocolError::RateLimited))
                        .await;
                    return None;
                }
                Verdict::Flooding => {
                    info!(peer = %self.peer, "disconnecting a flooding client");
                    return Some(End::bye(ByeReason::Flooding));
                }
            }
        }
        // Messages to the room of the messages in flight go along with them
        // (their answers come in seq order, which is request order). Anything
        // else is carried out after every earlier message is answered: a
        // `history` or a `leave` must see them, and a message to another room
        // must not be fanned out before an earlier one is answered.
        let pipelined = match (&request, self.in_flight.back()) {
            (
                Ok(Request::Message {
                    target: Target::Room(room),
                    ..
                }),
                last,
            ) => last.is_none_or(|last| last.room == *room),
            _ => false,
        };
        if !pipelined {
            self.settle().await;
        }
        let result = match request {
            Ok(request) => self.execute(request, id).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(reply) => {
                if let Some(frame) = &reply.frame {
                    self.respond(frame).await;
                }
                reply.end
            }
            Err(error) => {
                debug!(peer = %self.peer, code = error.code(), "request refused: {error}");
                self.respond(&frames::error(id, &error)).await;
                // A failed password ends a connection at `hello` only: a
                // logged-in user who mistypes their old password stays.
                let registering = self.client.is_none();
                match error {
                    ProtocolError::AuthFailed if registering => {
                        Some(End::bye(ByeReason::AuthFailed))
                    }
                    ProtocolError::AuthThrottled { .. }
                    | ProtocolError::AccountThrottled { .. }
                        if registering =>
                    {
                        Some(End::bye(ByeReason::AuthThrottled))
                    }
                    _ => None,
                }
            }
        }
    }

    /// The state checks and the work of one well-formed request.
    async fn execute(
        &mut self,
        request: Request,
        id: Option<&RequestId>,
    ) -> Result<Reply, ProtocolError> {
        let Some(client) = self.client.clone() else {
            return match request {
                Request::Hello {
                    nick,
                    password,
                    client,
                    account_password,
                } => {
                    self.hello(nick, password, client, account_password, id)
                        .await
                }
                Request::Ping => Reply::ok(id, Empty {}),
                Request::Quit { reason } => Ok(quit(id, reason)),
                _ => Err(ProtocolError::NotRegistered),
            };
        };
        let hub = &self.shared.hub;
        match request {
            Request::Hello { .. } => Err(ProtocolError::AlreadyRegistered),
            Request::Join {
                room,
                history,
                since,
                epoch,
            } => {
                let wanted = match since {
                    Some(seq) => JoinHistory::Since(seq, epoch),
                    None => JoinHistory::Last(
                        history.map_or(self.shared.settings().limits.history_on_join, clamp_count),
                    ),
                };
                self.join(&client, room, wanted, id).await
            }
            Request::Leave { room, reason } => {
                self.joined(&room)?;
                let joined = self
                    .rooms
                    .remove(&room)
                    .ok_or_else(|| ProtocolError::NotInRoom(room.to_string()))?;
                hub.leave(&client, &joined, reason);
                info!(nick = %client.nick(), %room, "left");
                Reply::ok(id, RoomOk { room })
            }
            Request::Message {
                target: Target::Room(room),
                text,
                action,
            } => {
                let joined = self.joined(&room)?.clone();
                joined
                    .rules()
                    .may_post(self.actor(&client).who(), room.as_str())?;
                let change = Change::Message {
                    from: client.nick(),
                    text,
                    action,
                };
                // The answer is queued right after the message's own fan-out,
                // before any later message of the room is fanned out.
                let respond: Respond = {
                    let outbox = self.outbox.clone();
                    let id = id.cloned();
                    Box::new(move |answer| {
                        outbox.push(&message_answer(id.as_ref(), answer.clone()));
                    })
                };
                let mut pending = self
                    .shared
                    .sequencer
                    .commit_then(&joined, change, Some(respond));
                // Stored at once (in memory, nobody else committing): done.
                if pending.try_recv().is_err() {
                    self.in_flight.push_back(InFlight {
                        room,
                        pending,
                        id: id.cloned(),
                    });
                }
                Ok(Reply {
                    frame: None,
                    end: None,
                })
            }
            Request::Message {
                target: Target::User(nick),
                text,
                action,
            } => {
                let target = self.find_user(&nick)?;
                let ts = time::now();
                let message = Message {
                    room: None,
                    to: Some(target.nick()),
                    seq: None,
                    ts: ts.clone(),
                    from: client.nick(),
                    text,
                    action,
                };
                let frame = Event::Message(message).encode();
                if let Some(stored) = self.shared.sequencer.store().append_private(&frame, &ts) {
                    if !stored.await {
                        return Err(unavailable());
                    }
                }
                // A target whose queue no longer takes frames is on its way out:
                // acknowledging would claim a delivery that cannot happen.
                if !target.outbox().push_when_drained(&frame).await {
                    return Err(ProtocolError::NoSuchUser(nick.to_string()));
                }
                Reply::ok(id, MessageOk { seq: None, ts })
            }
            Request::Typing { target, active } => {
                let nick = client.nick();
                match target {
                    Target::Room(room) => {
                        let event = Event::Typing {
                            room: Some(room.clone()),
                            to: None,
                            nick,
                            active,
                        };
                        self.joined(&room)?.tell_others(&client, &event.encode());
                    }
                    Target::User(to) => {
                        let target = self.find_user(&to)?;
                        let event = Event::Typing {
                            room: None,
                            to: Some(target.nick()),
                            nick,
                            active,
                        };
                        target.outbox().push_when_drained(&event.encode()).await;
                    }
                }
                Reply::ok(id, Empty {})
            }
            Request::Nick { nick } => {
                reserved_for_the_server(&nick, &self.shared.settings())?;
                self.may_take_nick(&client, &nick)?;
                let old = client.nick();
                if hub.rename(&client, &nick, self.rooms.rooms())? {
                    info!(%old, new = %nick, "nick changed");
                }
                Reply::ok(id, NickOk { nick })
            }
            Request::Topic { room, topic } => {
                let joined = self.joined(&room)?;
                joined
                    .rules()
                    .may_set_topic(self.actor(&client).who(), room.as_str())?;
                let change = Change::Topic {
                    by: client.nick(),
                    topic: topic.clone(),
                };
                let pending = self.shared.sequencer.commit(joined, change);
                pending
                    .await
                    .unwrap_or(Err(NotStored))
                    .map_err(|NotStored| unavailable())?;
                Reply::ok(id, TopicOk { room, topic })
            }
            Request::Rooms { after, limit } => {
                let limits = &self.settings.limits;
                let limit = limit.map_or(limits.history_max, clamp_count);
                let envelope = frames::ok(
                    id,
                    RoomsOk {
                        rooms: Vec::new(),
                        more: false,
                    },
                );
                let bytes = limits.max_page_bytes.saturating_sub(envelope.get().len());
                let (rooms, more) = hub.rooms(after.as_ref(), limit.min(limits.history_max), bytes);
                Reply::ok(id, RoomsOk { rooms, more })
            }
            Request::Who { room, detail } => {
                let no_such_room = || ProtocolError::NoSuchRoom(room.to_string());
                if detail {
                    let members = match hub.find_room(&room) {
                        Some(found) => found.member_details(),
                        // A logged room nobody is in, set aside in the store
                        // (so without moderation: that keeps a room in memory).
                        None => {
                            hub.members(&room).ok_or_else(no_such_room)?;
                            Vec::new()
                        }
                    };
                    return Reply::ok(id, WhoDetailOk { room, members });
                }
                let members = hub.members(&room).ok_or_else(no_such_room)?;
                Reply::ok(id, WhoOk { room, members })
            }
            Request::History {
                room,
                page,
                limit,
                epoch,
            } => self.history(room, page, limit, epoch, id).await,
            Request::Ping => Reply::ok(id, Empty {}),
            Request::Quit { reason } => Ok(quit(id, reason)),
            Request::Extended(Extended::Account(request)) => {
                self.account_request(&client, request, id).await
            }
            Request::Extended(Extended::Moderate(request)) => {
                self.moderate(&client, request, id).await
            }
            Request::Extended(Extended::Operator(request)) => {
                self.operate(&client, request, id).await
            }
        }
    }

    async fn hello(
        &mut self,
        nick: Nick,
        password: Option<String>,
        client_name: Option<String>,
        account_password: Option<String>,
        id: Option<&RequestId>,
    ) -> Result<Reply, ProtocolError> {
        // The settings in force now: a reload since the connection started
        // changes the password, the motd and the limits this client is told.
        let settings = self.shared.settings();
        reserved_for_the_server(&nick, &settings)?;
        if let Some(expected) = &settings.password {
            self.check_password(expected, password.as_deref(), &nick)?;
        }
        let account = self.log_in(&nick, account_password).await?;
        // Only now does the connection take a registered client's slot: until
        // then it counted as pending, apart from the registered clients.
        if self.ticket.register().is_err() {
            info!(peer = %self.peer, %nick, "refused at hello: server full");
            return Ok(Reply {
                frame: None,
                end: Some(End::bye(ByeReason::ServerFull)),
            });
        }
        let client =
            match self
                .shared
                .hub
                .register(nick.clone(), account.clone(), self.outbox.clone())
            {
                Ok(client) => client,
                Err(error) => {
                    self.ticket.unregister();
                    return Err(error);
                }
            };
        info!(peer = %self.peer, %nick, ?account, client = ?client_name, "registered");
        self.client = Some(client);
        let limits = &settings.limits;
        let reply = Reply::ok(
            id,
            HelloOk {
                nick,
                server: settings.server_name.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                protocol: Some(PROTOCOL_VERSION.to_owned()),
                motd: settings.motd.clone(),
                limits: AdvertisedLimits {
                    // The line codec was made when the connection started.
                    max_line_bytes: self.line_limit,
                    max_text_bytes: limits.max_text_bytes,
                    max_rooms: limits.max_rooms,
                    history_max: limits.history_max,
                    max_page_bytes: Some(limits.max_page_bytes),
                },
                account,
            },
        );
        self.settings = settings;
        reply
    }

    /// Checks a `hello`'s password, unless its address is still waiting
    /// after failed ones (see `auth_backoff.rs`).
    fn check_password(
        &self,
        expected: &Secret,
        given: Option<&str>,
        nick: &Nick,
    ) -> Result<(), ProtocolError> {
        let peer = self.peer;
        let Some(given) = given else {
            // Nothing was guessed: no back-off, but the operator hears of it.
            warn!(%peer, %nick, "missing password");
            return Err(ProtocolError::AuthFailed);
        };
        let address = AddressKey::of(peer.ip());
        let now = std::time::Instant::now();
        match self
            .shared
            .auth_backoff
            .attempt(address, now, || expected.matches(given))
        {
            Attempt::Accepted => Ok(()),
            Attempt::Failed { failures, wait } if wait.is_zero() => {
                warn!(%peer, %nick, failures, "wrong password");
                Err(ProtocolError::AuthFailed)
            }
            Attempt::Failed { failures, wait } => {
                let wait = humantime::format_duration(wait);
                warn!(%peer, %nick, failures, %wait, "wrong password; the address must wait before its next try");
                Err(ProtocolError::AuthFailed)
            }
            Attempt::Throttled { wait, first } => {
                // Rounded up: a client that waits as told is not refused again.
                let wait_secs = wait.as_millis().div_ceil(1000) as u64;
                if first {
                    warn!(%peer, %nick, %address, wait_secs, "password not checked: the address is waiting after failed passwords");
                } else {
                    debug!(%peer, %nick, wait_secs, "password not checked: the address is still waiting");
                }
                Err(ProtocolError::AuthThrottled { wait_secs })
            }
        }
    }

    async fn join(
        &mut self,
        client: &Arc<Client>,
        room: RoomName,
        wanted: JoinHistory,
        id: Option<&RequestId>,
    ) -> Result<Reply, ProtocolError> {
        self.forget_removed();
        let max_rooms = self.settings.limits.max_rooms;
        let rejoin = self.rooms.contains(&room);
        if !rejoin && self.rooms.len() >= max_rooms {
            return Err(ProtocolError::TooManyRooms { max: max_rooms });
        }
        let store = self.shared.sequencer.store();
        let keep = match wanted {
            JoinHistory::Last(_) => Keep::Newest,
            JoinHistory::Since(..) => Keep::Oldest,
        };
        let actor = self.actor(client);
        let creations = &mut self.creations;
        let per_minute = self.settings.limits.room_creations_per_minute;
        // Only a room that does not exist at all takes a token: joining one
        // that exists (in memory or set aside) is never limited by this.
        let mut may_create = || match creations.check(Instant::now()) {
            Verdict::Allowed => Ok(()),
            Verdict::Limited | Verdict::Flooding => {
                Err(ProtocolError::RoomCreationLimited { per_minute })
            }
        };
        let mut admit = |joining: &Room| joining.rules().admit(actor.who(), room.as_str());
        let (joined, mut ok, stored) = self.shared.hub.join(
            client,
            &room,
            wanted,
            self.settings.limits.history_max,
            &mut may_create,
            &mut admit,
        )?;
        // The room, topic, members and epoch come first; the history fills
        // what is left of the page. The member list is never cut: with more
        // members than a page holds, the history is one message.
        let memory = std::mem::take(&mut ok.history);
        let envelope = frames::ok(id, &ok).get().len();
        let bytes = self.settings.limits.max_page_bytes.saturating_sub(envelope);
        let (history, cut) = page::history(
            store.as_ref(),
            &room,
            joined.epoch(),
            stored,
            memory,
            keep,
            bytes,
        )
        .await;
        ok.history = history;
        ok.more |= cut;
        if !rejoin {
            info!(nick = %client.nick(), %room, "joined");
            self.rooms.insert(room, joined);
        }
        Reply::ok(id, ok)
    }

    async fn history(
        &self,
        room: RoomName,
        page: HistoryPage,
        limit: Option<u64>,
        epoch: Option<Epoch>,
        id: Option<&RequestId>,
    ) -> Result<Reply, ProtocolError> {
        let limit = clamp_count(limit.unwrap_or(DEFAULT_HISTORY_LIMIT))
            .min(self.settings.limits.history_max);
        let joined = self.joined(&room)?;
        let current = joined.epoch();
        if epoch.is_some_and(|asked| asked != *current) {
            // Pages of two numberings must never be spliced together.
            return Err(ProtocolError::EpochChanged {
                current: current.clone(),
            });
        }
        let store = self.shared.sequencer.store();
        let keep = Keep::for_page(&page);
        let plan = joined.plan(page, limit, store.oldest_seq(&room, current));
        let mut ok = HistoryOk {
            room,
            epoch: current.clone(),
            messages: Vec::new(),
            more: false,
        };
        let envelope = frames::ok(id, &ok).get().len();
        let bytes = self.settings.limits.max_page_bytes.saturating_sub(envelope);
        let (messages, cut) = page::history(
            store.as_ref(),
            &ok.room,
            current,
            plan.stored,
            plan.memory,
            keep,
            bytes,
        )
        .await;
        ok.messages = messages;
        ok.more = plan.more || cut;
        Reply::ok(id, ok)
    }

    /// A room this connection is in. A kick or a ban takes a member out from
    /// outside its session: once one has, the room has the last word (only
    /// then, so a message does not take the room's lock twice).
    fn joined(&self, room: &RoomName) -> Result<&Arc<Room>, ProtocolError> {
        let not_in_room = || ProtocolError::NotInRoom(room.to_string());
        let joined = self.rooms.get(room).ok_or_else(not_in_room)?;
        match &self.client {
            Some(client) if !client.was_removed() || joined.has_member(client) => Ok(joined),
            _ => Err(not_in_room()),
        }
    }

    /// Forgets the rooms a kick or a ban took this connection out of.
    fn forget_removed(&mut self) {
        if let Some(client) = &self.client {
            if client.take_removed() {
                self.rooms.retain(|room| room.has_member(client));
            }
        }
    }

    fn find_user(&self, nick: &Nick) -> Result<Arc<Client>, ProtocolError> {
        self.shared
            .hub
            .find_user(nick)
            .ok_or_else(|| ProtocolError::NoSuchUser(nick.to_string()))
    }

    /// Leaves every room (telling why) and queues the last frame, if any.
    async fn finish(&mut self, end: &End) {
        // Its messages in flight are published (or refused) while it is still a
        // member: nobody sees a message from someone who already left.
        self.settle().await;
        if let Some(client) = self.client.take() {
            self.shared
                .hub
                .disconnect(&client, self.rooms.rooms(), &end.leave_reason);
            self.rooms.clear();
            info!(peer = %self.peer, nick = %client.nick(), reason = %end.leave_reason, "disconnected");
        } else {
            debug!(peer = %self.peer, reason = %end.leave_reason, "disconnected before hello");
        }
        match &end.bye {
            Some(bye) => self.outbox.close_with(bye.clone()),
            None => self.outbox.close(),
        }
    }
}

/// `quit`: an `ok`, then `bye`; the rooms hear the reason, or "quit".
fn quit(id: Option<&RequestId>, reason: Option<String>) -> Reply {
    Reply {
        frame: Some(frames::ok(id, Empty {})),
        end: Some(End {
            bye: Some(ByeReason::Quit.frame()),
            leave_reason: reason.unwrap_or_else(|| ByeReason::Quit.as_str().to_owned()),
        }),
    }
}

/// The server's own name is never a nick (in any case), so nothing a user
/// does can pass for the server: a topic `by` the server's name comes from the
/// configuration.
fn reserved_for_the_server(nick: &Nick, settings: &Settings) -> Result<(), ProtocolError> {
    if nick.as_str().eq_ignore_ascii_case(&settings.server_name) {
        return Err(ProtocolError::BadNick(format!(
            "nick {:?} is reserved: it is the server's name",
            nick.as_str()
        )));
    }
    Ok(())
}

/// The answer to a room message once the sequencer is done with it.
fn message_answer(id: Option<&RequestId>, answer: Result<Committed, NotStored>) -> Frame {
    match answer {
        Ok(Committed { seq, ts }) => frames::ok(id, MessageOk { seq, ts }),
        Err(NotStored) => frames::error(id, &unavailable()),
    }
}

/// The error for a change the store could not keep (the store logs why).
fn unavailable() -> ProtocolError {
    ProtocolError::Unavailable(
        "the server could not store the message; it was not delivered, try again later".to_owned(),
    )
}

/// Counts arrive as u64; anything beyond memory is as good as "all".
fn clamp_count(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}
