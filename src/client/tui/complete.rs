//! Tab completion for the input line: the word before the cursor becomes a
//! command, a room or a nick, and repeated Tabs cycle through the other
//! matches. The face owns the key handling; this owns which word, which
//! candidates, in what order, and what a completed word looks like.

/// What can be completed, as the face knows it at the moment of the Tab.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Nicks in the current room, offered first, in this order.
    pub nicks_here: Vec<String>,
    /// Other nicks the client knows of, offered after those here.
    pub nicks_elsewhere: Vec<String>,
    /// Room names, with or without their `#`.
    pub rooms: Vec<String>,
    /// Command names, with or without their `/`.
    pub commands: Vec<String>,
}

/// The state of a run of Tabs.
#[derive(Debug, Clone, Default)]
pub struct Completer {
    cycle: Option<Cycle>,
}

/// What the last Tab did, so the next one can replace it.
#[derive(Debug, Clone)]
struct Cycle {
    /// Every completed word, suffix included, in the order Tab offers them.
    matches: Vec<String>,
    shown: usize,
    /// Byte offset where the completed word starts.
    start: usize,
    /// The line and cursor the last completion returned: a Tab on anything
    /// else starts afresh, even if the face forgot to call `reset`.
    line: String,
    cursor: usize,
}

impl Completer {
    /// A completer with no run of Tabs under way.
    pub fn new() -> Completer {
        Completer::default()
    }

    /// Completes the word that ends at `cursor` (a byte offset into `line`)
    /// and returns the new line and cursor, or `None` when nothing matches.
    ///
    /// The first word of a line starting with `/` is a command (`/jo` →
    /// `/join `); a word starting with `#` is a room (`#gen` → `#general `);
    /// any other word is a nick, those in the current room first (`bo` →
    /// `bob: ` at the start of the line, `bob ` elsewhere). Matching is by
    /// case-insensitive prefix, and the candidate's own spelling replaces the
    /// word. Called again on the line it returned, it replaces that
    /// completion with the next match, round and round.
    pub fn complete(
        &mut self,
        line: &str,
        cursor: usize,
        candidates: &Candidates,
    ) -> Option<(String, usize)> {
        let cycling = self
            .cycle
            .as_ref()
            .is_some_and(|cycle| cycle.line == line && cycle.cursor == cursor);
        if !cycling {
            self.cycle = start_cycle(line, cursor, candidates);
        }
        let cycle = self.cycle.as_mut()?;
        if cycling {
            cycle.shown = (cycle.shown + 1) % cycle.matches.len();
        }
        let word = &cycle.matches[cycle.shown];
        let new_line = format!("{}{word}{}", &line[..cycle.start], &line[cursor..]);
        let new_cursor = cycle.start + word.len();
        cycle.line = new_line.clone();
        cycle.cursor = new_cursor;
        Some((new_line, new_cursor))
    }

    /// Ends the run of Tabs; the face calls it on any other key.
    pub fn reset(&mut self) {
        self.cycle = None;
    }
}

/// The first Tab: finds the word and its matches, or `None`.
fn start_cycle(line: &str, cursor: usize, candidates: &Candidates) -> Option<Cycle> {
    let before = line.get(..cursor)?;
    let word_len: usize = before
        .chars()
        .rev()
        .take_while(|c| !c.is_whitespace())
        .map(char::len_utf8)
        .sum();
    let start = before.len() - word_len;
    let word = &before[start..];
    if word.is_empty() {
        return None;
    }
    let matches = if start == 0 && word.starts_with('/') {
        prefixed(&candidates.commands, '/', word)
    } else if word.starts_with('#') {
        prefixed(&candidates.rooms, '#', word)
    } else {
        let suffix = if start == 0 { ": " } else { " " };
        let nicks = (candidates.nicks_here.iter())
            .chain(&candidates.nicks_elsewhere)
            .map(String::as_str);
        matching(nicks, word)
            .into_iter()
            .map(|nick| format!("{nick}{suffix}"))
            .collect()
    };
    (!matches.is_empty()).then(|| Cycle {
        matches,
        shown: 0,
        start,
        line: String::new(),
        cursor: 0,
    })
}

/// Completions of a word that starts with `sigil` (`/` or `#`) among names
/// given with or without it.
fn prefixed(names: &[String], sigil: char, word: &str) -> Vec<String> {
    let names = names
        .iter()
        .map(|name| name.strip_prefix(sigil).unwrap_or(name));
    matching(names, &word[sigil.len_utf8()..])
        .into_iter()
        .map(|name| format!("{sigil}{name} "))
        .collect()
}

/// The names that start with `prefix`, ignoring case, in the order given and
/// each spelling once (a nick both here and elsewhere is offered once).
fn matching<'a>(names: impl Iterator<Item = &'a str>, prefix: &str) -> Vec<&'a str> {
    let prefix = prefix.to_lowercase();
    let mut found: Vec<(&str, String)> = Vec::new();
    for name in names {
        let lower = name.to_lowercase();
        if lower.starts_with(&prefix) && !found.iter().any(|(_, seen)| *seen == lower) {
            found.push((name, lower));
        }
    }
    found.into_iter().map(|(name, _)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates() -> Candidates {
        let strings = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        Candidates {
            nicks_here: strings(&["bob", "Bobby", "alice"]),
            nicks_elsewhere: strings(&["boris", "BOB", "carol"]),
            rooms: strings(&["general", "#gentoo", "ops"]),
            commands: strings(&["join", "/jump", "leave", "msg"]),
        }
    }

    /// Tab on `line` with the cursor at `|`; the result with `|` at the cursor.
    fn tab(completer: &mut Completer, marked: &str) -> Option<String> {
        let cursor = marked.find('|').expect("a cursor");
        let line = marked.replace('|', "");
        let (mut line, cursor) = completer.complete(&line, cursor, &candidates())?;
        line.insert(cursor, '|');
        Some(line)
    }

    fn once(marked: &str) -> Option<String> {
        tab(&mut Completer::new(), marked)
    }

    #[test]
    fn the_first_word_after_a_slash_is_a_command() {
        assert_eq!(once("/jo|").as_deref(), Some("/join |"));
        assert_eq!(once("/JU|").as_deref(), Some("/jump |"));
        assert_eq!(once("/x|"), None);
        // Not the first word: a nick.
        assert_eq!(once("/msg bo|").as_deref(), Some("/msg bob |"));
    }

    #[test]
    fn a_hash_word_is_a_room() {
        assert_eq!(once("/join #o|").as_deref(), Some("/join #ops |"));
        assert_eq!(once("see #GENE|").as_deref(), Some("see #general |"));
        assert_eq!(once("#gent|").as_deref(), Some("#gentoo |"));
        assert_eq!(once("#x|"), None);
    }

    #[test]
    fn nicks_get_a_colon_at_the_start_of_the_line() {
        assert_eq!(once("al|").as_deref(), Some("alice: |"));
        assert_eq!(once("hi AL|").as_deref(), Some("hi alice |"));
        assert_eq!(once("ca|").as_deref(), Some("carol: |"));
        assert_eq!(once("zed|"), None);
    }

    #[test]
    fn only_the_word_before_the_cursor_is_completed() {
        assert_eq!(once("al| is here").as_deref(), Some("alice: | is here"));
        assert_eq!(once("ask ca|, then").as_deref(), Some("ask carol |, then"));
        assert_eq!(once("x 日本 al|").as_deref(), Some("x 日本 alice |"));
    }

    #[test]
    fn an_empty_word_completes_nothing() {
        assert_eq!(once("|"), None);
        assert_eq!(once("hello |"), None);
        // A lone sigil is a word: it offers every command or room.
        assert_eq!(once("/|").as_deref(), Some("/join |"));
        assert_eq!(once("#|").as_deref(), Some("#general |"));
    }

    #[test]
    fn tabs_cycle_through_nicks_here_first() {
        let mut completer = Completer::new();
        let mut seen = vec![tab(&mut completer, "hey bo| there").unwrap()];
        for _ in 0..3 {
            let (line, cursor) = {
                let last = seen.last().unwrap();
                (last.replace('|', ""), last.find('|').unwrap())
            };
            let (mut next, at) = completer.complete(&line, cursor, &candidates()).unwrap();
            next.insert(at, '|');
            seen.push(next);
        }
        assert_eq!(
            seen,
            [
                "hey bob | there",
                "hey Bobby | there",
                "hey boris | there",
                "hey bob | there",
            ]
        );
    }

    #[test]
    fn a_changed_line_or_reset_starts_afresh() {
        let mut completer = Completer::new();
        let (line, cursor) = completer.complete("bo", 2, &candidates()).unwrap();
        assert_eq!(line, "bob: ");
        // The user typed after the completion: a new word.
        let typed = format!("{line}ca");
        let (line, _) = completer
            .complete(&typed, typed.len(), &candidates())
            .unwrap();
        assert_eq!(line, "bob: carol ");
        completer.reset();
        assert_eq!(
            completer.complete("bob: ", cursor, &candidates()),
            None,
            "after reset the same line is a fresh Tab on an empty word"
        );
    }

    #[test]
    fn a_cursor_off_a_char_boundary_completes_nothing() {
        assert_eq!(Completer::new().complete("日", 1, &candidates()), None);
    }
}
