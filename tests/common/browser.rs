//! Real browsers for the web client: [`Chromedriver`], a `chromedriver` child
//! on a free loopback port, and [`Browser`], one headless Chromium session on
//! it (one person at the page), driven over WebDriver.
//!
//! A browser reads the page through the hooks the web client promises (`#nick`,
//! `#input`, `#messages .message` with `.time`, `.nick`, `.text` and
//! `data-seq`…), types with real key events, and waits on page state by
//! polling every [`POLL`] for at most [`PAGE_TIMEOUT`]: a wait that runs out
//! panics with what the page showed (`#status` and `#messages`), never a bare
//! timeout.

use std::future::Future;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::key::Key;
use fantoccini::wd::Capabilities;
use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::FRAME_TIMEOUT;

/// How long the page may take to show what a test waits for.
pub const PAGE_TIMEOUT: Duration = FRAME_TIMEOUT;

/// How often a wait looks at the page again.
pub const POLL: Duration = Duration::from_millis(50);

/// Chromium's switches: headless, and runnable as root in a container with a
/// small `/dev/shm` and no GPU.
const CHROMIUM_ARGS: [&str; 5] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    // Wide enough for the page's desktop layout: sidebar and members shown.
    "--window-size=1280,900",
];

/// Defines `rows()`: the `#messages` rows as the page shows them, one object
/// per `.message`; a missing hook comes back as `null` so the test can name it.
const ROWS_SCRIPT: &str = "
    const hook = (row, selector) => {
        const element = row.querySelector(selector);
        return element === null ? null : element.textContent;
    };
    const rows = () => Array.from(document.querySelectorAll('#messages .message')).map(row => ({
        seq: row.getAttribute('data-seq'),
        time: hook(row, '.time'),
        nick: hook(row, '.nick'),
        text: hook(row, '.text'),
    }));";

/// What a panic shows of the page: its status line and its messages.
const SNAPSHOT_SCRIPT: &str = "
    const text = id => {
        const element = document.getElementById(id);
        return element === null ? `(no #${id})` : element.innerText;
    };
    return `#status: ${text('status')}\\n#messages:\\n${text('messages')}`;";

/// A `chromedriver` child process, killed with every browser it started when
/// dropped. Each [`Browser`] it opens gets a fresh profile directory of its own.
pub struct Chromedriver {
    url: String,
    child: Child,
    // Dropped after the browsers are killed, so no browser writes into a
    // profile while it is being removed.
    profiles: TempDir,
}

impl Chromedriver {
    /// Starts `chromedriver` on a free loopback port and waits (bounded) until
    /// its `/status` says it is ready.
    pub async fn start() -> Chromedriver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that dropping it kills the browsers
            // it launched too, even when a test panicked before closing them.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run chromedriver ({e}): install chromium and chromium-driver")
            });
        let driver = Chromedriver {
            url: format!("http://127.0.0.1:{port}"),
            child,
            profiles: tempfile::tempdir().expect("create a directory for browser profiles"),
        };
        driver.wait_ready(port).await;
        driver
    }

    async fn wait_ready(&self, port: u16) {
        let deadline = tokio::time::Instant::now() + PAGE_TIMEOUT;
        let mut last = String::from("no answer yet");
        while tokio::time::Instant::now() < deadline {
            match tokio::time::timeout(STATUS_TIMEOUT, driver_status(port)).await {
                Ok(Ok(answer)) if answer.contains(READY) => return,
                Ok(Ok(answer)) => last = answer,
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no answer to GET /status within 1 s".to_string(),
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("chromedriver on port {port} not ready within 10 s: {last}");
    }

    /// Opens a new headless Chromium session with a fresh profile; `label`
    /// names it in panic messages and in its profile directory.
    pub async fn browser(&self, label: &str) -> Browser {
        let profile = self.profiles.path().join(label);
        std::fs::create_dir(&profile).expect("create a browser profile directory");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = Capabilities::new();
        capabilities.insert("goog:chromeOptions".into(), json!({ "args": args }));
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let client = tokio::time::timeout(PAGE_TIMEOUT, builder.connect(&self.url))
            .await
            .unwrap_or_else(|_| panic!("{label}: Chromium did not start within 10 s"))
            .unwrap_or_else(|e| panic!("{label}: Chromium did not start: {e}"));
        Browser {
            label: label.to_string(),
            client,
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: kill(2) with a negative pid signals the process group that
        // `process_group(0)` gave the child: chromedriver and its browsers.
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// What chromedriver's `/status` says once it takes sessions.
const READY: &str = "\"ready\":true";

/// How long one `GET /status` may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// chromedriver's `GET /status` answer, over a connection of its own: read
/// until it says it is ready or closes, as it keeps the connection open even
/// when asked not to.
async fn driver_status(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        if n == 0 || text.contains(READY) {
            return Ok(text.into_owned());
        }
    }
}

/// One `.message` row of `#messages`, as the page shows it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ShownMessage {
    /// Its `data-seq` (room messages only).
    pub seq: Option<String>,
    /// The text of its `.time`.
    pub time: Option<String>,
    /// The text of its `.nick`.
    pub nick: Option<String>,
    /// The text of its `.text`: what the message said.
    pub text: Option<String>,
}

impl ShownMessage {
    /// Its `data-seq` as a number; panics when it has none or a bad one.
    pub fn seq(&self) -> u64 {
        let seq = self
            .seq
            .as_deref()
            .unwrap_or_else(|| panic!("message without data-seq: {self:?}"));
        seq.parse()
            .unwrap_or_else(|_| panic!("data-seq {seq:?} is not a number: {self:?}"))
    }

    /// Whether its `.nick` names `nick`, whatever the page puts around it
    /// (`<alice>`, `alice:`).
    pub fn is_from(&self, nick: &str) -> bool {
        self.nick.as_deref().is_some_and(|shown| {
            shown.trim_matches(|c: char| !c.is_alphanumeric() && c != '_' && c != '-') == nick
        })
    }
}

/// One headless Chromium session: one person with the web client open.
pub struct Browser {
    /// Who this is, in panic messages.
    pub label: String,
    client: fantoccini::Client,
}

impl Browser {
    /// Runs one WebDriver command, bounded by [`PAGE_TIMEOUT`]: a browser
    /// that stops answering fails the test instead of hanging it.
    async fn command<T>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, CmdError> {
        tokio::time::timeout(PAGE_TIMEOUT, command)
            .await
            .unwrap_or_else(|_| panic!("{}: {what} took over 10 s", self.label))
    }

    /// Loads `url` (a page load: the browser waits for its `load` event).
    pub async fn goto(&self, url: &str) {
        let what = format!("loading {url}");
        self.command(&what, self.client.goto(url))
            .await
            .unwrap_or_else(|e| panic!("{}: {what} failed: {e}", self.label));
    }

    /// Runs `script` (a function body that `return`s) in the page.
    pub async fn run(&self, script: &str) -> Result<Value, CmdError> {
        self.command("a script", self.client.execute(script, Vec::new()))
            .await
    }

    /// Runs `script` until it returns something other than `null`, `false`
    /// or `""`, and returns that; panics with the page's state after
    /// [`PAGE_TIMEOUT`]. A script that throws counts as not yet.
    pub async fn wait_until(&self, what: &str, script: &str) -> Value {
        let deadline = tokio::time::Instant::now() + PAGE_TIMEOUT;
        let mut last = Value::Null;
        loop {
            match self.run(script).await {
                Ok(Value::Null | Value::Bool(false)) => {}
                Ok(Value::String(s)) if s.is_empty() => {}
                Ok(value) => return value,
                Err(e) => last = Value::String(e.to_string()),
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "{}: {what}: not within 10 s (last script error: {last})\n{}",
                    self.label,
                    self.snapshot().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The page's `#status` and `#messages` as text, for panic messages.
    pub async fn snapshot(&self) -> String {
        match self.run(SNAPSHOT_SCRIPT).await {
            Ok(Value::String(text)) => text,
            Ok(other) => format!("(page snapshot: {other})"),
            Err(e) => format!("(no page snapshot: {e})"),
        }
    }

    /// The element the hook `selector` names; panics (with the page's state)
    /// when the page has none.
    pub async fn element(&self, selector: &str) -> Element {
        let what = format!("finding {selector}");
        match self
            .command(&what, self.client.find(Locator::Css(selector)))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "{}: the page has no {selector}: {e}\n{}",
                self.label,
                self.snapshot().await
            ),
        }
    }

    /// Types `text` into the element `selector` names, as key events.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let element = self.element(selector).await;
        let what = format!("typing into {selector}");
        self.command(&what, element.send_keys(text))
            .await
            .unwrap_or_else(|e| panic!("{}: {what} failed: {e}", self.label));
    }

    /// Presses Enter in the element `selector` names.
    pub async fn press_enter(&self, selector: &str) {
        self.type_into(selector, &char::from(Key::Enter).to_string())
            .await;
    }

    /// Clicks the element `selector` names.
    pub async fn click(&self, selector: &str) {
        let element = self.element(selector).await;
        let what = format!("clicking {selector}");
        self.command(&what, element.click())
            .await
            .unwrap_or_else(|e| panic!("{}: {what} failed: {e}", self.label));
    }

    /// Whether the element `selector` names exists and is shown.
    pub async fn is_shown(&self, selector: &str) -> bool {
        let what = format!("looking at {selector}");
        match self
            .command(&what, self.client.find(Locator::Css(selector)))
            .await
        {
            Ok(element) => self
                .command(&what, element.is_displayed())
                .await
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Waits until `#status` says "connected as `nick`".
    pub async fn wait_connected_as(&self, nick: &str) {
        let script = format!(
            "const status = document.getElementById('status');
             return status !== null
                 && status.textContent.toLowerCase().includes('connected as {nick}');"
        );
        self.wait_until(&format!("#status saying connected as {nick}"), &script)
            .await;
    }

    /// Signs in with the `#signin` form as `nick`, no password, and waits
    /// until `#status` says so.
    pub async fn sign_in(&self, nick: &str) {
        self.element("#signin").await;
        self.element("#password").await;
        // The page may offer the nick it remembers; replace it.
        let nick_field = self.element("#nick").await;
        self.command("clearing #nick", nick_field.clear())
            .await
            .unwrap_or_else(|e| panic!("{}: clearing #nick failed: {e}", self.label));
        self.type_into("#nick", nick).await;
        self.click("#signin-button").await;
        self.wait_connected_as(nick).await;
    }

    /// Fills the `#signin` form with `nick` and `account_password` (empty: none)
    /// and submits it, without waiting for the outcome: a test waits on what
    /// it expects, `#status` or `#signin-error`.
    pub async fn submit_sign_in(&self, nick: &str, account_password: &str) {
        self.element("#signin").await;
        for (selector, value) in [("#nick", nick), ("#account-password", account_password)] {
            let field = self.element(selector).await;
            let what = format!("clearing {selector}");
            self.command(&what, field.clear())
                .await
                .unwrap_or_else(|e| panic!("{}: {what} failed: {e}", self.label));
            if !value.is_empty() {
                self.type_into(selector, value).await;
            }
        }
        self.click("#signin-button").await;
    }

    /// Waits until the text of the element `selector` names holds `needle`,
    /// and returns that text.
    pub async fn wait_text(&self, selector: &str, needle: &str) -> String {
        let selector_json = serde_json::to_string(selector).expect("serialize selector");
        let needle_json = serde_json::to_string(needle).expect("serialize needle");
        let script = format!(
            "const element = document.querySelector({selector_json});
             return element !== null && element.textContent.includes({needle_json})
                 ? element.textContent : null;"
        );
        let found = self
            .wait_until(&format!("{selector} saying {needle:?}"), &script)
            .await;
        found.as_str().unwrap_or_default().to_string()
    }

    /// Types `line` into `#input` and presses Enter: a message or a command.
    pub async fn enter_line(&self, line: &str) {
        self.type_into("#input", line).await;
        self.press_enter("#input").await;
    }

    /// Joins `room` with `#join-room` and `#join-button`, and waits for its
    /// `li.room` in `#rooms` and for `#topic` and `#members` to be there.
    pub async fn join(&self, room: &str) {
        self.type_into("#join-room", room).await;
        self.click("#join-button").await;
        let script = format!(
            "return document.querySelector('#rooms li.room[data-room=\"{room}\"]') !== null
                && document.getElementById('topic') !== null
                && document.querySelector('#members li') !== null;"
        );
        self.wait_until(
            &format!("#rooms listing {room} and #members filled"),
            &script,
        )
        .await;
    }

    /// Every `.message` of `#messages`, in page order.
    pub async fn messages(&self) -> Vec<ShownMessage> {
        let rows = self
            .run(&format!("{ROWS_SCRIPT} return rows();"))
            .await
            .unwrap_or_else(|e| panic!("{}: reading #messages failed: {e}", self.label));
        serde_json::from_value(rows.clone())
            .unwrap_or_else(|e| panic!("{}: #messages rows {rows} unreadable: {e}", self.label))
    }

    /// Waits until `#messages` shows a room message (one with a `data-seq`)
    /// whose `.text` is `text`, and returns it.
    pub async fn wait_for_room_message(&self, text: &str) -> ShownMessage {
        let wanted = serde_json::to_string(text).expect("serialize text");
        let script = format!(
            "{ROWS_SCRIPT}
             return rows().find(row => row.text === {wanted} && row.seq !== null) ?? null;"
        );
        let found = self
            .wait_until(
                &format!("#messages showing {text:?} with a data-seq"),
                &script,
            )
            .await;
        serde_json::from_value(found.clone())
            .unwrap_or_else(|e| panic!("{}: message row {found} unreadable: {e}", self.label))
    }

    /// Ends the WebDriver session, closing the browser.
    pub async fn close(self) {
        let Browser { label, client } = self;
        tokio::time::timeout(PAGE_TIMEOUT, client.close())
            .await
            .unwrap_or_else(|_| panic!("{label}: closing the browser took over 10 s"))
            .unwrap_or_else(|e| panic!("{label}: closing the browser failed: {e}"));
    }
}
