//! The conversation: registering, joining, turning input into requests and
//! frames into updates for the face, and reconnecting without losing messages.
//!
//! Requests go out one at a time, each waiting for its response: the protocol
//! answers in order anyway, this keeps a `rate_limited` request retriable in its
//! place, and it lets a dropped connection know exactly which request was left
//! unanswered. After a drop the client reconnects with backoff, registers under
//! the same nick, and rejoins every room from the last `seq` it showed there, in
//! that seq's epoch; `core::rooms` decides the catch-up, this module carries it
//! out. It formats nothing: what happened goes to the face as an [`Update`],
//! and the face (line mode, scripts, the full-screen interface) shows it.
//!
//! Accounts (protocol 1.2) log in only at `hello`, with `account_password`.
//! The password (from the account password file, `/login`, or the last
//! `/register` or `/password`) is kept for the session, so every reconnect
//! logs in again. A `/login` before registration says `hello` again on the
//! same connection; once registered, it quits and reconnects at once, and the
//! reconnect's rejoins and catch-up restore the rooms.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, Instant};

use crate::client::render;
use crate::protocol::error::ErrorCode;
use crate::protocol::frames::{AdvertisedLimits, ByeReason, Event, Message};
use crate::protocol::incoming::{BadFrame, ErrorFrame, Reply, ServerEvent, ServerFrame};
use crate::protocol::moderation::MemberDetail;
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::{Request, RequestId, Target};

use crate::client::commands::{self, Action, Context};
use crate::client::error::ClientError;
use crate::client::input::InputEvent;
use crate::client::settings::ClientSettings;
use crate::client::trust::{Asker, KnownHosts, Trust};

use super::backoff::Backoff;
use super::connection::Connection;
use super::rooms::{Progress, Rooms};
use super::update::{Face, Update};

mod extended;

/// Typing notices go out at most this often while the user types.
const TYPING_EVERY: Duration = Duration::from_secs(3);
/// Silence from the server after which the client checks with a `ping`.
const KEEPALIVE_AFTER: Duration = Duration::from_secs(75);
/// An unanswered request older than this means the connection is dead.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// How often a `rate_limited` request is retried before it counts as failed.
const RATE_LIMIT_RETRIES: u32 = 6;
/// The most input lines queued ahead of the connection.
const QUEUE_LIMIT: usize = 256;

/// How the conversation was started.
pub struct Options {
    pub settings: ClientSettings,
    pub interactive: bool,
    /// One-shot: join without history, show nothing but errors.
    pub one_shot: bool,
    /// `--json`: scripts read the frames as the server sends them, so a
    /// request keeps the shape it had for them (`who` lists plain nicks).
    pub json: bool,
}

/// Starts an interactive face: its input, and the face that replaces the
/// one used until then.
pub type StartFace =
    Box<dyn FnOnce() -> std::io::Result<(mpsc::Receiver<InputEvent>, Box<dyn Face>)> + Send>;

/// Where the user's input comes from.
pub enum Input {
    Ready(mpsc::Receiver<InputEvent>),
    /// An interactive face (the line editor, the full-screen interface),
    /// started once the first connection is trusted: the trust question needs
    /// the terminal before the face takes it.
    Later(StartFace),
}

/// A request waiting to go out, and why it is sent.
#[derive(Debug, Clone)]
struct Outgoing {
    request: Request,
    origin: Origin,
    retries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Typed or scripted by the user: its failure counts.
    User,
    /// Registration, joins from the settings, catch-up after a reconnect.
    Setup,
    /// Catching up on a room after a reconnect.
    CatchUp,
    /// Keepalive and typing notices: nobody needs to hear about them.
    Background,
}

/// How a whole session went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Requests that got an error or may not have arrived.
    pub failures: u32,
    /// What the last of them was.
    pub last_failure: Option<String>,
}

/// How one connection ended.
enum Ending {
    /// The user quit, or input ended and everything was answered.
    Done,
    /// The connection dropped; reconnecting may help.
    Dropped(String),
    /// Reconnecting will not help.
    Fatal(ClientError),
    /// The user logged in (`/login`) on a registered connection: connect
    /// again at once, and let `hello` carry the password.
    Relogin,
}

/// The conversation's state, which outlives any one connection.
pub struct Chat {
    options: Options,
    face: Box<dyn Face>,
    trust: Trust,
    known_hosts: KnownHosts,
    nick: Nick,
    limits: Option<AdvertisedLimits>,
    rooms: Rooms,
    current: Option<RoomName>,
    queue: VecDeque<Outgoing>,
    /// User lines not yet read: each is parsed only when its turn comes, so it
    /// sees the state the lines before it made (the room a `/join` entered).
    /// A line typed in a face's buffer carries the room or nick it was typed to.
    lines: VecDeque<(Option<Target>, String)>,
    /// How many user lines and requests waited when the face was last told.
    queued_shown: usize,
    /// Requests that got an error (or were lost): the exit status.
    failures: u32,
    last_failure: Option<String>,
    next_id: i64,
    input_done: bool,
    registered_once: bool,
    /// Room messages in flight when a connection dropped: resent after the
    /// catch-up unless the catch-up shows they got through.
    unconfirmed: Vec<Outgoing>,
    last_typing_sent: Option<Instant>,
    /// The password `hello` logs in to the nick's account with. Never
    /// shown, and kept only for this session.
    account_password: Option<String>,
    /// `account_password` was typed (`/login`) and not yet accepted: a
    /// refusal is a typo to mend, not the end of an interactive session.
    password_typed: bool,
    /// The account the connection is logged in to, as the server said.
    account: Option<Nick>,
    /// `hello` was refused in a way the connection survives (the nick is an
    /// account): nothing is sent but `/login`, `/nick` and `/quit` until a
    /// `hello` succeeds.
    needs_login: bool,
    /// Why, when it is not the nick being an account: the server's message
    /// (a suspended account).
    refusal: Option<String>,
    /// The connection is quitting to log in: its end reconnects at once.
    relogin: bool,
    /// The server speaks protocol 1.2 or later (`who` with `detail`).
    speaks_1_2: bool,
    /// The room and seq of the last numbered room event received: a
    /// moderation `ok` naming it needs no words of its own, the event said it
    /// (the server sends a request's event before its `ok`).
    last_event: Option<(RoomName, u64)>,
}

impl Chat {
    pub fn new(options: Options, face: Box<dyn Face>) -> Result<Chat, ClientError> {
        let settings = &options.settings;
        let nick = settings
            .nick
            .clone()
            .ok_or_else(|| ClientError::Usage("a nick is needed".into()))?;
        let trust = Trust::new(&settings.trust)?;
        let known_hosts = KnownHosts::new(settings.known_hosts.clone());
        let history = options.one_shot.then_some(0);
        let account_password = settings.account_password.clone();
        let queue = settings
            .join
            .iter()
            .map(|room| Outgoing {
                request: Request::Join {
                    room: room.clone(),
                    history,
                    since: None,
                    epoch: None,
                },
                origin: Origin::Setup,
                retries: 0,
            })
            .collect();
        Ok(Chat {
            options,
            face,
            trust,
            known_hosts,
            nick,
            limits: None,
            rooms: Rooms::new(),
            current: None,
            queue,
            lines: VecDeque::new(),
            queued_shown: 0,
            failures: 0,
            last_failure: None,
            next_id: 0,
            input_done: false,
            registered_once: false,
            unconfirmed: Vec::new(),
            last_typing_sent: None,
            account_password,
            password_typed: false,
            account: None,
            needs_login: false,
            refusal: None,
            relogin: false,
            speaks_1_2: false,
            last_event: None,
        })
    }

    /// Runs the conversation to its end.
    pub async fn run(
        mut self,
        input: Input,
        mut ask: Option<&mut dyn Asker>,
    ) -> Result<Outcome, ClientError> {
        let server = self.options.settings.server.clone();
        let mut backoff = Backoff::new();
        let mut pending_input = Some(input);
        // Until the editor starts, input stays closed: a channel nobody sends on.
        let (_no_sender, mut input) = mpsc::channel(1);
        loop {
            let opened =
                Connection::open(&server, &self.trust, &self.known_hosts, ask.take()).await;
            if opened.is_ok() {
                match pending_input.take() {
                    Some(Input::Ready(ready)) => input = ready,
                    Some(Input::Later(start)) => {
                        let (started, face) = start()?;
                        self.face = face;
                        input = started;
                    }
                    None => {}
                }
            }
            let reason = match opened {
                Ok(mut connection) => {
                    let ending = self
                        .converse(&mut connection, &mut input, &mut backoff)
                        .await;
                    match ending {
                        Ending::Done => {
                            connection.close().await;
                            return Ok(self.outcome());
                        }
                        Ending::Relogin => {
                            connection.close().await;
                            backoff.reset();
                            self.face
                                .update(Update::Status(render::logging_in(&self.nick)));
                            continue;
                        }
                        Ending::Fatal(err) => return Err(err),
                        Ending::Dropped(reason) => reason,
                    }
                }
                // Before the first registration a failure is the answer: the
                // user asked for a server that is not there.
                Err(err) if !self.registered_once => return Err(err),
                Err(err @ ClientError::Untrusted(_)) => return Err(err),
                Err(err) => err.to_string(),
            };
            let limit =
                (!self.options.interactive).then_some(self.options.settings.reconnect_attempts);
            let Some(delay) = backoff.next_delay(limit) else {
                return Err(ClientError::Lost {
                    server: server.to_string(),
                    reason,
                });
            };
            self.face.update(Update::Reconnecting { reason, delay });
            if self.wait_for_reconnect(delay, &mut input).await {
                return Ok(self.outcome());
            }
        }
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            failures: self.failures,
            last_failure: self.last_failure.clone(),
        }
    }

    /// Sleeps before a reconnect while still taking input, so an interactive
    /// user can `/quit` instead of waiting. `true` when the user quit.
    async fn wait_for_reconnect(
        &mut self,
        delay: Duration,
        input: &mut mpsc::Receiver<InputEvent>,
    ) -> bool {
        let wake = sleep(delay);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                _ = &mut wake => return false,
                event = input.recv(), if !self.input_done && self.lines.len() < QUEUE_LIMIT => {
                    let event = event.unwrap_or(InputEvent::End);
                    let quitting = match &event {
                        InputEvent::End => true,
                        InputEvent::Line(line) | InputEvent::LineIn(_, line) => {
                            let word = line.split_whitespace().next().unwrap_or("");
                            word.eq_ignore_ascii_case("/quit") || word.eq_ignore_ascii_case("/exit")
                        }
                        _ => false,
                    };
                    if quitting && self.options.interactive {
                        return true;
                    }
                    self.take_input(event);
                }
            }
        }
    }

    /// One connection's life.
    async fn converse(
        &mut self,
        connection: &mut Connection,
        input: &mut mpsc::Receiver<InputEvent>,
        backoff: &mut Backoff,
    ) -> Ending {
        self.prepare_registration();
        let mut in_flight: Option<(i64, Outgoing, Instant)> = None;
        let mut retry_at: Option<Instant> = None;
        let mut last_heard = Instant::now();
        let mut registered = false;
        loop {
            if in_flight.is_none() && retry_at.is_none() {
                let next = match self.next_outgoing() {
                    Some(next) => Some(next),
                    None if self.input_done => Some(Outgoing {
                        request: Request::Quit { reason: None },
                        origin: Origin::Setup,
                        retries: 0,
                    }),
                    None => None,
                };
                if let Some(next) = next {
                    self.next_id += 1;
                    let line = next.request.to_line(Some(&RequestId::Int(self.next_id)));
                    if let Err(broken) = connection.send(&line).await {
                        self.queue.push_front(next);
                        return Ending::Dropped(broken.0);
                    }
                    in_flight = Some((self.next_id, next, Instant::now()));
                }
            }
            let keepalive = last_heard + KEEPALIVE_AFTER;
            let deadline = in_flight.as_ref().map(|(_, _, sent)| *sent + ANSWER_WITHIN);
            tokio::select! {
                line = connection.next_line() => {
                    let line = match line {
                        Ok(line) => line,
                        Err(broken) => return self.dropped(broken.0, in_flight.take()),
                    };
                    last_heard = Instant::now();
                    let step = self.on_line(&line, &mut in_flight, &mut retry_at, &mut registered);
                    if registered {
                        backoff.reset();
                    }
                    if let Some(ending) = step {
                        return ending;
                    }
                }
                event = input.recv(), if !self.input_done && self.lines.len() < QUEUE_LIMIT => {
                    self.take_input(event.unwrap_or(InputEvent::End));
                }
                _ = sleep_until(retry_at.unwrap_or(keepalive)), if retry_at.is_some() => {
                    retry_at = None;
                }
                _ = sleep_until(keepalive), if in_flight.is_none() && retry_at.is_none() => {
                    last_heard = Instant::now();
                    self.queue.push_back(background(Request::Ping));
                }
                _ = sleep_until(deadline.unwrap_or(keepalive)), if deadline.is_some() => {
                    return self.dropped("no answer from the server".into(), in_flight.take());
                }
            }
        }
    }

    /// Puts `hello` (and, after a drop, the rejoins) at the head of the queue.
    fn prepare_registration(&mut self) {
        self.needs_login = false;
        self.relogin = false;
        // Setup and catch-up requests of the last connection are made anew.
        let reconnecting = self.registered_once;
        self.queue
            .retain(|o| o.origin == Origin::User || !reconnecting);
        if self.registered_once {
            // Rejoin in the order the rooms were joined, each from its last seq.
            for request in self.rooms.rejoins().into_iter().rev() {
                self.queue.push_front(Outgoing {
                    request,
                    origin: Origin::CatchUp,
                    retries: 0,
                });
            }
        }
        let hello = self.hello();
        self.queue.push_front(hello);
    }

    /// `hello` with the nick of now, logging in when there is a password.
    fn hello(&self) -> Outgoing {
        Outgoing {
            request: Request::Hello {
                nick: self.nick.clone(),
                password: self.options.settings.password.clone(),
                client: Some(format!("confab/{}", env!("CARGO_PKG_VERSION"))),
                account_password: self.account_password.clone(),
            },
            origin: Origin::Setup,
            retries: 0,
        }
    }

    /// What to do with the request a dropped connection left unanswered.
    fn dropped(&mut self, reason: String, in_flight: Option<(i64, Outgoing, Instant)>) -> Ending {
        if let Some((_, outgoing, _)) = in_flight {
            match (&outgoing.request, outgoing.origin) {
                (Request::Quit { .. }, _) if self.relogin => return Ending::Relogin,
                (Request::Quit { .. }, _) => return Ending::Done,
                (
                    Request::Message {
                        target: Target::Room(_),
                        ..
                    },
                    Origin::User,
                ) => self.unconfirmed.push(outgoing),
                (
                    Request::Message {
                        target: Target::User(to),
                        text,
                        ..
                    },
                    Origin::User,
                ) => {
                    let reason = format!(
                        "the connection dropped before the server confirmed your private \
                         message to {to}; it may not have been delivered: {text}"
                    );
                    self.failed(&reason);
                    self.face.update(Update::Error(reason.clone()));
                    self.face.update(not_sent(&outgoing.request, reason));
                }
                (_, Origin::User) => self.queue.push_front(outgoing),
                _ => {}
            }
        }
        Ending::Dropped(reason)
    }

    /// Turns an input event into queued requests or local actions.
    fn take_input(&mut self, event: InputEvent) {
        match event {
            InputEvent::End => self.input_done = true,
            InputEvent::Request(request) => self.queue.push_back(user(request)),
            InputEvent::Typing => {
                if let Some(room) = self.current.clone() {
                    self.typing(Target::Room(room));
                }
            }
            InputEvent::TypingIn(target) => self.typing(target),
            InputEvent::Line(line) => self.lines.push_back((None, line)),
            InputEvent::LineIn(target, line) => self.lines.push_back((Some(target), line)),
        }
        self.tell_queued();
    }

    /// Tells the face how many of the user's lines wait, when that changed.
    fn tell_queued(&mut self) {
        let waiting = self.lines.len()
            + self
                .queue
                .iter()
                .filter(|o| o.origin == Origin::User)
                .count();
        if waiting != self.queued_shown {
            self.queued_shown = waiting;
            self.face.update(Update::Queued(waiting));
        }
    }

    /// The next request to send: queued requests first, then the user's lines
    /// in order, carrying out local commands on the way.
    fn next_outgoing(&mut self) -> Option<Outgoing> {
        let next = self.parse_next();
        self.tell_queued();
        next
    }

    fn parse_next(&mut self) -> Option<Outgoing> {
        loop {
            // Until the nick is settled, the queue (joins, the user's
            // requests) waits: the server would refuse it all.
            if !self.needs_login {
                if let Some(next) = self.queue.pop_front() {
                    return Some(next);
                }
            }
            let (target, line) = self.lines.pop_front()?;
            // Until the nick is settled, the rest would all be refused.
            if self.needs_login && !settles_the_nick(&line) {
                let hint = render::needs_login(&self.nick, self.refusal.as_deref());
                self.hint(hint);
                continue;
            }
            // A line typed in a room's buffer is said in that room; one typed
            // in a private buffer goes to that nick; one typed in the buffer
            // of a room the user is no longer in goes nowhere.
            let mut query = None;
            let mut gone = None;
            match target {
                Some(Target::Room(room)) if self.rooms.contains(&room) => self.current = Some(room),
                Some(Target::Room(room)) => gone = Some(room),
                Some(Target::User(nick)) => query = Some(nick),
                None => {}
            }
            let joined = self.rooms.names();
            let context = Context {
                current: self.current.as_ref().filter(|_| gone.is_none()),
                query: query.as_ref(),
                gone: gone.as_ref(),
                joined: &joined,
                max_text_bytes: self
                    .limits
                    .as_ref()
                    .map_or(usize::MAX, |l| l.max_text_bytes),
            };
            let parsed = commands::parse(&line, &context);
            if self.needs_login {
                match parsed {
                    Ok(Action::Login(password)) => return Some(self.login(password)),
                    Ok(Action::Send(Request::Nick { nick })) => {
                        // Another nick: the password was the old one's.
                        self.nick = nick;
                        self.account_password = None;
                        self.needs_login = false;
                        return Some(self.hello());
                    }
                    _ => {}
                }
            }
            match parsed {
                Ok(Action::Send(mut request)) => {
                    if let Request::Who { detail, .. } = &mut request {
                        // An older server knows no `detail`; a script reading
                        // `--json` expects the plain list it always got.
                        *detail &= self.speaks_1_2 && !self.options.json;
                    }
                    if matches!(request, Request::Quit { .. }) {
                        // Nothing typed after `/quit` is read.
                        self.input_done = true;
                        self.lines.clear();
                    }
                    if let Request::Message {
                        target,
                        text,
                        action,
                    } = &request
                    {
                        self.face.update(Update::Pending {
                            target: target.clone(),
                            text: text.clone(),
                            action: *action,
                        });
                    }
                    return Some(user(request));
                }
                Ok(Action::Switch(room)) => {
                    self.face.update(Update::Switched(room.clone()));
                    self.current = Some(room);
                }
                Ok(Action::ShowTopic(room)) => match self.rooms.topic(&room) {
                    Some(topic) => {
                        let topic = topic.to_owned();
                        self.face.update(Update::Topic { room, topic });
                    }
                    None => self.hint(format!("you are not in #{room}: /join {room} first")),
                },
                Ok(Action::Login(password)) => {
                    if let Some(account) = &self.account {
                        let already = format!("you are logged in as {account} already");
                        self.hint(already);
                        continue;
                    }
                    return Some(self.login(password));
                }
                Ok(Action::Help) => self.face.update(Update::Help),
                Ok(Action::Nothing) => {}
                Err(hint) => self.hint(hint),
            }
        }
    }

    /// A line that could not be carried out.
    fn hint(&mut self, hint: String) {
        self.face.update(Update::Error(hint));
        // A script asked for something that did not happen.
        if !self.options.interactive {
            self.failures += 1;
        }
    }

    /// A request that did not get through: it counts toward the exit status,
    /// and the last one is named when the session ends.
    fn failed(&mut self, what: &str) {
        self.failures += 1;
        self.last_failure = Some(what.to_owned());
    }

    /// The user is typing: tell the room or nick, at most every few seconds.
    fn typing(&mut self, target: Target) {
        let now = Instant::now();
        if self
            .last_typing_sent
            .is_some_and(|sent| now.duration_since(sent) < TYPING_EVERY)
        {
            return;
        }
        self.last_typing_sent = Some(now);
        self.queue.push_back(background(Request::Typing {
            target,
            active: true,
        }));
    }

    /// One line from the server. `Some` ends the connection.
    fn on_line(
        &mut self,
        line: &str,
        in_flight: &mut Option<(i64, Outgoing, Instant)>,
        retry_at: &mut Option<Instant>,
        registered: &mut bool,
    ) -> Option<Ending> {
        let parsed = ServerFrame::parse(line);
        // Every JSON object the server sends is shown in `--json` mode, even
        // one this client cannot read.
        if parsed != Err(BadFrame::NotAnObject) {
            self.face.update(Update::Frame(line.to_owned()));
        }
        let response = match parsed {
            Err(bad) => {
                self.face.update(Update::Error(bad.to_string()));
                return None;
            }
            Ok(ServerFrame::Event(event)) => return self.on_event(event),
            Ok(ServerFrame::Ok(ok)) => Ok(ok),
            Ok(ServerFrame::Error(error)) => Err(error),
        };
        let Some((id, outgoing, _)) = in_flight.take() else {
            self.face.update(Update::Error(
                "the server answered a request that was not sent".into(),
            ));
            return None;
        };
        let answered = match &response {
            Ok(ok) => ok.id.as_ref(),
            Err(error) => error.id.as_ref(),
        };
        if answered != Some(&RequestId::Int(id)) {
            return Some(Ending::Dropped("the server answered out of order".into()));
        }
        match response {
            Ok(ok) => {
                if matches!(outgoing.request, Request::Hello { .. }) {
                    *registered = true;
                }
                let reply = match &outgoing.request {
                    // A server that does not read `detail` lists plain nicks.
                    Request::Who { room, detail: true } => {
                        ok.clone().reply(&outgoing.request).or_else(|_| {
                            ok.reply(&Request::Who {
                                room: room.clone(),
                                detail: false,
                            })
                        })
                    }
                    request => ok.reply(request),
                };
                match reply {
                    Ok(reply) => self.on_ok(&outgoing, reply),
                    Err(bad) => {
                        self.face.update(Update::Error(format!(
                            "the server's answer is malformed: {bad}"
                        )));
                        None
                    }
                }
            }
            Err(error) => self.on_error(outgoing, error, retry_at),
        }
    }

    fn on_ok(&mut self, outgoing: &Outgoing, reply: Reply) -> Option<Ending> {
        let catching_up = outgoing.origin == Origin::CatchUp;
        match (reply, &outgoing.request) {
            (Reply::Hello(ok), _) => {
                let first = !self.registered_once;
                self.registered_once = true;
                self.nick = ok.nick.clone();
                self.face.update(if first {
                    Update::Connected {
                        server: ok.server.clone(),
                        version: ok.version.clone(),
                        nick: ok.nick.clone(),
                        motd: ok.motd.clone(),
                    }
                } else {
                    Update::Reconnected {
                        nick: ok.nick.clone(),
                    }
                });
                self.speaks_1_2 = speaks_1_2(ok.protocol.as_deref());
                if self.account_password.is_some() && ok.account.is_none() {
                    self.face.update(Update::Error(
                        "the server did not log you in: it does not know accounts \
                         (protocol 1.2)"
                            .into(),
                    ));
                }
                self.password_typed = false;
                self.account = ok.account.clone();
                self.face.update(Update::LoggedIn(ok.account.clone()));
                self.rooms.set_page_limit(ok.limits.history_max as u64);
                self.limits = Some(ok.limits);
            }
            (Reply::Join(answer), Request::Join { since, .. }) if catching_up => {
                self.face.update(Update::Rejoining {
                    room: answer.room.clone(),
                    topic: answer.topic.clone(),
                    members: answer.members.clone(),
                });
                let progress = self.rooms.rejoined(*since, answer);
                self.catch_up(progress);
            }
            (Reply::Join(answer), _) => {
                self.rooms.joined(&answer);
                let current = self.current.as_ref() != Some(&answer.room);
                if current {
                    self.current = Some(answer.room.clone());
                }
                self.face.update(Update::Joined { answer, current });
            }
            (Reply::History(answer), _) if catching_up => {
                let progress = self.rooms.page(answer);
                self.catch_up(progress);
            }
            (Reply::History(answer), Request::History { page, .. }) => {
                self.face.update(Update::History {
                    page: *page,
                    answer,
                });
            }
            (Reply::Leave(_), Request::Leave { room, .. }) => {
                self.rooms.leave(room);
                self.unconfirmed.retain(|o| !is_message_to(o, room));
                if self.current.as_ref() == Some(room) {
                    self.current = self.rooms.last().cloned();
                }
                self.face.update(Update::Left {
                    room: room.clone(),
                    current: self.current.clone(),
                });
            }
            (
                Reply::Message(ok),
                Request::Message {
                    target: Target::User(to),
                    text,
                    action,
                },
            ) => {
                if to.key() == self.nick.key() {
                    // A message to yourself arrived as an event already.
                    return None;
                }
                let echo = Message {
                    room: None,
                    to: Some(to.clone()),
                    seq: None,
                    ts: ok.ts,
                    from: self.nick.clone(),
                    text: text.clone(),
                    action: *action,
                };
                self.face.update(Update::PrivateSent(echo));
            }
            (Reply::Nick(ok), _) => {
                self.nick = ok.nick;
                self.face.update(Update::NickChanged(self.nick.clone()));
            }
            (Reply::Rooms(ok), Request::Rooms { after, limit }) => {
                self.face.update(Update::Rooms {
                    rooms: ok.rooms.clone(),
                    first: after.is_none(),
                });
                // The server lists rooms a page at a time: ask for the rest,
                // after the last one shown (names only ever go up, so a
                // server cannot keep the client asking for the same page).
                let last = ok.rooms.last().map(|room| &room.room);
                if ok.more && last.is_some_and(|last| after.as_ref().is_none_or(|a| last > a)) {
                    self.queue.push_front(Outgoing {
                        request: Request::Rooms {
                            after: last.cloned(),
                            limit: *limit,
                        },
                        origin: outgoing.origin,
                        retries: 0,
                    });
                }
            }
            (Reply::Who(ok), _) => {
                let members = ok
                    .members
                    .into_iter()
                    .map(|nick| MemberDetail {
                        nick,
                        account: None,
                        role: None,
                    })
                    .collect();
                self.face.update(Update::Who {
                    room: ok.room,
                    members,
                });
            }
            (Reply::WhoDetail(ok), _) => {
                self.face.update(Update::Who {
                    room: ok.room,
                    members: ok.members,
                });
            }
            (reply, Request::Extended(request)) => self.on_extended(reply, request),
            // Room messages, typing, topics, pings and quit: their events (or
            // nothing) say it all.
            _ => {}
        }
        None
    }

    /// Carries out a step of a room's catch-up: says when its numbering
    /// restarted, shows what is new, asks for what comes next, and when it is
    /// over, says how it went and resends what the catch-up shows never
    /// arrived.
    fn catch_up(&mut self, progress: Progress) {
        if let Some(room) = progress.restarted {
            self.face.update(Update::Restarted(room));
        }
        for item in &progress.show {
            if let (Some(room), ServerEvent::Known(Event::Message(message))) = (item.room(), item) {
                if message.from.key() == self.nick.key() {
                    // One of ours that got through before the drop: not to be
                    // resent.
                    if let Some(at) = self
                        .unconfirmed
                        .iter()
                        .position(|o| same_message(o, &room, message))
                    {
                        self.unconfirmed.remove(at);
                    }
                }
            }
            self.face.update(Update::Event(item.clone()));
        }
        if let Some(next) = progress.next {
            self.queue.push_front(Outgoing {
                request: next,
                origin: Origin::CatchUp,
                retries: 0,
            });
        }
        if let Some(summary) = progress.done {
            let room = summary.room.clone();
            self.face.update(Update::Rejoined(summary));
            // What is still unconfirmed never reached the room.
            let (resend, keep): (Vec<_>, Vec<_>) = self
                .unconfirmed
                .drain(..)
                .partition(|o| is_message_to(o, &room));
            self.unconfirmed = keep;
            for outgoing in resend.into_iter().rev() {
                self.face.update(Update::Resending);
                self.queue.push_front(outgoing);
            }
        }
    }

    fn on_error(
        &mut self,
        mut outgoing: Outgoing,
        error: ErrorFrame,
        retry_at: &mut Option<Instant>,
    ) -> Option<Ending> {
        let text = format!("{} ({})", error.message, error.code.as_str());
        let code = error.code.known();
        if code == Some(ErrorCode::RateLimited) && outgoing.retries < RATE_LIMIT_RETRIES {
            // Wait for the server's bucket to refill, then try the same request.
            let wait = Duration::from_millis(250) * 2u32.pow(outgoing.retries);
            outgoing.retries += 1;
            self.queue.push_front(outgoing);
            *retry_at = Some(Instant::now() + wait);
            return None;
        }
        match (&outgoing.request, outgoing.origin) {
            (Request::Hello { .. }, _)
                if self.registered_once && code == Some(ErrorCode::NickInUse) =>
            {
                // The old connection may not be gone yet on the server's side:
                // wait for it rather than take another nick.
                return Some(Ending::Dropped(format!(
                    "{} is still held by the old connection",
                    self.nick
                )));
            }
            (Request::Hello { .. }, _)
                if self.options.interactive
                    && self.password_typed
                    && matches!(code, Some(ErrorCode::AuthFailed | ErrorCode::AuthThrottled)) =>
            {
                // A mistyped `/login`: the server closes the connection, so
                // connect again without the password and ask anew.
                self.account_password = None;
                self.password_typed = false;
                let error = format!("the server refused the password for {}: {text}", self.nick);
                self.face.update(Update::Error(render::clean(&error)));
                return Some(Ending::Dropped("the password was refused".into()));
            }
            (Request::Hello { nick, .. }, _)
                if self.options.interactive
                    && matches!(
                        code,
                        Some(ErrorCode::NickRegistered | ErrorCode::NotPermitted)
                    ) =>
            {
                // The connection stays: the user may log in or pick
                // another nick.
                self.needs_login = true;
                let refusal = (code != Some(ErrorCode::NickRegistered)).then_some(error.message);
                self.refusal = refusal.clone();
                self.face.update(Update::NeedsLogin {
                    nick: nick.clone(),
                    refusal,
                });
                return None;
            }
            (Request::Hello { .. }, _) => {
                return Some(Ending::Fatal(ClientError::Refused(format!(
                    "the server refused {}: {}",
                    self.nick,
                    render::clean(&text)
                ))));
            }
            (_, Origin::Background) => {}
            (Request::History { room, .. }, Origin::CatchUp)
                if code == Some(ErrorCode::EpochChanged) =>
            {
                // Pages of two numberings must not be spliced.
                let progress = self.rooms.epoch_changed(room);
                self.catch_up(progress);
            }
            (Request::Join { room, .. }, Origin::CatchUp)
            | (Request::History { room, .. }, Origin::CatchUp) => {
                let error = format!("could not rejoin #{room}: {text}");
                self.failed(&error);
                self.face.update(Update::Error(error));
                let room = room.clone();
                self.removed(room);
            }
            (request, _) => {
                self.failed(&text);
                if matches!(request, Request::Message { .. }) {
                    self.face.update(not_sent(request, text.clone()));
                }
                self.face.update(Update::Error(text));
            }
        }
        None
    }

    fn on_event(&mut self, event: ServerEvent) -> Option<Ending> {
        if let (Some(room), Some(seq)) = (event.room(), event.seq()) {
            self.last_event = Some((room, seq));
        }
        if let Some(room) = removes_me(&event, &self.nick, self.account.as_ref())
            .filter(|room| self.rooms.contains(room))
        {
            // Shown at once, even while the room catches up: the room is
            // left, and its catch-up with it.
            self.face.update(Update::Event(event));
            self.removed(room);
            return None;
        }
        // A room catching up holds its live messages until the catch-up ends.
        let event = self.rooms.live(event)?;
        match &event {
            ServerEvent::Known(Event::Typing {
                room, nick, active, ..
            }) => {
                if nick.key() != self.nick.key() {
                    self.face.update(Update::Typing {
                        room: room.clone(),
                        nick: nick.clone(),
                        active: *active,
                    });
                }
            }
            ServerEvent::Known(Event::Ping) => self.queue.push_back(background(Request::Ping)),
            ServerEvent::Known(Event::Bye { reason }) => {
                return Some(match ByeReason::from_wire(reason) {
                    Some(ByeReason::Quit) if self.relogin => Ending::Relogin,
                    Some(ByeReason::Quit) => Ending::Done,
                    Some(ByeReason::AuthFailed) => Ending::Fatal(ClientError::Refused(
                        "the server refused the password (auth failed)".into(),
                    )),
                    _ => Ending::Dropped(format!(
                        "the server said goodbye: {}",
                        render::clean(reason)
                    )),
                });
            }
            _ => self.face.update(Update::Event(event)),
        }
        None
    }
}

fn user(request: Request) -> Outgoing {
    Outgoing {
        request,
        origin: Origin::User,
        retries: 0,
    }
}

fn background(request: Request) -> Outgoing {
    Outgoing {
        request,
        origin: Origin::Background,
        retries: 0,
    }
}

/// The update saying a message request did not get through.
fn not_sent(request: &Request, reason: String) -> Update {
    match request {
        Request::Message {
            target,
            text,
            action,
        } => Update::NotSent {
            target: target.clone(),
            text: text.clone(),
            action: *action,
            reason,
        },
        _ => Update::Error(reason),
    }
}

fn is_message_to(outgoing: &Outgoing, room: &RoomName) -> bool {
    matches!(&outgoing.request, Request::Message { target: Target::Room(r), .. } if r == room)
}

fn same_message(outgoing: &Outgoing, room: &RoomName, message: &Message) -> bool {
    matches!(&outgoing.request,
        Request::Message { target: Target::Room(r), text, action }
            if r == room && *text == message.text && *action == message.action)
}

/// Whether a line is one of those taken while `hello` waits for the user
/// (`/login`, `/nick`, `/quit`, `/help`): the rest would all be refused.
fn settles_the_nick(line: &str) -> bool {
    let word = line.split_whitespace().next().unwrap_or("");
    ["/login", "/nick", "/quit", "/exit", "/help", "/?"]
        .iter()
        .any(|command| word.eq_ignore_ascii_case(command))
        || line.trim().is_empty()
}

/// Whether a `hello` answer's protocol version is 1.2 or later.
fn speaks_1_2(protocol: Option<&str>) -> bool {
    let Some((major, minor)) = protocol.and_then(|p| p.split_once('.')) else {
        return false;
    };
    match (major.parse::<u32>(), minor.parse::<u32>()) {
        (Ok(major), Ok(minor)) => (major, minor) >= (1, 2),
        _ => false,
    }
}

/// The room a live event puts the user out of: a kick of the user's nick,
/// or a ban of its account or nick. (A nick ban of a logged-in user's nick
/// is an account ban by the time it is an event.)
fn removes_me(event: &ServerEvent, nick: &Nick, account: Option<&Nick>) -> Option<RoomName> {
    let me = |name: &Nick| {
        name.key() == nick.key() || account.is_some_and(|account| account.key() == name.key())
    };
    match event {
        ServerEvent::Known(Event::Kick { action, nick, .. }) if me(nick) => {
            Some(action.room.clone())
        }
        ServerEvent::Known(Event::Ban(ban))
            if ban.account.as_ref().is_some_and(me) || ban.nick.as_ref().is_some_and(me) =>
        {
            Some(ban.action.room.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frames::{RoomAction, Sanction};

    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn action() -> RoomAction {
        RoomAction {
            room: RoomName::parse("ops").unwrap(),
            seq: 4,
            ts: "t".into(),
            by: nick("carol"),
        }
    }

    fn ban(account: Option<&str>, nick_name: Option<&str>) -> ServerEvent {
        ServerEvent::Known(Event::Ban(Sanction {
            action: action(),
            account: account.map(nick),
            nick: nick_name.map(nick),
            reason: None,
            until: None,
        }))
    }

    #[test]
    fn a_kick_or_ban_of_the_user_puts_it_out_of_the_room() {
        let ops = Some(RoomName::parse("ops").unwrap());
        let kick = |name: &str| {
            ServerEvent::Known(Event::Kick {
                action: action(),
                nick: nick(name),
                reason: None,
            })
        };
        let alice = nick("Alice");
        assert_eq!(removes_me(&kick("alice"), &alice, None), ops);
        assert_eq!(removes_me(&kick("bob"), &alice, None), None);
        assert_eq!(
            removes_me(&ban(Some("ALICE"), None), &alice, Some(&alice)),
            ops
        );
        assert_eq!(removes_me(&ban(None, Some("alice")), &alice, None), ops);
        assert_eq!(
            removes_me(&ban(Some("bob"), None), &alice, Some(&alice)),
            None
        );
        let mute = ServerEvent::Known(Event::Mute(Sanction {
            action: action(),
            account: Some(nick("alice")),
            nick: None,
            reason: None,
            until: None,
        }));
        assert_eq!(removes_me(&mute, &alice, Some(&alice)), None);
    }

    #[test]
    fn only_lines_that_settle_the_nick_are_taken_before_registration() {
        for line in [
            "/login pw",
            "/LOGIN",
            "/nick other",
            "/quit",
            "/exit bye",
            "/help",
            "",
        ] {
            assert!(settles_the_nick(line), "{line:?}");
        }
        for line in ["/join ops", "hello", "/who", "/login2 x", "//login x"] {
            assert!(!settles_the_nick(line), "{line:?}");
        }
    }

    #[test]
    fn detail_is_asked_of_servers_of_1_2_and_later() {
        assert!(!speaks_1_2(None));
        assert!(!speaks_1_2(Some("1.1")));
        assert!(speaks_1_2(Some("1.2")));
        assert!(speaks_1_2(Some("1.10")));
        assert!(speaks_1_2(Some("2.0")));
        assert!(!speaks_1_2(Some("two")));
    }
}
