//! Drawing the full-screen interface from the buffers and the interface's own
//! state: the buffer list (left, or folded into the status line on a narrow
//! terminal), the focused buffer's topic and lines, the status line and the
//! input. Every piece of server text goes through `text::display_runs`, and
//! every row is cut to the width it is drawn in, so nothing a user sends can
//! write outside its place or pass for a line of its own.

use std::time::Instant;

use chrono::{DateTime, FixedOffset, Local, NaiveDate};
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as Row, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::client::core::buffers::{
    Buffer, BufferKey, Buffers, Connection, Delivery, Line, LineKind,
};
use crate::client::render::{invite_text, moderation_text};
use crate::protocol::frames::Event;
use crate::protocol::incoming::ServerEvent;

use super::editor::Editor;
use super::text::{self, display_runs, nick_color, Run};

/// A message taller than this is folded (Ctrl-O shows it whole).
pub const FOLD_ROWS: usize = 6;
/// The input grows with multi-line text up to this many rows.
const INPUT_ROWS: usize = 5;
/// Below this width the buffer list folds into the status line.
const SIDEBAR_FROM: u16 = 60;
/// `HH:MM` and a space.
const TIME_COLUMNS: usize = 6;

/// How times are shown: the local time zone, or a fixed offset (tests).
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Local,
    Fixed(FixedOffset),
}

impl Zone {
    fn at(self, ts: &str) -> Option<DateTime<FixedOffset>> {
        let time = DateTime::parse_from_rfc3339(ts).ok()?;
        Some(match self {
            Zone::Local => time.with_timezone(&Local).fixed_offset(),
            Zone::Fixed(offset) => time.with_timezone(&offset),
        })
    }
}

/// The interface's own state that drawing needs.
pub struct View<'a> {
    pub editor: &'a Editor,
    /// Rows scrolled up from the newest.
    pub scroll: usize,
    /// Folded messages shown whole.
    pub expanded: bool,
    /// A paste of this many lines waits for a yes or no.
    pub confirm_paste: Option<usize>,
    pub now: Instant,
    pub zone: Zone,
    /// Colours on (off with `NO_COLOR`: reverse, bold and dim still mark
    /// what colours would).
    pub color: bool,
}

/// What drawing found out, for scrolling.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    /// The oldest line loaded is on screen: time to fetch the page before it.
    pub top_reached: bool,
    /// Rows of the message area (a page for PgUp/PgDn).
    pub page_rows: usize,
    /// How far up scrolling can go with what is loaded.
    pub max_scroll: usize,
}

/// Draws the whole interface.
pub fn draw(frame: &mut Frame, buffers: &Buffers, view: &View) -> Drawn {
    let area = frame.area();
    let prompt = prompt(buffers.focused_buffer());
    let input_width = (area.width as usize)
        .saturating_sub(text::width(&prompt))
        .max(1);
    let (input_rows, cursor) = view.editor.layout(input_width);
    let input_height = input_rows.len().clamp(1, INPUT_ROWS) as u16;
    let [main, status, input] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(input_height),
    ])
    .areas(area);
    let wide = area.width >= SIDEBAR_FROM;
    let messages = if wide {
        let sidebar_width = sidebar_width(buffers);
        let [list, rest] =
            Layout::horizontal([Constraint::Length(sidebar_width), Constraint::Min(0)]).areas(main);
        draw_sidebar(frame, list, buffers);
        rest
    } else {
        main
    };
    let messages = if messages.height > 4 {
        let [topic, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(messages);
        draw_topic(frame, topic, buffers.focused_buffer());
        rest
    } else {
        messages
    };
    let drawn = draw_lines(frame, messages, buffers, view);
    draw_status(frame, status, buffers, view, wide, &drawn);
    draw_input(frame, input, &prompt, view, &input_rows, cursor);
    if !view.color {
        for cell in frame.buffer_mut().content.iter_mut() {
            cell.set_fg(Color::Reset).set_bg(Color::Reset);
        }
    }
    drawn
}

/// The input's prompt: where plain text goes.
fn prompt(buffer: &Buffer) -> String {
    match &buffer.key {
        BufferKey::Server => "> ".to_owned(),
        _ => format!("{}> ", buffer.title),
    }
}

fn sidebar_width(buffers: &Buffers) -> u16 {
    let longest = buffers
        .buffers()
        .iter()
        .map(|buffer| text::width(&safe(&buffer.title)) + 9)
        .max()
        .unwrap_or(12);
    longest.clamp(12, 24) as u16
}

/// A name from the server, with anything invisible made visible.
fn safe(text: &str) -> String {
    display_runs(text)
        .into_iter()
        .map(|run| run.text.replace('\n', " "))
        .collect()
}

fn draw_sidebar(frame: &mut Frame, area: Rect, buffers: &Buffers) {
    let width = area.width.saturating_sub(1) as usize;
    let mut rows = Vec::new();
    for (index, buffer) in buffers.buffers().iter().enumerate() {
        let focused = index == buffers.focused();
        let number = format!("{:>2} ", index + 1);
        let count = match (buffer.mentions, buffer.unread) {
            (0, 0) => String::new(),
            (0, unread) => format!(" {unread}"),
            (mentions, unread) => format!(" {unread}/{mentions}!"),
        };
        let name = safe(&buffer.title);
        let name_width = width.saturating_sub(number.len() + count.len());
        let name = cut(&name, name_width);
        let mut style = Style::default();
        if buffer.mentions > 0 {
            style = style.fg(Color::LightRed).add_modifier(Modifier::BOLD);
        } else if buffer.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if buffer.parted {
            // A room the user is no longer in.
            style = style.add_modifier(Modifier::DIM | Modifier::CROSSED_OUT);
        }
        if focused {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let pad = width.saturating_sub(number.len() + text::width(&name) + count.len());
        rows.push(Row::from(vec![
            Span::styled(number, Style::default().fg(Color::DarkGray)),
            Span::styled(format!("{name}{}{count}", " ".repeat(pad)), style),
        ]));
    }
    frame.render_widget(Paragraph::new(rows), area);
    // The divider, drawn cell by cell so it never depends on the rows' text.
    let divider = area.x + area.width.saturating_sub(1);
    for y in area.top()..area.bottom() {
        if let Some(cell) = frame.buffer_mut().cell_mut(Position::new(divider, y)) {
            cell.set_symbol("│")
                .set_style(Style::default().fg(Color::DarkGray));
        }
    }
}

/// Cuts `text` to at most `width` columns, whole graphemes only.
fn cut(text: &str, width: usize) -> String {
    let runs = [Run {
        text: text.to_owned(),
        mark: false,
    }];
    text::wrap(&runs, width, width)
        .into_iter()
        .next()
        .map(|row| row.into_iter().map(|run| run.text).collect())
        .unwrap_or_default()
}

fn draw_topic(frame: &mut Frame, area: Rect, buffer: &Buffer) {
    let width = area.width as usize;
    let head = match &buffer.key {
        BufferKey::Room(room) => format!("#{room}"),
        BufferKey::Private(_) => format!("private conversation with {}", buffer.title),
        BufferKey::Server => safe(&buffer.title),
    };
    let mut spans = vec![Span::styled(
        cut(&head, width),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let used = text::width(&head) + 2;
    if !buffer.topic.is_empty() && used < width {
        let mut runs = display_runs(&buffer.topic);
        for run in &mut runs {
            run.text = run.text.replace('\n', " ");
        }
        if let Some(first) = text::wrap(&runs, width - used, width).into_iter().next() {
            spans.push(Span::raw(": "));
            spans.extend(first.into_iter().map(|run| span(run, Style::default())));
        }
    }
    let style = Style::default().bg(Color::Blue).fg(Color::White);
    frame.render_widget(Paragraph::new(Row::from(spans)).style(style), area);
}

fn span(run: Run, base: Style) -> Span<'static> {
    if run.mark {
        Span::styled(
            run.text,
            base.add_modifier(Modifier::REVERSED | Modifier::DIM),
        )
    } else {
        Span::styled(run.text, base)
    }
}

/// The focused buffer's lines, newest at the bottom, `view.scroll` rows up.
fn draw_lines(frame: &mut Frame, area: Rect, buffers: &Buffers, view: &View) -> Drawn {
    let buffer = buffers.focused_buffer();
    let width = area.width as usize;
    let height = area.height as usize;
    let me = buffers.me().map(|nick| nick.as_str().to_owned());
    let marker = buffer.marker_at();
    // Built from the newest line back, only as far as the screen needs plus
    // one page: `max_scroll` must say how far the next PgUp can go, and
    // counted from the rows shown alone it is 0 until the view moves, so
    // PgUp could never start scrolling a buffer longer than the screen.
    let want = view.scroll + 2 * height;
    let mut blocks: Vec<Vec<Row<'static>>> = Vec::new();
    let mut rows = 0;
    let mut index = buffer.lines.len();
    while index > 0 && rows < want {
        index -= 1;
        let line = &buffer.lines[index];
        let mut block = line_rows(line, width, me.as_deref(), view);
        if marker == Some(index) {
            block.insert(0, rule("new", width, Style::default().fg(Color::LightRed)));
        }
        if index > 0 {
            if let Some(day) = day_change(&buffer.lines[index - 1], line, view.zone) {
                block.insert(0, rule(&day, width, Style::default().fg(Color::DarkGray)));
            }
        }
        rows += block.len();
        blocks.push(block);
    }
    let top_reached = index == 0 && rows <= want;
    let mut all: Vec<Row<'static>> = blocks.into_iter().rev().flatten().collect();
    if top_reached {
        let note = if buffer.more_before {
            "older messages: scroll up to fetch them"
        } else {
            "start of the conversation"
        };
        let note = if buffer.is_fetching() {
            "fetching older messages…"
        } else {
            note
        };
        if !matches!(buffer.key, BufferKey::Server) {
            all.insert(0, rule(note, width, Style::default().fg(Color::DarkGray)));
        }
    }
    let max_scroll = all.len().saturating_sub(height);
    let scroll = view.scroll.min(max_scroll);
    let end = all.len() - scroll;
    let start = end.saturating_sub(height);
    let visible: Vec<Row> = all.drain(start..end).collect();
    // Bottom-aligned, like a terminal: few lines sit just above the status.
    let top_gap = height.saturating_sub(visible.len()) as u16;
    let target = Rect {
        y: area.y + top_gap,
        height: area.height - top_gap,
        ..area
    };
    frame.render_widget(Paragraph::new(visible), target);
    Drawn {
        top_reached: top_reached && scroll >= max_scroll,
        page_rows: height,
        max_scroll,
    }
}

/// A full-width rule with a label: `──── new ────`.
fn rule(label: &str, width: usize, style: Style) -> Row<'static> {
    let label = format!(" {} ", cut(&safe(label), width.saturating_sub(6)));
    let side = width.saturating_sub(text::width(&label)) / 2;
    let rest = width.saturating_sub(side + text::width(&label));
    Row::from(Span::styled(
        format!("{}{label}{}", "─".repeat(side), "─".repeat(rest)),
        style,
    ))
}

/// The date a line's day differs from the line before it, as a label.
fn day_change(before: &Line, line: &Line, zone: Zone) -> Option<String> {
    let day =
        |line: &Line| -> Option<NaiveDate> { Some(zone.at(line.ts.as_deref()?)?.date_naive()) };
    let (was, is) = (day(before)?, day(line)?);
    (was != is).then(|| is.format("%A %-d %B %Y").to_string())
}

/// The rows of one line of a buffer.
fn line_rows(line: &Line, width: usize, me: Option<&str>, view: &View) -> Vec<Row<'static>> {
    let time = match line.ts.as_deref().and_then(|ts| view.zone.at(ts)) {
        Some(time) => time.format("%H:%M ").to_string(),
        None => " ".repeat(TIME_COLUMNS),
    };
    let dim = Style::default().fg(Color::DarkGray);
    match &line.kind {
        LineKind::Message {
            from,
            text,
            action,
            delivery,
        } => {
            let nick = &safe(from.as_str());
            let nick_style = Style::default().fg(nick_color(nick));
            let (time, base) = match delivery {
                Delivery::Pending => ("--:-- ".to_owned(), dim),
                _ => (time, Style::default()),
            };
            let mut prefix = vec![Span::styled(time, dim)];
            if *action {
                prefix.push(Span::styled("* ", base));
                prefix.push(Span::styled(nick.to_owned(), nick_style));
                prefix.push(Span::raw(" "));
            } else {
                prefix.push(Span::styled("<", dim));
                prefix.push(Span::styled(nick.to_owned(), nick_style));
                prefix.push(Span::styled("> ", dim));
            }
            if line.mention {
                for span in &mut prefix[1..] {
                    span.style = span.style.add_modifier(Modifier::REVERSED);
                }
            }
            let mut runs = display_runs(text);
            if text::is_blank(&runs) {
                runs = vec![Run {
                    text: "(blank message)".into(),
                    mark: true,
                }];
            }
            if let Delivery::Failed(reason) = delivery {
                runs.push(Run {
                    text: format!("  (not sent: {reason})"),
                    mark: false,
                });
            }
            let base = match delivery {
                Delivery::Failed(_) => Style::default().fg(Color::LightRed),
                _ => base,
            };
            let highlight = me.filter(|_| line.mention && !is_mine(nick, me));
            wrapped(prefix, runs, width, base, highlight, view.expanded)
        }
        LineKind::Event(event) => {
            let prefix = vec![Span::styled(time, dim), Span::styled("-- ", dim)];
            wrapped(
                prefix,
                display_runs(&event_text(event, view.zone)),
                width,
                dim,
                None,
                true,
            )
        }
        LineKind::Notice(text) => {
            let prefix = vec![Span::styled(time, dim), Span::styled("-- ", dim)];
            wrapped(
                prefix,
                display_runs(text),
                width,
                Style::default(),
                None,
                true,
            )
        }
        LineKind::Error(text) => {
            let red = Style::default().fg(Color::LightRed);
            let prefix = vec![Span::styled(time, dim), Span::styled("error: ", red)];
            wrapped(prefix, display_runs(text), width, red, None, true)
        }
        LineKind::Marker(text) => {
            let yellow = Style::default().fg(Color::Yellow);
            if text::width(text) + 8 <= width {
                vec![rule(text, width, yellow)]
            } else {
                // Too long for a rule: the whole text, wrapped, matters more.
                let prefix = vec![Span::styled(time, dim), Span::styled("── ", yellow)];
                wrapped(prefix, display_runs(text), width, yellow, None, true)
            }
        }
    }
}

fn is_mine(nick: &str, me: Option<&str>) -> bool {
    me.is_some_and(|me| me.eq_ignore_ascii_case(nick))
}

/// A prefix and text wrapped under it: continuation rows are indented to
/// where the text starts (never column 0), and a tall message is folded.
fn wrapped(
    prefix: Vec<Span<'static>>,
    runs: Vec<Run>,
    width: usize,
    base: Style,
    highlight: Option<&str>,
    expanded: bool,
) -> Vec<Row<'static>> {
    let prefix_width = spans_width(&prefix);
    // A long nick on a narrow screen: the text gets at least a third of the
    // row, and continuation rows start under the time at the least.
    let indent = prefix_width
        .min((width / 3).max(TIME_COLUMNS))
        .min(width.saturating_sub(1));
    let indent = indent.max(2.min(width.saturating_sub(1)));
    let rest_width = width.saturating_sub(indent).max(1);
    // A prefix too wide to leave the text room gets a row of its own (cut to
    // the width) and the text starts on the next row, indented like the rest.
    let own_row = !(prefix_width + 8 <= width || prefix_width < width / 2);
    let first_width = if own_row {
        rest_width
    } else {
        width.saturating_sub(prefix_width).max(1)
    };
    let rows = text::wrap(&runs, first_width, rest_width);
    let (rows, hidden) = if expanded {
        text::fold(rows, usize::MAX)
    } else {
        text::fold(rows, FOLD_ROWS)
    };
    let mut out = Vec::new();
    if own_row {
        out.push(Row::from(prefix.clone()));
    }
    for (number, row) in rows.into_iter().enumerate() {
        let mut spans = if number == 0 && !own_row {
            prefix.clone()
        } else {
            vec![Span::raw(" ".repeat(indent))]
        };
        for run in row {
            spans.extend(highlighted(run, base, highlight));
        }
        out.push(Row::from(spans));
    }
    if hidden > 0 {
        out.push(Row::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(
                format!("… {hidden} more lines (Ctrl-O shows all)"),
                Style::default()
                    .fg(Color::DarkGray)
                    .add_modifier(Modifier::ITALIC),
            ),
        ]));
    }
    out
}

/// A run, with the user's nick picked out where the text mentions it.
fn highlighted(run: Run, base: Style, nick: Option<&str>) -> Vec<Span<'static>> {
    let Some(nick) = nick.filter(|_| !run.mark) else {
        return vec![span(run, base)];
    };
    let mut spans = Vec::new();
    let mut at = 0;
    for range in text::mention_ranges(&run.text, nick) {
        if range.start > at {
            spans.push(Span::styled(run.text[at..range.start].to_owned(), base));
        }
        spans.push(Span::styled(
            run.text[range.clone()].to_owned(),
            base.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
        at = range.end;
    }
    if at < run.text.len() {
        spans.push(Span::styled(run.text[at..].to_owned(), base));
    }
    spans
}

/// Room events other than messages, as one dimmed line: the moderation
/// events in the words of line mode ("alice banned bob: spam").
fn event_text(event: &ServerEvent, zone: Zone) -> String {
    let nick = |nick: &crate::protocol::names::Nick| nick.as_str().to_owned();
    let time = |ts: &str| match zone.at(ts) {
        Some(time) => time.format("%Y-%m-%d %H:%M").to_string(),
        None => ts.to_owned(),
    };
    match event {
        ServerEvent::Known(Event::Join { nick, .. }) => format!("{nick} joined"),
        ServerEvent::Known(Event::Leave { nick, reason, .. }) => match reason {
            Some(reason) => format!("{nick} left ({reason})"),
            None => format!("{nick} left"),
        },
        ServerEvent::Known(Event::Nick { old, new, .. }) => {
            format!("{old} is now known as {new}")
        }
        ServerEvent::Known(Event::Topic { topic, by, .. }) => match topic.as_str() {
            "" => format!("{by} cleared the topic"),
            topic => format!("{by} set the topic: {topic}"),
        },
        ServerEvent::Known(other) => moderation_text(other, &nick, &time)
            .or_else(|| invite_text(other, &nick))
            .unwrap_or_else(|| format!("{other:?}")),
        ServerEvent::Unknown(unknown) => {
            let fields: Vec<String> = unknown
                .fields
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "room" | "ts" | "seq"))
                .map(|(key, value)| match value.as_str() {
                    Some(text) => format!("{key}={text}"),
                    None => format!("{key}={value}"),
                })
                .collect();
            format!("[{}] {}", unknown.kind, fields.join(" "))
        }
    }
}

fn draw_status(
    frame: &mut Frame,
    area: Rect,
    buffers: &Buffers,
    view: &View,
    wide: bool,
    drawn: &Drawn,
) {
    let mut parts: Vec<Span> = Vec::new();
    let me = buffers
        .me()
        .map_or("-".to_owned(), |nick| safe(nick.as_str()));
    parts.push(Span::styled(
        format!("[{me}]"),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    let server_at = parts.len();
    parts.push(Span::raw(format!(" {} ", safe(buffers.server()))));
    let state = match buffers.connection() {
        Connection::Connecting => Span::raw("connecting"),
        Connection::Online => Span::styled("online", Style::default().fg(Color::Green)),
        Connection::NeedsLogin => Span::styled(
            "not registered: /login PASSWORD or /nick OTHER",
            Style::default().fg(Color::Yellow),
        ),
        Connection::Reconnecting { at, .. } => Span::styled(
            format!(
                "reconnecting in {}s",
                at.saturating_duration_since(view.now).as_secs() + 1
            ),
            Style::default().fg(Color::LightRed),
        ),
    };
    parts.push(state);
    if let Some(account) = buffers.account() {
        parts.push(Span::raw(format!(
            " · logged in as {}",
            safe(account.as_str())
        )));
    }
    if buffers.queued() > 0 {
        parts.push(Span::raw(format!(" · {} queued", buffers.queued())));
    }
    if !wide {
        let focused = buffers.focused_buffer();
        parts.push(Span::raw(format!(
            " · {}:{}",
            buffers.focused() + 1,
            safe(&focused.title)
        )));
        let active: Vec<String> = buffers
            .buffers()
            .iter()
            .enumerate()
            .filter(|(_, buffer)| buffer.unread > 0 || buffer.mentions > 0)
            .map(|(index, buffer)| {
                let bang = if buffer.mentions > 0 { "!" } else { "" };
                format!("{}{bang}", index + 1)
            })
            .collect();
        if !active.is_empty() {
            parts.push(Span::styled(
                format!(" · act {}", active.join(",")),
                Style::default().add_modifier(Modifier::BOLD),
            ));
        }
    }
    let typing = buffers.typing_here(view.now);
    if !typing.is_empty() {
        let names: Vec<String> = typing.iter().map(|nick| safe(nick.as_str())).collect();
        let verb = if names.len() == 1 { "is" } else { "are" };
        parts.push(Span::styled(
            format!(" · {} {verb} typing…", names.join(", ")),
            Style::default().fg(Color::Cyan),
        ));
    }
    if view.scroll > 0 && drawn.max_scroll > 0 {
        parts.push(Span::styled(
            " · scrolled up (PgDn)",
            Style::default().fg(Color::Yellow),
        ));
    }
    let style = Style::default().bg(Color::DarkGray).fg(Color::White);
    let width = area.width as usize;
    // The server's name gives way first: on a narrow terminal the activity
    // after it is all there is of the buffer list.
    if spans_width(&parts) > width {
        parts[server_at] = Span::raw(" ");
    }
    // Cut to the width, whole graphemes only: the status has one row.
    let text: String = parts.iter().map(|span| span.content.as_ref()).collect();
    let fits = text::width(&text) <= width;
    let row = if fits {
        Row::from(parts)
    } else {
        Row::from(cut(&text, width))
    };
    frame.render_widget(Paragraph::new(row).style(style), area);
}

fn spans_width(spans: &[Span]) -> usize {
    spans.iter().map(|span| text::width(&span.content)).sum()
}

fn draw_input(
    frame: &mut Frame,
    area: Rect,
    prompt: &str,
    view: &View,
    rows: &[String],
    cursor: (usize, usize),
) {
    if let Some(lines) = view.confirm_paste {
        let question = format!(
            "Send the {lines} pasted lines as {lines} messages? y: send · n: cancel · e: edit"
        );
        let row = Row::from(Span::styled(
            cut(&question, area.width as usize),
            Style::default().fg(Color::Yellow),
        ));
        frame.render_widget(Paragraph::new(row), area);
        return;
    }
    let prompt_width = text::width(prompt);
    let height = area.height as usize;
    if height == 0 {
        return;
    }
    // The window of input rows that holds the cursor.
    let first = (cursor.0 + 1).saturating_sub(height);
    let mut shown = Vec::new();
    for (number, row) in rows.iter().enumerate().skip(first).take(height) {
        let lead = if number == 0 {
            Span::styled(prompt.to_owned(), Style::default().fg(Color::Cyan))
        } else {
            Span::raw(" ".repeat(prompt_width))
        };
        shown.push(Row::from(vec![lead, Span::raw(row.clone())]));
    }
    frame.render_widget(Paragraph::new(shown), area);
    let x = area.x as usize + prompt_width + cursor.1;
    let y = area.y as usize + cursor.0.saturating_sub(first);
    if x < (area.x + area.width) as usize && y < (area.y + area.height) as usize {
        frame.set_cursor_position(Position::new(x as u16, y as u16));
    }
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::client::core::update::Update;
    use crate::protocol::frames::Message;
    use crate::protocol::incoming::JoinAnswer;
    use crate::protocol::names::{Nick, RoomName};
    use crate::protocol::request::Target;

    fn nick(name: &str) -> Nick {
        Nick::parse(name).unwrap()
    }

    fn connected(now: Instant) -> Buffers {
        let mut buffers = Buffers::new("chat.example:7667");
        buffers.apply(
            Update::Connected {
                server: "chat.example".into(),
                version: "0.1.0".into(),
                nick: nick("alice"),
                motd: Some("welcome".into()),
            },
            now,
        );
        buffers
    }

    /// A session with a long nick, a long topic, a tall message, a pending
    /// one and a marker: everything that could overflow a small screen.
    fn crowded() -> Buffers {
        let now = Instant::now();
        let room = RoomName::parse("general").unwrap();
        let mut buffers = connected(now);
        let long_nick = "n".repeat(32);
        let history = (1..=3)
            .map(|seq| {
                ServerEvent::Known(Event::Message(Message {
                    room: Some(room.clone()),
                    to: None,
                    seq: Some(seq),
                    ts: "2026-12-01T10:00:00Z".into(),
                    from: nick(&long_nick),
                    text: "word ".repeat(40) + "alice\n\n\n\u{200b}日本語",
                    action: seq == 2,
                }))
            })
            .collect();
        buffers.apply(
            Update::Joined {
                answer: JoinAnswer {
                    room: room.clone(),
                    topic: "a topic ".repeat(30),
                    members: vec![nick("alice"), nick(&long_nick)],
                    epoch: None,
                    history,
                    more: true,
                },
                current: true,
            },
            now,
        );
        buffers.apply(
            Update::Pending {
                target: Target::Room(room.clone()),
                text: "on its way".into(),
                action: false,
            },
            now,
        );
        buffers.apply(Update::Restarted(room), now);
        buffers
    }

    /// Connected as alice, in #general with `count` messages of bob's
    /// (`line 001`…) and older ones left on the server.
    fn long_room(count: u64) -> Buffers {
        let now = Instant::now();
        let room = RoomName::parse("general").unwrap();
        let mut buffers = connected(now);
        let history = (1..=count)
            .map(|seq| {
                ServerEvent::Known(Event::Message(Message {
                    room: Some(room.clone()),
                    to: None,
                    seq: Some(seq + 100),
                    ts: "2026-12-01T10:00:00Z".into(),
                    from: nick("bob"),
                    text: format!("line {seq:03}"),
                    action: false,
                }))
            })
            .collect();
        let answer = JoinAnswer {
            room,
            topic: String::new(),
            members: vec![nick("alice"), nick("bob")],
            epoch: None,
            history,
            more: true,
        };
        buffers.apply(
            Update::Joined {
                answer,
                current: true,
            },
            now,
        );
        buffers
    }

    #[test]
    fn any_size_of_terminal_draws_without_a_panic() {
        let buffers = crowded();
        let mut editor = Editor::new();
        editor.insert_str("a line\nof input\nthat is long enough to wrap a few times over");
        let mut drawn_sizes = 0;
        for width in 0..=24 {
            for height in 0..=8 {
                for expanded in [false, true] {
                    let view = View {
                        editor: &editor,
                        scroll: 3,
                        expanded,
                        confirm_paste: None,
                        now: Instant::now(),
                        zone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
                        color: width % 2 == 0,
                    };
                    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
                    terminal
                        .draw(|frame| {
                            draw(frame, &buffers, &view);
                        })
                        .unwrap();
                    drawn_sizes += 1;
                }
            }
        }
        assert_eq!(drawn_sizes, 25 * 9 * 2);
    }

    /// Draws at 50×20 (no buffer list), `scroll` rows up; what drawing found
    /// out and the rows of the screen as text.
    fn render(buffers: &Buffers, scroll: usize) -> (Drawn, Vec<String>) {
        let mut terminal = Terminal::new(TestBackend::new(50, 20)).unwrap();
        let editor = Editor::new();
        let view = View {
            editor: &editor,
            scroll,
            expanded: false,
            confirm_paste: None,
            now: Instant::now(),
            zone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
            color: true,
        };
        let mut drawn = Drawn::default();
        terminal
            .draw(|frame| drawn = draw(frame, buffers, &view))
            .unwrap();
        let screen = terminal.backend().buffer();
        let rows = (0..screen.area.height)
            .map(|y| {
                (0..screen.area.width)
                    .map(|x| screen[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect();
        (drawn, rows)
    }

    #[test]
    fn page_up_can_scroll_a_buffer_longer_than_the_screen() {
        let buffers = long_room(100);
        let (drawn, rows) = render(&buffers, 0);
        // 20 rows less the topic, the status and the input.
        assert_eq!(drawn.page_rows, 17);
        assert!(rows[17].contains("line 100"), "{rows:#?}");
        assert!(
            drawn.max_scroll >= drawn.page_rows - 1,
            "a whole PgUp must fit above the newest lines: {drawn:?}"
        );
        assert!(!drawn.top_reached);
    }

    #[test]
    fn paging_up_reaches_the_oldest_line_loaded_and_says_more_are_on_the_server() {
        let buffers = long_room(100);
        let mut scroll = 0;
        let mut pages = 0;
        let rows = loop {
            let (drawn, rows) = render(&buffers, scroll);
            if drawn.top_reached {
                break rows;
            }
            // What App does with PgUp.
            let next = (scroll + drawn.page_rows - 1).min(drawn.max_scroll);
            assert!(next > scroll, "PgUp did not move at {scroll}: {drawn:?}");
            scroll = next;
            pages += 1;
            assert!(pages <= 10, "PgUp went on past the top: {drawn:?}");
        };
        // 101 rows (the lines and the note) less the 17 shown: 84 rows above,
        // 16 a PgUp.
        assert_eq!(pages, 6);
        assert!(
            rows[1].contains("older messages: scroll up to fetch them"),
            "{rows:#?}"
        );
        assert!(rows[2].contains("<bob> line 001"), "{rows:#?}");
    }

    #[test]
    fn moderation_reads_as_sentences_and_the_status_names_the_account() {
        use crate::protocol::frames::{RoomAction, Sanction};
        let now = Instant::now();
        let room = RoomName::parse("ops").unwrap();
        let mut buffers = connected(now);
        buffers.apply(Update::LoggedIn(Some(nick("alice"))), now);
        let answer = JoinAnswer {
            room: room.clone(),
            topic: String::new(),
            members: vec![nick("alice"), nick("bob")],
            epoch: None,
            history: Vec::new(),
            more: false,
        };
        buffers.apply(
            Update::Joined {
                answer,
                current: true,
            },
            now,
        );
        let ban = Event::Ban(Sanction {
            action: RoomAction {
                room,
                seq: 3,
                ts: "2026-11-21T10:15:00Z".into(),
                by: nick("alice"),
            },
            account: Some(nick("bob")),
            nick: None,
            reason: Some("spam".into()),
            until: Some("2026-11-21T12:15:00Z".into()),
        });
        buffers.apply(Update::Event(ServerEvent::Known(ban)), now);
        let (_, rows) = render(&buffers, 0);
        let screen = rows.join("\n");
        // Dimmed like a join, wrapped under its text.
        assert!(
            rows[16].starts_with("10:15 -- alice banned bob until 2026-11-21 12:15:"),
            "{screen}"
        );
        assert_eq!(rows[17].trim(), "spam", "{screen}");
        assert!(rows[18].contains("online · logged in as alice"), "{screen}");
    }
}
