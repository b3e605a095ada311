//! Session requests: `hello` (payload, motd, password, check order), what is and is
//! not accepted before it, `ping`, `quit`, `nick`, unknown types, and how the end of
//! a session is told to the rooms it was in.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn hello_answers_with_name_version_and_default_limits() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    c.send(json!({"type": "hello", "nick": "alice", "client": "confab-tests/1", "id": "h1"}))
        .await;
    assert_frame(
        &c.recv().await,
        json!({
            "type": "ok", "id": "h1", "nick": "alice", "server": SERVER_NAME,
            "version": VERSION, "protocol": "1.2", "limits": default_limits(),
        }),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn hello_reports_configured_limits_and_motd() {
    let server = TestServer::start(
        r#"
        motd = "Welcome to the test server"
        server_name = "chat.example.test"
        [limits]
        max_line_bytes = 2048
        max_text_bytes = 1000
        max_rooms = 7
        history_max = 30
        "#,
    )
    .await;
    let mut c = Client::connect(&server).await;
    assert_frame(
        &c.request(json!({"type": "hello", "nick": "Alice"})).await,
        json!({
            "type": "ok", "nick": "Alice", "server": "chat.example.test", "version": VERSION,
            "protocol": "1.2",
            "motd": "Welcome to the test server",
            "limits": {"max_line_bytes": 2048, "max_text_bytes": 1000, "max_rooms": 7, "history_max": 30, "max_page_bytes": 262144},
        }),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn hello_with_the_right_password_succeeds() {
    let server = TestServer::start(r#"password = "s3cret""#).await;
    let mut c = Client::connect(&server).await;
    assert_frame(
        &c.request(json!({"type": "hello", "nick": "alice", "password": "s3cret", "id": 1}))
            .await,
        json!({
            "type": "ok", "id": 1, "nick": "alice", "server": SERVER_NAME,
            "version": VERSION, "protocol": "1.2", "limits": default_limits(),
        }),
    );
    // Registered for real: a room request works.
    c.join("lobby").await;
    server.shutdown().await;
}

#[tokio::test]
async fn hello_with_a_wrong_or_missing_password_is_refused_and_closed() {
    let server = TestServer::start(r#"password = "s3cret""#).await;
    let attempts = [
        json!({"type": "hello", "nick": "alice", "password": "guess", "id": "a"}),
        json!({"type": "hello", "nick": "alice", "id": "a"}),
        json!({"type": "hello", "nick": "alice", "password": "", "id": "a"}),
        json!({"type": "hello", "nick": "alice", "password": null, "id": "a"}),
    ];
    for attempt in &attempts {
        let mut c = Client::connect(&server).await;
        c.send(attempt.clone()).await;
        c.expect_error("auth_failed", Some(json!("a"))).await;
        assert_frame(
            &c.recv().await,
            json!({"type": "bye", "reason": "auth failed"}),
        );
        c.expect_closed().await;
    }
    assert_eq!(attempts.len(), 4);
    // The refused attempts did not take the nick.
    let mut c = Client::connect(&server).await;
    let ok = c
        .request(json!({"type": "hello", "nick": "alice", "password": "s3cret"}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    server.shutdown().await;
}

#[tokio::test]
async fn hello_checks_the_nick_before_the_password() {
    let server = TestServer::start(r#"password = "s3cret""#).await;
    let mut c = Client::connect(&server).await;
    // bad_nick comes before auth_failed, and does not end the connection.
    c.request_error(
        json!({"type": "hello", "nick": "9lives", "password": "wrong", "id": 1}),
        "bad_nick",
    )
    .await;
    let ok = c
        .request(json!({"type": "hello", "nick": "alice", "password": "s3cret"}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");

    // already_registered comes before auth_failed, and does not end the session.
    c.request_error(
        json!({"type": "hello", "nick": "alice", "password": "wrong", "id": 2}),
        "already_registered",
    )
    .await;
    c.expect_nothing().await;

    // auth_failed comes before nick_in_use: a wrong password learns nothing about
    // who is online.
    let mut d = Client::connect(&server).await;
    d.send(json!({"type": "hello", "nick": "ALICE", "password": "wrong", "id": 3}))
        .await;
    d.expect_error("auth_failed", Some(json!(3))).await;
    assert_frame(
        &d.recv().await,
        json!({"type": "bye", "reason": "auth failed"}),
    );
    d.expect_closed().await;
    // With the right password, the nick is in use.
    let mut e = Client::connect(&server).await;
    e.request_error(
        json!({"type": "hello", "nick": "ALICE", "password": "s3cret", "id": 4}),
        "nick_in_use",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_password_sent_to_a_server_without_one_is_ignored() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    assert_frame(
        &c.request(json!({"type": "hello", "nick": "alice", "password": "anything"}))
            .await,
        json!({
            "type": "ok", "nick": "alice", "server": SERVER_NAME,
            "version": VERSION, "protocol": "1.2", "limits": default_limits(),
        }),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_second_hello_is_already_registered() {
    let server = TestServer::start("").await;
    let mut c = registered(&server, "alice").await;
    c.request_error(
        json!({"type": "hello", "nick": "bob", "id": 2}),
        "already_registered",
    )
    .await;
    // The same nick again is still a second hello.
    c.request_error(
        json!({"type": "hello", "nick": "alice"}),
        "already_registered",
    )
    .await;
    // Check order: a bad nick is reported before the registration state.
    c.request_error(
        json!({"type": "hello", "nick": "no spaces", "id": 3}),
        "bad_nick",
    )
    .await;
    // The nick did not change: the member list shows the first one.
    let ok = c.join("lobby").await;
    assert_eq!(ok["members"], json!(["alice"]), "{ok}");
    server.shutdown().await;
}

#[tokio::test]
async fn hello_with_a_nick_in_use_keeps_the_connection() {
    let server = TestServer::start("").await;
    let _alice = registered(&server, "Alice").await;
    let mut c = Client::connect(&server).await;
    // Unique case-insensitively.
    c.request_error(
        json!({"type": "hello", "nick": "aLICE", "id": "x"}),
        "nick_in_use",
    )
    .await;
    c.request_error(json!({"type": "hello", "nick": "Alice"}), "nick_in_use")
        .await;
    c.hello("bob").await;
    server.shutdown().await;
}

#[tokio::test]
async fn hello_rejects_bad_nicks() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    let too_long = "n".repeat(33);
    let bad = [
        "",
        "1abc",
        "_a",
        "-a",
        "a b",
        "ä",
        "a.b",
        "a#",
        too_long.as_str(),
    ];
    for nick in bad {
        c.request_error(
            json!({"type": "hello", "nick": nick, "id": nick}),
            "bad_nick",
        )
        .await;
    }
    assert_eq!(bad.len(), 9);
    // The longest allowed nick, and every allowed character.
    let longest = format!("N{}", "n".repeat(31));
    c.hello(&longest).await;
    let mut d = Client::connect(&server).await;
    d.hello("Zz_9-x").await;
    server.shutdown().await;
}

#[tokio::test]
async fn hello_with_a_malformed_nick_field_is_bad_request() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    let malformed = [
        json!({"type": "hello", "id": 1}),
        json!({"type": "hello", "nick": null, "id": 2}),
        json!({"type": "hello", "nick": 5, "id": 3}),
        json!({"type": "hello", "nick": ["alice"], "id": 4}),
        json!({"type": "hello", "nick": "alice", "client": 7, "id": 5}),
        json!({"type": "hello", "nick": "alice", "password": true, "id": 6}),
    ];
    for frame in &malformed {
        c.request_error(frame.clone(), "bad_request").await;
    }
    assert_eq!(malformed.len(), 6);
    c.hello("alice").await;
    server.shutdown().await;
}

#[tokio::test]
async fn only_hello_ping_and_quit_are_accepted_before_hello() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    let requests = [
        json!({"type": "join", "room": "lobby", "id": 1}),
        json!({"type": "leave", "room": "lobby", "id": 2}),
        json!({"type": "message", "room": "lobby", "text": "hi", "id": 3}),
        json!({"type": "message", "to": "bob", "text": "hi", "id": 4}),
        json!({"type": "typing", "room": "lobby", "id": 5}),
        json!({"type": "nick", "nick": "carol", "id": 6}),
        json!({"type": "topic", "room": "lobby", "topic": "t", "id": 7}),
        json!({"type": "rooms", "id": 8}),
        json!({"type": "who", "room": "lobby", "id": 9}),
        json!({"type": "history", "room": "lobby", "id": 10}),
    ];
    for request in &requests {
        c.request_error(request.clone(), "not_registered").await;
    }
    assert_eq!(requests.len(), 10);
    assert_frame(
        &c.request(json!({"type": "ping", "id": "p"})).await,
        json!({"type": "ok", "id": "p"}),
    );
    c.request_error(json!({"type": "dance", "id": "u"}), "unknown_type")
        .await;
    c.hello("alice").await;
    server.shutdown().await;
}

#[tokio::test]
async fn before_hello_shape_and_names_are_checked_before_registration() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    // Shape first, then names and text, then state (not_registered).
    c.request_error(json!({"type": "join", "id": 1}), "bad_request")
        .await;
    c.request_error(json!({"type": "join", "room": 12, "id": 2}), "bad_request")
        .await;
    c.request_error(
        json!({"type": "join", "room": "no spaces", "id": 3}),
        "bad_room",
    )
    .await;
    c.request_error(
        json!({"type": "message", "room": "lobby", "to": "bob", "text": "x", "id": 4}),
        "bad_request",
    )
    .await;
    c.request_error(
        json!({"type": "message", "room": "lobby", "text": "  ", "id": 5}),
        "bad_text",
    )
    .await;
    c.request_error(json!({"type": "nick", "nick": "1x", "id": 6}), "bad_nick")
        .await;
    c.request_error(
        json!({"type": "join", "room": "lobby", "id": 7}),
        "not_registered",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_types_are_refused_and_wrong_type_fields_are_bad_requests() {
    let server = TestServer::start("").await;
    let mut c = registered(&server, "alice").await;
    c.request_error(json!({"type": "dance", "id": 7}), "unknown_type")
        .await;
    c.request_error(json!({"type": "HELLO", "nick": "x"}), "unknown_type")
        .await;
    c.request_error(json!({"type": "", "id": "e"}), "unknown_type")
        .await;
    c.request_error(json!({"type": 5, "id": "n"}), "bad_request")
        .await;
    c.request_error(json!({"type": null, "id": "z"}), "bad_request")
        .await;
    c.request_error(json!({"id": "m"}), "bad_request").await;
    server.shutdown().await;
}

#[tokio::test]
async fn ping_is_answered_with_a_bare_ok() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    assert_frame(
        &c.request(json!({"type": "ping"})).await,
        json!({"type": "ok"}),
    );
    c.hello("alice").await;
    assert_frame(
        &c.request(json!({"type": "ping", "id": -3})).await,
        json!({"type": "ok", "id": -3}),
    );
    // Unknown fields are ignored.
    assert_frame(
        &c.request(json!({"type": "ping", "id": "q", "extra": {"nested": [1, 2]}}))
            .await,
        json!({"type": "ok", "id": "q"}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn quit_answers_ok_then_bye_and_tells_the_rooms() {
    let server = TestServer::start("").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    bob.join("dev").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    alice.join("dev").await;
    let joins = bob.ping_roundtrip().await;
    assert_eq!(joins.len(), 2, "bob should see alice join twice: {joins:?}");

    alice
        .send(json!({"type": "quit", "reason": "gotta go", "id": "q"}))
        .await;
    assert_frame(&alice.recv().await, json!({"type": "ok", "id": "q"}));
    assert_frame(
        &alice.recv().await,
        json!({"type": "bye", "reason": "quit"}),
    );
    alice.expect_closed().await;

    // One leave per room the user was in, carrying the quit reason.
    let mut leaves = vec![normalize(&bob.recv().await), normalize(&bob.recv().await)];
    leaves.sort_by_key(|f| f["room"].as_str().unwrap_or_default().to_string());
    assert_eq!(
        leaves,
        vec![
            json!({"type": "leave", "room": "dev", "nick": "alice", "reason": "gotta go", "ts": "<ts>"}),
            json!({"type": "leave", "room": "lobby", "nick": "alice", "reason": "gotta go", "ts": "<ts>"}),
        ]
    );
    bob.expect_nothing().await;
    let who = bob.request(json!({"type": "who", "room": "lobby"})).await;
    assert_frame(
        &who,
        json!({"type": "ok", "room": "lobby", "members": ["bob"]}),
    );

    // The nick is free again.
    let mut again = Client::connect(&server).await;
    again.hello("alice").await;
    server.shutdown().await;
}

#[tokio::test]
async fn quit_without_a_reason_says_quit_and_discards_what_follows() {
    let server = TestServer::start("").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    assert_eq!(bob.ping_roundtrip().await.len(), 1);

    // Everything after quit in the same write is discarded unanswered.
    alice
        .send_raw(
            b"{\"type\":\"quit\"}\n{\"type\":\"ping\",\"id\":1}\n{\"type\":\"message\",\"room\":\"lobby\",\"text\":\"ghost\"}\n",
        )
        .await;
    let rest = alice.recv_until_closed(10).await;
    let rest: Vec<_> = rest.iter().map(normalize).collect();
    assert_eq!(
        rest,
        vec![
            json!({"type": "ok"}),
            json!({"type": "bye", "reason": "quit"})
        ]
    );
    assert_frame(
        &bob.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "alice", "reason": "quit", "ts": "<ts>"}),
    );
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn quit_before_hello_says_bye() {
    let server = TestServer::start("").await;
    let mut c = Client::connect(&server).await;
    c.send(json!({"type": "quit", "id": 9})).await;
    assert_frame(&c.recv().await, json!({"type": "ok", "id": 9}));
    assert_frame(&c.recv().await, json!({"type": "bye", "reason": "quit"}));
    c.expect_closed().await;
    server.shutdown().await;
}

#[tokio::test]
async fn quit_with_a_bad_reason_is_bad_text_and_keeps_the_session() {
    let server = TestServer::start("").await;
    let mut c = registered(&server, "alice").await;
    c.request_error(
        json!({"type": "quit", "reason": "   ", "id": 1}),
        "bad_text",
    )
    .await;
    c.request_error(
        json!({"type": "quit", "reason": "two\nlines", "id": 2}),
        "bad_text",
    )
    .await;
    c.request_error(json!({"type": "quit", "reason": 5, "id": 3}), "bad_request")
        .await;
    c.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_leaves_its_rooms_as_connection_closed() {
    let server = TestServer::start("").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("#LOBBY").await;
    assert_eq!(bob.ping_roundtrip().await.len(), 1);
    drop(alice);
    assert_frame(
        &bob.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "alice", "reason": "connection closed", "ts": "<ts>"}),
    );
    // Its nick is free.
    let mut again = Client::connect(&server).await;
    again.hello("ALICE").await;
    server.shutdown().await;
}

#[tokio::test]
async fn nick_changes_the_nick_and_frees_the_old_one() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    assert_frame(
        &alice
            .request(json!({"type": "nick", "nick": "Alicia", "id": "n"}))
            .await,
        json!({"type": "ok", "id": "n", "nick": "Alicia"}),
    );
    let ok = alice.join("lobby").await;
    assert_eq!(ok["members"], json!(["Alicia"]), "{ok}");
    // The old nick is free, the new one taken.
    let mut other = Client::connect(&server).await;
    other
        .request_error(json!({"type": "hello", "nick": "alicia"}), "nick_in_use")
        .await;
    other.hello("alice").await;
    server.shutdown().await;
}

#[tokio::test]
async fn nick_refuses_bad_nicks_and_nicks_in_use() {
    let server = TestServer::start("").await;
    let _bob = registered(&server, "Bob").await;
    let mut alice = registered(&server, "alice").await;
    alice
        .request_error(
            json!({"type": "nick", "nick": "bOB", "id": 1}),
            "nick_in_use",
        )
        .await;
    alice
        .request_error(
            json!({"type": "nick", "nick": "b o b", "id": 2}),
            "bad_nick",
        )
        .await;
    alice
        .request_error(json!({"type": "nick", "nick": "", "id": 3}), "bad_nick")
        .await;
    alice
        .request_error(json!({"type": "nick", "id": 4}), "bad_request")
        .await;
    alice
        .request_error(json!({"type": "nick", "nick": 1, "id": 5}), "bad_request")
        .await;
    // Nothing changed.
    let ok = alice.join("lobby").await;
    assert_eq!(ok["members"], json!(["alice"]), "{ok}");
    server.shutdown().await;
}
