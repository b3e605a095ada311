//! Framing and request envelope rules: blank lines, over-long lines, bytes that are
//! not UTF-8 or not JSON or not an object, `\r\n`, the `id` rules, a missing `type`,
//! and responses in request order when many requests arrive in one write.

mod common;

use common::*;
use serde_json::{json, Value};

/// A `ping` request line of exactly `len` bytes (newline not included).
fn ping_line(id: &str, len: usize) -> Vec<u8> {
    let prefix = format!(r#"{{"type":"ping","id":"{id}","pad":""#);
    let suffix = r#""}"#;
    let pad = len
        .checked_sub(prefix.len() + suffix.len())
        .expect("line length too small for a ping");
    let line = format!("{prefix}{}{suffix}", "x".repeat(pad));
    assert_eq!(line.len(), len);
    serde_json::from_str::<Value>(&line).expect("ping_line builds JSON");
    line.into_bytes()
}

fn with_ending(mut line: Vec<u8>, ending: &[u8]) -> Vec<u8> {
    line.extend_from_slice(ending);
    line
}

#[tokio::test]
async fn blank_lines_get_no_response() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    c.send_raw(b"\n   \n\t\n \t \r\n\r\n").await;
    c.expect_nothing().await;
    c.hello("alice").await;
    c.send_raw(b"\n\n  \r\n").await;
    c.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_line_at_the_limit_is_accepted_and_one_over_is_line_too_long() {
    let server =
        TestServer::start("[limits]\nmax_line_bytes = 1024\nmax_text_bytes = 1000\n").await;
    let mut c = registered(&server, "alice").await;

    c.send_raw(&with_ending(ping_line("fits", 1024), b"\n"))
        .await;
    assert_frame(&c.recv().await, json!({"type": "ok", "id": "fits"}));

    c.send_raw(&with_ending(ping_line("over", 1025), b"\n"))
        .await;
    c.expect_error("line_too_long", None).await;

    // The connection is still usable.
    assert_frame(
        &c.request(json!({"type": "ping", "id": "still"})).await,
        json!({"type": "ok", "id": "still"}),
    );
    c.join("lobby").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_huge_line_is_discarded_up_to_the_newline_and_answered_in_order() {
    let server =
        TestServer::start("[limits]\nmax_line_bytes = 1024\nmax_text_bytes = 1000\n").await;
    let mut c = registered(&server, "alice").await;

    // One write: a ping, a 100 000-byte line, then another ping.
    let mut bytes = with_ending(ping_line("before", 60), b"\n");
    bytes.extend(std::iter::repeat_n(b'x', 100_000));
    bytes.push(b'\n');
    bytes.extend(with_ending(ping_line("after", 60), b"\n"));
    c.send_raw(&bytes).await;
    assert_frame(&c.recv().await, json!({"type": "ok", "id": "before"}));
    c.expect_error("line_too_long", None).await;
    assert_frame(&c.recv().await, json!({"type": "ok", "id": "after"}));

    // An over-long line arriving in pieces, with what looks like JSON in its tail:
    // everything up to the newline is discarded.
    c.send_raw(&vec![b'y'; 30_000]).await;
    c.send_raw(&vec![b'z'; 30_000]).await;
    c.send_raw(b"{\"type\":\"ping\",\"id\":\"tail\"}\n{\"type\":\"ping\",\"id\":\"next\"}\n")
        .await;
    c.expect_error("line_too_long", None).await;
    assert_frame(&c.recv().await, json!({"type": "ok", "id": "next"}));
    c.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn crlf_line_endings_are_accepted_and_not_counted() {
    let server =
        TestServer::start("[limits]\nmax_line_bytes = 1024\nmax_text_bytes = 1000\n").await;
    let mut c = Client::connect(&server).await;
    c.send_raw(b"{\"type\":\"hello\",\"nick\":\"alice\",\"id\":1}\r\n")
        .await;
    let ok = c.recv().await;
    assert_eq!(ok["type"], "ok", "{ok}");
    assert_eq!(ok["id"], 1, "{ok}");
    c.send_raw(b"{\"type\":\"join\",\"room\":\"lobby\"}\r\n{\"type\":\"message\",\"room\":\"lobby\",\"text\":\"hi\"}\r\n")
        .await;
    let joined = c.recv().await;
    assert_eq!(joined["type"], "ok", "{joined}");
    assert_frame(&c.recv().await, message_event("lobby", 1, "alice", "hi"));
    assert_frame(
        &c.recv().await,
        json!({"type": "ok", "seq": 1, "ts": "<ts>"}),
    );

    // The limit counts the line without its `\r\n`.
    c.send_raw(&with_ending(ping_line("crlf-fits", 1024), b"\r\n"))
        .await;
    assert_frame(&c.recv().await, json!({"type": "ok", "id": "crlf-fits"}));
    c.send_raw(&with_ending(ping_line("crlf-over", 1025), b"\r\n"))
        .await;
    c.expect_error("line_too_long", None).await;
    c.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_utf8_is_bad_frame_and_the_connection_stays() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    let lines: [&[u8]; 3] = [
        b"{\"type\":\"ping\",\"id\":\"\xff\"}\n",
        b"\xc3\x28\n",
        b"{\"type\":\"hello\",\"nick\":\"al\xe9\"}\n",
    ];
    for line in lines {
        c.send_raw(line).await;
        c.expect_error("bad_frame", None).await;
    }
    assert_eq!(lines.len(), 3);
    c.hello("alice").await;
    server.shutdown().await;
}

#[tokio::test]
async fn lines_that_are_not_json_are_bad_frame() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    let lines: [&[u8]; 5] = [
        b"hello there\n",
        b"{\"type\":\"ping\"\n",
        b"{type: \"ping\"}\n",
        b"{\"type\":\"ping\"} trailing\n",
        b"{\"type\":\"ping\",}\n",
    ];
    for line in lines {
        c.send_raw(line).await;
        c.expect_error("bad_frame", None).await;
    }
    assert_eq!(lines.len(), 5);
    c.hello("alice").await;
    c.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_lone_surrogate_escape_is_bad_frame() {
    let server = TestServer::start("").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    let mut c = registered(&server, "alice").await;
    c.join("lobby").await;
    assert_eq!(bob.ping_roundtrip().await.len(), 1);

    let lines: [&[u8]; 4] = [
        br#"{"type":"ping","id":"\ud800"}"#,
        br#"{"type":"ping","note":"\udc00"}"#,
        br#"{"type":"message","room":"lobby","text":"a\ud800b"}"#,
        br#"{"type":"message","room":"lobby","text":"\ude00\ud83d"}"#,
    ];
    for line in lines {
        c.send_raw(&with_ending(line.to_vec(), b"\n")).await;
        c.expect_error("bad_frame", None).await;
    }
    assert_eq!(lines.len(), 4);
    bob.expect_nothing().await;

    // A proper surrogate pair is fine.
    c.send_raw(b"{\"type\":\"message\",\"room\":\"lobby\",\"text\":\"\\ud83d\\ude00\"}\n")
        .await;
    assert_frame(
        &c.recv().await,
        message_event("lobby", 1, "alice", "\u{1F600}"),
    );
    assert_frame(
        &c.recv().await,
        json!({"type": "ok", "seq": 1, "ts": "<ts>"}),
    );
    assert_frame(
        &bob.recv().await,
        message_event("lobby", 1, "alice", "\u{1F600}"),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn json_that_is_not_an_object_is_bad_frame() {
    let server = TestServer::start("").await;
    let mut c = registered(&server, "alice").await;
    let lines = [
        "[1,2]",
        r#"[{"type":"ping","id":1}]"#,
        r#""ping""#,
        "42",
        "null",
        "true",
    ];
    for line in lines {
        c.send_raw(format!("{line}\n").as_bytes()).await;
        c.expect_error("bad_frame", None).await;
    }
    assert_eq!(lines.len(), 6);
    c.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn valid_ids_are_echoed_verbatim() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    let ids = [
        json!("a".repeat(64)),
        json!("é".repeat(32)),
        json!(""),
        json!("with \"quotes\" and \\ and \n"),
        json!(0),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(-1),
    ];
    for id in &ids {
        assert_frame(
            &c.request(json!({"type": "ping", "id": id})).await,
            json!({"type": "ok", "id": id}),
        );
    }
    assert_eq!(ids.len(), 8);
    // Echoed in errors too.
    c.request_error(
        json!({"type": "join", "room": "x", "id": i64::MIN}),
        "not_registered",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_ids_are_bad_request_without_id() {
    let server = TestServer::start("").await;
    let mut c = registered(&server, "alice").await;
    let long_ascii = "a".repeat(65);
    let long_utf8 = "é".repeat(33);
    let lines = [
        format!(r#"{{"type":"ping","id":"{long_ascii}"}}"#),
        format!(r#"{{"type":"ping","id":"{long_utf8}"}}"#),
        r#"{"type":"ping","id":9223372036854775808}"#.to_string(),
        r#"{"type":"ping","id":-9223372036854775809}"#.to_string(),
        r#"{"type":"ping","id":1.5}"#.to_string(),
        r#"{"type":"ping","id":true}"#.to_string(),
        r#"{"type":"ping","id":null}"#.to_string(),
        r#"{"type":"ping","id":{}}"#.to_string(),
        r#"{"type":"ping","id":[1]}"#.to_string(),
        r#"{"type":"dance","id":1.5}"#.to_string(),
    ];
    for line in &lines {
        c.send_raw(format!("{line}\n").as_bytes()).await;
        let response = c.recv().await;
        assert!(response.get("id").is_none(), "{line} -> {response}");
        assert_error(&response, "bad_request", None);
    }
    assert_eq!(lines.len(), 10);

    // A request with a bad id is not carried out.
    c.send(json!({"type": "join", "room": "lobby", "id": false}))
        .await;
    c.expect_error("bad_request", None).await;
    assert_frame(
        &c.request(json!({"type": "rooms", "id": 1})).await,
        json!({"type": "ok", "id": 1, "more": false, "rooms": []}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_request_without_a_string_type_is_bad_request() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    let frames = [
        json!({"id": "m"}),
        json!({}),
        json!({"type": ["ping"], "id": "t"}),
        json!({"type": {"name": "ping"}}),
        json!({"type": 1, "id": 2}),
        json!({"kind": "ping", "id": 3}),
    ];
    for frame in &frames {
        c.request_error(frame.clone(), "bad_request").await;
    }
    assert_eq!(frames.len(), 6);
    c.hello("alice").await;
    server.shutdown().await;
}

#[tokio::test]
async fn twenty_pipelined_requests_are_answered_in_order() {
    let server = TestServer::start("").await;
    let mut c = registered(&server, "alice").await;
    let requests = [
        json!({"type": "ping", "id": 0}),
        json!({"type": "join", "room": "#Pipe", "id": 1}),
        json!({"type": "message", "room": "pipe", "text": "one", "id": 2}),
        json!({"type": "who", "room": "PIPE", "id": 3}),
        json!({"type": "join", "room": "bad room", "id": 4}),
        json!({"type": "dance", "id": 5}),
        json!({"type": "message", "room": "pipe", "text": "two", "id": 6}),
        json!({"type": "topic", "room": "pipe", "topic": "piped", "id": 7}),
        json!({"type": "rooms", "id": 8}),
        json!({"type": "history", "room": "pipe", "id": 9}),
        json!({"type": "leave", "room": "other", "id": 10}),
        json!({"type": "ping", "id": 11}),
        json!({"type": "message", "room": "pipe", "text": "three", "id": 12}),
        json!({"type": "nick", "nick": "Alicia", "id": 13}),
        json!({"type": "message", "room": "pipe", "text": "four", "id": 14}),
        json!({"type": "typing", "room": "pipe", "id": 15}),
        json!({"type": "who", "room": "nowhere", "id": 16}),
        json!({"type": "leave", "room": "pipe", "id": 17}),
        json!({"type": "rooms", "id": 18}),
        json!({"type": "ping", "id": 19}),
    ];
    assert_eq!(requests.len(), 20);
    let mut bytes = Vec::new();
    for request in &requests {
        bytes.extend(serde_json::to_vec(request).unwrap());
        bytes.push(b'\n');
    }
    c.send_raw(&bytes).await;

    let ok_message = |id: u64, seq: u64| json!({"type": "ok", "id": id, "seq": seq, "ts": "<ts>"});
    let expected = vec![
        json!({"type": "ok", "id": 0}),
        json!({"type": "ok", "id": 1, "room": "pipe", "topic": "", "members": ["alice"], "epoch": "<epoch>", "history": [], "more": false}),
        message_event("pipe", 1, "alice", "one"),
        ok_message(2, 1),
        json!({"type": "ok", "id": 3, "room": "pipe", "members": ["alice"]}),
        json!({"error": "bad_room", "id": 4}),
        json!({"error": "unknown_type", "id": 5}),
        message_event("pipe", 2, "alice", "two"),
        ok_message(6, 2),
        json!({"type": "topic", "room": "pipe", "topic": "piped", "by": "alice", "ts": "<ts>"}),
        json!({"type": "ok", "id": 7, "room": "pipe", "topic": "piped"}),
        json!({"type": "ok", "id": 8, "more": false, "rooms": [{"room": "pipe", "members": 1, "topic": "piped"}]}),
        json!({"type": "ok", "id": 9, "room": "pipe", "epoch": "<epoch>", "messages": [
            message_event("pipe", 1, "alice", "one"),
            message_event("pipe", 2, "alice", "two"),
        ], "more": false}),
        json!({"error": "not_in_room", "id": 10}),
        json!({"type": "ok", "id": 11}),
        message_event("pipe", 3, "alice", "three"),
        ok_message(12, 3),
        json!({"type": "ok", "id": 13, "nick": "Alicia"}),
        message_event("pipe", 4, "Alicia", "four"),
        ok_message(14, 4),
        json!({"type": "ok", "id": 15}),
        json!({"error": "no_such_room", "id": 16}),
        json!({"type": "ok", "id": 17, "room": "pipe"}),
        // The room was not configured and is now empty: dropped.
        json!({"type": "ok", "id": 18, "more": false, "rooms": []}),
        json!({"type": "ok", "id": 19}),
    ];
    for (i, want) in expected.iter().enumerate() {
        let got = c.recv().await;
        match want.get("error") {
            Some(code) => assert_error(&got, code.as_str().unwrap(), want.get("id").cloned()),
            None => {
                let got = normalize(&got);
                assert_eq!(&got, want, "frame {i} of the pipelined responses");
            }
        }
    }
    assert_eq!(expected.len(), 25);
    c.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_unterminated_last_line_is_processed_at_end_of_input() {
    let server = TestServer::start("").await;
    let mut c = registered(&server, "alice").await;
    c.send_raw(br#"{"type":"ping","id":"last"}"#).await;
    c.close_write().await;
    assert_frame(&c.recv().await, json!({"type": "ok", "id": "last"}));
    // Whatever the server says before closing can only be a `bye`.
    let rest = c.recv_until_closed(5).await;
    assert!(
        rest.iter().all(|f| f["type"] == "bye"),
        "unexpected frames after end of input: {rest:?}"
    );
    server.shutdown().await;
}
