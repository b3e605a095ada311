//! The full-screen client end to end: the real `confab client` binary in a
//! terminal of tmux's, against the real server binary on 127.0.0.1, typed at
//! with keys and read off the screen the way a person would. What a unit test
//! of the interface cannot show lives here: the terminal taken over and given
//! back, keys as a terminal sends them, a resize, and pages of history coming
//! from a server.
//!
//! Each test runs its own tmux server on a socket in a temporary directory
//! (never a user's tmux) and kills it when it ends. Every wait polls the screen
//! under a bound and fails showing the last screen; nothing sleeps.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::{interval, Instant, MissedTickBehavior};

use common::{write_binary_config, BinaryServer, NO_RATE_LIMIT};

/// How long one expected screen may take.
const WAIT: Duration = Duration::from_secs(10);
/// How long one whole test may take.
const TEST_LIMIT: Duration = Duration::from_secs(20);
/// How often the screen is read while waiting.
const POLL: Duration = Duration::from_millis(50);
/// The terminal's size, and the smaller one a resize goes to.
const WIDE: (u16, u16) = (100, 30);
const NARROW: (u16, u16) = (50, 20);

/// A tmux server of the test's own, killed when dropped.
struct Tmux {
    socket: PathBuf,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

/// One tmux session (a terminal) running one client.
struct Pane<'a> {
    tmux: &'a Tmux,
    name: String,
}

impl Tmux {
    /// Checks that tmux is there (the test fails, it does not skip, when it
    /// is not) and prepares a socket and a config of our own.
    fn new() -> Tmux {
        let found = std::process::Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|output| output.status.success());
        assert!(
            found,
            "tmux is not installed: the full-screen client's end-to-end tests run it \
             in tmux (.ci/run installs it with apt-get)"
        );
        let dir = tempfile::tempdir().expect("temp dir for tmux");
        let config = dir.path().join("tmux.conf");
        // Not a user's config, and no status bar of tmux's taking a row.
        std::fs::write(&config, "set -g status off\n").expect("write tmux.conf");
        Tmux {
            socket: dir.path().join("tmux.sock"),
            config,
            _dir: dir,
        }
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("tmux");
        command
            .arg("-f")
            .arg(&self.config)
            .arg("-S")
            .arg(&self.socket)
            // Inside a user's tmux, this variable would point at theirs.
            .env_remove("TMUX")
            .kill_on_drop(true);
        command
    }

    /// Runs `tmux ARGS` on our server; its stdout. Panics when it fails.
    async fn run(&self, args: &[&str]) -> String {
        let output = tokio::time::timeout(WAIT, self.command().args(args).output())
            .await
            .unwrap_or_else(|_| panic!("tmux {args:?} took over {WAIT:?}"))
            .unwrap_or_else(|e| panic!("cannot run tmux {args:?}: {e}"));
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("tmux prints UTF-8")
    }

    /// A new detached session of the wide size running `sh -c SCRIPT`.
    async fn open(&self, name: &str, script: &str) -> Pane<'_> {
        let (x, y) = (WIDE.0.to_string(), WIDE.1.to_string());
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &x,
            "-y",
            &y,
            "sh",
            "-c",
            script,
        ])
        .await;
        // Sizes stay as the test sets them, with no client attached to set
        // them. Set on the window: set globally, tmux 3.3a's server crashes
        // on the next new-session.
        self.run(&["set-option", "-w", "-t", name, "window-size", "manual"])
            .await;
        Pane {
            tmux: self,
            name: name.to_owned(),
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Ends every pane with the server: no client outlives its test.
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .env_remove("TMUX")
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Pane<'_> {
    /// `tmux send-keys` with key names (`Enter`, `C-c`, `M-2`, `PPage`).
    async fn send_keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend(keys);
        self.tmux.run(&args).await;
    }

    /// Types `text` as it is (`send-keys -l`), key by key.
    async fn type_text(&self, text: &str) {
        self.tmux
            .run(&["send-keys", "-t", &self.name, "-l", text])
            .await;
    }

    /// Types `text` and Enter.
    async fn type_line(&self, text: &str) {
        self.type_text(text).await;
        self.send_keys(&["Enter"]).await;
    }

    /// The screen as text, one row a line (`tmux capture-pane -p`).
    async fn capture(&self) -> String {
        self.tmux
            .run(&["capture-pane", "-p", "-t", &self.name])
            .await
    }

    /// A tmux format of the pane (`#{alternate_on}`, `#{pane_pid}`…).
    async fn format(&self, format: &str) -> String {
        let value = self
            .tmux
            .run(&["display-message", "-p", "-t", &self.name, format])
            .await;
        value.trim().to_owned()
    }

    /// Reads the screen every [`POLL`] until `ready` holds, and returns that
    /// screen; after [`WAIT`] the test fails with the last screen read.
    async fn wait_for_screen(&self, ready: impl Fn(&Screen) -> bool, what: &str) -> Screen {
        let deadline = Instant::now() + WAIT;
        let mut tick = interval(POLL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let screen = Screen(self.capture().await);
            if ready(&screen) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: no screen with {what} within {WAIT:?}; the last one:\n{}",
                    self.name, screen.0
                );
            }
        }
    }

    /// Resizes the terminal to `(columns, rows)`.
    async fn resize(&self, (x, y): (u16, u16)) {
        let (x, y) = (x.to_string(), y.to_string());
        self.tmux
            .run(&["resize-window", "-t", &self.name, "-x", &x, "-y", &y])
            .await;
    }

    /// The process id of the `confab` client the pane's shell started.
    async fn client_pid(&self) -> u32 {
        let shell: u32 = self
            .format("#{pane_pid}")
            .await
            .parse()
            .expect("pane_pid is a number");
        child_named(shell, "confab")
            .unwrap_or_else(|| panic!("{}: no confab process under the shell {shell}", self.name))
    }

    /// Waits for the client to exit, then checks the terminal is as it was:
    /// the normal screen again with what was printed before the client, its
    /// exit status, the same terminal modes, a visible cursor, and none of
    /// the interface's rows. Returns the exit status.
    async fn expect_exit_and_terminal_back(&self, gone: &[&str]) -> String {
        let screen = self
            .wait_for_screen(|s| s.row_starting("MODES=").is_some(), "the client's exit")
            .await;
        assert!(screen.has_row("BEFORE-CLIENT"), "{}", screen.0);
        assert!(
            screen.has_row("MODES=restored"),
            "the terminal modes (raw mode) were not put back:\n{}",
            screen.0
        );
        for row in gone {
            assert!(
                !screen.0.contains(row),
                "{row:?} is still on the screen after the exit:\n{}",
                screen.0
            );
        }
        assert_eq!(
            self.format("#{alternate_on}").await,
            "0",
            "still on the alternate screen"
        );
        assert_eq!(
            self.format("#{cursor_flag}").await,
            "1",
            "the cursor is hidden"
        );
        let status = screen.row_starting("EXIT=").expect("the exit status row");
        status.trim_start_matches("EXIT=").to_owned()
    }
}

/// One capture of a pane.
struct Screen(String);

impl Screen {
    fn rows(&self) -> Vec<&str> {
        self.0.lines().collect()
    }

    fn has_row(&self, row: &str) -> bool {
        self.rows().iter().any(|r| r.trim_end() == row)
    }

    fn row_starting(&self, start: &str) -> Option<&str> {
        self.rows()
            .into_iter()
            .find(|row| row.starts_with(start))
            .map(str::trim_end)
    }

    /// The input line: the last row (the input is one row here).
    fn input(&self) -> &str {
        self.rows().last().copied().unwrap_or("").trim_end()
    }

    /// The status line, just above the input.
    fn status(&self) -> &str {
        let rows = self.rows();
        rows.len()
            .checked_sub(2)
            .map_or("", |at| rows[at].trim_end())
    }

    /// A buffer's row of the buffer list, its spaces collapsed:
    /// `2 #general 2/1!`.
    fn sidebar(&self, title: &str) -> Option<String> {
        self.rows().into_iter().find_map(|row| {
            let (list, _) = row.split_once('│')?;
            let words: Vec<&str> = list.split_whitespace().collect();
            (words.get(1) == Some(&title)).then(|| words.join(" "))
        })
    }

    /// Whether every one of `texts` is on the screen.
    fn shows_all(&self, texts: &[&str]) -> bool {
        texts.iter().all(|text| self.0.contains(text))
    }

    /// The numbers of the `message NNN` lines on the screen, top to bottom.
    fn numbered(&self) -> Vec<u32> {
        self.rows()
            .iter()
            .filter_map(|row| {
                let at = row.find("> message ")? + "> message ".len();
                row[at..].trim_end().parse().ok()
            })
            .collect()
    }
}

/// A child of process `parent` whose command name is `name`, from /proc.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    let parent = parent.to_string();
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .map(str::trim)
        };
        (field("PPid:") == Some(parent.as_str()) && field("Name:") == Some(name)).then_some(pid)
    })
}

/// Quotes `text` for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The pane's program: a line before the client, the client with its own
/// config directory, then its exit status and whether the terminal's modes
/// are what they were before it. The pane then stays open to be read.
fn client_script(server: &BinaryServer, home: &Path, nick: &str, rooms: &[&str]) -> String {
    let mut client = format!(
        "XDG_CONFIG_HOME={} {} client {} --nick {nick} --fingerprint {}",
        quote(&home.display().to_string()),
        quote(env!("CARGO_BIN_EXE_confab")),
        server.addr,
        quote(&server.fingerprint),
    );
    for room in rooms {
        client.push_str(&format!(" --join {room}"));
    }
    format!(
        "unset RUST_LOG; modes=$(stty -g); printf 'BEFORE-CLIENT\\n'; {client}; \
         echo EXIT=$?; if [ \"$(stty -g)\" = \"$modes\" ]; then echo MODES=restored; \
         else echo MODES=changed; fi; sleep 60"
    )
}

/// The real server binary, its rate limits lifted, its files in `dir`.
async fn start_server(dir: &Path) -> BinaryServer {
    let config = write_binary_config(dir, &format!("[limits]\n{NO_RATE_LIMIT}"));
    BinaryServer::start(&config).await
}

/// Waits for a client to be online with an empty input line after `prompt`
/// (`#ops>`: a captured row ends without its spaces).
async fn wait_online(pane: &Pane<'_>, nick: &str, prompt: &str) -> Screen {
    let status = format!("[{nick}] ");
    pane.wait_for_screen(
        |s| s.status().starts_with(&status) && s.status().contains("online") && s.input() == prompt,
        &format!("{nick} online at {prompt:?}"),
    )
    .await
}

/// Two people in #general, alice in #ops too: unread counts and a mention
/// while she looks elsewhere, cleared when she switches; her reply goes where
/// she typed it; Ctrl-C clears the line without quitting; a resize keeps every
/// message and the line being typed; /quit and SIGTERM give the terminal back.
#[tokio::test]
async fn two_clients_chat_in_two_rooms() {
    within_limit(chat_in_two_rooms()).await;
}

async fn chat_in_two_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    // Someone in #ops only: whatever alice says there, they hear.
    let mut watcher = server.client("watcher").await;
    watcher.join("ops").await;
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let tmux = Tmux::new();

    let alice = tmux
        .open(
            "alice",
            &client_script(&server, home_a.path(), "alice", &["general", "ops"]),
        )
        .await;
    // The room joined last is the one looked at.
    wait_online(&alice, "alice", "#ops>").await;
    assert_eq!(alice.format("#{alternate_on}").await, "1");
    let bob = tmux
        .open(
            "bob",
            &client_script(&server, home_b.path(), "bob", &["general"]),
        )
        .await;
    wait_online(&bob, "bob", "#general>").await;

    bob.type_line("hello everyone").await;
    bob.type_line("alice, are you there?").await;
    let screen = alice
        .wait_for_screen(
            |s| s.sidebar("#general").as_deref() == Some("2 #general 2/1!"),
            "2 unread in #general, 1 a mention",
        )
        .await;
    assert_eq!(screen.sidebar("#ops").as_deref(), Some("3 #ops"));
    assert!(!screen.0.contains("hello everyone"), "{}", screen.0);

    alice.send_keys(&["M-2"]).await;
    let said = ["<bob> hello everyone", "<bob> alice, are you there?"];
    let screen = alice
        .wait_for_screen(
            |s| s.input() == "#general>" && s.shows_all(&said),
            "#general with bob's lines",
        )
        .await;
    assert_eq!(screen.sidebar("#general").as_deref(), Some("2 #general"));

    alice.type_line("hi bob, here I am").await;
    bob.wait_for_screen(
        |s| s.0.contains("<alice> hi bob, here I am"),
        "alice's reply",
    )
    .await;
    // The server queues a room's messages before it answers a later ping:
    // had the reply gone to #ops, it would be here.
    let in_ops = watcher.ping_roundtrip().await;
    assert!(
        in_ops.iter().all(|frame| frame["type"] != "message"),
        "a message reached #ops: {in_ops:?}"
    );

    // Ctrl-C clears the line, and the client goes on.
    alice.type_text("this line is dropped").await;
    alice
        .wait_for_screen(
            |s| s.input() == "#general> this line is dropped",
            "the typed line",
        )
        .await;
    alice.send_keys(&["C-c"]).await;
    let screen = alice
        .wait_for_screen(|s| s.input() == "#general>", "an empty input line")
        .await;
    assert!(screen.status().starts_with("[alice] "), "{}", screen.0);
    alice.type_line("still here after Ctrl-C").await;
    bob.wait_for_screen(
        |s| s.0.contains("<alice> still here after Ctrl-C"),
        "the line sent after Ctrl-C",
    )
    .await;
    let said = [
        "<bob> hello everyone",
        "<bob> alice, are you there?",
        "<alice> hi bob, here I am",
        "<alice> still here after Ctrl-C",
    ];

    // A resize keeps every message and the line being typed.
    alice.type_text("draft to keep").await;
    alice
        .wait_for_screen(|s| s.input() == "#general> draft to keep", "the draft")
        .await;
    alice.resize(NARROW).await;
    let screen = alice
        .wait_for_screen(
            |s| s.rows().len() == NARROW.1 as usize && s.status().contains("· 2:#general"),
            "the narrow layout (the buffer list folded into the status line)",
        )
        .await;
    assert!(screen.shows_all(&said), "{}", screen.0);
    assert_eq!(screen.input(), "#general> draft to keep");
    alice.resize(WIDE).await;
    let screen = alice
        .wait_for_screen(
            |s| s.rows().len() == WIDE.1 as usize && s.sidebar("#ops").is_some(),
            "the wide layout again",
        )
        .await;
    assert!(screen.shows_all(&said), "{}", screen.0);
    assert!(!screen.0.contains("this line is dropped"), "{}", screen.0);
    assert_eq!(screen.input(), "#general> draft to keep");

    // /quit ends the session with status 0 and the terminal back.
    alice.send_keys(&["C-u"]).await;
    alice
        .wait_for_screen(|s| s.input() == "#general>", "the draft cleared")
        .await;
    alice.type_line("/quit").await;
    let status = alice
        .expect_exit_and_terminal_back(&["[alice]", "#general>", "#ops"])
        .await;
    assert_eq!(status, "0");

    // So does SIGTERM.
    bob.wait_for_screen(|s| s.0.contains("alice left"), "alice leaving")
        .await;
    let pid = bob.client_pid().await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let status = bob
        .expect_exit_and_terminal_back(&["[bob]", "#general>"])
        .await;
    assert_eq!(status, "0");
}

/// A room with 200 messages: joining shows the newest page only, PgUp fetches
/// the pages before it from the server down to the first message, PgDn comes
/// back through all of them in order, and Ctrl-D on an empty line quits.
#[tokio::test]
async fn page_up_fetches_older_history_to_the_first_message() {
    within_limit(history_down_to_the_first_message()).await;
}

async fn history_down_to_the_first_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let mut filler = server.client("filler").await;
    filler.join("archive").await;
    for n in 1..=200 {
        filler.say("archive", &format!("message {n:03}")).await;
    }
    let home = tempfile::tempdir().unwrap();
    let tmux = Tmux::new();
    let alice = tmux
        .open(
            "alice",
            &client_script(&server, home.path(), "alice", &["general"]),
        )
        .await;
    wait_online(&alice, "alice", "#general>").await;

    alice.type_line("/join archive").await;
    let screen = alice
        .wait_for_screen(
            |s| s.input() == "#archive>" && s.0.contains("<filler> message 200"),
            "#archive's newest messages",
        )
        .await;
    // history_on_join: the newest 20.
    assert_eq!(screen.numbered(), (181..=200).collect::<Vec<_>>());
    assert!(
        screen.0.contains("older messages: scroll up to fetch them"),
        "{}",
        screen.0
    );

    let mut screen = screen;
    let mut presses = 0;
    while !screen.0.contains("<filler> message 001") {
        alice.send_keys(&["PPage"]).await;
        presses += 1;
        assert!(presses <= 40, "40 PgUps and no message 001:\n{}", screen.0);
        let before = screen.0;
        // Each PgUp scrolls, or (at the top) brings the page before.
        screen = alice
            .wait_for_screen(|s| s.0 != before, "the screen moved by PgUp")
            .await;
        assert_consecutive(&screen);
    }
    assert!(
        screen.0.contains("start of the conversation"),
        "{}",
        screen.0
    );
    assert!(
        screen.status().contains("scrolled up (PgDn)"),
        "{}",
        screen.0
    );

    // Back down through every message, in order, none missing.
    let mut seen: BTreeSet<u32> = screen.numbered().into_iter().collect();
    let mut presses = 0;
    while screen.status().contains("scrolled up") {
        alice.send_keys(&["NPage"]).await;
        presses += 1;
        assert!(
            presses <= 40,
            "40 PgDns and still scrolled up:\n{}",
            screen.0
        );
        let before = screen.0;
        screen = alice
            .wait_for_screen(|s| s.0 != before, "the screen moved by PgDn")
            .await;
        assert_consecutive(&screen);
        seen.extend(screen.numbered());
    }
    assert_eq!(seen, (1..=200).collect());

    alice.send_keys(&["C-d"]).await;
    let status = alice
        .expect_exit_and_terminal_back(&["[alice]", "#archive>"])
        .await;
    assert_eq!(status, "0");
}

/// Runs one test under [`TEST_LIMIT`]; past it, the test fails and its tmux
/// server and processes go with it.
async fn within_limit(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .unwrap_or_else(|_| panic!("the test took over {TEST_LIMIT:?}"));
}

/// The numbered messages on a screen follow each other: no gap, no repeat.
fn assert_consecutive(screen: &Screen) {
    let numbers = screen.numbered();
    assert!(
        numbers.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "messages out of order or missing: {numbers:?}\n{}",
        screen.0
    );
}
