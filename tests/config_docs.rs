//! The two documents of the config file, `man/confab.toml.5` and
//! `config.example.toml`, cover every key the config parser accepts
//! (`confab::config::config_keys`, read off the parser's own structs), each
//! under its own table, and neither documents a key the parser does not know;
//! and they say which keys a reload applies as `confab::config::SECTIONS` does.

use std::collections::BTreeSet;
use std::path::Path;

use confab::config::{config_keys, Settings, SECTIONS};

/// The value types an entry of the man page may name.
const TYPES: &[&str] = &["string", "integer", "number", "boolean", "duration", "path"];

/// Every key the parser accepts, dotted (`limits.max_connections`).
fn accepted_keys() -> Vec<String> {
    config_keys().iter().map(ToString::to_string).collect()
}

fn read(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

/// A key as (table, key): `limits.max_connections` is `(Some("limits"),
/// "max_connections")`, `server_name` is `(None, "server_name")`.
fn split(dotted: &str) -> (Option<&str>, &str) {
    match dotted.split_once('.') {
        Some((table, key)) => (Some(table), key),
        None => (None, dotted),
    }
}

fn dotted(table: &Option<String>, key: &str) -> String {
    match table {
        Some(table) => format!("{table}.{key}"),
        None => key.to_owned(),
    }
}

/// The table a heading or a TOML header names: `[limits]`, `[[listen]]`, or
/// `[[room]] (one table ...)` name `limits`, `listen` and `room`.
fn table_name(text: &str) -> Option<String> {
    let start = text.find('[')?;
    let name = text[start..].trim_start_matches('[');
    let end = name.find(']')?;
    let name = &name[..end];
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    valid.then(|| name.to_owned())
}

/// One entry of the KEYS section: `.TP`, then `.BR key " (type)"`, then its text.
struct Entry {
    key: String,
    tag: String,
    body: String,
}

/// The entries of the man page's KEYS section, by dotted key. `.SS` headings
/// that name a table (`[limits] ...`) put their entries in that table; the
/// others ("Top level") at the top level.
fn man_page_entries(page: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut in_keys = false;
    let mut table = None;
    let mut lines = page.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(heading) = line.strip_prefix(".SH ") {
            in_keys = heading == "KEYS";
        } else if let Some(heading) = line.strip_prefix(".SS ") {
            table = table_name(heading);
        } else if in_keys && line == ".TP" {
            let tag = lines.next().unwrap_or_default();
            let Some(key) = tag.strip_prefix(".BR ").and_then(|t| t.split(' ').next()) else {
                panic!("an entry's tag is not `.BR key \" (type)\"`: {tag:?}");
            };
            let mut body = String::new();
            while let Some(next) = lines.next_if(|l| !l.starts_with(".TP") && !l.starts_with(".S"))
            {
                body.push_str(next);
                body.push('\n');
            }
            entries.push(Entry {
                key: dotted(&table, key),
                tag: tag.to_owned(),
                body,
            });
        }
    }
    entries
}

/// The keys config.example.toml shows with a value, commented out or not, by
/// dotted key: `# max_line_bytes = 16384` after `[limits]` is
/// `limits.max_line_bytes`. Prose lines have no `key = value` shape.
fn example_keys(example: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut table = None;
    for raw in example.lines() {
        let line = raw.trim_start_matches('#').trim();
        if line.starts_with('[') && line.ends_with(']') {
            table = Some(table_name(line).unwrap_or_else(|| panic!("bad header {raw:?}")));
        } else if let Some((key, value)) = line.split_once('=') {
            let key = key.trim();
            let is_key = !key.is_empty()
                && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && !value.trim().is_empty();
            if is_key {
                keys.insert(dotted(&table, key));
            }
        }
    }
    keys
}

#[test]
fn the_man_page_documents_every_key_under_its_table() {
    let page = read("man/confab.toml.5");
    let entries = man_page_entries(&page);
    let documented: BTreeSet<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(documented.len(), entries.len(), "a key is documented twice");

    let accepted = accepted_keys();
    let missing: Vec<&str> = accepted
        .iter()
        .map(String::as_str)
        .filter(|key| !documented.contains(key))
        .collect();
    assert!(
        missing.is_empty(),
        "man/confab.toml.5 has no entry for {missing:?} (under KEYS, in the .SS of its table, \
         as `.TP` then `.BR key \" (type)\"`)"
    );
    let unknown: Vec<&str> = documented
        .iter()
        .copied()
        .filter(|key| !accepted.iter().any(|k| k == key))
        .collect();
    assert!(
        unknown.is_empty(),
        "man/confab.toml.5 documents keys the config parser does not accept: {unknown:?}"
    );

    for entry in &entries {
        let (_, key) = split(&entry.key);
        let has_type = TYPES
            .iter()
            .any(|t| entry.tag == format!(".BR {key} \" ({t})\""));
        assert!(
            has_type,
            "{}: the tag names no type: {:?}",
            entry.key, entry.tag
        );
        assert!(
            entry.body.contains("Default: ") || entry.body.contains("Required"),
            "{}: the entry gives no default and does not say it is required:\n{}",
            entry.key,
            entry.body
        );
    }
    assert_eq!(entries.len(), 50);
    assert_eq!(accepted.len(), 50);
}

#[test]
fn the_example_config_shows_every_key_under_its_table() {
    let shown = example_keys(&read("config.example.toml"));
    let accepted = accepted_keys();
    let missing: Vec<&String> = accepted
        .iter()
        .filter(|key| !shown.contains(*key))
        .collect();
    assert!(
        missing.is_empty(),
        "config.example.toml shows no `key = value` line (commented out or not) for \
         {missing:?} under its table"
    );
    let unknown: Vec<&String> = shown.iter().filter(|key| !accepted.contains(key)).collect();
    assert!(
        unknown.is_empty(),
        "config.example.toml shows keys the config parser does not accept: {unknown:?}"
    );
    assert_eq!(shown.len(), accepted.len());
    assert_eq!(accepted.len(), 50);
}

#[test]
fn the_man_page_example_is_a_valid_config() {
    let page = read("man/confab.toml.5");
    let (_, rest) = page.split_once("\n.EX\n").expect("an .EX example");
    let (example, _) = rest.split_once("\n.EE\n").expect("the end of the example");
    assert!(example.contains("[limits]"), "{example}");
    if let Err(err) = Settings::from_toml_str(example, Path::new("/etc/confab/confab.toml")) {
        panic!("the EXAMPLES config is refused: {err}\n{example}");
    }
}

#[test]
fn the_man_page_names_this_version() {
    let page = read("man/confab.toml.5");
    let title = page
        .lines()
        .find(|line| line.starts_with(".TH "))
        .expect("a .TH line");
    let expected = format!(
        ".TH confab.toml 5 \"\" \"confab {}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(title, expected, "update the .TH line of man/confab.toml.5");
}

/// The section a name in the man page belongs to: `[[listen]]` is `listen`,
/// `limits.history_keep` is `limits`, `tls.cert` is `tls`.
fn section_of(word: &str) -> String {
    let word = word.trim_matches(|c| c == '[' || c == ']');
    word.split('.').next().unwrap_or(word).to_owned()
}

/// A roff request's arguments: words, or quoted strings taken whole.
fn roff_args(args: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = args.trim();
    while !rest.is_empty() {
        let (arg, after) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        out.push(arg);
        rest = after.trim_start();
    }
    out
}

/// The sections the entries of a roff list are about: the bold arguments of
/// each tag line after `.TP` (`.B log_level`, `.BR tls.cert ", " tls.key`,
/// `.RB "every other " limits.*`), not the text under it.
fn tagged_sections(roff: &str) -> BTreeSet<String> {
    let mut lines = roff.lines();
    let mut sections = BTreeSet::new();
    while let Some(line) = lines.next() {
        if line != ".TP" {
            continue;
        }
        let tag = lines.next().unwrap_or_default();
        let (request, args) = tag.split_once(' ').unwrap_or((tag, ""));
        // `.B` sets all in bold; `.BR` and `.RB` alternate, bold first or second.
        let first_bold = match request {
            ".B" | ".BR" => 0,
            ".RB" => 1,
            other => panic!("an entry tag with {other}: {tag:?}"),
        };
        let args = roff_args(args);
        let bold = args
            .iter()
            .enumerate()
            .filter(|(i, _)| request == ".B" || i % 2 == first_bold);
        sections.extend(bold.map(|(_, word)| section_of(word)));
    }
    sections
}

/// The sections a roff paragraph names in bold (`\fBstate_dir\fR`).
fn bold_sections(roff: &str) -> BTreeSet<String> {
    roff.split("\\fB")
        .skip(1)
        .filter_map(|rest| rest.split_once("\\fR").map(|(word, _)| section_of(word)))
        .collect()
}

#[test]
fn the_man_page_says_which_keys_take_a_restart() {
    let page = read("man/confab.toml.5");
    let (_, reloading) = page
        .split_once("\n.SH RELOADING\n")
        .expect("a RELOADING section");
    let (reloading, _) = reloading
        .split_once("\n.SH ")
        .expect("the end of RELOADING");
    let (_, live) = reloading
        .split_once("These keys apply without a restart:")
        .expect("the list of keys a reload applies");
    let (live, restart) = live
        .split_once("These need a restart:")
        .expect("the list of keys that need a restart");
    let (restart, _) = restart
        .split_once("A reload applies")
        .expect("the end of the list of keys that need a restart");
    let (live, restart) = (tagged_sections(live), bold_sections(restart));

    let mut checked = 0;
    for section in &SECTIONS {
        let (listed, other) = if section.needs_restart() {
            (&restart, &live)
        } else {
            (&live, &restart)
        };
        assert!(
            listed.contains(section.name) && !other.contains(section.name),
            "RELOADING in man/confab.toml.5 must list {} under {:?}",
            section.name,
            if section.needs_restart() {
                "These need a restart"
            } else {
                "These keys apply"
            }
        );
        checked += 1;
    }
    assert_eq!(checked, 13);
}

#[test]
fn the_example_config_says_which_keys_take_a_restart() {
    let example = read("config.example.toml");
    // "... except [[listen]], state_dir, log_format and [log], which take a restart"
    let (before, _) = example
        .split_once("which take a")
        .expect("the sentence that names what takes a restart");
    let (_, named) = before.rsplit_once("except").expect("`except ...`");
    let named: BTreeSet<&str> = named
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|w| w.trim_matches(|c| c == '[' || c == ']' || c == '#'))
        .filter(|w| !w.is_empty() && *w != "and")
        .collect();
    let restart: BTreeSet<&str> = SECTIONS
        .iter()
        .filter(|s| s.needs_restart())
        .map(|s| s.name)
        .collect();
    assert_eq!(named, restart);
    assert_eq!(restart.len(), 4);
}

#[test]
fn roff_tags_are_read_bold_argument_by_bold_argument() {
    let list = ".TP\n.BR tls.cert \", \" tls.key\nText with \\fBstate_dir\\fR.\n\
                .TP\n.RB \"every other \" limits.*\n.TP\n.B [[room]]\n";
    let found: Vec<String> = tagged_sections(list).into_iter().collect();
    assert_eq!(found, ["limits", "room", "tls"]);
    assert_eq!(
        roff_args("\"every other \" limits.*"),
        ["every other ", "limits.*"]
    );
}

/// docs/CLIENT.md's table of client config keys is exactly the keys the
/// client accepts.
#[test]
fn the_client_guide_documents_every_client_config_key() {
    let guide = read("docs/CLIENT.md");
    let section = guide
        .split("## The client config file")
        .nth(1)
        .expect("CLIENT.md has a section on the client config file");
    let documented: BTreeSet<String> = section
        .lines()
        .skip_while(|line| !line.starts_with("| key |"))
        .skip(2)
        .take_while(|line| line.starts_with("| `"))
        .filter_map(|line| line.split('`').nth(1).map(str::to_owned))
        .collect();
    let accepted: BTreeSet<String> = confab::client::settings::CLIENT_CONFIG_KEYS
        .iter()
        .map(|key| key.to_string())
        .collect();
    assert_eq!(documented, accepted);
    assert_eq!(accepted.len(), 9);
}
