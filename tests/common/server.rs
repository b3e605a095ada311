//! The server under test, in-process: [`TestServer`] starts the real
//! `confab::server::Server` on `127.0.0.1:0` with a temporary state directory and
//! owns its shutdown token; [`config_text`] and [`parse_settings`] build the config
//! it runs with, from the fragment of TOML a test adds.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::FRAME_TIMEOUT;

/// The `server_name` every test server is given unless the test overrides it.
pub const SERVER_NAME: &str = "test.confab";

/// A config fragment that lifts the rate limit out of the way, for tests that send
/// many requests and are not about the rate limit.
pub const NO_RATE_LIMIT: &str = "rate_burst = 1000000\nrate_per_second = 1000000.0\n";

/// A server running in-process on a tokio task. The test owns its shutdown token.
pub struct TestServer {
    /// Listener addresses in config order: `[0]` is always the default TLS listener
    /// on 127.0.0.1, then the listeners the test's extra TOML added.
    pub addrs: Vec<SocketAddr>,
    /// The certificate fingerprint the server reports (`SHA256:…`).
    pub fingerprint: String,
    /// The state directory the server was given.
    pub state_dir: PathBuf,
    reloader: confab::server::Reloader,
    token: CancellationToken,
    task: Option<JoinHandle<Result<(), String>>>,
    // Kept last so the directory outlives the server task's use of it.
    _tmp: Option<TempDir>,
}

/// Builds the test config text: `state_dir`, `server_name = "test.confab"` and one
/// TLS listener on `127.0.0.1:0`, merged with `extra_toml`.
///
/// `extra_toml` is ordinary config TOML: top-level keys (`password`, `motd`, or an
/// override of `server_name`), a `[limits]` table, `[[room]]` entries, and
/// `[[listen]]` entries, which are added *after* the default TLS listener.
pub fn config_text(state_dir: &Path, extra_toml: &str) -> String {
    let mut table: toml::Table = extra_toml
        .parse()
        .unwrap_or_else(|e| panic!("test config fragment is not TOML: {e}\n{extra_toml}"));
    table
        .entry("state_dir")
        .or_insert_with(|| toml::Value::String(state_dir.display().to_string()));
    table
        .entry("server_name")
        .or_insert_with(|| toml::Value::String(SERVER_NAME.to_string()));
    let mut default_listener = toml::Table::new();
    default_listener.insert("addr".into(), toml::Value::String("127.0.0.1:0".into()));
    let mut listeners = vec![toml::Value::Table(default_listener)];
    if let Some(extra) = table.remove("listen") {
        match extra {
            toml::Value::Array(items) => listeners.extend(items),
            other => panic!("`listen` in a test config must be an array of tables: {other}"),
        }
    }
    table.insert("listen".into(), toml::Value::Array(listeners));
    toml::to_string(&table).expect("serialize test config")
}

/// Parses a config text exactly the way the tests' servers get theirs.
pub fn parse_settings(text: &str) -> confab::config::Settings {
    confab::config::Settings::from_toml_str(text, Path::new("test.toml"))
        .unwrap_or_else(|e| panic!("test config refused: {e}\n--- config ---\n{text}"))
}

impl TestServer {
    /// Starts a server with a fresh temporary state directory and `extra_toml`
    /// merged into the default test config (see [`config_text`]).
    pub async fn start(extra_toml: &str) -> TestServer {
        let tmp = tempfile::tempdir().expect("create temp state dir");
        let mut server = TestServer::start_in(tmp.path(), extra_toml).await;
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on a state directory the test owns (to start a second
    /// server on the same directory, e.g. to check the certificate is reused).
    pub async fn start_in(state_dir: &Path, extra_toml: &str) -> TestServer {
        let text = config_text(state_dir, extra_toml);
        let settings = parse_settings(&text);
        let server = tokio::time::timeout(FRAME_TIMEOUT, confab::server::Server::bind(settings))
            .await
            .expect("Server::bind did not finish within 10 s")
            .unwrap_or_else(|e| panic!("Server::bind failed: {e}\n--- config ---\n{text}"));
        let addrs = server.local_addrs();
        let fingerprint = server.fingerprint().to_string();
        let reloader = server.reloader();
        assert!(!addrs.is_empty(), "the server reports no listener address");
        for addr in &addrs {
            assert!(
                addr.ip().is_loopback(),
                "test listener {addr} is not loopback"
            );
            assert_ne!(addr.port(), 0, "local_addrs must report the bound port");
        }
        let token = CancellationToken::new();
        let run_token = token.clone();
        let task =
            tokio::spawn(async move { server.run(run_token).await.map_err(|e| e.to_string()) });
        TestServer {
            addrs,
            fingerprint,
            state_dir: state_dir.to_path_buf(),
            reloader,
            token,
            task: Some(task),
            _tmp: None,
        }
    }

    /// The default TLS listener.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Reloads the running server with the test config made of `extra_toml`
    /// (see [`config_text`]), as SIGHUP does with a changed config file.
    pub async fn reload(
        &self,
        extra_toml: &str,
    ) -> Result<confab::server::ReloadReport, confab::tls::TlsError> {
        let settings = parse_settings(&config_text(&self.state_dir, extra_toml));
        tokio::time::timeout(FRAME_TIMEOUT, self.reloader.reload(settings))
            .await
            .expect("reload did not finish within 10 s")
    }

    /// Starts a graceful shutdown without waiting for it (the test then watches
    /// its clients receive `bye`).
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Cancels the shutdown token, waits (bounded) for `run` to return, and asserts
    /// it returned `Ok`.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        let task = self.task.take().expect("server task already awaited");
        let joined = tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("server run() did not return within 20 s of cancelling its token");
        let result = joined.expect("server task panicked");
        if let Err(e) = result {
            panic!("server run() returned an error after shutdown: {e}");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A test that panicked before `shutdown` must not leave a server running.
        self.token.cancel();
    }
}
