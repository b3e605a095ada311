//! The conversation: registering, joining, turning input into requests and
//! frames into output, and reconnecting without losing messages.
//!
//! Requests go out one at a time, each waiting for its response: the protocol
//! answers in order anyway, this keeps a `rate_limited` request retriable in its
//! place, and it lets a dropped connection know exactly which request was left
//! unanswered. After a drop the client reconnects with backoff, registers under
//! the same nick, and rejoins every room from the last `seq` it showed there, in
//! that seq's epoch; `core::rooms` decides the catch-up, this module carries it
//! out.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, Instant};

use crate::protocol::error::ErrorCode;
use crate::protocol::frames::{AdvertisedLimits, ByeReason, Event, Message};
use crate::protocol::incoming::{BadFrame, ErrorFrame, Reply, ServerEvent, ServerFrame};
use crate::protocol::names::{Nick, RoomName};
use crate::protocol::request::{HistoryPage, Request, RequestId, Target};

use super::backoff::Backoff;
use super::commands::{self, Action, Context, HELP};
use super::connection::Connection;
use super::core::rooms::{Progress, Rooms};
use super::error::ClientError;
use super::input::InputEvent;
use super::render::{self, clean, clean_text};
use super::screen::Screen;
use super::settings::ClientSettings;
use super::terminal;
use super::trust::{Asker, KnownHosts, Trust};

/// Typing notices go out at most this often while the user types.
const TYPING_EVERY: Duration = Duration::from_secs(3);
/// Another user's typing is shown at most this often.
const TYPING_SHOWN_EVERY: Duration = Duration::from_secs(10);
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
}

/// Where the user's input comes from.
pub enum Input {
    Ready(mpsc::Receiver<InputEvent>),
    /// The interactive line editor, started once the first connection is
    /// trusted (the trust question needs the terminal before the editor).
    Terminal,
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

/// How one connection ended.
enum Ending {
    /// The user quit, or input ended and everything was answered.
    Done,
    /// The connection dropped; reconnecting may help.
    Dropped(String),
    /// Reconnecting will not help.
    Fatal(ClientError),
}

/// The conversation's state, which outlives any one connection.
pub struct Chat {
    options: Options,
    screen: Screen,
    trust: Trust,
    known_hosts: KnownHosts,
    nick: Nick,
    limits: Option<AdvertisedLimits>,
    rooms: Rooms,
    current: Option<RoomName>,
    queue: VecDeque<Outgoing>,
    /// User lines not yet read: each is parsed only when its turn comes, so it
    /// sees the state the lines before it made (the room a `/join` entered).
    lines: VecDeque<String>,
    /// Requests that got an error (or were lost): the exit status.
    failures: u32,
    next_id: i64,
    input_done: bool,
    registered_once: bool,
    /// Room messages in flight when a connection dropped: resent after the
    /// catch-up unless the catch-up shows they got through.
    unconfirmed: Vec<Outgoing>,
    last_typing_sent: Option<Instant>,
    typing_shown: HashMap<String, Instant>,
}

impl Chat {
    pub fn new(options: Options, screen: Screen) -> Result<Chat, ClientError> {
        let settings = &options.settings;
        let nick = settings
            .nick
            .clone()
            .ok_or_else(|| ClientError::Usage("a nick is needed".into()))?;
        let trust = Trust::new(&settings.trust)?;
        let known_hosts = KnownHosts::new(settings.known_hosts.clone());
        let history = options.one_shot.then_some(0);
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
            screen,
            trust,
            known_hosts,
            nick,
            limits: None,
            rooms: Rooms::new(),
            current: None,
            queue,
            lines: VecDeque::new(),
            failures: 0,
            next_id: 0,
            input_done: false,
            registered_once: false,
            unconfirmed: Vec::new(),
            last_typing_sent: None,
            typing_shown: HashMap::new(),
        })
    }

    /// Runs the conversation to its end. `Ok(true)` when every request succeeded.
    pub async fn run(
        mut self,
        input: Input,
        mut ask: Option<&mut dyn Asker>,
    ) -> Result<bool, ClientError> {
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
                    Some(Input::Terminal) => {
                        let terminal = terminal::start()?;
                        self.screen.redirect(terminal.out, terminal.err);
                        input = terminal.input;
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
                            return Ok(self.failures == 0);
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
            self.screen.status(&format!(
                "connection lost ({reason}); reconnecting in {:.1}s",
                delay.as_secs_f64()
            ));
            if self.wait_for_reconnect(delay, &mut input).await {
                return Ok(self.failures == 0);
            }
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
                        InputEvent::Line(line) => {
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
        self.queue.push_front(Outgoing {
            request: Request::Hello {
                nick: self.nick.clone(),
                password: self.options.settings.password.clone(),
                client: Some(format!("confab/{}", env!("CARGO_PKG_VERSION"))),
            },
            origin: Origin::Setup,
            retries: 0,
        });
    }

    /// What to do with the request a dropped connection left unanswered.
    fn dropped(&mut self, reason: String, in_flight: Option<(i64, Outgoing, Instant)>) -> Ending {
        if let Some((_, outgoing, _)) = in_flight {
            match (&outgoing.request, outgoing.origin) {
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
                    self.failures += 1;
                    self.screen.error(&format!(
                        "the connection dropped before the server confirmed your private \
                         message to {to}; it may not have been delivered: {text}"
                    ));
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
            InputEvent::Typing => self.typing(),
            InputEvent::Line(line) => self.lines.push_back(line),
        }
    }

    /// The next request to send: queued requests first, then the user's lines
    /// in order, carrying out local commands on the way.
    fn next_outgoing(&mut self) -> Option<Outgoing> {
        loop {
            if let Some(next) = self.queue.pop_front() {
                return Some(next);
            }
            let line = self.lines.pop_front()?;
            let joined = self.rooms.names();
            let context = Context {
                current: self.current.as_ref(),
                joined: &joined,
                max_text_bytes: self
                    .limits
                    .as_ref()
                    .map_or(usize::MAX, |l| l.max_text_bytes),
            };
            match commands::parse(&line, &context) {
                Ok(Action::Send(request)) => {
                    if matches!(request, Request::Quit { .. }) {
                        // Nothing typed after `/quit` is read.
                        self.input_done = true;
                        self.lines.clear();
                    }
                    return Some(user(request));
                }
                Ok(Action::Switch(room)) => {
                    self.screen.status(&format!("now talking in #{room}"));
                    self.current = Some(room);
                }
                Ok(Action::Help) => {
                    for line in HELP {
                        self.screen.status(line);
                    }
                }
                Ok(Action::Nothing) => {}
                Err(hint) => {
                    self.screen.error(&hint);
                    // A script asked for something that did not happen.
                    if !self.options.interactive {
                        self.failures += 1;
                    }
                }
            }
        }
    }

    /// The user is typing: tell the current room, at most every few seconds.
    fn typing(&mut self) {
        let Some(room) = self.current.clone() else {
            return;
        };
        let now = Instant::now();
        if self
            .last_typing_sent
            .is_some_and(|sent| now.duration_since(sent) < TYPING_EVERY)
        {
            return;
        }
        self.last_typing_sent = Some(now);
        self.queue.push_back(background(Request::Typing {
            target: Target::Room(room),
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
            self.screen.frame(line);
        }
        let response = match parsed {
            Err(bad) => {
                self.screen.error(&bad.to_string());
                return None;
            }
            Ok(ServerFrame::Event(event)) => return self.on_event(event),
            Ok(ServerFrame::Ok(ok)) => Ok(ok),
            Ok(ServerFrame::Error(error)) => Err(error),
        };
        let Some((id, outgoing, _)) = in_flight.take() else {
            self.screen
                .error("the server answered a request that was not sent");
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
                match ok.reply(&outgoing.request) {
                    Ok(reply) => self.on_ok(&outgoing, reply),
                    Err(bad) => {
                        self.screen
                            .error(&format!("the server's answer is malformed: {bad}"));
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
                let nick = clean(ok.nick.as_str());
                if first {
                    self.screen.line(self.screen.renderer.notice(&format!(
                        "connected to {} (confab {}) as {nick}",
                        clean(&ok.server),
                        clean(&ok.version),
                    )));
                    if let Some(motd) = &ok.motd {
                        for line in clean_text(motd, true).lines() {
                            self.screen.line(self.screen.renderer.notice(line));
                        }
                    }
                } else {
                    self.screen.status(&format!("reconnected as {nick}"));
                }
                self.rooms.set_page_limit(ok.limits.history_max as u64);
                self.limits = Some(ok.limits);
            }
            (Reply::Join(answer), Request::Join { since, .. }) if catching_up => {
                let progress = self.rooms.rejoined(*since, answer);
                self.catch_up(progress);
            }
            (Reply::Join(answer), _) => {
                let renderer = self.screen.renderer;
                self.screen
                    .line(renderer.joined(&answer.room, &answer.topic, &answer.members));
                self.rooms.joined(&answer);
                for item in &answer.history {
                    self.show(item);
                }
                if self.current.as_ref() != Some(&answer.room) {
                    if self.options.interactive {
                        self.screen
                            .status(&format!("now talking in #{}", clean(answer.room.as_str())));
                    }
                    self.current = Some(answer.room);
                }
            }
            (Reply::History(answer), _) if catching_up => {
                let progress = self.rooms.page(answer);
                self.catch_up(progress);
            }
            (Reply::History(answer), Request::History { room, page, .. }) => {
                if answer.messages.is_empty() {
                    self.screen.line(
                        self.screen
                            .renderer
                            .notice(&format!("no messages in #{room}")),
                    );
                }
                for item in &answer.messages {
                    self.show(item);
                }
                if answer.more && *page == HistoryPage::Newest && !answer.messages.is_empty() {
                    self.screen
                        .line(self.screen.renderer.notice("older messages exist"));
                }
            }
            (Reply::Leave(_), Request::Leave { room, .. }) => {
                self.rooms.leave(room);
                self.unconfirmed.retain(|o| !is_message_to(o, room));
                if self.current.as_ref() == Some(room) {
                    self.current = self.rooms.last().cloned();
                }
                let note = match &self.current {
                    Some(now) => format!("left #{room}; now talking in #{}", clean(now.as_str())),
                    None => format!("left #{room}"),
                };
                self.screen.line(self.screen.renderer.notice(&note));
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
                let line = self.screen.renderer.message(&echo, &self.nick);
                self.screen.line(line);
            }
            (Reply::Nick(ok), _) => {
                self.nick = ok.nick;
                let note = format!("you are now {}", clean(self.nick.as_str()));
                self.screen.line(self.screen.renderer.notice(&note));
            }
            (Reply::Rooms(ok), Request::Rooms { after, limit }) => {
                // A later page that came back empty (rooms went meanwhile)
                // is not "no rooms".
                if after.is_none() || !ok.rooms.is_empty() {
                    for line in self.screen.renderer.rooms(&ok.rooms) {
                        self.screen.line(line);
                    }
                }
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
                let line = self.screen.renderer.members(&ok.room, &ok.members);
                self.screen.line(line);
            }
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
        if let Some(room) = &progress.restarted {
            self.screen.status(&render::restarted(room));
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
            self.show(item);
        }
        if let Some(next) = progress.next {
            self.queue.push_front(Outgoing {
                request: next,
                origin: Origin::CatchUp,
                retries: 0,
            });
        }
        if let Some(summary) = progress.done {
            self.screen.status(&render::rejoined(&summary));
            // What is still unconfirmed never reached the room.
            let (resend, keep): (Vec<_>, Vec<_>) = self
                .unconfirmed
                .drain(..)
                .partition(|o| is_message_to(o, &summary.room));
            self.unconfirmed = keep;
            for outgoing in resend.into_iter().rev() {
                self.screen
                    .status("resending a message the server never stored");
                self.queue.push_front(outgoing);
            }
        }
    }

    /// Prints a room or private event, a history item among them.
    fn show(&mut self, event: &ServerEvent) {
        if let Some(line) = self.screen.renderer.item(event, &self.nick) {
            self.screen.line(line);
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
            (Request::Hello { .. }, _) => {
                return Some(Ending::Fatal(ClientError::Refused(format!(
                    "the server refused {}: {}",
                    self.nick,
                    clean(&text)
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
                self.failures += 1;
                self.screen
                    .error(&format!("could not rejoin #{room}: {text}"));
                let room = room.clone();
                self.rooms.leave(&room);
                if self.current.as_ref() == Some(&room) {
                    self.current = self.rooms.last().cloned();
                }
            }
            _ => {
                self.failures += 1;
                self.screen.error(&text);
            }
        }
        None
    }

    fn on_event(&mut self, event: ServerEvent) -> Option<Ending> {
        // A room catching up holds its live messages until the catch-up ends.
        let event = self.rooms.live(event)?;
        match &event {
            ServerEvent::Known(Event::Message(message)) => {
                self.typing_shown.remove(message.from.key().as_str());
                self.show(&event);
            }
            ServerEvent::Known(Event::Typing {
                room,
                to,
                nick,
                active,
            }) => {
                if self.options.interactive && *active && nick.key() != self.nick.key() {
                    let now = Instant::now();
                    let recently = self
                        .typing_shown
                        .get(nick.key().as_str())
                        .is_some_and(|at| now.duration_since(*at) < TYPING_SHOWN_EVERY);
                    if !recently {
                        self.typing_shown.insert(nick.key(), now);
                        let place = match (room, to) {
                            (Some(room), _) => format!(" in #{}", clean(room.as_str())),
                            _ => " (private)".to_owned(),
                        };
                        self.screen
                            .status(&format!("{} is typing{place}…", clean(nick.as_str())));
                    }
                }
            }
            ServerEvent::Known(Event::Ping) => self.queue.push_back(background(Request::Ping)),
            ServerEvent::Known(Event::Bye { reason }) => {
                return Some(match ByeReason::from_wire(reason) {
                    Some(ByeReason::Quit) => Ending::Done,
                    Some(ByeReason::AuthFailed) => Ending::Fatal(ClientError::Refused(
                        "the server refused the password (auth failed)".into(),
                    )),
                    _ => Ending::Dropped(format!("the server said goodbye: {}", clean(reason))),
                });
            }
            _ => self.show(&event),
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

fn is_message_to(outgoing: &Outgoing, room: &RoomName) -> bool {
    matches!(&outgoing.request, Request::Message { target: Target::Room(r), .. } if r == room)
}

fn same_message(outgoing: &Outgoing, room: &RoomName, message: &Message) -> bool {
    matches!(&outgoing.request,
        Request::Message { target: Target::Room(r), text, action }
            if r == room && *text == message.text && *action == message.action)
}
