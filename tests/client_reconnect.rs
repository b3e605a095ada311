//! A dropped connection: the client reconnects, rejoins with `since` and the
//! room's epoch, pages on, and shows every message exactly once, in order; when
//! the room's numbering restarted meanwhile (a server restarted without a log,
//! a room dropped and created again), it says so and shows what the server
//! holds instead of claiming to be caught up.

mod client_support;
mod common;

use serde_json::json;

use client_support::{config_home, ClientProcess, Finished, Proxy};
use common::{log_table, registered, TestServer, NO_RATE_LIMIT};

/// The texts `nick` said, in the order the client printed them.
fn said<'a>(done: &'a Finished, nick: &str) -> Vec<&'a str> {
    let marker = format!(" <{nick}> ");
    done.all_stdout
        .iter()
        .filter_map(|line| line.split_once(marker.as_str()).map(|(_, text)| text))
        .collect()
}

/// `alice` in the real client, through `proxy`, joining `room`.
fn spawn_alice(
    proxy: &Proxy,
    fingerprint: &str,
    room: &str,
    home: &std::path::Path,
) -> ClientProcess {
    ClientProcess::spawn(
        &[
            "client",
            &proxy.addr.to_string(),
            "--nick",
            "alice",
            "--join",
            room,
            "--fingerprint",
            fingerprint,
        ],
        home,
    )
}

/// `history_max = 3` makes the catch-up of five missed messages take a `join`
/// with `since` and then `history` `after` pages.
#[tokio::test]
async fn a_dropped_connection_catches_up_without_loss_or_duplicates() {
    let server = TestServer::start(&format!("[limits]\n{NO_RATE_LIMIT}history_max = 3\n")).await;
    let proxy = Proxy::start(server.addr()).await;
    let mut bob = registered(&server, "bob").await;
    bob.join("general").await;
    let home = config_home();
    let mut alice = spawn_alice(&proxy, &server.fingerprint, "general", home.path());
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
    // The five missed come in the join's answer and a page; "after" is counted
    // when it arrived during the catch-up (in a page, or held), not after it.
    assert!(
        ["5", "6"].iter().any(|n| done.stderr.contains(&format!(
            "-- rejoined #general (caught up from seq 2: {n} new messages)"
        ))),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("restarted"), "{}", done.stderr);
    assert_eq!(
        said(&done, "bob"),
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

/// Alice sees bob's two messages in #general, then the server restarts (on
/// the same state directory, with `extra_config`) while she is connected; her
/// reconnection is held back until carol has said 3 messages on the new
/// server. Returns how alice's run ended, and whether the room kept its epoch.
async fn restart_while_connected(extra_config: &str) -> (Finished, bool) {
    let state = tempfile::tempdir().expect("state dir");
    let config = format!("{extra_config}\n[limits]\n{NO_RATE_LIMIT}");
    let first = TestServer::start_in(state.path(), &config).await;
    let fingerprint = first.fingerprint.clone();
    let proxy = Proxy::start(first.addr()).await;
    let mut bob = registered(&first, "bob").await;
    let old_epoch = bob.join("general").await["epoch"].clone();
    let home = config_home();
    let mut alice = spawn_alice(&proxy, &fingerprint, "general", home.path());
    alice.line_containing("joined #general").await;
    assert_eq!(bob.recv().await["type"], "join");
    for n in 1..=2 {
        bob.say("general", &format!("before {n}")).await;
        alice.line_containing(&format!("before {n}")).await;
    }

    // Alice's reconnection waits at the proxy until the new server has news.
    proxy.hold();
    first.shutdown().await;
    drop(bob);
    let second = TestServer::start_in(state.path(), &config).await;
    assert_eq!(second.fingerprint, fingerprint, "same certificate");
    proxy.retarget(second.addr());
    let mut carol = registered(&second, "carol").await;
    let new_epoch = carol.join("general").await["epoch"].clone();
    for n in 1..=3 {
        carol.say("general", &format!("after restart {n}")).await;
    }
    proxy.release();
    alice.line_containing("after restart 3").await;
    let join = carol.recv().await;
    assert_eq!(
        (join["type"].as_str(), join["nick"].as_str()),
        (Some("join"), Some("alice"))
    );
    let done = alice.finish().await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stderr.contains("server shutting down"),
        "{}",
        done.stderr
    );
    assert_eq!(said(&done, "bob"), ["before 1", "before 2"]);
    assert_eq!(
        said(&done, "carol"),
        ["after restart 1", "after restart 2", "after restart 3"]
    );
    (done, new_epoch == old_epoch)
}

/// Without a message log a restart starts every room's numbering again: the
/// new one holds carol's 3 messages as seq 1 to 3. Alice, who had seen seq 1
/// and 2 of the old one, must say the numbering restarted and show all
/// three, not "caught up from seq 2" with only the third.
#[tokio::test]
async fn a_server_restarted_without_a_log_restarts_the_numbering() {
    let (done, same_epoch) = restart_while_connected("").await;
    assert!(!same_epoch, "a restart without a log is a new numbering");
    assert!(
        done.stderr.contains(
            "-- #general: the server's numbering of this room restarted; showing what it holds"
        ),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr
            .contains("-- rejoined #general (numbering restarted: 3 messages held by the server)"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("caught up"), "{}", done.stderr);
}

/// With a message log the room keeps its epoch and its seqs across the
/// restart: carol's messages are seq 3 to 5, and alice is caught up from 2.
#[tokio::test]
async fn a_server_restarted_with_a_log_keeps_the_numbering() {
    let logs = tempfile::tempdir().expect("log dir");
    let (done, same_epoch) = restart_while_connected(&log_table(logs.path(), "")).await;
    assert!(same_epoch, "a logged room keeps its epoch");
    assert!(
        done.stderr
            .contains("-- rejoined #general (caught up from seq 2: 3 new messages)"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("restarted"), "{}", done.stderr);
}

/// While alice is away, the last member leaves her room, so the server drops
/// it; carol creates it again. Its seqs start at 1 again in a new epoch, and
/// alice shows what the new room holds.
#[tokio::test]
async fn a_room_dropped_and_created_again_restarts_the_numbering() {
    let server = TestServer::start(&format!("[limits]\n{NO_RATE_LIMIT}")).await;
    let proxy = Proxy::start(server.addr()).await;
    let mut bob = registered(&server, "bob").await;
    let old_epoch = bob.join("scratch").await["epoch"].clone();
    let home = config_home();
    let mut alice = spawn_alice(&proxy, &server.fingerprint, "scratch", home.path());
    alice.line_containing("joined #scratch").await;
    assert_eq!(bob.recv().await["type"], "join");
    for n in 1..=2 {
        bob.say("scratch", &format!("old {n}")).await;
        alice.line_containing(&format!("old {n}")).await;
    }

    proxy.hold();
    proxy.cut_all();
    let leave = bob.recv().await;
    assert_eq!(
        (leave["type"].as_str(), leave["nick"].as_str()),
        (Some("leave"), Some("alice"))
    );
    // The last member goes: the room is dropped.
    let left = bob
        .request(json!({"type": "leave", "room": "scratch", "id": 1}))
        .await;
    assert_eq!(left["type"], "ok", "{left}");
    let mut carol = registered(&server, "carol").await;
    let new_epoch = carol.join("scratch").await["epoch"].clone();
    assert_ne!(new_epoch, old_epoch, "the room was created anew");
    for n in 1..=3 {
        carol.say("scratch", &format!("new {n}")).await;
    }
    proxy.release();
    alice.line_containing("new 3").await;

    let done = alice.finish().await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stderr.contains(
            "-- #scratch: the server's numbering of this room restarted; showing what it holds"
        ),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr
            .contains("-- rejoined #scratch (numbering restarted: 3 messages held by the server)"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("caught up"), "{}", done.stderr);
    assert_eq!(said(&done, "bob"), ["old 1", "old 2"]);
    assert_eq!(said(&done, "carol"), ["new 1", "new 2", "new 3"]);
}
