//! Room epochs (protocol 1.1), as a client that comes back sees them: after a
//! restart without a log, after a room was dropped and created again, and after
//! a logged room's day file was moved away, a `join` with `since` and the epoch
//! the client knew answers from the start of the current numbering; a logged
//! room keeps its epoch, seq and topic across restarts when its last seq is
//! known, and starts a new epoch when it is not; `history` with a stale epoch
//! gets `epoch_changed`.

mod common;

use common::*;
use serde_json::{json, Value};

/// Posts `texts` to `room` and returns the room's epoch and last seq as the
/// poster saw them.
async fn post_all(client: &mut Client, room: &str, texts: &[&str]) -> u64 {
    let mut last = 0;
    for text in texts {
        let (echo, _) = client.say(room, text).await;
        last = echo["seq"].as_u64().expect("a room message has a seq");
    }
    last
}

/// Sets a topic: the setter gets the `topic` event, then its `ok`.
async fn set_topic(client: &mut Client, room: &str, topic: &str) {
    let event = client
        .request(json!({"type": "topic", "room": room, "topic": topic}))
        .await;
    assert_eq!(
        (event["type"].as_str(), event["topic"].as_str()),
        (Some("topic"), Some(topic))
    );
    let ok = client.recv().await;
    assert_eq!(ok["type"], "ok", "{ok}");
}

fn texts(history: &Value) -> Vec<String> {
    history
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn epoch_of(frame: &Value) -> String {
    let epoch = frame["epoch"].as_str().unwrap_or_default().to_owned();
    assert!(is_protocol_epoch(&epoch), "no valid epoch in {frame}");
    epoch
}

/// alice, registered, in `room`, having posted `texts`: her client, the room's
/// epoch and the last seq she saw.
async fn alice_posted(server: &TestServer, room: &str, texts: &[&str]) -> (Client, String, u64) {
    let mut alice = registered(server, "alice").await;
    let epoch = epoch_of(&alice.join(room).await);
    let seen = post_all(&mut alice, room, texts).await;
    (alice, epoch, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_without_a_log_a_rejoin_gets_the_whole_new_numbering() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let server = TestServer::start_in(&state, "").await;
    let (alice, old_epoch, seen) = alice_posted(&server, "general", &["one", "two", "three"]).await;
    assert_eq!(seen, 3);
    drop(alice);
    server.shutdown().await;

    let server = TestServer::start_in(&state, "").await;
    let mut carol = registered(&server, "carol").await;
    carol.join("general").await;
    post_all(&mut carol, "general", &["c1", "c2", "c3"]).await;

    let mut alice = registered(&server, "alice").await;
    let rejoin = alice
        .request(json!({"type": "join", "room": "general", "since": seen, "epoch": old_epoch}))
        .await;
    assert_ne!(epoch_of(&rejoin), old_epoch, "{rejoin}");
    assert_eq!(texts(&rejoin["history"]), ["c1", "c2", "c3"], "{rejoin}");
    assert_eq!(rejoin["history"][0]["seq"], 1);
    assert_eq!(rejoin["more"], false);

    // Within the current numbering, `since` means what it always did.
    let mut bob = registered(&server, "bob").await;
    let current = epoch_of(&rejoin);
    let caught_up = bob
        .request(json!({"type": "join", "room": "general", "since": 3, "epoch": current}))
        .await;
    assert_eq!(caught_up["history"], json!([]), "{caught_up}");
    assert_eq!(epoch_of(&caught_up), current);
    server.shutdown().await;
}

#[tokio::test]
async fn a_room_dropped_and_created_again_is_a_new_numbering() {
    let server = TestServer::start("").await;
    let (mut alice, old_epoch, seen) = alice_posted(&server, "pop-up", &["a", "b"]).await;
    alice
        .request(json!({"type": "leave", "room": "pop-up"}))
        .await;

    // Empty, it was dropped; bob's join creates it again.
    let mut bob = registered(&server, "bob").await;
    let created = bob.join("pop-up").await;
    let new_epoch = epoch_of(&created);
    assert_ne!(new_epoch, old_epoch);
    post_all(&mut bob, "pop-up", &["fresh"]).await;

    let rejoin = alice
        .request(json!({"type": "join", "room": "pop-up", "since": seen, "epoch": old_epoch}))
        .await;
    assert_eq!(epoch_of(&rejoin), new_epoch);
    assert_eq!(texts(&rejoin["history"]), ["fresh"], "{rejoin}");
    server.shutdown().await;
}

#[tokio::test]
async fn history_with_a_stale_epoch_is_refused_naming_the_current_one() {
    let server = TestServer::start("").await;
    let (mut alice, epoch, _) = alice_posted(&server, "r", &["x", "y"]).await;

    let refused = alice
        .request(
            json!({"type": "history", "room": "r", "after": 0, "epoch": "stale-epoch", "id": 7}),
        )
        .await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "epoch_changed", "{refused}");
    assert_eq!(refused["id"], 7, "{refused}");
    assert_eq!(refused["epoch"], epoch.as_str(), "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains(&epoch), "{refused}");

    let page = alice
        .request(json!({"type": "history", "room": "r", "after": 0, "epoch": epoch}))
        .await;
    assert_eq!(page["type"], "ok", "{page}");
    assert_eq!(epoch_of(&page), epoch);
    assert_eq!(texts(&page["messages"]), ["x", "y"]);
    server.shutdown().await;
}

/// The real binary with a message log (no rate limits), after alice made the
/// room `general` with `topic` and posted `count` messages, then went away.
struct LoggedRoom {
    _tmp: tempfile::TempDir,
    logs: std::path::PathBuf,
    config: std::path::PathBuf,
    server: BinaryServer,
    epoch: String,
    seen: u64,
}

async fn logged_room(topic: &str, count: u64) -> LoggedRoom {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, config) = write_logged_config(tmp.path(), "");
    let server = BinaryServer::start(&config).await;
    let mut alice = server.client("alice").await;
    let epoch = epoch_of(&alice.join("general").await);
    set_topic(&mut alice, "general", topic).await;
    let sent: Vec<String> = (1..=count).map(|n| format!("m{n}")).collect();
    let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
    let seen = post_all(&mut alice, "general", &sent).await;
    assert_eq!(seen, count);
    LoggedRoom {
        _tmp: tmp,
        logs,
        config,
        server,
        epoch,
        seen,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_room_keeps_epoch_seq_and_topic_across_restarts_and_a_rotation_with_sighup() {
    let LoggedRoom {
        _tmp,
        logs,
        config,
        mut server,
        epoch,
        seen,
    } = logged_room("kept across restarts", 13).await;

    // A crash (SIGKILL) with the files in place: the numbering continues.
    server.kill();
    let mut server = BinaryServer::start(&config).await;
    let mut bob = server.client("bob").await;
    let rejoin = bob
        .request(json!({"type": "join", "room": "general", "since": seen, "epoch": epoch}))
        .await;
    assert_eq!(epoch_of(&rejoin), epoch);
    assert_eq!(rejoin["history"], json!([]), "{rejoin}");
    assert_eq!(rejoin["topic"], "kept across restarts");

    // logrotate moves the day file away and sends SIGHUP; then the server
    // dies before anyone posts again.
    let day = day_file(&logs, "general", &utc_day(0));
    std::fs::rename(&day, day.with_extension("jsonl.1")).unwrap();
    server.signal("-HUP");
    server.wait_for_log("reopened log files").await;
    server.kill();

    let server = BinaryServer::start(&config).await;
    let mut carol = server.client("carol").await;
    let rejoin = carol
        .request(json!({"type": "join", "room": "general", "since": seen, "epoch": epoch}))
        .await;
    assert_eq!(epoch_of(&rejoin), epoch, "{rejoin}");
    assert_eq!(rejoin["topic"], "kept across restarts", "{rejoin}");
    assert_eq!(rejoin["history"], json!([]), "{rejoin}");
    let (echo, ok) = carol.say("general", "after the rotation").await;
    assert_eq!(
        (echo["seq"].as_u64(), ok["seq"].as_u64()),
        (Some(14), Some(14))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_room_whose_last_seq_is_lost_starts_a_new_epoch_and_keeps_its_topic() {
    let LoggedRoom {
        _tmp,
        logs,
        config,
        mut server,
        epoch,
        seen,
    } = logged_room("still here", 3).await;

    // The day file is moved away without SIGHUP, and the server dies: nobody
    // can say any more which seq the room had reached.
    let day = day_file(&logs, "general", &utc_day(0));
    std::fs::rename(&day, day.with_extension("jsonl.old")).unwrap();
    server.kill();

    let server = BinaryServer::start(&config).await;
    assert!(
        server
            .log
            .iter()
            .any(|line| line.contains("the room starts a new numbering")),
        "the new numbering is not explained in the log:\n{}",
        server.log.join("\n")
    );
    let mut bob = server.client("bob").await;
    let rejoin = bob
        .request(json!({"type": "join", "room": "general", "since": seen, "epoch": epoch}))
        .await;
    let new_epoch = epoch_of(&rejoin);
    assert_ne!(new_epoch, epoch, "{rejoin}");
    assert_eq!(rejoin["topic"], "still here", "{rejoin}");
    let (echo, _) = bob.say("general", "first of the new numbering").await;
    assert_eq!(echo["seq"], 1, "{echo}");

    // A client that knew the old numbering gets the new one from its start.
    let mut alice = server.client("alice").await;
    let caught_up = alice
        .request(json!({"type": "join", "room": "general", "since": seen, "epoch": epoch}))
        .await;
    assert_eq!(epoch_of(&caught_up), new_epoch);
    assert_eq!(texts(&caught_up["history"]), ["first of the new numbering"]);
}
