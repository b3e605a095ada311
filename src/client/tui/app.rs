//! The full-screen interface's own state and keys: the input line, completion,
//! scrolling, folded messages and the paste question. A key becomes an edit,
//! a move between buffers, or input for the conversation (`InputEvent`); the
//! buffers themselves belong to the core. No drawing and no I/O here, so every
//! key is unit-tested.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::client::core::buffers::{BufferKey, Buffers, Close};
use crate::client::core::update::Update;
use crate::client::input::InputEvent;
use crate::protocol::names::Nick;
use crate::protocol::request::Target;

use super::complete::{Candidates, Completer};
use super::draw::Drawn;
use super::editor::Editor;

/// A paste of more lines than this asks before it is sent as many messages.
const PASTE_ASKS_FROM: usize = 2;

/// Commands Tab completes, the local ones of this interface included.
const COMMANDS: &[&str] = &[
    "/join",
    "/leave",
    "/switch",
    "/msg",
    "/query",
    "/close",
    "/me",
    "/nick",
    "/topic",
    "/who",
    "/rooms",
    "/history",
    "/quit",
    "/help",
    "/register",
    "/login",
    "/password",
    "/unregister",
    "/claim",
    "/op",
    "/voice",
    "/owner",
    "/deop",
    "/devoice",
    "/kick",
    "/ban",
    "/unban",
    "/mute",
    "/unmute",
    "/invite",
    "/flags",
    "/kill",
    "/suspend",
    "/unsuspend",
];

/// What `/help` adds to the command list here: this interface's own
/// commands and keys.
pub const KEYS_HELP: &[&str] = &[
    "/query NICK [TEXT]       open a private buffer with NICK (and say TEXT there)",
    "/close                   close this private buffer, or leave this room",
    "Alt-1..9                 go to buffer 1..9; Alt-Left/Right, Ctrl-P/N: previous/next",
    "Alt-A                    next buffer with activity, mentions first",
    "PgUp/PgDn                scroll; PgUp at the top fetches older messages",
    "Tab                      complete a nick, #room or /command (again: the next match)",
    "Up/Down                  recall input; Alt-Enter: a new line in the message",
    "Ctrl-C                   clear the input line; Ctrl-D on an empty line: quit",
    "Ctrl-O                   show folded messages whole; Ctrl-L: redraw",
];

/// The interface's state besides the buffers.
#[derive(Default)]
pub struct App {
    pub editor: Editor,
    completer: Completer,
    /// Rows scrolled up from the newest in the focused buffer.
    pub scroll: usize,
    /// Folded messages shown whole (Ctrl-O).
    pub expanded: bool,
    /// Pasted lines waiting for a yes or no.
    pub confirm_paste: Option<Vec<String>>,
    /// What the last drawing found out (page size, how far up scrolling goes).
    drawn: Drawn,
    /// The screen must be cleared and drawn anew (Ctrl-L).
    pub clear: bool,
}

impl App {
    pub fn new() -> App {
        App::default()
    }

    /// A key press; returns what to hand the conversation.
    pub fn key(&mut self, key: KeyEvent, buffers: &mut Buffers) -> Vec<InputEvent> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if key.code != KeyCode::Tab {
            self.completer.reset();
        }
        if self.confirm_paste.is_some() {
            return self.answer_paste(key, buffers);
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char(digit @ '1'..='9') if alt => {
                let index = digit as usize - '1' as usize;
                if index < buffers.buffers().len() {
                    self.moved(buffers.focus(index));
                }
            }
            KeyCode::Left if alt => self.moved(buffers.focus_prev()),
            KeyCode::Right if alt => self.moved(buffers.focus_next()),
            KeyCode::Char('p') if ctrl => self.moved(buffers.focus_prev()),
            KeyCode::Char('n') if ctrl => self.moved(buffers.focus_next()),
            KeyCode::Char('a') if alt => self.moved(buffers.focus_active()),
            KeyCode::Enter if alt => self.editor.newline(),
            KeyCode::Enter => return self.submit(buffers),
            KeyCode::Char('c') if ctrl => self.editor.clear(),
            KeyCode::Char('d') if ctrl => {
                if self.editor.is_empty() {
                    return vec![InputEvent::Line("/quit".into())];
                }
                self.editor.delete();
            }
            KeyCode::Char('o') if ctrl => self.expanded = !self.expanded,
            KeyCode::Char('l') if ctrl => self.clear = true,
            KeyCode::Char('a') if ctrl => self.editor.home(),
            KeyCode::Char('e') if ctrl => self.editor.end(),
            KeyCode::Char('w') if ctrl => self.editor.kill_word_before(),
            KeyCode::Char('u') if ctrl => self.editor.kill_to_start(),
            KeyCode::Char('k') if ctrl => self.editor.kill_to_end(),
            KeyCode::Char('b') if alt => self.editor.word_left(),
            KeyCode::Char('f') if alt => self.editor.word_right(),
            KeyCode::Left if ctrl => self.editor.word_left(),
            KeyCode::Right if ctrl => self.editor.word_right(),
            KeyCode::Char(c) if !ctrl && !alt => {
                self.editor.insert(c);
                return typing(&self.editor, buffers);
            }
            KeyCode::Backspace => self.editor.backspace(),
            KeyCode::Delete => self.editor.delete(),
            KeyCode::Left => self.editor.left(),
            KeyCode::Right => self.editor.right(),
            KeyCode::Home => self.editor.home(),
            KeyCode::End => self.editor.end(),
            KeyCode::Up => self.editor.up(),
            KeyCode::Down => self.editor.down(),
            KeyCode::PageUp => {
                let step = self.drawn.page_rows.saturating_sub(1).max(1);
                self.scroll = (self.scroll + step).min(self.drawn.max_scroll);
                // Asking for older messages waits for the drawing that shows
                // the top (`drawn`).
                if self.drawn.max_scroll == 0 || self.scroll == self.drawn.max_scroll {
                    return older(buffers);
                }
            }
            KeyCode::PageDown => {
                let step = self.drawn.page_rows.saturating_sub(1).max(1);
                self.scroll = self.scroll.saturating_sub(step);
            }
            KeyCode::Tab => self.complete(buffers),
            _ => {}
        }
        Vec::new()
    }

    /// Text pasted in one piece (bracketed paste).
    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.trim_end_matches('\n');
        let lines: Vec<String> = text
            .split('\n')
            .filter(|line| !line.trim().is_empty())
            .map(str::to_owned)
            .collect();
        if lines.len() >= PASTE_ASKS_FROM {
            self.confirm_paste = Some(lines);
        } else {
            self.editor.insert_str(text);
        }
    }

    /// What the drawing found out; scrolling to the top asks for more.
    pub fn drawn(&mut self, drawn: Drawn, buffers: &mut Buffers) -> Vec<InputEvent> {
        self.drawn = drawn;
        self.scroll = self.scroll.min(drawn.max_scroll);
        if self.scroll == 0 {
            buffers.back_to_newest(buffers.focused());
        }
        if drawn.top_reached && self.scroll > 0 {
            return older(buffers);
        }
        Vec::new()
    }

    /// A line the conversation could not take goes back to the input line,
    /// unless something else is being typed there already.
    pub fn refused(&mut self, line: Option<String>) {
        if let Some(line) = line {
            if self.editor.is_empty() {
                self.editor.set(&line);
            }
        }
    }

    /// Another buffer is focused: its newest lines are shown.
    pub fn moved(&mut self, moved: bool) {
        if moved {
            self.scroll = 0;
        }
    }

    fn answer_paste(&mut self, key: KeyEvent, buffers: &mut Buffers) -> Vec<InputEvent> {
        let Some(lines) = self.confirm_paste.take() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                lines.into_iter().map(|line| say(line, buffers)).collect()
            }
            KeyCode::Char('e') | KeyCode::Char('E') => {
                // One message of many lines instead.
                self.editor.insert_str(&lines.join("\n"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn submit(&mut self, buffers: &mut Buffers) -> Vec<InputEvent> {
        if self.editor.is_empty() {
            return Vec::new();
        }
        let line = self.editor.submit();
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or("").to_ascii_lowercase();
        match command.as_str() {
            "/query" => {
                let Some(nick) = words.next() else {
                    return vec![InputEvent::Line("/msg".into())];
                };
                let Ok(nick) = Nick::parse(nick) else {
                    // The conversation explains what is wrong with it.
                    return vec![InputEvent::Line(line.replacen("/query", "/msg", 1))];
                };
                let index = buffers.open_private(&nick);
                self.moved(buffers.focus(index));
                let text: Vec<&str> = words.collect();
                if text.is_empty() {
                    return Vec::new();
                }
                vec![say(text.join(" "), buffers)]
            }
            "/help" | "/?" => {
                let now = std::time::Instant::now();
                buffers.apply(Update::Help, now);
                for line in KEYS_HELP {
                    buffers.apply(Update::Status((*line).to_owned()), now);
                }
                Vec::new()
            }
            "/close" => match buffers.close(buffers.focused()) {
                Close::Leave(room) => vec![InputEvent::LineIn(
                    Target::Room(room.clone()),
                    format!("/leave {room}"),
                )],
                Close::Closed => {
                    self.scroll = 0;
                    Vec::new()
                }
                Close::No => Vec::new(),
            },
            _ => vec![say(line, buffers)],
        }
    }

    fn complete(&mut self, buffers: &Buffers) {
        let known = buffers.completion();
        let candidates = Candidates {
            nicks_here: known.here,
            nicks_elsewhere: known.others,
            rooms: known.rooms,
            commands: COMMANDS.iter().map(|c| c.to_string()).collect(),
        };
        if let Some((line, cursor)) =
            self.completer
                .complete(self.editor.text(), self.editor.cursor(), &candidates)
        {
            self.editor.set(&line);
            self.editor.set_cursor(cursor);
        }
    }
}

/// A line typed in the focused buffer, for the conversation.
fn say(line: String, buffers: &Buffers) -> InputEvent {
    match target(buffers) {
        Some(target) => InputEvent::LineIn(target, line),
        None => InputEvent::Line(line),
    }
}

/// Where plain text typed in the focused buffer goes.
fn target(buffers: &Buffers) -> Option<Target> {
    let buffer = buffers.focused_buffer();
    match &buffer.key {
        BufferKey::Server => None,
        BufferKey::Room(room) => Some(Target::Room(room.clone())),
        BufferKey::Private(_) => Nick::parse(&buffer.title).ok().map(Target::User),
    }
}

/// A typing notice, while the line is chat text rather than a command.
fn typing(editor: &Editor, buffers: &Buffers) -> Vec<InputEvent> {
    // Not in a room the user is no longer in: nobody there to tell.
    if editor.text().starts_with('/') || buffers.focused_buffer().parted {
        return Vec::new();
    }
    target(buffers)
        .map(InputEvent::TypingIn)
        .into_iter()
        .collect()
}

/// The request for the page before the oldest line of the focused buffer.
fn older(buffers: &mut Buffers) -> Vec<InputEvent> {
    let focused = buffers.focused();
    buffers
        .older_request(focused)
        .map(InputEvent::Request)
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::client::core::buffers::LineKind;
    use crate::protocol::frames::{Event, Message};
    use crate::protocol::incoming::{JoinAnswer, ServerEvent};
    use crate::protocol::names::RoomName;
    use crate::protocol::request::{HistoryPage, Request};

    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn said(room_name: &str, seq: u64, from: &str, text: &str) -> ServerEvent {
        ServerEvent::Known(Event::Message(Message {
            room: Some(room(room_name)),
            to: None,
            seq: Some(seq),
            ts: "2026-12-01T10:00:00Z".into(),
            from: nick(from),
            text: text.into(),
            action: false,
        }))
    }

    /// Connected as alice, in #general (with older messages on the server)
    /// and #ops, #ops current.
    fn session() -> Buffers {
        let now = Instant::now();
        let mut buffers = Buffers::new("chat.example:7667");
        buffers.apply(
            Update::Connected {
                server: "chat.example".into(),
                version: "0.1.0".into(),
                nick: nick("alice"),
                motd: None,
            },
            now,
        );
        for (name, more) in [("general", true), ("ops", false)] {
            let answer = JoinAnswer {
                room: room(name),
                topic: String::new(),
                members: vec![nick("alice"), nick("bob")],
                epoch: None,
                history: vec![said(name, 41, "bob", "earlier")],
                more,
            };
            buffers.apply(
                Update::Joined {
                    answer,
                    current: true,
                },
                now,
            );
        }
        buffers
    }

    fn press(app: &mut App, buffers: &mut Buffers, code: KeyCode) -> Vec<InputEvent> {
        app.key(KeyEvent::new(code, KeyModifiers::NONE), buffers)
    }

    fn chord(
        app: &mut App,
        buffers: &mut Buffers,
        modifiers: KeyModifiers,
        c: char,
    ) -> Vec<InputEvent> {
        app.key(KeyEvent::new(KeyCode::Char(c), modifiers), buffers)
    }

    fn type_text(app: &mut App, buffers: &mut Buffers, text: &str) {
        for c in text.chars() {
            press(app, buffers, KeyCode::Char(c));
        }
    }

    #[test]
    fn a_line_goes_to_the_buffer_it_was_typed_in() {
        let mut buffers = session();
        let mut app = App::new();
        type_text(&mut app, &mut buffers, "deploy done");
        let sent = press(&mut app, &mut buffers, KeyCode::Enter);
        assert_eq!(
            sent,
            [InputEvent::LineIn(
                Target::Room(room("ops")),
                "deploy done".into()
            )]
        );
        // Alt-2 is the second buffer of the list: #general.
        chord(&mut app, &mut buffers, KeyModifiers::ALT, '2');
        type_text(&mut app, &mut buffers, "hi bob");
        let sent = press(&mut app, &mut buffers, KeyCode::Enter);
        assert_eq!(
            sent,
            [InputEvent::LineIn(
                Target::Room(room("general")),
                "hi bob".into()
            )]
        );
        assert!(app.editor.is_empty());
    }

    #[test]
    fn ctrl_c_clears_the_line_and_ctrl_d_quits_only_when_it_is_empty() {
        let mut buffers = session();
        let mut app = App::new();
        type_text(&mut app, &mut buffers, "half a thought");
        let sent = chord(&mut app, &mut buffers, KeyModifiers::CONTROL, 'c');
        assert!(sent.is_empty(), "Ctrl-C must not quit: {sent:?}");
        assert!(app.editor.is_empty());
        // The cleared line comes back with Up.
        press(&mut app, &mut buffers, KeyCode::Up);
        assert_eq!(app.editor.text(), "half a thought");
        press(&mut app, &mut buffers, KeyCode::Home);
        let sent = chord(&mut app, &mut buffers, KeyModifiers::CONTROL, 'd');
        assert!(sent.is_empty());
        assert_eq!(app.editor.text(), "alf a thought");
        chord(&mut app, &mut buffers, KeyModifiers::CONTROL, 'c');
        let sent = chord(&mut app, &mut buffers, KeyModifiers::CONTROL, 'd');
        assert_eq!(sent, [InputEvent::Line("/quit".into())]);
    }

    #[test]
    fn typing_chat_text_tells_the_room_but_a_command_does_not() {
        let mut buffers = session();
        let mut app = App::new();
        let sent = press(&mut app, &mut buffers, KeyCode::Char('h'));
        assert_eq!(sent, [InputEvent::TypingIn(Target::Room(room("ops")))]);
        chord(&mut app, &mut buffers, KeyModifiers::CONTROL, 'c');
        type_text(&mut app, &mut buffers, "/wh");
        let sent = press(&mut app, &mut buffers, KeyCode::Char('o'));
        assert!(sent.is_empty());
    }

    #[test]
    fn query_opens_a_private_buffer_whose_text_goes_to_that_nick() {
        let mut buffers = session();
        let mut app = App::new();
        type_text(&mut app, &mut buffers, "/query bob lunch?");
        let sent = press(&mut app, &mut buffers, KeyCode::Enter);
        assert_eq!(
            sent,
            [InputEvent::LineIn(
                Target::User(nick("bob")),
                "lunch?".into()
            )]
        );
        assert_eq!(buffers.focused_buffer().title, "bob");
        type_text(&mut app, &mut buffers, "/me waves");
        let sent = press(&mut app, &mut buffers, KeyCode::Enter);
        assert_eq!(
            sent,
            [InputEvent::LineIn(
                Target::User(nick("bob")),
                "/me waves".into()
            )]
        );
        // /close drops a private buffer at once; in a room it leaves.
        type_text(&mut app, &mut buffers, "/close");
        assert!(press(&mut app, &mut buffers, KeyCode::Enter).is_empty());
        assert!(buffers
            .position(&BufferKey::Private("bob".into()))
            .is_none());
        chord(&mut app, &mut buffers, KeyModifiers::ALT, '3');
        type_text(&mut app, &mut buffers, "/close");
        let sent = press(&mut app, &mut buffers, KeyCode::Enter);
        assert_eq!(
            sent,
            [InputEvent::LineIn(
                Target::Room(room("ops")),
                "/leave ops".into()
            )]
        );
    }

    #[test]
    fn a_paste_of_many_lines_asks_before_sending_many_messages() {
        let mut buffers = session();
        let mut app = App::new();
        app.paste("one\r\ntwo\nthree\n");
        assert_eq!(app.confirm_paste.as_ref().map(Vec::len), Some(3));
        let sent = press(&mut app, &mut buffers, KeyCode::Char('y'));
        let ops = |text: &str| InputEvent::LineIn(Target::Room(room("ops")), text.into());
        assert_eq!(sent, [ops("one"), ops("two"), ops("three")]);
        assert!(app.confirm_paste.is_none());

        app.paste("one\ntwo");
        assert!(press(&mut app, &mut buffers, KeyCode::Char('n')).is_empty());
        assert!(app.editor.is_empty());

        app.paste("one\ntwo");
        press(&mut app, &mut buffers, KeyCode::Char('e'));
        assert_eq!(app.editor.text(), "one\ntwo");
        let sent = press(&mut app, &mut buffers, KeyCode::Enter);
        assert_eq!(sent, [ops("one\ntwo")]);

        // One line is simply typed in.
        app.paste("just this\n");
        assert!(app.confirm_paste.is_none());
        assert_eq!(app.editor.text(), "just this");
    }

    #[test]
    fn alt_enter_makes_one_message_of_several_lines() {
        let mut buffers = session();
        let mut app = App::new();
        type_text(&mut app, &mut buffers, "first");
        app.key(
            KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT),
            &mut buffers,
        );
        type_text(&mut app, &mut buffers, "second");
        let sent = press(&mut app, &mut buffers, KeyCode::Enter);
        assert_eq!(
            sent,
            [InputEvent::LineIn(
                Target::Room(room("ops")),
                "first\nsecond".into()
            )]
        );
    }

    #[test]
    fn help_lists_the_keys_of_this_interface_too() {
        let mut buffers = session();
        let mut app = App::new();
        type_text(&mut app, &mut buffers, "/help");
        assert!(press(&mut app, &mut buffers, KeyCode::Enter).is_empty());
        let notices: Vec<&str> = buffers
            .focused_buffer()
            .lines
            .iter()
            .filter_map(|line| match &line.kind {
                LineKind::Notice(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert!(notices.iter().any(|n| n.starts_with("/join ROOM")));
        assert!(notices.iter().any(|n| n.starts_with("/query NICK")));
        assert!(notices.iter().any(|n| n.starts_with("Alt-A")));
    }

    #[test]
    fn tab_completes_a_nick_of_the_room() {
        let mut buffers = session();
        let mut app = App::new();
        type_text(&mut app, &mut buffers, "bo");
        press(&mut app, &mut buffers, KeyCode::Tab);
        assert_eq!(app.editor.text(), "bob: ");
    }

    #[test]
    fn scrolling_past_the_oldest_line_asks_for_the_page_before() {
        let mut buffers = session();
        let mut app = App::new();
        chord(&mut app, &mut buffers, KeyModifiers::ALT, '2');
        // The drawing saw the top of #general: it holds older messages.
        let drawn = Drawn {
            top_reached: true,
            page_rows: 10,
            max_scroll: 0,
        };
        app.drawn(drawn, &mut buffers);
        let sent = press(&mut app, &mut buffers, KeyCode::PageUp);
        assert_eq!(
            sent,
            [InputEvent::Request(Request::History {
                room: room("general"),
                page: HistoryPage::Before(41),
                limit: None,
                epoch: None,
            })]
        );
        // Asked once: the page is on its way.
        assert!(press(&mut app, &mut buffers, KeyCode::PageUp).is_empty());
        // #ops holds everything there is: nothing to fetch.
        chord(&mut app, &mut buffers, KeyModifiers::ALT, '3');
        assert!(press(&mut app, &mut buffers, KeyCode::PageUp).is_empty());
    }

    #[test]
    fn switching_buffers_shows_the_newest_lines_again() {
        let mut buffers = session();
        let mut app = App::new();
        app.drawn(
            Drawn {
                top_reached: false,
                page_rows: 10,
                max_scroll: 30,
            },
            &mut buffers,
        );
        press(&mut app, &mut buffers, KeyCode::PageUp);
        assert_eq!(app.scroll, 9);
        press(&mut app, &mut buffers, KeyCode::PageDown);
        assert_eq!(app.scroll, 0);
        press(&mut app, &mut buffers, KeyCode::PageUp);
        chord(&mut app, &mut buffers, KeyModifiers::CONTROL, 'p');
        assert_eq!(app.scroll, 0);
        assert_eq!(buffers.focused(), 1);
    }
}
