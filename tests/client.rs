//! `confab client` as users and scripts run it: the real binary as a subprocess,
//! talking TLS to a real server on 127.0.0.1, checked on what it prints and how
//! it exits.

mod client_support;
mod common;

use serde_json::{json, Value};

use client_support::{config_home, run_client, ClientProcess};
use common::{normalize, registered, TestServer, NO_RATE_LIMIT};

fn limits(extra: &str) -> String {
    format!("[limits]\n{NO_RATE_LIMIT}{extra}")
}

fn target(server: &TestServer) -> String {
    server.addr().to_string()
}

/// Two people chatting through two clients in line mode, one reply each way.
#[tokio::test]
async fn two_clients_hold_a_conversation() {
    let server = TestServer::start(&limits("")).await;
    let (home_a, home_b) = (config_home(), config_home());
    let addr = target(&server);
    let pin = ["--fingerprint", server.fingerprint.as_str()];
    let args = |nick: &'static str| {
        let mut args = vec!["client", addr.as_str(), "--nick", nick, "--join", "general"];
        args.extend(pin);
        args
    };
    let mut alice = ClientProcess::spawn(&args("alice"), home_a.path());
    assert_eq!(
        alice.line_containing("joined").await,
        "-- joined #general (no topic); 1 here: alice"
    );
    let mut bob = ClientProcess::spawn(&args("bob"), home_b.path());
    bob.line_containing("joined #general").await;
    assert!(alice
        .line_containing("bob")
        .await
        .ends_with(" #general bob joined"));

    alice.send_line("hi bob").await;
    let heard = bob.line_containing("hi bob").await;
    assert!(heard.ends_with(" #general <alice> hi bob"), "{heard}");
    bob.send_line("/me waves back").await;
    let seen = alice.line_containing("waves").await;
    assert!(seen.ends_with(" #general * bob waves back"), "{seen}");

    let bob = bob.finish().await;
    assert_eq!(bob.code, Some(0), "{}", bob.stderr);
    let left = alice.line_containing("left").await;
    assert!(left.ends_with(" #general bob left (quit)"), "{left}");
    let alice = alice.finish().await;
    assert_eq!(alice.code, Some(0), "{}", alice.stderr);
}

/// The local time the human output shows: `HH:MM` then a space.
fn strip_time(line: &str) -> &str {
    let (time, rest) = line.split_at(5);
    assert!(
        time.as_bytes()[2] == b':' && time.chars().filter(char::is_ascii_digit).count() == 4,
        "no HH:MM time at the start of {line:?}"
    );
    rest.strip_prefix(' ').unwrap_or(rest)
}

/// A script of slash commands and plain lines on stdin.
#[tokio::test]
async fn scripts_use_the_same_slash_commands() {
    let server = TestServer::start(&limits("")).await;
    let mut watcher = registered(&server, "watcher").await;
    watcher.join("ops").await;
    let home = config_home();
    let script = "/join #Ops\n\
                  deploy started\n\
                  /me is deploying\n\
                  /topic deploys today\n\
                  /who\n\
                  /msg watcher psst\n\
                  /frobnicate\n\
                  //etc/hosts changed\n";
    let done = run_client(
        &[
            "client",
            &target(&server),
            "--nick",
            "bot",
            "--fingerprint",
            &server.fingerprint,
        ],
        script,
        home.path(),
    )
    .await;
    // The unknown command is refused locally, so the run reports a failure.
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("error: unknown command /frobnicate"),
        "{}",
        done.stderr
    );
    let lines: Vec<&str> = done.stdout.iter().map(|line| untimed(line)).collect();
    assert_eq!(
        lines,
        [
            "-- connected to test.confab (confab 0.1.0) as bot",
            "-- joined #ops (no topic); 2 here: bot, watcher",
            "#ops <bot> deploy started",
            "#ops * bot is deploying",
            "#ops bot set the topic: deploys today",
            "-- #ops: 2 members: bot, watcher",
            "[private to watcher] <bot> psst",
            "#ops <bot> /etc/hosts changed",
        ]
    );
}

/// A human output line without its leading local time (status lines, which
/// start with `-- `, have none).
fn untimed(line: &str) -> &str {
    if line.starts_with("-- ") {
        line
    } else {
        strip_time(line)
    }
}

/// What the watcher of the script saw, frame by frame.
#[tokio::test]
async fn a_script_reaches_other_users_as_requests() {
    let server = TestServer::start(&limits("")).await;
    let mut watcher = registered(&server, "watcher").await;
    watcher.join("ops").await;
    let home = config_home();
    let done = run_client(
        &[
            "client",
            &target(&server),
            "--nick",
            "bot",
            "--fingerprint",
            &server.fingerprint,
        ],
        "/join ops\nhello\n/msg watcher psst\n/leave ops done here\n",
        home.path(),
    )
    .await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let expected = [
        json!({"type": "join", "room": "ops", "nick": "bot", "ts": "<ts>"}),
        json!({"type": "message", "room": "ops", "seq": 1, "ts": "<ts>", "from": "bot", "text": "hello"}),
        json!({"type": "message", "to": "watcher", "ts": "<ts>", "from": "bot", "text": "psst"}),
        json!({"type": "leave", "room": "ops", "nick": "bot", "reason": "done here", "ts": "<ts>"}),
    ];
    for frame in &expected {
        assert_eq!(normalize(&watcher.recv().await), *frame);
    }
    assert_eq!(expected.len(), 4);
    let private = done.stdout.iter().find(|l| l.contains("psst")).unwrap();
    assert!(
        private.ends_with(" [private to watcher] <bot> psst"),
        "{private}"
    );
}

/// `--room R --send TEXT`: joins, sends, waits for the `ok`, quits, exit 0.
#[tokio::test]
async fn one_shot_send_delivers_and_exits_zero() {
    let server = TestServer::start(&limits("")).await;
    let mut watcher = registered(&server, "watcher").await;
    watcher.join("ops").await;
    let home = config_home();
    let done = run_client(
        &[
            "client",
            &target(&server),
            "--nick",
            "deploybot",
            "--fingerprint",
            &server.fingerprint,
            "--room",
            "#ops",
            "--send",
            "deploy finished",
        ],
        "",
        home.path(),
    )
    .await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(done.stdout, Vec::<String>::new());
    assert_eq!(done.stderr, "");
    assert_eq!(watcher.recv().await["type"], "join");
    assert_eq!(
        normalize(&watcher.recv().await),
        json!({"type": "message", "room": "ops", "seq": 1, "ts": "<ts>", "from": "deploybot", "text": "deploy finished"})
    );
    assert_eq!(
        normalize(&watcher.recv().await),
        json!({"type": "leave", "room": "ops", "nick": "deploybot", "reason": "quit", "ts": "<ts>"})
    );
}

/// A one-shot send the server refuses: exit 1, the server's error on stderr,
/// nothing delivered.
#[tokio::test]
async fn one_shot_send_with_a_server_error_exits_non_zero() {
    let server = TestServer::start(&limits("max_text_bytes = 10\n")).await;
    let mut watcher = registered(&server, "watcher").await;
    watcher.join("ops").await;
    let home = config_home();
    let addr = target(&server);
    let send = |text: &'static str, nick: &'static str| {
        [
            "client",
            addr.as_str(),
            "--nick",
            nick,
            "--fingerprint",
            server.fingerprint.as_str(),
            "--room",
            "ops",
            "--send",
            text,
        ]
    };
    let too_long = run_client(&send("far more than ten bytes", "bot"), "", home.path()).await;
    assert_eq!(too_long.code, Some(1), "{}", too_long.stderr);
    assert!(
        too_long.stderr.contains("(bad_text)"),
        "{}",
        too_long.stderr
    );

    let taken = run_client(&send("hi", "watcher"), "", home.path()).await;
    assert_eq!(taken.code, Some(1), "{}", taken.stderr);
    assert!(taken.stderr.contains("(nick_in_use)"), "{}", taken.stderr);

    // The watcher saw the first bot come and go, and no message at all.
    let frames: Vec<String> = [watcher.recv().await, watcher.recv().await]
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(frames, ["join", "leave"]);
    watcher.expect_nothing().await;
}

/// `--json`: every server frame on stdout as the JSON line it was.
#[tokio::test]
async fn json_mode_prints_every_frame() {
    let server = TestServer::start(&limits("")).await;
    let mut watcher = registered(&server, "watcher").await;
    watcher.join("ops").await;
    let home = config_home();
    let mut bot = ClientProcess::spawn(
        &[
            "client",
            &target(&server),
            "--nick",
            "bot",
            "--json",
            "--join",
            "ops",
            "--fingerprint",
            &server.fingerprint,
        ],
        home.path(),
    );
    let hello: Value = serde_json::from_str(&bot.next_line().await).unwrap();
    assert_eq!(hello["type"], "ok");
    assert_eq!(hello["nick"], "bot");
    let join: Value = serde_json::from_str(&bot.next_line().await).unwrap();
    assert_eq!(join["members"], json!(["bot", "watcher"]));
    assert_eq!(watcher.recv().await["type"], "join");
    let (sent, _) = watcher.say("ops", "tab\there").await;
    let line = bot.next_line().await;
    let received: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(received, sent);
    assert!(line.contains(r#""text":"tab\there""#), "{line}");
    bot.send_line("/who").await;
    let who: Value = serde_json::from_str(&bot.next_line().await).unwrap();
    assert_eq!(who["members"], json!(["bot", "watcher"]));
    let done = bot.finish().await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let rest: Vec<Value> = done
        .stdout
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rest,
        [
            json!({"type": "ok", "id": 4}),
            json!({"type": "bye", "reason": "quit"})
        ]
    );
}

/// `--raw`: stdin lines verbatim, every frame back; exit 1 when one failed.
#[tokio::test]
async fn raw_mode_sends_lines_verbatim() {
    let server = TestServer::start(&limits("")).await;
    let home = config_home();
    let input = "{\"type\":\"hello\",\"nick\":\"raw\",\"id\":1}\n\
                 \n\
                 {\"type\":\"join\",\"room\":\"#Ops\",\"id\":\"j\"}\n\
                 not json\n\
                 {\"type\":\"ping\",\"id\":2}\n";
    let done = run_client(
        &[
            "client",
            &target(&server),
            "--raw",
            "--fingerprint",
            &server.fingerprint,
        ],
        input,
        home.path(),
    )
    .await;
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    let frames: Vec<Value> = done
        .stdout
        .iter()
        .map(|l| normalize(&serde_json::from_str(l).unwrap()))
        .collect();
    assert_eq!(frames.len(), 4, "{frames:#?}");
    assert_eq!(frames[0]["id"], 1);
    assert_eq!(frames[0]["nick"], "raw");
    assert_eq!(
        frames[1],
        json!({"type": "ok", "id": "j", "room": "ops", "topic": "", "members": ["raw"], "epoch": "<epoch>", "history": [], "more": false})
    );
    assert_eq!(frames[2]["code"], "bad_frame");
    assert_eq!(frames[3], json!({"type": "ok", "id": 2}));
}
