//! Durable rooms with the real binary: a server killed with SIGKILL right after
//! acknowledging messages has every one of them after a restart; SIGHUP reopens
//! the log files; a torn last line is cut, reported and skipped; a log directory
//! that cannot be created stops the start with an error naming it.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_acknowledged_before_a_sigkill_are_all_there_after_a_restart() {
    const N: u64 = 100;
    let tmp = tempfile::tempdir().unwrap();
    let (logs, config) = write_logged_config(tmp.path(), "fsync = \"always\"");
    let mut server = BinaryServer::start(&config).await;
    let mut alice = server.client("alice").await;
    alice.join("r").await;
    let mut acknowledged = Vec::new();
    for seq in 1..=N {
        let (echo, ok) = alice.say("r", &format!("m{seq}")).await;
        assert_eq!(
            (echo["seq"].as_u64(), ok["seq"].as_u64()),
            (Some(seq), Some(seq))
        );
        acknowledged.push(echo);
    }
    server.kill();
    drop(alice);

    assert_eq!(log_lines(&day_file(&logs, "r", &utc_day(0))), acknowledged);
    let server = BinaryServer::start(&config).await;
    let mut bob = server.client("bob").await;
    assert_frame(
        &bob.request(json!({"type": "join", "room": "r", "history": 0}))
            .await,
        json!({"type": "ok", "room": "r", "topic": "", "members": ["bob"], "epoch": "<epoch>", "history": [], "more": true}),
    );
    let history = bob
        .request(json!({"type": "history", "room": "r", "limit": 200}))
        .await;
    assert_eq!(history["messages"], json!(acknowledged), "{history}");
    assert_eq!(history["more"], json!(false), "{history}");
    let (echo, _) = bob.say("r", "after the crash").await;
    assert_eq!(echo["seq"], N + 1, "{echo}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reopens_the_log_so_a_moved_day_file_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let config = write_binary_config(tmp.path(), &log_table(&logs, ""));
    let mut server = BinaryServer::start(&config).await;
    let mut alice = server.client("alice").await;
    alice.join("r").await;
    let (first, _) = alice.say("r", "before the rotation").await;

    let path = day_file(&logs, "r", &utc_day(0));
    let moved = path.with_extension("jsonl.1");
    std::fs::rename(&path, &moved).unwrap();
    server.signal("-HUP");
    server.wait_for_log("reopened log files").await;
    let (second, _) = alice.say("r", "after the rotation").await;
    assert_eq!(second["seq"], 2, "{second}");

    assert_eq!(log_lines(&moved), vec![first]);
    assert_eq!(log_lines(&path), vec![second]);
    // And the server is still serving after the signal.
    alice.expect_nothing().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_line_is_cut_reported_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let path = day_file(&logs, "r", "2024-05-01");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let whole: Vec<String> = (1..=3)
        .map(|seq| {
            message_line(
                "r",
                seq,
                &format!("2024-05-01T08:00:0{seq}.000Z"),
                "alice",
                &format!("m{seq}"),
            )
        })
        .collect();
    let mut text = whole.join("\n");
    text.push('\n');
    let intact = text.clone();
    // The crash hit in the middle of appending message 4.
    text.push_str(r#"{"type":"message","room":"r","seq":4,"ts":"2024-05-01T08:00:04.0"#);
    std::fs::write(&path, text).unwrap();

    let config = write_binary_config(tmp.path(), &log_table(&logs, ""));
    let server = BinaryServer::start(&config).await;
    let report = server
        .log
        .iter()
        .find(|line| line.contains("torn last line"))
        .cloned()
        .expect("the torn line is reported before the server listens");
    assert!(report.contains(&path.display().to_string()), "{report}");
    assert!(report.contains("WARN"), "{report}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), intact);

    let mut alice = server.client("alice").await;
    let expected: Vec<_> = (1..=3)
        .map(|seq| message_event("r", seq, "alice", &format!("m{seq}")))
        .collect();
    assert_frame(
        &alice.request(json!({"type": "join", "room": "r"})).await,
        json!({"type": "ok", "room": "r", "topic": "", "members": ["alice"], "epoch": "<epoch>", "history": expected, "more": false}),
    );
    let (echo, _) = alice.say("r", "m4").await;
    assert_eq!(echo["seq"], 4, "{echo}");
    let lines = log_lines(&path);
    assert_eq!(
        lines.len(),
        3,
        "the old day's file is only cut, never appended to"
    );
}

#[test]
fn a_log_dir_that_cannot_be_created_fails_the_start_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, "").unwrap();
    let logs = file.join("logs");
    let config = write_binary_config(tmp.path(), &log_table(&logs, ""));
    let (code, stderr) = run_binary_to_exit(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "confab: cannot create the log directory {}: ",
            logs.display()
        )),
        "{stderr}"
    );
}
