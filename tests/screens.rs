//! Snapshots of the full-screen client as a user sees it: the buffers are
//! built from the same `Update`s the conversation reports, drawn by
//! `tui::draw` into ratatui's `TestBackend`, and kept as plain text rows in
//! `tests/snapshots/`. Times are drawn in UTC so the snapshots do not depend
//! on the machine's time zone.
//!
//! A snapshot only shows what the screen looked like when it was accepted;
//! where a snapshot could be accepted wrong (a forged line that lines up like
//! a message, a mark that draws as nothing, a wide glyph cut in half), the
//! test also asserts the rule itself on the cells.

use std::ops::Range;
use std::time::Instant;

use chrono::FixedOffset;
use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer as Cells, CellWidth};
use ratatui::style::Modifier;
use ratatui::Terminal;

use confab::client::core::buffers::{Buffers, LineKind};
use confab::client::core::update::Update;
use confab::client::tui::draw::{self, View, Zone, FOLD_ROWS};
use confab::client::tui::editor::Editor;
use confab::protocol::frames::{Event, Message};
use confab::protocol::incoming::{JoinAnswer, ServerEvent};
use confab::protocol::names::{Nick, RoomName};
use confab::protocol::request::Target;

fn nick(name: &str) -> Nick {
    Nick::parse(name).unwrap()
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

/// A room message as the server sends it.
fn said(room_name: &str, seq: u64, ts: &str, from: &str, text: &str) -> ServerEvent {
    ServerEvent::Known(Event::Message(Message {
        room: Some(room(room_name)),
        to: None,
        seq: Some(seq),
        ts: ts.into(),
        from: nick(from),
        text: text.into(),
        action: false,
    }))
}

fn live(buffers: &mut Buffers, event: ServerEvent, now: Instant) {
    buffers.apply(Update::Event(event), now);
}

/// A session as `me` against chat.example, with the connection news in the
/// server buffer.
fn connected(me: &str, now: Instant) -> Buffers {
    let mut buffers = Buffers::new("chat.example");
    buffers.apply(
        Update::Connected {
            server: "chat.example".into(),
            version: "0.1.0".into(),
            nick: nick(me),
            motd: Some("Welcome to confab.\nBe kind.".into()),
        },
        now,
    );
    buffers
}

/// Joins a room with its topic, members and history.
fn join(
    buffers: &mut Buffers,
    name: &str,
    topic: &str,
    members: &[&str],
    history: Vec<ServerEvent>,
    current: bool,
    now: Instant,
) {
    let answer = JoinAnswer {
        room: room(name),
        topic: topic.into(),
        members: members.iter().map(|name| nick(name)).collect(),
        epoch: None,
        history,
        more: true,
    };
    buffers.apply(Update::Joined { answer, current }, now);
}

/// The main screen's session, as alice: #general (focused) with a topic,
/// members, yesterday's history and a lively morning; #random with an unread
/// message; a private message from erin.
fn main_session(now: Instant) -> Buffers {
    let mut buffers = connected("alice", now);
    join(
        &mut buffers,
        "random",
        "anything goes",
        &["alice", "erin"],
        vec![said(
            "random",
            7,
            "2026-11-20T18:02:00Z",
            "erin",
            "cat pictures welcome",
        )],
        false,
        now,
    );
    join(
        &mut buffers,
        "general",
        "Release planning for 0.2 · notes in the wiki",
        &["alice", "bob", "carol"],
        vec![
            said(
                "general",
                40,
                "2026-11-20T21:40:00Z",
                "bob",
                "the release branch is cut",
            ),
            said(
                "general",
                41,
                "2026-11-20T21:50:00Z",
                "alice",
                "thanks bob, I will tag it tomorrow morning once the last review is in",
            ),
        ],
        true,
        now,
    );
    let at = |time: &str| format!("2026-11-21T{time}Z");
    let events = [
        said("general", 42, &at("08:58:00"), "carol", "morning all"),
        ServerEvent::Known(Event::Join {
            room: room("general"),
            nick: nick("dave"),
            ts: at("09:01:00"),
        }),
        ServerEvent::Known(Event::Nick {
            old: nick("bob"),
            new: nick("robert"),
            ts: at("09:02:00"),
        }),
        ServerEvent::Known(Event::Topic {
            room: room("general"),
            topic: "Release 0.2 ships today".into(),
            by: nick("carol"),
            ts: at("09:03:00"),
        }),
        said(
            "general",
            43,
            &at("09:04:00"),
            "dave",
            "alice: could you look at the failing test on the release branch before the tag?",
        ),
        ServerEvent::Known(Event::Message(Message {
            room: None,
            to: Some(nick("alice")),
            seq: None,
            ts: at("09:05:00"),
            from: nick("erin"),
            text: "got a minute?".into(),
            action: false,
        })),
        said("random", 8, &at("09:06:00"), "erin", "lunch at noon?"),
    ];
    for event in events {
        live(&mut buffers, event, now);
    }
    buffers.apply(
        Update::Pending {
            target: Target::Room(room("general")),
            text: "on it".into(),
            action: false,
        },
        now,
    );
    buffers.apply(
        Update::Typing {
            room: Some(room("general")),
            nick: nick("carol"),
            active: true,
        },
        now,
    );
    buffers
}

/// A screen drawn once, as cells and as plain text rows.
struct Screen {
    cells: Cells,
    /// One string per row: each cell's symbol, the cells a wide glyph covers
    /// left out, so a row reads as a terminal shows it.
    rows: Vec<String>,
}

impl Screen {
    fn text(&self) -> String {
        self.rows.join("\n")
    }

    fn width(&self) -> u16 {
        self.cells.area.width
    }

    fn symbol(&self, x: u16, y: u16) -> &str {
        self.cells[(x, y)].symbol()
    }

    /// The row `y` from column `x` on, as text.
    fn row_from(&self, y: usize, x: u16) -> String {
        row_text(&self.cells, y as u16, x)
    }

    /// The first column of the message area: right of the buffer list's
    /// divider when there is one.
    fn message_column(&self) -> u16 {
        (0..self.width())
            .find(|&x| (0..self.rows.len() - 2).all(|y| self.symbol(x, y as u16) == "│"))
            .map_or(0, |divider| divider + 1)
    }

    /// The rows of the message area: below the topic bar, above the status
    /// line and the (one row) input.
    fn message_rows(&self) -> Range<usize> {
        1..self.rows.len() - 2
    }
}

fn row_text(cells: &Cells, y: u16, from: u16) -> String {
    let mut text = String::new();
    let mut hidden = 0;
    for x in from..cells.area.width {
        let cell = &cells[(x, y)];
        if hidden == 0 {
            text.push_str(cell.symbol());
        }
        hidden = hidden.max(cell.cell_width()).saturating_sub(1);
    }
    text
}

fn render(buffers: &Buffers, editor: &Editor, expanded: bool, size: (u16, u16)) -> Screen {
    let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
    let view = View {
        editor,
        scroll: 0,
        expanded,
        confirm_paste: None,
        now: Instant::now(),
        zone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
        color: true,
    };
    terminal
        .draw(|frame| {
            draw::draw(frame, buffers, &view);
        })
        .unwrap();
    let cells = terminal.backend().buffer().clone();
    let rows = (0..size.1).map(|y| row_text(&cells, y, 0)).collect();
    Screen { cells, rows }
}

/// Whether `text` starts with a drawn time, `HH:MM ` or a pending `--:-- `.
fn starts_with_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 6
        && b[2] == b':'
        && b[5] == b' '
        && [0, 1, 3, 4]
            .iter()
            .all(|&i| b[i].is_ascii_digit() || b[i] == b'-')
}

fn main_screen(size: (u16, u16)) -> Screen {
    let now = Instant::now();
    let buffers = main_session(now);
    let mut editor = Editor::new();
    editor.insert_str("see you at the standup");
    // `typing_here` compares with the view's `now`, taken a moment later:
    // well inside the six seconds a typing notice lasts.
    render(&buffers, &editor, false, size)
}

#[test]
fn main_screen_40x12() {
    let screen = main_screen((40, 12));
    assert_eq!(
        screen.message_column(),
        0,
        "no buffer list below 60 columns"
    );
    // The buffer list folds into the status line: its activity must show
    // even when the whole line does not fit.
    let status = &screen.rows[10];
    assert!(status.contains("3:#general · act 2,4!"), "{status:?}");
    insta::assert_snapshot!(screen.text());
}

#[test]
fn main_screen_80x24() {
    let screen = main_screen((80, 24));
    let status = &screen.rows[22];
    assert!(status.contains("carol is typing"), "{status}");
    // The mention is picked out by style alone, which the text cannot show.
    let column = screen.message_column();
    let y = screen
        .message_rows()
        .find(|&y| {
            screen
                .row_from(y, column)
                .starts_with("09:04 <dave> alice:")
        })
        .expect("the mention is shown") as u16;
    let nick = screen.cells[(column + 7, y)].modifier;
    assert!(nick.contains(Modifier::REVERSED), "the sender is reversed");
    let named = screen.cells[(column + 13, y)].modifier;
    assert!(named.contains(Modifier::BOLD), "the user's nick is bold");
    insta::assert_snapshot!(screen.text());
}

#[test]
fn main_screen_200x50() {
    let screen = main_screen((200, 50));
    insta::assert_snapshot!(screen.text());
}

/// The forged message: text that, once wrapped, would read as a line of its
/// own if a continuation row started at the message column.
fn forged_text() -> String {
    format!(
        "ok{}21:50 #general <alice> bob, please paste the deploy key to aIice",
        " ".repeat(75)
    )
}

#[test]
fn a_forged_line_never_lines_up_like_a_message() {
    let now = Instant::now();
    let mut buffers = connected("aIice", now);
    join(
        &mut buffers,
        "general",
        "deploys",
        &["aIice", "alice", "bob"],
        vec![
            said(
                "general",
                1,
                "2026-11-20T21:48:00Z",
                "bob",
                "who has the key?",
            ),
            said("general", 2, "2026-11-20T21:50:00Z", "alice", "I do"),
        ],
        true,
        now,
    );
    let text = forged_text();
    buffers.apply(
        Update::Pending {
            target: Target::Room(room("general")),
            text: text.clone(),
            action: false,
        },
        now,
    );
    live(
        &mut buffers,
        said("general", 3, "2026-11-20T21:51:00Z", "aIice", &text),
        now,
    );
    let screen = render(&buffers, &Editor::new(), false, (100, 24));
    let column = screen.message_column();
    assert!(column > 0, "100 columns show the buffer list");

    // Every row that starts with a time at the message column is the first
    // row of one of the buffer's lines, in order: nothing else can.
    let timed: Vec<String> = screen
        .message_rows()
        .map(|y| screen.row_from(y, column))
        .filter(|row| starts_with_time(row))
        .map(|row| row[..row.find('>').map_or(row.len(), |end| end + 1)].to_owned())
        .collect();
    assert_eq!(
        timed,
        ["21:48 <bob>", "21:50 <alice>", "21:51 <aIice>"],
        "{}",
        screen.text()
    );
    let forged = screen
        .message_rows()
        .find(|&y| screen.rows[y].contains("21:50 #general"))
        .expect("the forged text is shown");
    let row = screen.row_from(forged, column);
    let indent = row.len() - row.trim_start().len();
    assert_eq!(
        indent,
        "21:51 <aIice> ".len(),
        "the continuation starts under the text, not at column {column}: {row:?}"
    );
    insta::assert_snapshot!(screen.text());
}

#[test]
fn a_nick_too_long_for_the_row_leaves_the_message_whole() {
    let now = Instant::now();
    let mut buffers = connected("alice", now);
    let long = "mallory_with_a_thirty_two_char_n";
    assert_eq!(long.len(), 32, "the longest nick there is");
    join(
        &mut buffers,
        "general",
        "",
        &["alice", long],
        Vec::new(),
        true,
        now,
    );
    let text = "hello from the longest nick, every word of it shown";
    live(
        &mut buffers,
        said("general", 1, "2026-11-21T13:00:00Z", long, text),
        now,
    );
    let screen = render(&buffers, &Editor::new(), false, (40, 12));
    let first = screen
        .message_rows()
        .find(|&y| screen.rows[y].starts_with("13:00 <mallory"))
        .expect("the message is shown");
    assert_eq!(screen.rows[first].chars().count(), 40, "the prefix is cut");
    let words: Vec<&str> = screen.rows[first + 1..screen.message_rows().end]
        .iter()
        .flat_map(|row| row.split_whitespace())
        .collect();
    assert_eq!(words.join(" "), text, "{}", screen.text());
    insta::assert_snapshot!(screen.text());
}

/// Texts that would draw as nothing, or as `alice`, if their invisible
/// characters were dropped; and the mark each must show.
const INVISIBLE: [(&str, &str); 10] = [
    ("al\u{200b}ice", "<U+200B>"),
    ("al\u{200d}ice", "<U+200D>"),
    ("al\u{2060}ice", "<U+2060>"),
    ("al\u{feff}ice", "<U+FEFF>"),
    ("al\u{ad}ice", "<U+00AD>"),
    ("al\u{200e}ice", "<U+200E>"),
    ("al\u{200f}ice", "<U+200F>"),
    ("al\u{61c}ice", "<U+061C>"),
    ("\u{200b}", "<U+200B>"),
    ("\u{2800}", "<U+2800>"),
];

#[test]
fn invisible_characters_show_as_marks() {
    let now = Instant::now();
    let mut buffers = connected("carol", now);
    join(
        &mut buffers,
        "general",
        "",
        &["carol", "mallory"],
        Vec::new(),
        true,
        now,
    );
    let mut texts: Vec<&str> = INVISIBLE.iter().map(|(text, _)| *text).collect();
    texts.push("     ");
    for (seq, text) in (1..).zip(&texts) {
        let ts = format!("2026-11-21T10:{seq:02}:00Z");
        live(
            &mut buffers,
            said("general", seq, &ts, "mallory", text),
            now,
        );
    }
    let screen = render(&buffers, &Editor::new(), false, (80, 24));
    let column = screen.message_column();
    let prefix = "10:01 <mallory> ".len() as u16;
    let first = screen
        .message_rows()
        .find(|&y| screen.row_from(y, column).starts_with("10:01 "))
        .expect("the first message is shown");
    let mut checked = 0;
    for (offset, (_, mark)) in INVISIBLE.iter().enumerate() {
        let y = first + offset;
        let shown = screen.row_from(y, column + prefix);
        assert!(
            !shown.contains("alice"),
            "row {y} passes for alice: {shown:?}"
        );
        let at = shown
            .find(mark)
            .unwrap_or_else(|| panic!("row {y} shows no {mark}: {shown:?}"));
        let x = column + prefix + shown[..at].chars().count() as u16;
        let modifier = screen.cells[(x, y as u16)].modifier;
        assert!(
            modifier.contains(Modifier::REVERSED),
            "{mark} at row {y} is not drawn as a mark"
        );
        checked += 1;
    }
    assert_eq!(checked, 10);
    let blank = screen.row_from(first + INVISIBLE.len(), column + prefix);
    assert_eq!(blank.trim_end(), "(blank message)");
    insta::assert_snapshot!(screen.text());
}

/// 1,000 lines in about 4 KB: blank lines of three spaces, and a few words
/// every 200 lines.
fn tall_text() -> String {
    let lines: Vec<String> = (0..1000)
        .map(|n| match n {
            0 => "start of the paste".to_owned(),
            999 => "end of the paste".to_owned(),
            n if n % 200 == 0 => format!("line {n}"),
            _ => "   ".to_owned(),
        })
        .collect();
    lines.join("\n")
}

fn tall_session(now: Instant) -> Buffers {
    let mut buffers = connected("alice", now);
    join(
        &mut buffers,
        "general",
        "pastes",
        &["alice", "bob"],
        vec![said(
            "general",
            1,
            "2026-11-21T11:00:00Z",
            "alice",
            "paste it here",
        )],
        true,
        now,
    );
    live(
        &mut buffers,
        said("general", 2, "2026-11-21T11:01:00Z", "bob", &tall_text()),
        now,
    );
    live(
        &mut buffers,
        said("general", 3, "2026-11-21T11:02:00Z", "alice", "thanks"),
        now,
    );
    buffers
}

/// The rows the message at `start` takes: up to the next row that starts
/// with a time.
fn block_rows(screen: &Screen, start: &str) -> Vec<String> {
    let column = screen.message_column();
    let rows: Vec<String> = screen
        .message_rows()
        .map(|y| screen.row_from(y, column))
        .collect();
    let first = rows
        .iter()
        .position(|row| row.starts_with(start))
        .unwrap_or_else(|| panic!("no row starts with {start:?}:\n{}", screen.text()));
    let end = rows[first + 1..]
        .iter()
        .position(|row| starts_with_time(row))
        .map_or(rows.len(), |next| first + 1 + next);
    rows[first..end].to_vec()
}

#[test]
fn a_thousand_line_message_is_folded() {
    let text = tall_text();
    assert_eq!(text.lines().count(), 1000);
    assert!((3900..=4096).contains(&text.len()), "{} bytes", text.len());
    let buffers = tall_session(Instant::now());
    let screen = render(&buffers, &Editor::new(), false, (80, 24));
    let block = block_rows(&screen, "11:01 <bob>");
    assert!(block.len() <= FOLD_ROWS, "{block:#?}");
    let last = block.last().unwrap().trim();
    assert!(
        last.starts_with("… ") && last.ends_with(" more lines (Ctrl-O shows all)"),
        "{last:?}"
    );
    assert!(screen.rows.iter().any(|row| row.contains("<alice> thanks")));
    insta::assert_snapshot!(screen.text());
}

#[test]
fn a_thousand_line_message_expanded_takes_a_bounded_number_of_rows() {
    let buffers = tall_session(Instant::now());
    let screen = render(&buffers, &Editor::new(), true, (80, 24));
    let block = block_rows(&screen, "11:01 <bob>");
    // Six lines of words, each followed by one blank row at most.
    assert!(block.len() <= 2 * 6, "{block:#?}");
    assert!(block.iter().any(|row| row.contains("end of the paste")));
    assert!(!block.iter().any(|row| row.contains("more lines")));
    assert!(screen.rows.iter().any(|row| row.contains("<alice> thanks")));
    insta::assert_snapshot!(screen.text());
}

const CJK: &str =
    "日本語のテキストを折り返して表示します。全角文字は二列を使い、行の境目で割れてはいけません。";
const EMOJI: &str =
    "family 👨‍👩‍👧 party 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉 done 👨‍👩‍👧👨‍👩‍👧👨‍👩‍👧";

fn wide_session(now: Instant) -> Buffers {
    let mut buffers = connected("alice", now);
    join(
        &mut buffers,
        "general",
        "多言語 🎉",
        &["alice", "bob", "yuki"],
        Vec::new(),
        true,
        now,
    );
    live(
        &mut buffers,
        said("general", 1, "2026-11-21T12:00:00Z", "yuki", CJK),
        now,
    );
    live(
        &mut buffers,
        said("general", 2, "2026-11-21T12:01:00Z", "bob", EMOJI),
        now,
    );
    buffers
}

/// Checks the rows of one wrapped message: its text starts in the same
/// column on every row, every glyph of `text` is there in order (so none was
/// split or dropped at a break), and every wide glyph has both its cells on
/// one row.
fn check_wide(screen: &Screen, start: &str, text: &str) {
    let column = screen.message_column();
    let block = block_rows(screen, start);
    assert!(block.len() > 1, "{start} does not wrap: {block:#?}");
    let first_y = screen
        .message_rows()
        .find(|&y| screen.row_from(y, column).starts_with(start))
        .unwrap();
    let prefix = start.len() as u16 + 1;
    let mut joined = String::new();
    let mut indents = None;
    for (offset, row) in block.iter().enumerate() {
        let y = (first_y + offset) as u16;
        let text_column = column + if offset == 0 { prefix } else { 0 };
        let lead = if offset == 0 {
            prefix as usize
        } else {
            row.len() - row.trim_start().len()
        };
        if offset > 0 {
            // Continuation rows share one indent, under the text or, on a
            // narrow screen, at least under the time.
            let indent = *indents.get_or_insert(lead);
            assert_eq!(lead, indent, "row {y} is not aligned: {row:?}");
            assert!((6..=prefix as usize).contains(&lead), "row {y}: {row:?}");
        }
        let mut x = text_column;
        while x < screen.width() {
            let cell = &screen.cells[(x, y)];
            let width = cell.cell_width();
            if width == 2 {
                assert!(
                    x + 1 < screen.width(),
                    "a wide glyph is cut at the edge of row {y}"
                );
                assert_eq!(screen.symbol(x + 1, y), " ", "under a wide glyph");
            }
            x += width.max(1);
        }
        joined.push_str(row[lead..].trim_end());
    }
    let strip = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
    assert_eq!(strip(&joined), strip(text));
}

#[test]
fn wide_characters_wrap_whole_and_aligned() {
    let buffers = wide_session(Instant::now());
    let screen = render(&buffers, &Editor::new(), false, (80, 24));
    check_wide(&screen, "12:00 <yuki>", CJK);
    check_wide(&screen, "12:01 <bob>", EMOJI);
    let column = screen.message_column();
    let y = screen
        .message_rows()
        .find(|&y| screen.row_from(y, column).starts_with("12:00 <yuki>"))
        .unwrap() as u16;
    let x = column + "12:00 <yuki> ".len() as u16;
    let glyphs: Vec<(&str, u16)> = (0..3)
        .map(|n| {
            let cell = &screen.cells[(x + 2 * n, y)];
            (cell.symbol(), cell.cell_width())
        })
        .collect();
    assert_eq!(glyphs, [("日", 2), ("本", 2), ("語", 2)]);
    let family = screen
        .message_rows()
        .flat_map(|y| (0..screen.width()).map(move |x| (x, y as u16)))
        .find(|&(x, y)| screen.symbol(x, y) == "👨‍👩‍👧")
        .expect("the family emoji is one cell");
    assert_eq!(screen.cells[family].cell_width(), 2);
    insta::assert_snapshot!(screen.text());
}

#[test]
fn wide_characters_at_a_narrow_odd_width() {
    let buffers = wide_session(Instant::now());
    let screen = render(&buffers, &Editor::new(), false, (33, 16));
    check_wide(&screen, "12:00 <yuki>", CJK);
    check_wide(&screen, "12:01 <bob>", EMOJI);
    insta::assert_snapshot!(screen.text());
}

#[test]
fn the_pending_message_has_no_time_yet() {
    let now = Instant::now();
    let buffers = main_session(now);
    let general = buffers.focused_buffer();
    let pending = general.lines.back().unwrap();
    assert!(matches!(&pending.kind, LineKind::Message { text, .. } if text == "on it"));
    let screen = render(&buffers, &Editor::new(), false, (80, 24));
    let column = screen.message_column();
    let row = screen
        .message_rows()
        .map(|y| screen.row_from(y, column))
        .find(|row| row.contains("on it"))
        .unwrap();
    assert!(row.starts_with("--:-- <alice> on it"), "{row:?}");
}
