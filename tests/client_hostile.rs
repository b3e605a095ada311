//! A hostile server cannot reach the user's terminal: escape and control
//! characters in what it sends are shown harmlessly, in every output mode.
//!
//! The real server never lets such text through (the protocol's text rules
//! forbid it), so this test plays a fake server over real TLS that sends them
//! anyway.

mod client_support;

use client_support::{config_home, run_client, Answer, FakeServer};

/// Frames with ESC (as a JSON escape), a raw C1 CSI, BEL, a bidi override and
/// DEL in every field a client displays.
fn hostile_frames(request_id: &str, nick: &str) -> Vec<String> {
    vec![
        format!(
            r#"{{"type":"ok","id":{request_id},"nick":"{nick}","server":"evil\u001b]0;owned\u0007","version":"1","motd":"clear\u001b[2J screen","limits":{{"max_line_bytes":16384,"max_text_bytes":4096,"max_rooms":64,"history_max":200}}}}"#
        ),
        "{\"type\":\"message\",\"to\":\"victim\",\"ts\":\"2026-11-21T10:00:00.000Z\",\"from\":\"mallory\",\"text\":\"a\\u001b[31mred\u{9b}2Jb\u{202e}c\u{7f}d\"}".to_owned(),
        "{\"type\":\"topic\",\"room\":\"x\\u001b[1m\",\"topic\":\"\\u0007bell\",\"by\":\"m\u{9b}\",\"ts\":\"t\\u001b\"}".to_owned(),
    ]
}

/// Answers the `hello` with the hostile frames, then each further request
/// with `ok` until `quit`; serves two runs of the client.
async fn fake_server() -> FakeServer {
    FakeServer::start(2, |_, request| {
        let id = request["id"].to_string();
        match request["type"].as_str() {
            Some("hello") => Answer {
                lines: hostile_frames(&id, request["nick"].as_str().unwrap()),
                close: false,
            },
            Some("quit") => Answer {
                lines: vec![
                    format!(r#"{{"type":"ok","id":{id}}}"#),
                    r#"{"type":"bye","reason":"quit"}"#.to_owned(),
                ],
                close: true,
            },
            _ => Answer {
                lines: vec![format!(r#"{{"type":"ok","id":{id}}}"#)],
                close: false,
            },
        }
    })
    .await
}

/// No byte below 0x20 but tab and newline, no DEL, and no C1 control.
fn assert_terminal_safe(output: &str) {
    for c in output.chars() {
        let control = c.is_control() && c != '\n' && c != '\t';
        let bidi = ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c);
        assert!(!control && !bidi, "{:?} reached the output: {output}", c);
    }
}

#[tokio::test]
async fn escape_sequences_never_reach_the_terminal() {
    let server = fake_server().await;
    let fingerprint = server.fingerprint.clone();
    let home = config_home();
    let addr = server.addr.to_string();

    let human = run_client(
        &[
            "client",
            &addr,
            "--nick",
            "victim",
            "--fingerprint",
            &fingerprint,
        ],
        "",
        home.path(),
    )
    .await;
    assert_eq!(human.code, Some(0), "{}", human.stderr);
    let stdout = human.stdout.join("\n");
    assert_terminal_safe(&stdout);
    assert_terminal_safe(&human.stderr);
    assert!(stdout.contains("connected to evil^[]0;owned^G"), "{stdout}");
    assert!(stdout.contains("-- clear^[[2J screen"), "{stdout}");
    assert!(
        stdout.contains("[private] <mallory> a^[[31mred\u{fffd}2Jb\u{fffd}c\u{fffd}d"),
        "{stdout}"
    );
    assert!(
        stdout.contains("#x^[[1m m\u{fffd} set the topic: ^Gbell"),
        "{stdout}"
    );

    let json = run_client(
        &[
            "client",
            &addr,
            "--nick",
            "victim",
            "--json",
            "--fingerprint",
            &fingerprint,
        ],
        "",
        home.path(),
    )
    .await;
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let stdout = json.stdout.join("\n");
    assert_terminal_safe(&stdout);
    // Still the same JSON: the escapes spell the same characters.
    let message: serde_json::Value = serde_json::from_str(&json.stdout[1]).unwrap();
    assert_eq!(message["text"], "a\u{1b}[31mred\u{9b}2Jb\u{202e}c\u{7f}d");
    assert!(
        json.stdout[1].contains(r"\u009b2Jb\u202ec\u007fd"),
        "{}",
        json.stdout[1]
    );

    server.task.await.unwrap();
}
