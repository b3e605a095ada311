//! The full-screen client's input line: the text being typed (several lines
//! when the user asks for them), a cursor that always sits between two
//! grapheme clusters, the editing keys, the history Up and Down recall, and
//! the rows the text takes on screen. No terminal here: the face maps keys to
//! these calls and draws what [`Editor::layout`] returns.
//!
//! A line carrying a password (`/login`, `/register`, `/password`,
//! `/unregister`: [`commands::secret_from`]) is drawn with its arguments as
//! `*`s and never joins the history.

use std::collections::VecDeque;

use unicode_segmentation::{GraphemeCursor, UnicodeSegmentation};

use crate::client::commands;

use super::text;

/// Entries the history keeps in memory; the oldest go first.
pub const HISTORY_LIMIT: usize = 500;

/// Tab stops in the drawn input, in columns from the start of a row.
const TAB_STOP: usize = 4;

/// The input line and its history.
#[derive(Debug, Clone, Default)]
pub struct Editor {
    text: String,
    /// A byte offset into `text`, always at a grapheme cluster boundary.
    cursor: usize,
    history: VecDeque<String>,
    /// The history entry shown while the user recalls with Up and Down.
    recalled: Option<usize>,
    /// What was being typed before the first Up; Down past the newest entry
    /// gives it back.
    draft: String,
}

impl Editor {
    /// An empty line with an empty history.
    pub fn new() -> Editor {
        Editor::default()
    }

    /// The text, `\n` between its lines.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The cursor, as a byte offset into [`Editor::text`].
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Types one character at the cursor (see [`Editor::insert_str`]).
    pub fn insert(&mut self, c: char) {
        self.insert_str(c.encode_utf8(&mut [0; 4]));
    }

    /// Inserts text at the cursor, as a paste does: CR LF and lone CR become
    /// `\n`, and control characters other than `\n` and `\t` are dropped, as
    /// the server refuses them in a message.
    pub fn insert_str(&mut self, text: &str) {
        let text = normalize(text);
        self.text.insert_str(self.cursor, &text);
        // What was inserted may combine with the cluster after it (an accent
        // typed before a letter's accent): the cursor goes after the cluster.
        self.cursor = self.boundary_at_or_after(self.cursor + text.len());
    }

    /// Starts a new line in the input (Alt-Enter).
    pub fn newline(&mut self) {
        self.insert('\n');
    }

    /// Deletes the grapheme cluster before the cursor.
    pub fn backspace(&mut self) {
        let start = self.previous_boundary(self.cursor);
        self.remove(start..self.cursor);
    }

    /// Deletes the grapheme cluster after the cursor.
    pub fn delete(&mut self) {
        let end = self.next_boundary(self.cursor);
        self.remove(self.cursor..end);
    }

    /// Moves one grapheme cluster left.
    pub fn left(&mut self) {
        self.cursor = self.previous_boundary(self.cursor);
    }

    /// Moves one grapheme cluster right.
    pub fn right(&mut self) {
        self.cursor = self.next_boundary(self.cursor);
    }

    /// Moves to the start of the cursor's line.
    pub fn home(&mut self) {
        self.cursor = self.line_start();
    }

    /// Moves to the end of the cursor's line.
    pub fn end(&mut self) {
        self.cursor = self.line_end();
    }

    /// Moves to the start of the word before the cursor (words are separated
    /// by whitespace).
    pub fn word_left(&mut self) {
        self.cursor = self.word_start();
    }

    /// Moves to the end of the word after the cursor.
    pub fn word_right(&mut self) {
        let mut position = self.cursor;
        let mut in_word = false;
        for (at, grapheme) in self.text[self.cursor..].grapheme_indices(true) {
            let space = is_space(grapheme);
            if in_word && space {
                break;
            }
            in_word |= !space;
            position = self.cursor + at + grapheme.len();
        }
        self.cursor = position;
    }

    /// Deletes from the start of the word before the cursor to the cursor
    /// (Ctrl-W).
    pub fn kill_word_before(&mut self) {
        let start = self.word_start();
        self.remove(start..self.cursor);
    }

    /// Deletes from the start of the cursor's line to the cursor (Ctrl-U); at
    /// the start of a line, the line break before it, so repeating it keeps
    /// going.
    pub fn kill_to_start(&mut self) {
        let start = match self.line_start() {
            start if start == self.cursor => self.previous_boundary(self.cursor),
            start => start,
        };
        self.remove(start..self.cursor);
    }

    /// Deletes from the cursor to the end of its line (Ctrl-K); at the end of
    /// a line, the line break after it.
    pub fn kill_to_end(&mut self) {
        let end = match self.line_end() {
            end if end == self.cursor => self.next_boundary(self.cursor),
            end => end,
        };
        self.remove(self.cursor..end);
    }

    /// Drops the line (Ctrl-C). It goes into the history first, so Up brings
    /// it back if that was a mistake.
    pub fn clear(&mut self) {
        self.submit();
    }

    /// Takes the text to send and empties the line. The text joins the
    /// history unless it is empty, the same as the newest entry, or carries
    /// a password.
    pub fn submit(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.recalled = None;
        self.draft.clear();
        let secret = commands::secret_from(&text).is_some();
        if !text.is_empty() && !secret && self.history.back() != Some(&text) {
            self.history.push_back(text.clone());
            if self.history.len() > HISTORY_LIMIT {
                self.history.pop_front();
            }
        }
        text
    }

    /// Shows the previous history entry. The first Up keeps the line being
    /// typed, for [`Editor::down`] to give back. Editing a recalled entry does
    /// not change the history; submitting it adds it anew.
    pub fn up(&mut self) {
        let index = match self.recalled {
            None if self.history.is_empty() => return,
            None => {
                self.draft = std::mem::take(&mut self.text);
                self.history.len() - 1
            }
            Some(index) => index.saturating_sub(1),
        };
        self.show_entry(index);
    }

    /// Shows the next history entry; past the newest, the line that was being
    /// typed before the first Up.
    pub fn down(&mut self) {
        match self.recalled {
            None => {}
            Some(index) if index + 1 < self.history.len() => self.show_entry(index + 1),
            Some(_) => {
                self.recalled = None;
                self.text = std::mem::take(&mut self.draft);
                self.cursor = self.text.len();
            }
        }
    }

    /// Replaces the text (a completion), with the cursor at its end; see
    /// [`Editor::set_cursor`] to put it elsewhere.
    pub fn set(&mut self, text: &str) {
        self.text = normalize(text);
        self.cursor = self.text.len();
    }

    /// Moves the cursor to a byte offset, or to the grapheme cluster boundary
    /// before it when it falls inside one (past the end means the end).
    pub fn set_cursor(&mut self, cursor: usize) {
        let mut cursor = cursor.min(self.text.len());
        while !self.text.is_char_boundary(cursor) {
            cursor -= 1;
        }
        self.cursor = match self.grapheme_cursor(cursor).is_boundary(&self.text, 0) {
            Ok(false) => self.previous_boundary(cursor),
            _ => cursor,
        };
    }

    /// The rows the text takes at `width` columns, and the cursor's (row,
    /// column). Rows break where the next grapheme cluster would not fit, and
    /// at each `\n`; tabs are drawn as spaces to the next multiple of 4. A
    /// cursor at the end of a full row goes to the start of the next one (an
    /// empty row if need be), so it always has a cell of its own. The
    /// arguments of a command carrying a password show as `*`s, a cell each.
    pub fn layout(&self, width: usize) -> (Vec<String>, (usize, usize)) {
        let width = width.max(1);
        let secret = commands::secret_from(&self.text).unwrap_or(usize::MAX);
        let mut rows = vec![String::new()];
        let mut column = 0;
        let mut cursor = None;
        for (at, grapheme) in self.text.grapheme_indices(true) {
            if grapheme == "\n" {
                if at == self.cursor {
                    cursor = Some(cursor_cell(&mut rows, &mut column, width));
                }
                rows.push(String::new());
                column = 0;
                continue;
            }
            let (shown, cells) = match grapheme {
                "\t" => {
                    let spaces = TAB_STOP - column % TAB_STOP;
                    (" ".repeat(spaces.min(width)), spaces.min(width))
                }
                _ if at >= secret && !is_space(grapheme) => {
                    let cells = text::width(grapheme);
                    ("*".repeat(cells), cells)
                }
                _ => (grapheme.to_owned(), text::width(grapheme)),
            };
            if column + cells > width && column > 0 {
                rows.push(String::new());
                column = 0;
            }
            if at == self.cursor {
                cursor = Some(cursor_cell(&mut rows, &mut column, width));
            }
            rows.last_mut()
                .expect("rows start non-empty")
                .push_str(&shown);
            column += cells;
        }
        let cursor = cursor.unwrap_or_else(|| cursor_cell(&mut rows, &mut column, width));
        (rows, cursor)
    }

    fn show_entry(&mut self, index: usize) {
        self.recalled = Some(index);
        self.text = self.history[index].clone();
        self.cursor = self.text.len();
    }

    fn remove(&mut self, range: std::ops::Range<usize>) {
        let start = range.start;
        self.text.replace_range(range, "");
        self.cursor = start;
    }

    fn grapheme_cursor(&self, at: usize) -> GraphemeCursor {
        GraphemeCursor::new(at, self.text.len(), true)
    }

    fn previous_boundary(&self, at: usize) -> usize {
        // The whole text is one chunk, so the cursor never asks for more.
        self.grapheme_cursor(at)
            .prev_boundary(&self.text, 0)
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    fn next_boundary(&self, at: usize) -> usize {
        self.grapheme_cursor(at)
            .next_boundary(&self.text, 0)
            .ok()
            .flatten()
            .unwrap_or(self.text.len())
    }

    fn boundary_at_or_after(&self, at: usize) -> usize {
        match self.grapheme_cursor(at).is_boundary(&self.text, 0) {
            Ok(false) => self.next_boundary(at),
            _ => at,
        }
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |at| at + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |at| self.cursor + at)
    }

    /// The start of the word before the cursor: back over whitespace, then
    /// over the word.
    fn word_start(&self) -> usize {
        let mut position = self.cursor;
        let mut in_word = false;
        for (at, grapheme) in self.text[..self.cursor].grapheme_indices(true).rev() {
            let space = is_space(grapheme);
            if in_word && space {
                break;
            }
            in_word |= !space;
            position = at;
        }
        position
    }
}

/// The cursor's cell where the text stands at `column` of the last row,
/// opening a new row when that one is full.
fn cursor_cell(rows: &mut Vec<String>, column: &mut usize, width: usize) -> (usize, usize) {
    if *column >= width {
        rows.push(String::new());
        *column = 0;
    }
    (rows.len() - 1, *column)
}

fn is_space(grapheme: &str) -> bool {
    grapheme.chars().all(char::is_whitespace)
}

fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An editor holding `text` with the cursor where `|` is.
    fn editor(marked: &str) -> Editor {
        let mut editor = Editor::new();
        editor.set(&marked.replace('|', ""));
        editor.set_cursor(marked.find('|').expect("a cursor"));
        editor
    }

    /// The text with `|` at the cursor.
    fn state(editor: &Editor) -> String {
        let mut text = editor.text().to_owned();
        text.insert(editor.cursor(), '|');
        text
    }

    #[test]
    fn typing_inserts_at_the_cursor() {
        let mut e = editor("ac|");
        e.left();
        e.insert('b');
        assert_eq!(state(&e), "ab|c");
        e.insert_str("日本");
        assert_eq!(state(&e), "ab日本|c");
        e.newline();
        assert_eq!(state(&e), "ab日本\n|c");
    }

    #[test]
    fn a_paste_gets_line_breaks_and_loses_controls() {
        let mut e = Editor::new();
        e.insert_str("one\r\ntwo\rthree\n\tfour\u{1b}[2J\u{7}\u{9b}");
        assert_eq!(state(&e), "one\ntwo\nthree\n\tfour[2J|");
        e.insert('\u{0}');
        assert_eq!(e.text(), "one\ntwo\nthree\n\tfour[2J");
    }

    #[test]
    fn an_accent_typed_before_an_accent_keeps_the_cursor_on_a_boundary() {
        let mut e = editor("|\u{301}");
        e.insert('e');
        assert_eq!(state(&e), "e\u{301}|");
    }

    #[test]
    fn backspace_and_delete_take_whole_clusters() {
        let family = "👨\u{200d}👩\u{200d}👧";
        let mut e = editor(&format!("ae\u{301}{family}|日x"));
        e.backspace();
        assert_eq!(state(&e), "ae\u{301}|日x");
        e.backspace();
        assert_eq!(state(&e), "a|日x");
        e.delete();
        assert_eq!(state(&e), "a|x");
        e.delete();
        e.delete();
        assert_eq!(state(&e), "a|");
        e.home();
        e.backspace();
        assert_eq!(state(&e), "|a");
    }

    #[test]
    fn arrows_move_by_cluster() {
        let mut e = editor("|a日👩🏽\u{200d}💻e\u{301}");
        let mut stops = Vec::new();
        for _ in 0..6 {
            e.right();
            stops.push(e.cursor());
        }
        assert_eq!(stops, [1, 4, 19, 22, 22, 22]);
        e.left();
        e.left();
        assert_eq!(e.cursor(), 4);
        e.left();
        e.left();
        e.left();
        assert_eq!(e.cursor(), 0);
    }

    #[test]
    fn home_and_end_stay_on_the_cursors_line() {
        let mut e = editor("one\nt|wo\nthree");
        e.home();
        assert_eq!(state(&e), "one\n|two\nthree");
        e.end();
        assert_eq!(state(&e), "one\ntwo|\nthree");
    }

    #[test]
    fn words_are_separated_by_whitespace() {
        let mut e = editor("hello, big  world|");
        e.word_left();
        assert_eq!(state(&e), "hello, big  |world");
        e.word_left();
        assert_eq!(state(&e), "hello, |big  world");
        e.word_left();
        e.word_left();
        assert_eq!(state(&e), "|hello, big  world");
        e.word_right();
        assert_eq!(state(&e), "hello,| big  world");
        e.word_right();
        e.word_right();
        e.word_right();
        assert_eq!(state(&e), "hello, big  world|");
    }

    #[test]
    fn ctrl_w_kills_the_word_before() {
        let mut e = editor("/msg bob  hi the|re");
        e.kill_word_before();
        assert_eq!(state(&e), "/msg bob  hi |re");
        e.kill_word_before();
        assert_eq!(state(&e), "/msg bob  |re");
        e.kill_word_before();
        assert_eq!(state(&e), "/msg |re");
    }

    #[test]
    fn ctrl_u_and_ctrl_k_kill_to_the_lines_ends_then_join_lines() {
        let mut e = editor("one\ntw|o\nthree");
        e.kill_to_start();
        assert_eq!(state(&e), "one\n|o\nthree");
        e.kill_to_start();
        assert_eq!(state(&e), "one|o\nthree");
        e.kill_to_end();
        assert_eq!(state(&e), "one|\nthree");
        e.kill_to_end();
        assert_eq!(state(&e), "one|three");
        e.kill_to_end();
        e.kill_to_end();
        assert_eq!(state(&e), "one|");
    }

    #[test]
    fn ctrl_c_clears_the_line_into_history() {
        let mut e = editor("a long thought|");
        e.clear();
        assert_eq!(state(&e), "|");
        e.up();
        assert_eq!(state(&e), "a long thought|");
    }

    #[test]
    fn submit_records_history_without_empties_or_repeats() {
        let mut e = Editor::new();
        for line in ["one", "", "two", "two", "one"] {
            e.set(line);
            assert_eq!(e.submit(), line);
            assert!(e.is_empty());
        }
        let mut recalled = Vec::new();
        for _ in 0..4 {
            e.up();
            recalled.push(e.text().to_owned());
        }
        assert_eq!(recalled, ["one", "two", "one", "one"]);
    }

    #[test]
    fn history_keeps_the_newest_entries() {
        let mut e = Editor::new();
        for n in 0..HISTORY_LIMIT + 20 {
            e.set(&n.to_string());
            e.submit();
        }
        for _ in 0..HISTORY_LIMIT + 5 {
            e.up();
        }
        assert_eq!(e.text(), "20");
    }

    #[test]
    fn recall_keeps_the_draft() {
        let mut e = Editor::new();
        e.set("first");
        e.submit();
        e.set("second");
        e.submit();
        e.insert_str("half-typed");
        e.up();
        assert_eq!(state(&e), "second|");
        e.up();
        assert_eq!(e.text(), "first");
        e.down();
        assert_eq!(e.text(), "second");
        e.backspace();
        e.down();
        assert_eq!(state(&e), "half-typed|");
        e.down();
        assert_eq!(e.text(), "half-typed");
        e.up();
        assert_eq!(e.text(), "second", "editing a recalled entry left it alone");
    }

    #[test]
    fn set_cursor_lands_on_a_boundary() {
        let mut e = editor("日e\u{301}|");
        e.set_cursor(1);
        assert_eq!(e.cursor(), 0);
        e.set_cursor(5);
        assert_eq!(e.cursor(), 3);
        e.set_cursor(99);
        assert_eq!(e.cursor(), e.text().len());
    }

    #[test]
    fn layout_wraps_by_width_and_at_line_breaks() {
        assert_eq!(editor("hello|").layout(10), (vec!["hello".into()], (0, 5)));
        assert_eq!(
            editor("abc|defgh").layout(3),
            (vec!["abc".into(), "def".into(), "gh".into()], (1, 0))
        );
        assert_eq!(
            editor("one\ntw|o").layout(10),
            (vec!["one".into(), "two".into()], (1, 2))
        );
        assert_eq!(editor("a\t|b").layout(10), (vec!["a   b".into()], (0, 4)));
    }

    #[test]
    fn layout_moves_wide_characters_and_a_cursor_at_a_full_row() {
        assert_eq!(
            editor("ab日|").layout(3),
            (vec!["ab".into(), "日".into()], (1, 2))
        );
        assert_eq!(
            editor("abc|").layout(3),
            (vec!["abc".into(), "".into()], (1, 0))
        );
        assert_eq!(
            editor("abc|\nd").layout(3),
            (vec!["abc".into(), "".into(), "d".into()], (1, 0))
        );
        assert_eq!(
            editor("日|").layout(0),
            (vec!["日".into(), "".into()], (1, 0))
        );
        assert_eq!(editor("|").layout(5), (vec!["".into()], (0, 0)));
    }

    #[test]
    fn a_password_is_masked_and_never_kept() {
        let mut editor = Editor::new();
        editor.insert_str("/login hunter2 猫");
        let (rows, cursor) = editor.layout(40);
        assert_eq!(rows, ["/login ******* **"]);
        assert_eq!(cursor, (0, 17));
        assert_eq!(editor.submit(), "/login hunter2 猫");
        editor.insert_str("/password old new-one");
        editor.clear();
        editor.insert_str("/register bob s3cretpass");
        editor.submit();
        editor.insert_str("/join ops");
        editor.submit();
        editor.up();
        assert_eq!(editor.text(), "/join ops");
        editor.up();
        assert_eq!(editor.text(), "/join ops", "nothing older was kept");
        // A command that only starts like one is shown as typed.
        editor.set("/logins x");
        assert_eq!(editor.layout(40).0, ["/logins x"]);
    }
}
