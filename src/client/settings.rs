//! The client's settings: the optional client config file
//! (`$XDG_CONFIG_HOME/confab/client.toml`) merged with the command line, flags
//! winning, into one validated [`ClientSettings`].
//!
//! An account password is only ever read from a file of the user's own
//! (`account_password_file`, `--account-password-file`), never from the
//! config file itself or a flag's value: a flag's value shows in `ps` to every
//! user of the machine, and a config file gets copied and shared. The file
//! must be readable by its owner alone, as ssh asks of a private key.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::ClientArgs;
use crate::protocol::names::{Nick, RoomName};

use super::error::ClientError;

/// The port a server listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7667;
/// Reconnection attempts a script makes before giving up.
pub const DEFAULT_RECONNECT_ATTEMPTS: u32 = 5;

/// Every key the client config file accepts, for the docs and their test.
pub const CLIENT_CONFIG_KEYS: &[&str] = &[
    "server",
    "nick",
    "join",
    "password_file",
    "account_password_file",
    "ca",
    "known_hosts",
    "reconnect_attempts",
    "bell",
];

/// Where to connect: the name used for the TLS check and the known-hosts file,
/// and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    pub host: String,
    pub port: u16,
}

impl ServerAddress {
    /// Parses `HOST`, `HOST:PORT`, `[IPV6]`, `[IPV6]:PORT` or a bare IPv6 address.
    pub fn parse(text: &str) -> Result<ServerAddress, String> {
        let bad = |why: &str| Err(format!("server address {text:?}: {why}"));
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((host, after)) = rest.split_once(']') else {
                return bad("missing ']'");
            };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return bad("expected ':PORT' after ']'"),
                },
            }
        } else if text.matches(':').count() > 1 {
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return bad("the host is empty");
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return bad("the port must be a number from 1 to 65535"),
            },
        };
        Ok(ServerAddress {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for ServerAddress {
    /// `host:port`, with an IPv6 address in brackets: the known-hosts key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How the server's certificate is to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustMode {
    /// System roots, then the known-hosts file (ssh-style).
    Default,
    /// Only certificates chaining to these CA certificates.
    Ca(PathBuf),
    /// Only the certificate with this fingerprint, for this run.
    Fingerprint(String),
    /// No checks at all.
    Insecure,
}

/// What the client runs with.
#[derive(Clone)]
pub struct ClientSettings {
    pub server: ServerAddress,
    /// `None` only in raw mode, where the user sends `hello` themselves.
    pub nick: Option<Nick>,
    pub join: Vec<RoomName>,
    pub password: Option<String>,
    /// The password of the nick's account, sent with `hello` to log in.
    pub account_password: Option<String>,
    pub trust: TrustMode,
    pub known_hosts: PathBuf,
    pub reconnect_attempts: u32,
    /// Ring the terminal bell on a mention or a private message (the
    /// full-screen interface).
    pub bell: bool,
}

impl fmt::Debug for ClientSettings {
    /// Hides the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("server", &self.server)
            .field("nick", &self.nick)
            .field("join", &self.join)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field(
                "account_password",
                &self.account_password.as_ref().map(|_| "<hidden>"),
            )
            .field("trust", &self.trust)
            .field("known_hosts", &self.known_hosts)
            .field("reconnect_attempts", &self.reconnect_attempts)
            .field("bell", &self.bell)
            .finish()
    }
}

/// The client config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    server: Option<String>,
    nick: Option<String>,
    join: Option<Vec<String>>,
    password_file: Option<PathBuf>,
    account_password_file: Option<PathBuf>,
    ca: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    reconnect_attempts: Option<u32>,
    bell: Option<bool>,
}

/// The directory holding `client.toml` and `known_hosts`.
pub fn config_dir() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("confab")
}

impl ClientSettings {
    /// Reads the config file (the `--config` one, which must exist, or the default
    /// one, which may be missing) and applies the flags over it.
    pub fn load(args: &ClientArgs) -> Result<ClientSettings, ClientError> {
        let (path, required) = match &args.config {
            Some(path) => (path.clone(), true),
            None => (config_dir().join("client.toml"), false),
        };
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<ConfigFile>(&text)
                .map_err(|e| ClientError::Usage(format!("{}: {}", path.display(), e.message())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                ConfigFile::default()
            }
            Err(e) => return Err(ClientError::Usage(format!("{}: {e}", path.display()))),
        };
        let base = path.parent().unwrap_or(Path::new("."));
        ClientSettings::merge(args, file, base)
    }

    fn merge(
        args: &ClientArgs,
        file: ConfigFile,
        base: &Path,
    ) -> Result<ClientSettings, ClientError> {
        let usage = ClientError::Usage;
        let relative = |path: PathBuf| {
            if path.is_relative() {
                base.join(path)
            } else {
                path
            }
        };

        let server = match args.server.as_deref().or(file.server.as_deref()) {
            Some(text) => ServerAddress::parse(text).map_err(usage)?,
            None => ServerAddress {
                host: "localhost".into(),
                port: DEFAULT_PORT,
            },
        };
        let nick = if args.raw {
            None
        } else {
            let (nick, from) = match (&args.nick, &file.nick) {
                (Some(nick), _) => (nick.clone(), "--nick"),
                (None, Some(nick)) => (nick.clone(), "the client config's `nick`"),
                (None, None) => (
                    user_name().ok_or_else(|| {
                        usage("no nick: pass --nick NICK or set `nick` in the client config".into())
                    })?,
                    "your user name",
                ),
            };
            Some(Nick::parse(&nick).map_err(|e| usage(format!("{e} (from {from})")))?)
        };
        let rooms = if args.join.is_empty() {
            file.join.unwrap_or_default()
        } else {
            args.join.clone()
        };
        let join = rooms
            .iter()
            .map(|room| RoomName::parse(room).map_err(|e| usage(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let password = match args
            .password_file
            .clone()
            .or(file.password_file.map(relative))
        {
            Some(path) => Some(read_password(&path)?),
            None => None,
        };
        // Raw mode sends no `hello` of its own: the file is not even read.
        let account_file = args
            .account_password_file
            .clone()
            .or(file.account_password_file.map(relative))
            .filter(|_| !args.raw);
        let account_password = match account_file {
            Some(path) => Some(read_account_password(&path)?),
            None => None,
        };
        let trust = if let Some(ca) = &args.ca {
            TrustMode::Ca(ca.clone())
        } else if let Some(fingerprint) = &args.fingerprint {
            if !fingerprint.starts_with("SHA256:") {
                return Err(usage(format!(
                    "--fingerprint {fingerprint:?}: expected SHA256: followed by the fingerprint"
                )));
            }
            TrustMode::Fingerprint(fingerprint.clone())
        } else if args.insecure {
            TrustMode::Insecure
        } else if let Some(ca) = file.ca {
            TrustMode::Ca(relative(ca))
        } else {
            TrustMode::Default
        };
        let known_hosts = args
            .known_hosts
            .clone()
            .or(file.known_hosts.map(relative))
            .unwrap_or_else(|| config_dir().join("known_hosts"));
        let reconnect_attempts = args
            .reconnect_attempts
            .or(file.reconnect_attempts)
            .unwrap_or(DEFAULT_RECONNECT_ATTEMPTS);
        Ok(ClientSettings {
            server,
            nick,
            join,
            password,
            account_password,
            trust,
            known_hosts,
            reconnect_attempts,
            bell: file.bell.unwrap_or(true),
        })
    }
}

/// The login name, when it happens to be a valid nick.
fn user_name() -> Option<String> {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()?;
    Nick::parse(&name).is_ok().then_some(name)
}

fn read_password(path: &Path) -> Result<String, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Usage(format!("password file {}: {e}", path.display())))?;
    let password = text.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        return Err(ClientError::Usage(format!(
            "password file {}: the first line is empty",
            path.display()
        )));
    }
    Ok(password)
}

/// The account password file: its first line, from a file nobody but its
/// owner can read or change (mode 0600 or stricter), as ssh insists for a
/// private key.
fn read_account_password(path: &Path) -> Result<String, ClientError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let metadata = std::fs::metadata(path)
        .map_err(|e| ClientError::Usage(format!("account password file {shown}: {e}")))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ClientError::Usage(format!(
            "account password file {shown}: permissions {mode:04o} are too open: other users \
             could read your password; make it yours alone with `chmod 600 {shown}`"
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Usage(format!("account password file {shown}: {e}")))?;
    let password = text.lines().next().unwrap_or("").to_owned();
    if password.is_empty() {
        return Err(ClientError::Usage(format!(
            "account password file {shown}: the first line is empty"
        )));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Result<(String, u16), String> {
        ServerAddress::parse(text).map(|a| (a.host, a.port))
    }

    #[test]
    fn server_addresses_parse_like_ssh_and_curl() {
        assert_eq!(
            address("chat.example.org"),
            Ok(("chat.example.org".into(), 7667))
        );
        assert_eq!(
            address("Chat.Example.org:7000"),
            Ok(("chat.example.org".into(), 7000))
        );
        assert_eq!(address("127.0.0.1:1"), Ok(("127.0.0.1".into(), 1)));
        assert_eq!(address("[::1]:7000"), Ok(("::1".into(), 7000)));
        assert_eq!(address("[::1]"), Ok(("::1".into(), 7667)));
        assert_eq!(address("::1"), Ok(("::1".into(), 7667)));
        for bad in [
            "",
            ":7000",
            "host:",
            "host:0",
            "host:70000",
            "[::1",
            "[::1]7000",
        ] {
            assert!(address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_known_hosts_key_brackets_ipv6() {
        assert_eq!(
            ServerAddress::parse("[::1]:5").unwrap().to_string(),
            "[::1]:5"
        );
        assert_eq!(ServerAddress::parse("a.b").unwrap().to_string(), "a.b:7667");
    }

    #[test]
    fn the_listed_keys_are_the_keys_the_file_accepts() {
        // serde names every field it knows when it refuses an unknown one.
        let refused = toml::from_str::<ConfigFile>("no_such_key = 1").unwrap_err();
        let expected = refused.to_string();
        for key in CLIENT_CONFIG_KEYS {
            assert!(expected.contains(&format!("`{key}`")), "{key}: {expected}");
        }
        assert_eq!(
            expected.matches('`').count() / 2,
            CLIENT_CONFIG_KEYS.len() + 1
        );
    }

    #[test]
    fn flags_override_the_config_file() {
        let file: ConfigFile = toml::from_str(
            r#"
            server = "files.example:9"
            nick = "filenick"
            join = ["a", "b"]
            reconnect_attempts = 9
            ca = "ca.pem"
            bell = false
            "#,
        )
        .unwrap();
        let args = ClientArgs {
            nick: Some("flagnick".into()),
            join: vec!["#C".into()],
            ..ClientArgs::default()
        };
        let settings = ClientSettings::merge(&args, file, Path::new("/etc/x")).unwrap();
        assert_eq!(settings.server.to_string(), "files.example:9");
        assert_eq!(settings.nick.unwrap().as_str(), "flagnick");
        assert_eq!(settings.join, [RoomName::parse("c").unwrap()]);
        assert_eq!(settings.reconnect_attempts, 9);
        assert!(!settings.bell);
        assert_eq!(
            settings.trust,
            TrustMode::Ca(PathBuf::from("/etc/x/ca.pem"))
        );
    }

    #[test]
    fn unknown_config_keys_and_bad_names_are_refused() {
        assert!(toml::from_str::<ConfigFile>("colour = true").is_err());
        let args = ClientArgs {
            nick: Some("9lives".into()),
            ..ClientArgs::default()
        };
        let err = ClientSettings::merge(&args, ConfigFile::default(), Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("--nick"), "{err}");
    }

    #[test]
    fn the_account_password_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("confab-account-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("account");
        std::fs::write(&path, "correct horse\nsecond line\n").unwrap();
        let args = ClientArgs {
            nick: Some("alice".into()),
            account_password_file: Some(path.clone()),
            ..ClientArgs::default()
        };
        let merged = |args: &ClientArgs| ClientSettings::merge(args, ConfigFile::default(), &dir);
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = merged(&args).unwrap_err().to_string();
            assert!(
                err.contains("too open") && err.contains("chmod 600"),
                "{err}"
            );
            assert!(!err.contains("horse"), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let settings = merged(&args).unwrap();
        assert_eq!(settings.account_password.as_deref(), Some("correct horse"));
        assert!(!format!("{settings:?}").contains("horse"));
        // From the config file, relative to its directory.
        let file: ConfigFile = toml::from_str(r#"account_password_file = "account""#).unwrap();
        let args = ClientArgs {
            nick: Some("alice".into()),
            ..ClientArgs::default()
        };
        let settings = ClientSettings::merge(&args, file, &dir).unwrap();
        assert_eq!(settings.account_password.as_deref(), Some("correct horse"));
        std::fs::write(&path, "\n").unwrap();
        let err = ClientSettings::merge(
            &args,
            toml::from_str(r#"account_password_file = "account""#).unwrap(),
            &dir,
        )
        .unwrap_err();
        assert!(err.to_string().contains("first line is empty"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
