//! The config file's keys, and what a reload does with each: one table,
//! [`SECTIONS`], of the file's top-level entries (a key such as `motd`, or a
//! table such as `[limits]`), each with whether a running server applies it on
//! reload or needs a restart. The reload code, the list of keys the docs must
//! cover, and the tests are all driven from it.
//!
//! The keys inside a table are not listed here: they are read off the serde
//! struct of that table (`file.rs`), so a field added there is a key
//! everywhere at once. A unit test holds the table's entries to the fields of
//! [`FileConfig`](super::file::FileConfig), in order.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use super::file::{FileAccounts, FileListener, FileLog, FileRoom, FileTls};
use super::settings::{Limits, Settings};

/// When a changed value takes effect on a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// On reload (SIGHUP): new values are put in force for whom they concern.
    Live,
    /// Only at the next start: a reload keeps the running value and says so.
    AtRestart,
}

/// One top-level entry of the config file: a key, or a table of keys (one
/// table, or an array of tables such as `[[listen]]`), and the field of
/// [`Settings`] it becomes.
pub struct Section {
    /// The name in the file: `motd`, `limits`, `listen`.
    pub name: &'static str,
    /// Whether a reload applies it.
    pub applies: Applies,
    /// For a table, the keys it accepts (serde's field names of its struct).
    table_keys: Option<fn() -> &'static [&'static str]>,
    /// The field in `Settings` differs between the two.
    differs: fn(&Settings, &Settings) -> bool,
    /// Copies the field from the first (running) into the second (new).
    keep: fn(&Settings, &mut Settings),
}

impl Section {
    /// The keys this entry stands for: itself, or each key of its table.
    pub fn keys(&self) -> Vec<ConfigKey> {
        match self.table_keys {
            None => vec![ConfigKey {
                table: None,
                name: self.name,
                applies: self.applies,
            }],
            Some(fields) => fields()
                .iter()
                .map(|&name| ConfigKey {
                    table: Some(self.name),
                    name,
                    applies: self.applies,
                })
                .collect(),
        }
    }

    /// Whether `old` and `new` differ in this entry.
    pub fn differs(&self, old: &Settings, new: &Settings) -> bool {
        (self.differs)(old, new)
    }

    /// Puts the running value of this entry back into `new`.
    pub fn keep_running(&self, old: &Settings, new: &mut Settings) {
        (self.keep)(old, new)
    }

    /// Whether a reload leaves this entry as it runs.
    pub fn needs_restart(&self) -> bool {
        self.applies == Applies::AtRestart
    }
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section")
            .field("name", &self.name)
            .field("applies", &self.applies)
            .finish_non_exhaustive()
    }
}

/// One key a config file accepts; the keys of `[[listen]]` and `[[room]]`
/// entries are one key each (`listen.addr`), whatever the number of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigKey {
    /// The table it is in (`limits`), or `None` at the top level.
    pub table: Option<&'static str>,
    /// Its own name (`max_connections`).
    pub name: &'static str,
    /// Whether a reload applies it (the same for every key of a table).
    pub applies: Applies,
}

impl fmt::Display for ConfigKey {
    /// The dotted key: `limits.max_connections`, `motd`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.table {
            Some(table) => write!(f, "{table}.{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// Every key a config file accepts, in the file's order.
pub fn config_keys() -> Vec<ConfigKey> {
    SECTIONS.iter().flat_map(Section::keys).collect()
}

/// One entry of [`SECTIONS`]: its name in the file, the `Settings` field it
/// fills, whether a reload applies it, and for a table, the struct it is read
/// into. The comparison and the copy are written out from the field name so
/// that an entry cannot compare one field and keep another.
macro_rules! section {
    ($name:literal => $field:ident, $applies:ident $(, table $table:ty)?) => {
        Section {
            name: $name,
            applies: Applies::$applies,
            table_keys: section!(@keys $($table)?),
            differs: |old, new| old.$field != new.$field,
            keep: |old, new| new.$field.clone_from(&old.$field),
        }
    };
    (@keys) => { None };
    (@keys $table:ty) => { Some(struct_fields::<$table>) };
}

/// The config file's top-level entries, in the order of its fields
/// (`FileConfig`), with what a reload does with each.
///
/// What needs a restart: the listening sockets are bound once; the state
/// directory holds the certificate the running server already loaded; the
/// log format is fixed when the subscriber is installed; and the message log
/// has open files and a restored state that a reload cannot swap underneath
/// the rooms.
pub static SECTIONS: [Section; 13] = [
    section!("server_name" => server_name, Live),
    section!("motd" => motd, Live),
    section!("password" => password, Live),
    section!("state_dir" => state_dir, AtRestart),
    section!("listen" => listeners, AtRestart, table FileListener),
    // Read again on every reload, even with the same paths: see `Reloader`.
    section!("tls" => tls, Live, table FileTls),
    section!("limits" => limits, Live, table Limits),
    section!("room" => rooms, Live, table FileRoom),
    section!("log_level" => log_level, Live),
    section!("log_format" => log_format, AtRestart),
    section!("shutdown_timeout" => shutdown_timeout, Live),
    section!("log" => log, AtRestart, table FileLog),
    section!("accounts" => accounts, Live, table FileAccounts),
];

/// The field names serde's derive gives a struct: the keys its table accepts.
/// Derived code hands them to `Deserializer::deserialize_struct`, so a
/// deserializer that records them and stops there reads them without any
/// input (renamed and skipped fields are as serde sees them).
fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields = None;
    // Always an error, by design: the recorder never produces a value.
    let _ = T::deserialize(FieldRecorder(&mut fields));
    fields.unwrap_or_else(|| {
        panic!(
            "{} is not deserialized as a struct",
            std::any::type_name::<T>()
        )
    })
}

struct FieldRecorder<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldRecorder<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields recorded"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::FileConfig;
    use crate::config::tests::{parse, FULL};

    /// The smallest valid form of each table: the keys it requires, and no
    /// other. Every key not set here must therefore have a default.
    const MINIMAL_TABLES: [(&str, &str); 6] = [
        ("listen", "[[listen]]\naddr = \"127.0.0.1:0\"\n"),
        ("tls", "[tls]\n"),
        ("limits", "[limits]\n"),
        ("room", "[[room]]\nname = \"general\"\n"),
        ("log", "[log]\ndir = \"logs\"\n"),
        ("accounts", "[accounts]\n"),
    ];

    fn minimal(table: &str) -> &'static str {
        MINIMAL_TABLES
            .iter()
            .find(|(name, _)| *name == table)
            .unwrap_or_else(|| panic!("[{table}] has no entry in MINIMAL_TABLES"))
            .1
    }

    fn tables() -> impl Iterator<Item = &'static Section> {
        SECTIONS.iter().filter(|s| s.table_keys.is_some())
    }

    #[test]
    fn every_key_has_a_default_or_is_required() {
        let required = [
            ("listen.addr", "addr = \"127.0.0.1:0\""),
            ("room.name", "name = \"general\""),
            ("log.dir", "dir = \"logs\""),
        ];
        let keys: Vec<String> = config_keys().iter().map(ToString::to_string).collect();
        // Top-level keys all have defaults: an empty file is the defaults.
        parse("").expect("an empty file");
        let all: String = tables().map(|s| minimal(s.name)).collect();
        parse(&all).unwrap_or_else(|e| panic!("a key without a default: {e}\n{all}"));
        assert_eq!(all.matches(" = ").count(), required.len(), "{all}");
        for (key, line) in required {
            assert!(keys.contains(&key.to_owned()), "{key}");
            let name = key.split_once('.').unwrap().1;
            let err = parse(&all.replacen(line, "", 1)).unwrap_err().to_string();
            let named = err.contains(&format!("missing field `{name}`"))
                || err.contains(&format!(": {key}: missing"));
            assert!(named, "{key}: {err}");
        }
        assert_eq!(tables().count(), MINIMAL_TABLES.len());
    }

    #[test]
    fn an_unknown_key_is_refused_in_every_table_naming_it() {
        let mut checked = 0;
        let top = parse("colour = \"blue\"\n").unwrap_err().to_string();
        assert!(top.contains("unknown field `colour`"), "{top}");
        for section in tables() {
            let text = format!("{}colour = \"blue\"\n", minimal(section.name));
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains("unknown field `colour`") && err.starts_with("/etc/confab.toml: "),
                "[{}]: {err}",
                section.name
            );
            // serde lists what the table accepts: the keys of `config_keys`.
            for key in section.keys() {
                assert!(err.contains(&format!("`{}`", key.name)), "{key}: {err}");
            }
            checked += 1;
        }
        assert_eq!(checked, 6);
    }

    #[test]
    fn each_section_compares_and_keeps_its_own_field() {
        let running = Settings::defaults();
        let changed = parse(FULL).unwrap();
        // Destructured without `..`, so that a field added to `Settings` stops
        // this test from compiling until a section (and this list) covers it.
        let Settings {
            server_name: _,
            motd: _,
            password: _,
            state_dir: _,
            listeners: _,
            tls: _,
            limits: _,
            rooms: _,
            log_level: _,
            log_format: _,
            shutdown_timeout: _,
            log: _,
            accounts: _,
        } = running.clone();
        for section in &SECTIONS {
            let mut new = running.clone();
            section.keep_running(&changed, &mut new);
            let differing: Vec<&str> = SECTIONS
                .iter()
                .filter(|s| s.differs(&running, &new))
                .map(|s| s.name)
                .collect();
            assert_eq!(differing, [section.name]);
            section.keep_running(&running, &mut new);
            assert!(!section.differs(&running, &new), "{}", section.name);
        }
    }

    #[test]
    fn the_sections_are_the_fields_of_the_file_in_order() {
        let names: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
        assert_eq!(names, struct_fields::<FileConfig>());
        assert_eq!(names.len(), 13);
    }

    #[test]
    fn the_fields_of_a_table_are_read_off_its_struct() {
        assert_eq!(
            struct_fields::<FileListener>(),
            [
                "addr",
                "tls",
                "allow_insecure_plaintext",
                "websocket",
                "origins",
                "trusted_proxies"
            ]
        );
        assert_eq!(struct_fields::<FileTls>(), ["cert", "key"]);
        assert_eq!(struct_fields::<Limits>().len(), 26);
    }

    #[test]
    #[should_panic(expected = "is not deserialized as a struct")]
    fn a_value_that_is_not_a_struct_has_no_fields() {
        struct_fields::<String>();
    }

    #[test]
    fn every_key_has_a_table_and_a_reload_marker() {
        let keys = config_keys();
        let dotted: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(dotted.len(), 50, "{dotted:?}");
        let mut unique = dotted.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), dotted.len(), "a key is listed twice");
        assert!(dotted.contains(&"limits.history_keep".to_owned()));
        assert!(dotted.contains(&"listen.allow_insecure_plaintext".to_owned()));
        assert!(dotted.contains(&"motd".to_owned()));

        let restart: Vec<&str> = SECTIONS
            .iter()
            .filter(|s| s.needs_restart())
            .map(|s| s.name)
            .collect();
        assert_eq!(restart, ["state_dir", "listen", "log_format", "log"]);
        for key in &keys {
            let section = SECTIONS
                .iter()
                .find(|s| Some(s.name) == key.table.or(Some(key.name)))
                .unwrap();
            assert_eq!(key.applies, section.applies, "{key}");
        }
    }
}
