//! A dropped connection: the client reconnects, rejoins with `since`, pages on,
//! and shows every message exactly once, in order.

mod client_support;
mod common;

use client_support::{config_home, ClientProcess, Proxy};
use common::{registered, TestServer, NO_RATE_LIMIT};

/// `history_max = 3` makes the catch-up of five missed messages take a `join`
/// with `since` and then `history` `after` pages.
#[tokio::test]
async fn a_dropped_connection_catches_up_without_loss_or_duplicates() {
    let server = TestServer::start(&format!("[limits]\n{NO_RATE_LIMIT}history_max = 3\n")).await;
    let proxy = Proxy::start(server.addr()).await;
    let mut bob = registered(&server, "bob").await;
    bob.join("general").await;
    let home = config_home();
    let mut alice = ClientProcess::spawn(
        &[
            "client",
            &proxy.addr.to_string(),
            "--nick",
            "alice",
            "--join",
            "general",
            "--fingerprint",
            &server.fingerprint,
        ],
        home.path(),
    );
    alice.line_containing("joined #general").await;
    assert_eq!(bob.recv().await["type"], "join");
    for n in 1..=2 {
        bob.say("general", &format!("before {n}")).await;
        alice.line_containing(&format!("before {n}")).await;
    }

    proxy.cut_all();
    // The server noticed: alice is gone. Now bob talks while she is away.
    let leave = bob.recv().await;
    assert_eq!(leave["type"], "leave", "{leave}");
    assert_eq!(leave["reason"], "connection closed");
    for n in 1..=5 {
        bob.say("general", &format!("missed {n}")).await;
    }
    // She comes back on her own and rejoins.
    let join = bob.recv().await;
    assert_eq!(
        (join["type"].as_str(), join["nick"].as_str()),
        (Some("join"), Some("alice"))
    );
    assert_eq!(proxy.accepted(), 2);
    bob.say("general", "after").await;
    alice.line_containing("after").await;

    let done = alice.finish().await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(done.stderr.contains("connection lost"), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("rejoined #general (caught up from seq 2: 3 new messages)"),
        "{}",
        done.stderr
    );
    // How many the page brings depends on whether "after" was posted before it.
    assert!(done.stderr.contains(" more in #general"), "{}", done.stderr);
    let said: Vec<&str> = done
        .all_stdout
        .iter()
        .filter_map(|line| line.split_once(" <bob> ").map(|(_, text)| text))
        .collect();
    assert_eq!(
        said,
        [
            "before 1", "before 2", "missed 1", "missed 2", "missed 3", "missed 4", "missed 5",
            "after"
        ]
    );
}

/// A script gives up after `--reconnect-attempts` and exits 3.
#[tokio::test]
async fn a_script_gives_up_after_its_attempts() {
    let server = TestServer::start("").await;
    let proxy = Proxy::start(server.addr()).await;
    let home = config_home();
    let mut bot = ClientProcess::spawn(
        &[
            "client",
            &proxy.addr.to_string(),
            "--nick",
            "bot",
            "--join",
            "ops",
            "--reconnect-attempts",
            "1",
            "--fingerprint",
            &server.fingerprint,
        ],
        home.path(),
    );
    bot.line_containing("joined #ops").await;
    // Shut the server down: the reconnect finds nobody.
    server.shutdown().await;
    let done = bot.finish().await;
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    assert!(
        done.stderr.contains("server shutting down"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("connection to"), "{}", done.stderr);
}
