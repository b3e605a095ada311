//! The line face: line mode at a terminal (`--line`), scripts, `--json` and
//! one-shot sends. Each update from the conversation becomes the readable
//! lines (or the JSON frames) these modes have always printed, through the
//! [`Screen`] that sends them to stdout, stderr or the line editor.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::protocol::frames::Event;
use crate::protocol::incoming::ServerEvent;
use crate::protocol::names::Nick;
use crate::protocol::request::HistoryPage;

use super::commands::HELP;
use super::core::update::{Face, Update};
use super::render::{self, clean, clean_text};
use super::screen::Screen;

/// Another user's typing is shown at most this often.
const TYPING_SHOWN_EVERY: Duration = Duration::from_secs(10);

/// Prints updates as lines.
pub struct LineFace {
    screen: Screen,
    /// Only a person at a terminal hears about typing and the current room.
    interactive: bool,
    /// The user's nick, which tells private messages to and from apart.
    me: Option<Nick>,
    /// The account last said to be logged in to, so a reconnect that logs in
    /// to the same one says nothing new.
    account: Option<Nick>,
    typing_shown: HashMap<String, Instant>,
}

impl LineFace {
    pub fn new(screen: Screen, interactive: bool) -> LineFace {
        LineFace {
            screen,
            interactive,
            me: None,
            account: None,
            typing_shown: HashMap::new(),
        }
    }

    fn notice(&mut self, text: &str) {
        let line = self.screen.renderer.notice(text);
        self.screen.line(line);
    }

    /// Prints a room or private event, a history item among them.
    fn show(&mut self, event: &ServerEvent) {
        if let ServerEvent::Known(Event::Message(message)) = event {
            self.typing_shown.remove(message.from.key().as_str());
        }
        let me = self
            .me
            .clone()
            .unwrap_or_else(|| Nick::parse("me").expect("a valid nick"));
        if let Some(line) = self.screen.renderer.item(event, &me) {
            self.screen.line(line);
        }
    }

    fn typing(&mut self, room: Option<&crate::protocol::names::RoomName>, nick: &Nick) {
        let now = Instant::now();
        let recently = self
            .typing_shown
            .get(nick.key().as_str())
            .is_some_and(|at| now.duration_since(*at) < TYPING_SHOWN_EVERY);
        if recently {
            return;
        }
        self.typing_shown.insert(nick.key(), now);
        let place = match room {
            Some(room) => format!(" in #{}", clean(room.as_str())),
            None => " (private)".to_owned(),
        };
        self.screen
            .status(&format!("{} is typing{place}…", clean(nick.as_str())));
    }
}

impl Face for LineFace {
    fn update(&mut self, update: Update) {
        match update {
            Update::Connected {
                server,
                version,
                nick,
                motd,
            } => {
                let text = render::connected(&server, &version, &nick);
                self.me = Some(nick);
                self.notice(&text);
                if let Some(motd) = motd {
                    for line in clean_text(&motd, true).lines() {
                        self.notice(line);
                    }
                }
            }
            Update::Reconnected { nick } => {
                self.screen
                    .status(&format!("reconnected as {}", clean(nick.as_str())));
                self.me = Some(nick);
            }
            Update::LoggedIn(account) => {
                if account != self.account {
                    // Not logged in at the start of a session is the usual
                    // case: said only when it changes.
                    if account.is_some() || self.account.is_some() {
                        self.notice(&render::logged_in(account.as_ref()));
                    }
                    self.account = account;
                }
            }
            Update::NeedsLogin { nick, refusal } => self
                .screen
                .error(&render::needs_login(&nick, refusal.as_deref())),
            Update::Removed { room, current } => {
                let mut note = render::removed(&room);
                if let Some(now) = current {
                    note.push_str(&format!("; now talking in #{}", clean(now.as_str())));
                }
                self.notice(&note);
            }
            Update::Done(done) => self.notice(&render::done(&done)),
            Update::Reconnecting { reason, delay } => {
                self.screen.status(&render::connection_lost(&reason, delay))
            }
            Update::Joined { answer, current } => {
                let line =
                    self.screen
                        .renderer
                        .joined(&answer.room, &answer.topic, &answer.members);
                self.screen.line(line);
                for item in &answer.history {
                    self.show(item);
                }
                if current && self.interactive {
                    self.screen
                        .status(&format!("now talking in #{}", clean(answer.room.as_str())));
                }
            }
            Update::Left { room, current } => {
                let note = match current {
                    Some(now) => format!("left #{room}; now talking in #{}", clean(now.as_str())),
                    None => format!("left #{room}"),
                };
                self.notice(&note);
            }
            Update::Switched(room) => self.screen.status(&format!("now talking in #{room}")),
            Update::Event(event) => self.show(&event),
            Update::Typing { room, nick, active } => {
                if self.interactive && active {
                    self.typing(room.as_ref(), &nick);
                }
            }
            Update::History { page, answer } => {
                if answer.messages.is_empty() {
                    self.notice(&render::no_messages(&answer.room));
                }
                for item in &answer.messages {
                    self.show(item);
                }
                if answer.more && page == HistoryPage::Newest && !answer.messages.is_empty() {
                    self.notice("older messages exist");
                }
            }
            Update::PrivateSent(message) => {
                self.show(&ServerEvent::Known(Event::Message(message)));
            }
            Update::NickChanged(nick) => {
                self.notice(&format!("you are now {}", clean(nick.as_str())));
                self.me = Some(nick);
            }
            Update::Rooms { rooms, first } => {
                // A later page that came back empty (rooms went meanwhile)
                // is not "no rooms".
                if first || !rooms.is_empty() {
                    for line in self.screen.renderer.rooms(&rooms) {
                        self.screen.line(line);
                    }
                }
            }
            Update::Who { room, members } => {
                let line = self.screen.renderer.members(&room, &members);
                self.screen.line(line);
            }
            Update::Topic { room, topic } => self.notice(&render::topic(&room, &topic)),
            Update::Help => {
                for line in HELP {
                    self.screen.status(line);
                }
            }
            Update::Restarted(room) => self.screen.status(&render::restarted(&room)),
            Update::Rejoined(summary) => self.screen.status(&render::rejoined(&summary)),
            Update::Resending => self
                .screen
                .status("resending a message the server never stored"),
            Update::Status(text) => self.screen.status(&text),
            Update::Error(text) => self.screen.error(&text),
            Update::Frame(line) => self.screen.frame(&line),
            // Line mode shows an own message once the server has it, and a
            // refusal as the error that comes with it.
            // The catch-up's own lines say what a rejoin changed.
            Update::Pending { .. }
            | Update::NotSent { .. }
            | Update::Queued(_)
            | Update::Rejoining { .. } => {}
        }
    }
}
