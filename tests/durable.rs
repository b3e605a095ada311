//! Durable rooms, in-process: restarts on the same log directory (seq, topic and
//! history come back, `history` pages into older day files), write failures at
//! run time (`unavailable`, nothing delivered, no seq taken), private messages
//! logged only when asked, retention, and a log directory that cannot be created.
//! The tests that need the real binary (SIGKILL, SIGHUP, start-up errors on
//! stderr) are in `durable_process.rs`.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// Test config: logging to `log_dir`, rate limit lifted, plus `limits`.
fn config(log_dir: &Path, limits: &str, log: &str) -> String {
    format!(
        "[limits]\n{NO_RATE_LIMIT}{limits}\n{}",
        log_table(log_dir, log)
    )
}

fn items(room: &str, from: &str, seqs: std::ops::RangeInclusive<u64>) -> Value {
    Value::Array(
        seqs.map(|seq| message_event(room, seq, from, &format!("m{seq}")))
            .collect(),
    )
}

/// Writes `lines` to a day file, creating its directory.
fn write_day(log_dir: &Path, room: &str, day: &str, lines: &[String]) {
    let path = day_file(log_dir, room, day);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

/// Messages `m{seq}` from alice on `day`, as the server would have logged them.
fn logged(room: &str, day: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<String> {
    seqs.map(|seq| {
        let ts = format!("{day}T10:00:{:02}.000Z", seq % 60);
        message_line(room, seq, &ts, "alice", &format!("m{seq}"))
    })
    .collect()
}

fn topic_line(room: &str, day: &str, topic: &str) -> String {
    format!(
        r#"{{"type":"topic","room":"{room}","topic":"{topic}","by":"alice","ts":"{day}T09:00:00.000Z"}}"#
    )
}

#[tokio::test]
async fn a_restart_brings_back_seq_topic_and_history_and_pages_into_older_files() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    // Two older days written by an earlier run.
    let mut first_day = logged("r", "2024-01-01", 1..=5);
    first_day.insert(2, topic_line("r", "2024-01-01", "old topic"));
    write_day(&logs, "r", "2024-01-01", &first_day);
    write_day(&logs, "r", "2024-01-02", &logged("r", "2024-01-02", 6..=10));
    // Memory holds 3 messages: the rest of every page comes from the files.
    let cfg = config(&logs, "history_keep = 3\n", "");

    let server = TestServer::start_in(&tmp.path().join("state"), &cfg).await;
    let mut alice = registered(&server, "alice").await;
    assert_frame(
        &alice.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [{"room": "r", "members": 0, "topic": "old topic"}]}),
    );
    assert_frame(
        &alice.request(json!({"type": "join", "room": "r"})).await,
        json!({"type": "ok", "room": "r", "topic": "old topic", "members": ["alice"],
               "epoch": "<epoch>",
               "history": items("r", "alice", 1..=10), "more": false}),
    );
    let mut echoes = Vec::new();
    for seq in 11..=15 {
        let (echo, ok) = alice.say("r", &format!("m{seq}")).await;
        assert_eq!(
            (echo["seq"].as_u64(), ok["seq"].as_u64()),
            (Some(seq), Some(seq))
        );
        echoes.push(echo);
    }
    let topic_event = alice
        .request(json!({"type": "topic", "room": "r", "topic": "new topic"}))
        .await;
    assert_frame(
        &topic_event,
        json!({"type": "topic", "room": "r", "topic": "new topic", "by": "alice", "ts": "<ts>"}),
    );
    assert_frame(
        &alice.recv().await,
        json!({"type": "ok", "room": "r", "topic": "new topic"}),
    );
    server.shutdown().await;

    // Today's file holds exactly the frames the clients were sent.
    echoes.push(topic_event);
    assert_eq!(log_lines(&day_file(&logs, "r", &utc_day(0))), echoes);

    let server = TestServer::start_in(&tmp.path().join("state"), &cfg).await;
    let mut bob = registered(&server, "bob").await;
    assert_frame(
        &bob.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [{"room": "r", "members": 0, "topic": "new topic"}]}),
    );
    assert_frame(
        &bob.request(json!({"type": "join", "room": "r", "history": 2}))
            .await,
        json!({"type": "ok", "room": "r", "topic": "new topic", "members": ["bob"],
               "epoch": "<epoch>",
               "history": items("r", "alice", 14..=15), "more": true}),
    );
    let history = |extra: Value| {
        let mut request = json!({"type": "history", "room": "r"});
        request
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        request
    };
    let pages = [
        // Across both old files and today's, ending in memory.
        (
            json!({"before": 15, "limit": 200}),
            items("r", "alice", 1..=14),
            false,
        ),
        (
            json!({"before": 9, "limit": 4}),
            items("r", "alice", 5..=8),
            true,
        ),
        (json!({"before": 3}), items("r", "alice", 1..=2), false),
        (
            json!({"after": 0, "limit": 4}),
            items("r", "alice", 1..=4),
            true,
        ),
        (
            json!({"after": 4, "limit": 3}),
            items("r", "alice", 5..=7),
            true,
        ),
        (
            json!({"after": 9, "limit": 3}),
            items("r", "alice", 10..=12),
            true,
        ),
        (json!({"after": 12}), items("r", "alice", 13..=15), false),
        (json!({"limit": 7}), items("r", "alice", 9..=15), true),
        (json!({"limit": 0}), json!([]), true),
    ];
    for (extra, messages, more) in &pages {
        assert_frame(
            &bob.request(history(extra.clone())).await,
            json!({"type": "ok", "room": "r", "epoch": "<epoch>", "messages": messages, "more": more}),
        );
    }
    assert_eq!(pages.len(), 9);
    let (echo, _) = bob.say("r", "after the restart").await;
    assert_eq!(echo["seq"], 16, "{echo}");

    // A logged room is never dropped: empty again, it is still listed.
    assert_frame(
        &bob.request(json!({"type": "leave", "room": "r"})).await,
        json!({"type": "ok", "room": "r"}),
    );
    assert_frame(
        &bob.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [{"room": "r", "members": 0, "topic": "new topic"}]}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn history_beyond_memory_is_bounded_by_history_max() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    write_day(
        &logs,
        "big",
        "2024-03-01",
        &logged("big", "2024-03-01", 1..=500),
    );
    let cfg = config(&logs, "history_keep = 10\nhistory_max = 50\n", "");
    let server = TestServer::start_in(&tmp.path().join("state"), &cfg).await;
    let mut alice = registered(&server, "alice").await;
    alice.join("big").await;
    assert_frame(
        &alice
            .request(json!({"type": "history", "room": "big", "before": 400, "limit": 1000}))
            .await,
        json!({"type": "ok", "room": "big", "epoch": "<epoch>", "messages": items("big", "alice", 350..=399), "more": true}),
    );
    assert_frame(
        &alice
            .request(json!({"type": "join", "room": "big", "since": 5}))
            .await,
        json!({"type": "ok", "room": "big", "topic": "", "members": ["alice"],
               "epoch": "<epoch>",
               "history": items("big", "alice", 6..=55), "more": true}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_failed_log_write_answers_unavailable_delivers_nothing_and_takes_no_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let server = TestServer::start_in(&tmp.path().join("state"), &config(&logs, "", "")).await;
    let mut alice = registered(&server, "alice").await;
    let mut bob = registered(&server, "bob").await;
    for room in ["opens", "writes"] {
        alice.join(room).await;
    }
    for room in ["opens", "writes"] {
        bob.join(room).await;
    }
    assert_eq!(alice.ping_roundtrip().await.len(), 2, "bob's joins");

    // Two ways a log write fails even for root: the day file is a directory
    // (open fails), or it is /dev/full (the write fails). Tomorrow's too, in
    // case the test runs across midnight.
    let days = [utc_day(0), utc_day(1)];
    for day in &days {
        let blocked = day_file(&logs, "opens", day);
        std::fs::create_dir_all(&blocked).unwrap();
        let full = day_file(&logs, "writes", day);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    }
    for room in ["opens", "writes"] {
        alice
            .request_error(
                json!({"type": "message", "room": room, "text": "lost", "id": 1}),
                "unavailable",
            )
            .await;
        alice
            .request_error(
                json!({"type": "topic", "room": room, "topic": "lost", "id": 2}),
                "unavailable",
            )
            .await;
        // The server keeps serving, and nobody got anything.
        alice.expect_nothing().await;
        bob.expect_nothing().await;
        assert_frame(
            &bob.request(json!({"type": "history", "room": room})).await,
            json!({"type": "ok", "room": room, "epoch": "<epoch>", "messages": [], "more": false}),
        );
    }
    assert_frame(
        &alice.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [
            {"room": "opens", "members": 2, "topic": ""},
            {"room": "writes", "members": 2, "topic": ""}]}),
    );

    // Once the disk is back, the next write succeeds, with the seq the failed
    // message did not take.
    for day in &days {
        std::fs::remove_dir(day_file(&logs, "opens", day)).unwrap();
        std::fs::remove_file(day_file(&logs, "writes", day)).unwrap();
    }
    for room in ["opens", "writes"] {
        let (echo, ok) = alice.say(room, "kept").await;
        assert_frame(&echo, message_event(room, 1, "alice", "kept"));
        assert_frame(&ok, json!({"type": "ok", "seq": 1, "ts": "<ts>"}));
        assert_frame(&bob.recv().await, message_event(room, 1, "alice", "kept"));
        assert_eq!(log_lines(&day_file(&logs, room, &utc_day(0))), vec![echo]);
    }
    server.shutdown().await;
}

/// Every file under `dir`, recursively.
fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(all_files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn private_messages_are_logged_only_when_enabled() {
    for private in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("logs");
        let cfg = config(&logs, "", &format!("private = {private}"));
        let server = TestServer::start_in(&tmp.path().join("state"), &cfg).await;
        let mut alice = registered(&server, "alice").await;
        let mut bob = registered(&server, "bob").await;
        alice.join("r").await;
        alice
            .send(json!({"type": "message", "to": "bob", "text": "psst"}))
            .await;
        assert_frame(&alice.recv().await, json!({"type": "ok", "ts": "<ts>"}));
        let received = bob.recv().await;
        assert_frame(
            &received,
            json!({"type": "message", "to": "bob", "ts": "<ts>", "from": "alice", "text": "psst"}),
        );
        alice.say("r", "in the open").await;
        server.shutdown().await;

        let files = all_files(&logs);
        let private_file = day_file(&logs, "@private", &utc_day(0));
        let with_psst: Vec<_> = files
            .iter()
            .filter(|path| std::fs::read_to_string(path).unwrap().contains("psst"))
            .collect();
        if private {
            assert_eq!(with_psst, [&private_file]);
            assert_eq!(log_lines(&private_file), vec![received]);
        } else {
            assert!(
                with_psst.is_empty(),
                "private message logged: {with_psst:?}"
            );
            assert!(!logs.join("@private").exists());
        }
        // The room's log is there either way; the private one is no room.
        assert!(
            files.contains(&day_file(&logs, "r", &utc_day(0))),
            "{files:?}"
        );
        let server = TestServer::start_in(&tmp.path().join("state"), &cfg).await;
        let mut carol = registered(&server, "carol").await;
        assert_frame(
            &carol.request(json!({"type": "rooms"})).await,
            json!({"type": "ok", "more": false, "rooms": [{"room": "r", "members": 0, "topic": ""}]}),
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn retention_removes_expired_day_files_but_keeps_what_a_room_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let today = utc_day(0);
    let recent = utc_day(-3);
    write_day(&logs, "r", "2000-01-01", &logged("r", "2000-01-01", 1..=2));
    let mut with_topic = logged("r", "2000-01-02", 3..=3);
    with_topic.push(topic_line("r", "2000-01-02", "kept topic"));
    write_day(&logs, "r", "2000-01-02", &with_topic);
    write_day(&logs, "r", "2000-01-03", &logged("r", "2000-01-03", 4..=4));
    write_day(&logs, "r", &recent, &logged("r", &recent, 5..=6));
    // A room that went quiet long ago keeps its newest file: its seq goes on.
    write_day(
        &logs,
        "quiet",
        "2000-01-05",
        &logged("quiet", "2000-01-05", 1..=7),
    );
    write_day(&logs, "@private", "2000-01-01", &["{}".to_owned()]);
    write_day(&logs, "@private", &today, &["{}".to_owned()]);

    let cfg = config(&logs, "", "retention_days = 30");
    let server = TestServer::start_in(&tmp.path().join("state"), &cfg).await;
    let mut names: Vec<String> = all_files(&logs)
        .iter()
        .map(|p| p.strip_prefix(&logs).unwrap().display().to_string())
        .collect();
    names.sort();
    let mut expected = vec![
        "@private/2000-01-01.jsonl".replace("2000-01-01", &today),
        "quiet/2000-01-05.jsonl".to_owned(),
        "quiet/state.json".to_owned(),
        "r/2000-01-02.jsonl".to_owned(),
        format!("r/{recent}.jsonl"),
        "r/state.json".to_owned(),
    ];
    expected.sort();
    assert_eq!(names, expected);

    let mut alice = registered(&server, "alice").await;
    // History no longer reaches into removed days (nor past the hole they left).
    assert_frame(
        &alice.request(json!({"type": "join", "room": "r"})).await,
        json!({"type": "ok", "room": "r", "topic": "kept topic", "members": ["alice"],
               "epoch": "<epoch>",
               "history": items("r", "alice", 5..=6), "more": false}),
    );
    let (echo, _) = alice.say("r", "m7").await;
    assert_eq!(echo["seq"], 7);
    alice.join("quiet").await;
    let (echo, _) = alice.say("quiet", "m8").await;
    assert_eq!(echo["seq"], 8);
    server.shutdown().await;
}

#[tokio::test]
async fn a_log_dir_that_cannot_be_created_stops_the_start_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    // Under a regular file: no directory can be made there, root or not.
    let logs = file.join("logs");
    let text = config_text(&tmp.path().join("state"), &log_table(&logs, ""));
    let err = match confab::server::Server::bind(parse_settings(&text)).await {
        Ok(_) => panic!("the server started with an impossible log directory"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with(&format!(
            "cannot create the log directory {}: ",
            logs.display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn pipelined_requests_keep_their_order_with_the_log_on() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let server = TestServer::start_in(&tmp.path().join("state"), &config(&logs, "", "")).await;
    let mut alice = registered(&server, "alice").await;
    alice.join("r").await;
    // One write: messages the log writer answers, between requests the session
    // answers itself.
    let lines = [
        json!({"type": "message", "room": "r", "text": "m1", "id": 1}),
        json!({"type": "message", "room": "r", "text": "m2", "id": 2}),
        json!({"type": "ping", "id": 3}),
        json!({"type": "message", "room": "elsewhere", "text": "x", "id": 4}),
        json!({"type": "message", "room": "r", "text": "m3", "id": 5}),
        json!({"type": "history", "room": "r", "id": 6}),
    ];
    let mut bytes = Vec::new();
    for line in &lines {
        bytes.extend(serde_json::to_vec(line).unwrap());
        bytes.push(b'\n');
    }
    alice.send_raw(&bytes).await;
    let ok = |id: u64, seq: u64| json!({"type": "ok", "id": id, "seq": seq, "ts": "<ts>"});
    let expected = [
        message_event("r", 1, "alice", "m1"),
        ok(1, 1),
        message_event("r", 2, "alice", "m2"),
        ok(2, 2),
        json!({"type": "ok", "id": 3}),
    ];
    for frame in expected {
        assert_frame(&alice.recv().await, frame);
    }
    assert_error(&alice.recv().await, "not_in_room", Some(json!(4)));
    assert_frame(&alice.recv().await, message_event("r", 3, "alice", "m3"));
    assert_frame(&alice.recv().await, ok(5, 3));
    assert_frame(
        &alice.recv().await,
        json!({"type": "ok", "id": 6, "room": "r", "epoch": "<epoch>", "messages": items("r", "alice", 1..=3), "more": false}),
    );
    alice.expect_nothing().await;
    server.shutdown().await;
}
