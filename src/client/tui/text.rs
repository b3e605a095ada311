//! Text as the full-screen client shows it: what a chat message looks like once
//! nothing in it can fake the screen, how it wraps and folds into rows, a
//! nick's colour, and where the user's nick is mentioned.
//!
//! `render::clean_text` only makes control characters harmless for line mode.
//! On a screen that is not enough: ratatui silently drops zero-width
//! characters, so `al\u{200b}ice` would draw as `alice`, and a message of
//! format characters would draw as nothing at all. Here every control,
//! format and otherwise invisible character becomes a visible mark
//! ([`Run::mark`]), which the face draws reversed or dim, so two different
//! texts never look the same and no text can hide. Widths are measured the
//! way ratatui's buffer measures them ([`CellWidth`] per grapheme cluster), so
//! the rows computed here are the rows drawn.

use std::ops::Range;

use ratatui::buffer::CellWidth;
use ratatui::style::Color;
use unicode_segmentation::UnicodeSegmentation;

/// A piece of displayed text: either the sender's own characters or a mark
/// this module made for a character that would not show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// What to draw.
    pub text: String,
    /// `true` for a mark (`^[`, `\u{fffd}` for DEL and C1, `<U+200B>`), which
    /// the face draws reversed or dim so it cannot pass for typed text.
    pub mark: bool,
}

impl Run {
    fn plain(text: impl Into<String>) -> Run {
        Run {
            text: text.into(),
            mark: false,
        }
    }

    fn marked(text: impl Into<String>) -> Run {
        Run {
            text: text.into(),
            mark: true,
        }
    }
}

/// Tab stops, in columns from the start of the message's line.
const TAB_STOP: usize = 4;

/// The zero width joiner, kept only inside an emoji sequence.
const ZWJ: char = '\u{200d}';
/// U+E007F, which ends an emoji tag sequence.
const CANCEL_TAG: char = '\u{e007f}';

/// `text` as it will be shown: `\n` kept as a line break, tabs expanded to
/// the next multiple of 4 columns, and every other control or invisible
/// character turned into a mark. Plain text comes out in as few runs as
/// possible; each mark is a run of its own, so [`wrap`] keeps it whole.
pub fn display_runs(text: &str) -> Vec<Run> {
    expand_graphemes(mark_characters(text))
}

/// The first pass, by character: controls and format characters become marks,
/// except the joiners and selectors that belong to an emoji.
fn mark_characters(text: &str) -> Vec<Run> {
    let chars: Vec<char> = text.chars().collect();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let flag = tag_flag_len(&chars[i..]);
        if flag > 0 {
            push_plain(&mut runs, &chars[i..i + flag].iter().collect::<String>());
            i += flag;
            continue;
        }
        match c {
            '\n' | '\t' => push_plain(&mut runs, c.encode_utf8(&mut [0; 4])),
            '\u{0}'..='\u{1f}' => runs.push(Run::marked(format!("^{}", (b'@' + c as u8) as char))),
            '\u{7f}'..='\u{9f}' => runs.push(Run::marked("\u{fffd}")),
            ZWJ if joins_emoji(&chars, i) => push_plain(&mut runs, c.encode_utf8(&mut [0; 4])),
            '\u{fe0e}' | '\u{fe0f}' if selects_emoji(&chars, i) => {
                push_plain(&mut runs, c.encode_utf8(&mut [0; 4]))
            }
            c if is_invisible(c) => runs.push(Run::marked(code_point(c))),
            c => push_plain(&mut runs, c.encode_utf8(&mut [0; 4])),
        }
        i += 1;
    }
    runs
}

/// The second pass, by grapheme cluster of the plain runs: tabs expand, and a
/// cluster that still has no width (a lone combining mark, a lone Hangul
/// vowel) becomes a mark, since ratatui would draw nothing for it.
fn expand_graphemes(runs: Vec<Run>) -> Vec<Run> {
    let mut out = Vec::with_capacity(runs.len());
    let mut column = 0;
    for run in runs {
        if run.mark {
            column += width(&run.text);
            out.push(run);
            continue;
        }
        for grapheme in run.text.graphemes(true) {
            match grapheme {
                "\n" => {
                    column = 0;
                    push_plain(&mut out, grapheme);
                }
                "\t" => {
                    let spaces = TAB_STOP - column % TAB_STOP;
                    column += spaces;
                    push_plain(&mut out, &" ".repeat(spaces));
                }
                _ => match width(grapheme) {
                    0 => {
                        let mark: String = grapheme.chars().map(code_point).collect();
                        column += mark.len();
                        out.push(Run::marked(mark));
                    }
                    w => {
                        column += w;
                        push_plain(&mut out, grapheme);
                    }
                },
            }
        }
    }
    out
}

fn push_plain(runs: &mut Vec<Run>, text: &str) {
    match runs.last_mut() {
        Some(last) if !last.mark => last.text.push_str(text),
        _ => runs.push(Run::plain(text)),
    }
}

fn code_point(c: char) -> String {
    format!("<U+{:04X}>", c as u32)
}

/// Characters that draw as nothing, or change how their neighbours draw:
/// Unicode's format characters (category Cf), the default-ignorable ones,
/// the line and paragraph separators, and the blanks that are letters (so
/// they are not whitespace and a message of them would look empty).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{ad}' | '\u{34f}' | '\u{600}'..='\u{605}' | '\u{61c}' | '\u{6dd}' | '\u{70f}'
        | '\u{890}'..='\u{891}' | '\u{8e2}' | '\u{115f}'..='\u{1160}' | '\u{17b4}'..='\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{2800}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}'
        | '\u{feff}' | '\u{ffa0}' | '\u{fff0}'..='\u{fffb}' | '\u{110bd}' | '\u{110cd}'
        | '\u{13430}'..='\u{1343f}' | '\u{1bca0}'..='\u{1bca3}' | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e0fff}')
}

/// Extended_Pictographic, approximated by the blocks emoji come from (it
/// errs towards keeping a joiner between two symbols, which hides nothing).
fn is_pictographic(c: char) -> bool {
    matches!(c,
        '\u{a9}' | '\u{ae}' | '\u{203c}' | '\u{2049}' | '\u{2122}' | '\u{2139}'
        | '\u{2194}'..='\u{2199}' | '\u{21a9}'..='\u{21aa}' | '\u{231a}'..='\u{231b}'
        | '\u{2328}' | '\u{2388}' | '\u{23cf}' | '\u{23e9}'..='\u{23f3}'
        | '\u{23f8}'..='\u{23fa}' | '\u{24c2}' | '\u{25aa}'..='\u{25ab}' | '\u{25b6}'
        | '\u{25c0}' | '\u{25fb}'..='\u{25fe}' | '\u{2600}'..='\u{27bf}'
        | '\u{2934}'..='\u{2935}' | '\u{2b05}'..='\u{2b07}' | '\u{2b1b}'..='\u{2b1c}'
        | '\u{2b50}' | '\u{2b55}' | '\u{3030}' | '\u{303d}' | '\u{3297}' | '\u{3299}'
        | '\u{1f000}'..='\u{1f1e5}' | '\u{1f200}'..='\u{1f3fa}' | '\u{1f400}'..='\u{1faff}'
        | '\u{1fc00}'..='\u{1fffd}')
}

/// The skin-tone modifiers, which sit between an emoji and its joiner.
fn is_emoji_modifier(c: char) -> bool {
    matches!(c, '\u{1f3fb}'..='\u{1f3ff}')
}

/// A joiner at `i` between two pictographs (the one before may carry a
/// presentation selector or skin tone): 👨‍👩‍👧, 🏳️‍🌈, 👩🏽‍💻.
fn joins_emoji(chars: &[char], i: usize) -> bool {
    let before = chars[..i]
        .iter()
        .rev()
        .find(|&&c| !matches!(c, '\u{fe0e}' | '\u{fe0f}') && !is_emoji_modifier(c));
    let after = chars.get(i + 1);
    before.is_some_and(|&c| is_pictographic(c)) && after.is_some_and(|&c| is_pictographic(c))
}

/// A text or emoji presentation selector at `i` right after a pictograph
/// (❤️), or after the base of a keycap (1️⃣).
fn selects_emoji(chars: &[char], i: usize) -> bool {
    let Some(&before) = i.checked_sub(1).and_then(|b| chars.get(b)) else {
        return false;
    };
    let keycap = matches!(before, '0'..='9' | '#' | '*') && chars.get(i + 1) == Some(&'\u{20e3}');
    is_pictographic(before) || keycap
}

/// The length in characters of a subdivision flag (🏴 then tag letters then
/// the cancel tag) at the start of `chars`, or 0. Only the three flags that
/// exist are kept, so tag characters cannot smuggle hidden text behind a 🏴.
fn tag_flag_len(chars: &[char]) -> usize {
    const FLAGS: [&str; 3] = ["gbeng", "gbsct", "gbwls"];
    if chars.first() != Some(&'\u{1f3f4}') {
        return 0;
    }
    let tags: String = chars[1..]
        .iter()
        .take_while(|&&c| ('\u{e0020}'..='\u{e007e}').contains(&c))
        .filter_map(|&c| char::from_u32(c as u32 - 0xe0000))
        .collect();
    let end = 1 + tags.len();
    if FLAGS.contains(&tags.as_str()) && chars.get(end) == Some(&CANCEL_TAG) {
        end + 1
    } else {
        0
    }
}

/// Nothing visible at all: only whitespace and line breaks, and no marks.
/// The face shows "(blank message)" instead.
pub fn is_blank(runs: &[Run]) -> bool {
    runs.iter()
        .all(|run| !run.mark && run.text.chars().all(char::is_whitespace))
}

/// Columns `s` takes on screen: the sum over its grapheme clusters of the
/// width ratatui gives each (wide CJK and emoji count 2). Clusters holding a
/// control character count 0, as ratatui does not draw them.
pub fn width(s: &str) -> usize {
    s.graphemes(true).map(grapheme_width).sum()
}

fn grapheme_width(grapheme: &str) -> usize {
    if grapheme.contains(char::is_control) {
        0
    } else {
        usize::from(grapheme.cell_width())
    }
}

/// Breaks runs into rows: the first row holds at most `first_width` columns,
/// every later row `width`. The face draws `HH:MM <nick> ` before row 0 and an
/// indent of the same size before the others, so no continuation row starts at
/// column 0 and no text can line up like a message of its own.
///
/// Rows break at spaces when the next word fits on a row, else inside the
/// word, never inside a grapheme cluster, and before a wide character that
/// does not fit; a mark stays whole unless it is wider than a row. `\n` starts
/// a new row. The spaces at a break are dropped, as are trailing spaces at the
/// end. A grapheme wider than a whole row gets a row to itself (and is cut by
/// the face), so widths of 0 and 1 still make progress. There is always at
/// least one row.
pub fn wrap(runs: &[Run], first_width: usize, width: usize) -> Vec<Vec<Run>> {
    let units = units(runs);
    let mut rows = Rows::new(first_width, width);
    let mut i = 0;
    while i < units.len() {
        let kind = units[i].kind;
        let len = units[i..].iter().take_while(|u| u.kind == kind).count();
        let group = &units[i..i + len];
        match kind {
            Kind::Newline => group.iter().for_each(|_| rows.end_row()),
            Kind::Space => rows.spaces(len),
            Kind::Word => rows.word(group),
        }
        i += len;
    }
    rows.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Newline,
    Space,
    Word,
}

/// What wrapping moves as one piece: a grapheme of plain text, or a mark.
struct Unit<'a> {
    text: &'a str,
    mark: bool,
    width: usize,
    kind: Kind,
}

fn units(runs: &[Run]) -> Vec<Unit<'_>> {
    let mut units = Vec::new();
    for run in runs {
        if run.mark {
            units.push(Unit {
                text: &run.text,
                mark: true,
                width: width(&run.text),
                kind: Kind::Word,
            });
            continue;
        }
        units.extend(run.text.graphemes(true).map(|g| Unit {
            text: g,
            mark: false,
            width: grapheme_width(g),
            kind: match g {
                "\n" => Kind::Newline,
                " " => Kind::Space,
                _ => Kind::Word,
            },
        }));
    }
    units
}

/// The rows being built, and the one being filled.
struct Rows {
    done: Vec<Vec<Run>>,
    row: Vec<Run>,
    column: usize,
    limit: usize,
    width: usize,
    /// The row holds something besides spaces.
    content: bool,
}

impl Rows {
    fn new(first_width: usize, width: usize) -> Rows {
        Rows {
            done: Vec::new(),
            row: Vec::new(),
            column: 0,
            limit: first_width,
            width,
            content: false,
        }
    }

    fn fits(&self, width: usize) -> bool {
        self.column + width <= self.limit
    }

    fn push(&mut self, text: &str, mark: bool, width: usize) {
        match self.row.last_mut() {
            Some(last) if last.mark == mark => last.text.push_str(text),
            _ => self.row.push(Run {
                text: text.to_owned(),
                mark,
            }),
        }
        self.column += width;
        self.content |= mark || text.bytes().any(|b| b != b' ');
    }

    /// Closes the row, without its trailing spaces, and opens the next.
    fn end_row(&mut self) {
        while let Some(last) = self.row.last_mut().filter(|run| !run.mark) {
            let kept = last.text.trim_end_matches(' ').len();
            last.text.truncate(kept);
            if !last.text.is_empty() {
                break;
            }
            self.row.pop();
        }
        self.done.push(std::mem::take(&mut self.row));
        self.column = 0;
        self.limit = self.width;
        self.content = false;
    }

    /// A break made by wrapping. A row of nothing but spaces is not worth a
    /// row: its spaces go and the row is reused.
    fn wrap_break(&mut self) {
        if self.content {
            self.end_row();
        } else {
            self.row.clear();
            self.column = 0;
        }
    }

    fn spaces(&mut self, count: usize) {
        if self.fits(count) {
            self.push(&" ".repeat(count), false, count);
        } else {
            self.wrap_break();
        }
    }

    fn word(&mut self, units: &[Unit<'_>]) {
        let total: usize = units.iter().map(|u| u.width).sum();
        if !self.fits(total) && self.content && total <= self.width {
            self.end_row();
        }
        for unit in units {
            self.unit(unit);
        }
    }

    fn unit(&mut self, unit: &Unit<'_>) {
        if !self.fits(unit.width) {
            self.wrap_break();
        }
        if self.fits(unit.width) || !unit.mark {
            // On an empty row a grapheme goes in even when it is too wide:
            // that is what guarantees progress at any width.
            self.push(unit.text, unit.mark, unit.width);
            return;
        }
        for grapheme in unit.text.graphemes(true) {
            let width = grapheme_width(grapheme);
            if !self.fits(width) && self.column > 0 {
                self.wrap_break();
            }
            self.push(grapheme, true, width);
        }
    }

    fn finish(mut self) -> Vec<Vec<Run>> {
        self.end_row();
        self.done
    }
}

/// Folds a long message. First every run of blank rows (nothing but spaces)
/// collapses to one blank row, whatever `max_rows` is, so even the expanded
/// view (`fold(rows, usize::MAX)`) of 1,000 newlines takes a few rows. Then,
/// when more than `max_rows` rows remain, the first `max_rows - 1` are kept
/// and the count of the others is returned, for the face's last row
/// "… N more lines (Ctrl-O shows all)"; N counts rows after the collapse.
/// Otherwise every row comes back with 0.
pub fn fold(rows: Vec<Vec<Run>>, max_rows: usize) -> (Vec<Vec<Run>>, usize) {
    let mut rows = collapse_blank_rows(rows);
    if rows.len() <= max_rows {
        return (rows, 0);
    }
    let kept = max_rows.saturating_sub(1);
    let hidden = rows.len() - kept;
    rows.truncate(kept);
    (rows, hidden)
}

fn collapse_blank_rows(rows: Vec<Vec<Run>>) -> Vec<Vec<Run>> {
    let mut out: Vec<Vec<Run>> = Vec::with_capacity(rows.len());
    for row in rows {
        let blank = is_blank(&row);
        if blank && out.last().is_some_and(|last| is_blank(last)) {
            continue;
        }
        out.push(row);
    }
    out
}

/// Nick colours: readable on dark and light backgrounds alike, and named
/// ANSI colours so the user's terminal theme decides the exact shade.
const NICK_PALETTE: [Color; 12] = [
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
];

/// The colour a nick is drawn in: FNV-1a (64-bit) of the nick in ASCII lower
/// case (nicks are unique case-insensitively), so `Alice` and `alice` match
/// and every run on every machine gives the same colour.
pub fn nick_color(nick: &str) -> Color {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let hash = nick
        .bytes()
        .map(|b| b.to_ascii_lowercase())
        .fold(OFFSET, |hash, b| (hash ^ u64::from(b)).wrapping_mul(PRIME));
    NICK_PALETTE[(hash % NICK_PALETTE.len() as u64) as usize]
}

/// Where `nick` appears in `text` as a whole word, as byte ranges of `text`:
/// ASCII case-insensitive (nicks are ASCII), and not next to a word character
/// (an ASCII letter or digit, `_`, `-`), so `bob` is found in `@bob:` but
/// not in `bobby`.
pub fn mention_ranges(text: &str, nick: &str) -> Vec<Range<usize>> {
    let (text, nick) = (text.as_bytes(), nick.as_bytes());
    let mut ranges = Vec::new();
    if nick.is_empty() {
        return ranges;
    }
    let mut start = 0;
    while start + nick.len() <= text.len() {
        let end = start + nick.len();
        let whole_word = (start == 0 || !is_word_byte(text[start - 1]))
            && text.get(end).is_none_or(|&b| !is_word_byte(b));
        if whole_word && text[start..end].eq_ignore_ascii_case(nick) {
            ranges.push(start..end);
            start = end;
        } else {
            start += 1;
        }
    }
    ranges
}

/// Whether `text` mentions `nick` (see [`mention_ranges`]).
pub fn mentions(text: &str, nick: &str) -> bool {
    !mention_ranges(text, nick).is_empty()
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as the face draws it, with marks in brackets.
    fn show(row: &[Run]) -> String {
        row.iter()
            .map(|run| match run.mark {
                true => format!("[{}]", run.text),
                false => run.text.clone(),
            })
            .collect()
    }

    fn shown(text: &str) -> String {
        show(&display_runs(text))
    }

    fn rows(text: &str, first_width: usize, width: usize) -> Vec<String> {
        wrap(&display_runs(text), first_width, width)
            .iter()
            .map(|row| show(row))
            .collect()
    }

    #[test]
    fn controls_show_in_caret_notation_as_marks() {
        assert_eq!(
            shown("a\u{1b}[2Jb\u{7}c\rd\u{7f}e\u{9b}f"),
            "a[^[][2Jb[^G]c[^M]d[\u{fffd}]e[\u{fffd}]f"
        );
        assert_eq!(shown("one\ntwo"), "one\ntwo");
    }

    #[test]
    fn tabs_expand_to_the_next_stop() {
        assert_eq!(shown("\tx"), "    x");
        assert_eq!(shown("ab\tc\n1234\t5"), "ab  c\n1234    5");
    }

    #[test]
    fn invisible_characters_show_as_marks() {
        assert_eq!(shown("al\u{200b}ice"), "al[<U+200B>]ice");
        let listed = [
            '\u{ad}',
            '\u{34f}',
            '\u{61c}',
            '\u{115f}',
            '\u{1160}',
            '\u{17b4}',
            '\u{17b5}',
            '\u{180b}',
            '\u{180e}',
            '\u{180f}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{2028}',
            '\u{2029}',
            '\u{202a}',
            '\u{202e}',
            '\u{2060}',
            '\u{2066}',
            '\u{206f}',
            '\u{2800}',
            '\u{3164}',
            '\u{feff}',
            '\u{ffa0}',
            '\u{fff9}',
            '\u{fffb}',
            '\u{e0000}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{600}',
            '\u{1d173}',
            '\u{fe0f}',
        ];
        for c in listed {
            let runs = display_runs(&format!("x{c}y"));
            let expected = format!("<U+{:04X}>", c as u32);
            assert_eq!(runs.len(), 3, "{expected}: {runs:?}");
            assert_eq!(runs[1], Run::marked(expected));
        }
        assert_eq!(listed.len(), 34);
    }

    #[test]
    fn characters_ratatui_would_not_draw_become_marks() {
        // A lone Hangul vowel and a combining mark with nothing to sit on
        // have no width of their own.
        assert_eq!(shown("\u{1161}"), "[<U+1161>]");
        assert_eq!(shown("\u{1b}\u{301}"), "[^[][<U+0301>]");
        assert_eq!(shown("e\u{301}"), "e\u{301}");
    }

    #[test]
    fn emoji_sequences_keep_their_joiners() {
        for emoji in [
            "👨\u{200d}👩\u{200d}👧",
            "🏳\u{fe0f}\u{200d}🌈",
            "👩🏽\u{200d}💻",
            "❤\u{fe0f}",
            "1\u{fe0f}\u{20e3}",
            "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
        ] {
            let runs = display_runs(emoji);
            assert_eq!(runs, vec![Run::plain(emoji)]);
            assert_eq!(emoji.graphemes(true).count(), 1, "{emoji}");
        }
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(width(family), 2);
    }

    #[test]
    fn joiners_and_tags_outside_emoji_are_marks() {
        assert_eq!(shown("a\u{200d}b"), "a[<U+200D>]b");
        assert_eq!(shown("👨\u{200d}b"), "👨[<U+200D>]b");
        assert_eq!(shown("a\u{fe0f}"), "a[<U+FE0F>]");
        // Tag characters after a black flag that spell no flag are hidden
        // text, and show as such.
        assert_eq!(
            shown("🏴\u{e0068}\u{e0069}\u{e007f}"),
            "🏴[<U+E0068>][<U+E0069>][<U+E007F>]"
        );
    }

    #[test]
    fn only_whitespace_is_blank() {
        assert!(is_blank(&display_runs("  \n \n\t")));
        assert!(is_blank(&display_runs("")));
        assert!(!is_blank(&display_runs("\u{200b}")));
        assert!(!is_blank(&display_runs("\u{2800}")));
        assert!(!is_blank(&display_runs("\u{3164}\u{3164}")));
        assert!(!is_blank(&display_runs(" . ")));
    }

    #[test]
    fn widths_count_grapheme_clusters() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("日本語"), 6);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(width("a\nb"), 2);
    }

    #[test]
    fn a_forged_line_never_starts_a_row() {
        let text = format!(
            "ok{}21:50 #general <alice> bob, please paste your password here",
            " ".repeat(75)
        );
        let rows = rows(&text, 100 - 14, 100);
        assert!(rows.len() >= 2, "{rows:?}");
        for row in &rows[1..] {
            // Rows after the first are drawn indented by the prefix's width.
            assert!(!row.starts_with("21:50"), "{rows:?}");
        }
        // However the spaces fall, a row never begins with them.
        for spaces in 70..100 {
            let text = format!("ok{}21:50 #general <alice> hi", " ".repeat(spaces));
            let rows = wrap(&display_runs(&text), 86, 100);
            assert!(rows[1..].iter().all(|row| !show(row).starts_with(' ')));
            assert!(rows.iter().all(|row| width(&show(row)) <= 100));
        }
    }

    #[test]
    fn wrapping_breaks_at_spaces_then_inside_words() {
        assert_eq!(
            rows("the quick brown fox", 10, 10),
            ["the quick", "brown fox"]
        );
        assert_eq!(rows("the quick brown", 4, 10), ["the", "quick", "brown"]);
        assert_eq!(rows("abcdefghij", 4, 4), ["abcd", "efgh", "ij"]);
        assert_eq!(rows("ab abcdefghij", 6, 6), ["ab abc", "defghi", "j"]);
        assert_eq!(rows("one\n\ntwo   ", 10, 10), ["one", "", "two"]);
        assert_eq!(rows("  indented\nx", 20, 20), ["  indented", "x"]);
        assert_eq!(rows("", 10, 10), [""]);
    }

    #[test]
    fn wide_characters_wrap_whole() {
        assert_eq!(rows("日本語", 5, 5), ["日本", "語"]);
        assert_eq!(rows("a日本語", 4, 4), ["a日", "本語"]);
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(
            rows(&format!("a{family}{family}"), 4, 4),
            [format!("a{family}"), family.to_owned()]
        );
    }

    #[test]
    fn marks_stay_whole_unless_wider_than_a_row() {
        assert_eq!(rows("abc\u{200b}", 6, 10), ["abc", "[<U+200B>]"]);
        assert_eq!(rows("\u{200b}", 5, 5), ["[<U+20]", "[0B>]"]);
    }

    #[test]
    fn tiny_widths_still_make_progress() {
        assert_eq!(rows("ab c", 1, 1), ["a", "b", "c"]);
        assert_eq!(rows("日本", 1, 1), ["日", "本"]);
        assert_eq!(rows("ab", 0, 0), ["a", "b"]);
        assert_eq!(rows("ab", 0, 5), ["a", "b"]);
    }

    #[test]
    fn blank_rows_collapse_and_long_messages_fold() {
        let text = format!("top{}bottom", "\n".repeat(1000));
        let wrapped = wrap(&display_runs(&text), 80, 80);
        assert_eq!(wrapped.len(), 1001);
        let (all, hidden) = fold(wrapped.clone(), usize::MAX);
        assert_eq!(
            all.iter().map(|r| show(r)).collect::<Vec<_>>(),
            ["top", "", "bottom"]
        );
        assert_eq!(hidden, 0);
        let (shown_rows, hidden) = fold(wrapped, 2);
        assert_eq!(
            shown_rows.iter().map(|r| show(r)).collect::<Vec<_>>(),
            ["top"]
        );
        assert_eq!(hidden, 2);

        let newlines = wrap(&display_runs(&"\n".repeat(1000)), 80, 80);
        assert!(fold(newlines, usize::MAX).0.len() <= 1);

        let long = wrap(&display_runs("1\n2\n3\n4\n5\n6"), 80, 80);
        let (kept, hidden) = fold(long.clone(), 4);
        assert_eq!((kept.len(), hidden), (3, 3));
        assert_eq!(fold(long.clone(), 6), (long, 0));
    }

    #[test]
    fn nick_colours_are_stable_and_varied() {
        assert_eq!(nick_color("alice"), nick_color("alice"));
        assert_eq!(nick_color("Alice"), nick_color("alice"));
        // FNV-1a is fixed: these are the same on every machine and run.
        assert_eq!(nick_color("alice"), NICK_PALETTE[fnv_index("alice")]);
        let nicks = [
            "alice", "bob", "carol", "dave", "eve", "mallory", "trent", "peggy",
        ];
        let colours: std::collections::HashSet<_> = nicks.iter().map(|n| nick_color(n)).collect();
        assert!(colours.len() >= 3, "{colours:?}");
        for colour in colours {
            assert!(!matches!(
                colour,
                Color::Black | Color::White | Color::Gray | Color::DarkGray | Color::Reset
            ));
        }
    }

    /// FNV-1a written out from its definition, to check the one in use.
    fn fnv_index(nick: &str) -> usize {
        let mut hash: u64 = 14_695_981_039_346_656_037;
        for b in nick.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(1_099_511_628_211);
        }
        (hash % 12) as usize
    }

    #[test]
    fn mentions_are_whole_words_in_any_case() {
        let text = "Bob: bobby and @BOB, bob-x, bob_, x-bob, é bob";
        let found: Vec<&str> = mention_ranges(text, "bob")
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(found, ["Bob", "BOB", "bob"]);
        assert_eq!(&text[mention_ranges(text, "bob")[2].clone()], "bob");
        assert_eq!(mention_ranges(text, "bob")[2].end, text.len());
        assert!(mentions("hi alice.", "Alice"));
        assert!(!mentions("malice", "alice"));
        assert!(!mentions("anything", ""));
    }
}
