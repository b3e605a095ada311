//! Room history: what `join` brings (`history` count, `since`), the `history`
//! request's paging (`before`, `after`, `limit`, `more`), clamping by
//! `history_max`, eviction by `history_keep`, and the shape of the items.

mod common;

use common::*;
use serde_json::{json, Value};

/// Posts `m1..=mN` (texts "m1", "m2", …) to `room` from `client`, which must have
/// nothing else pending.
async fn post(client: &mut Client, room: &str, n: u64) {
    for i in 1..=n {
        let (echo, _) = client.say(room, &format!("m{i}")).await;
        assert_eq!(echo["seq"], i, "{echo}");
    }
}

/// The history items `m{from}..=m{to}` sent by `nick` to `room`, normalized.
fn items(room: &str, nick: &str, from: u64, to: u64) -> Value {
    Value::Array(
        (from..=to)
            .map(|seq| message_event(room, seq, nick, &format!("m{seq}")))
            .collect(),
    )
}

fn page(room: &str, messages: Value, more: bool) -> Value {
    json!({"type": "ok", "room": room, "epoch": "<epoch>", "messages": messages, "more": more})
}

#[tokio::test]
async fn join_brings_the_last_20_messages_by_default() {
    let server = TestServer::start(&format!("[limits]\n{NO_RATE_LIMIT}")).await;
    let mut alice = registered(&server, "alice").await;
    alice.join("r").await;
    post(&mut alice, "r", 25).await;
    let mut bob = registered(&server, "bob").await;
    assert_frame(
        &bob.request(json!({"type": "join", "room": "r"})).await,
        json!({"type": "ok", "room": "r", "topic": "", "members": ["alice", "bob"],
               "epoch": "<epoch>",
               "history": items("r", "alice", 6, 25), "more": true}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn join_history_count_is_honoured_and_clamped() {
    let server = TestServer::start(&format!(
        "[limits]\nhistory_max = 10\nhistory_on_join = 4\n{NO_RATE_LIMIT}"
    ))
    .await;
    let mut alice = registered(&server, "alice").await;
    alice.join("r").await;
    post(&mut alice, "r", 25).await;
    alice.join("small").await;
    post(&mut alice, "small", 3).await;

    let cases = [
        ("r", json!(3), items("r", "alice", 23, 25), true),
        ("r", json!(0), json!([]), true),
        ("r", json!(100), items("r", "alice", 16, 25), true),
        ("r", json!(10), items("r", "alice", 16, 25), true),
        ("r", json!(null), items("r", "alice", 22, 25), true),
        ("small", json!(5), items("small", "alice", 1, 3), false),
        ("small", json!(3), items("small", "alice", 1, 3), false),
        ("small", json!(2), items("small", "alice", 2, 3), true),
    ];
    for (i, (room, count, history, more)) in cases.iter().enumerate() {
        let mut c = registered(&server, &format!("j{i}")).await;
        assert_frame(
            &c.request(json!({"type": "join", "room": room, "history": count}))
                .await,
            json!({"type": "ok", "room": room, "topic": "", "members": ["alice", format!("j{i}")],
                   "epoch": "<epoch>",
                   "history": history, "more": more}),
        );
        c.send(json!({"type": "quit"})).await;
        assert_eq!(c.recv_until_closed(5).await.len(), 2);
    }
    assert_eq!(cases.len(), 8);
    server.shutdown().await;
}

#[tokio::test]
async fn join_since_gives_what_followed_oldest_first() {
    let server = TestServer::start(&format!(
        "[limits]\nhistory_max = 10\nhistory_on_join = 4\n{NO_RATE_LIMIT}"
    ))
    .await;
    let mut alice = registered(&server, "alice").await;
    alice.join("r").await;
    post(&mut alice, "r", 25).await;

    let cases = [
        (json!({"since": 20}), items("r", "alice", 21, 25), false),
        (json!({"since": 0}), items("r", "alice", 1, 10), true),
        (json!({"since": 25}), json!([]), false),
        // A seq beyond the newest is a numbering the room no longer has
        // (protocol 1.1): the answer starts from the oldest message held.
        (json!({"since": 1000}), items("r", "alice", 1, 10), true),
        // The count is ignored when `since` is given.
        (
            json!({"since": 12, "history": 1}),
            items("r", "alice", 13, 22),
            true,
        ),
        (
            json!({"since": 22, "history": 0}),
            items("r", "alice", 23, 25),
            false,
        ),
        // `since: null` is no `since`.
        (json!({"since": null}), items("r", "alice", 22, 25), true),
    ];
    for (i, (fields, history, more)) in cases.iter().enumerate() {
        let mut c = registered(&server, &format!("s{i}")).await;
        let mut request = json!({"type": "join", "room": "r"});
        for (k, v) in fields.as_object().unwrap() {
            request[k] = v.clone();
        }
        assert_frame(
            &c.request(request).await,
            json!({"type": "ok", "room": "r", "topic": "", "members": ["alice", format!("s{i}")],
                   "epoch": "<epoch>",
                   "history": history, "more": more}),
        );
        c.send(json!({"type": "quit"})).await;
        assert_eq!(c.recv_until_closed(5).await.len(), 2);
    }
    assert_eq!(cases.len(), 7);

    let mut c = registered(&server, "picky").await;
    let bad = [
        json!({"type": "join", "room": "r", "since": -1}),
        json!({"type": "join", "room": "r", "since": "3"}),
        json!({"type": "join", "room": "r", "since": 1.5}),
        json!({"type": "join", "room": "r", "history": -1}),
        json!({"type": "join", "room": "r", "history": "all"}),
        json!({"type": "join", "room": "r", "history": 2.5}),
    ];
    let cases: Vec<_> = bad.into_iter().map(|r| (r, "bad_request")).collect();
    assert_eq!(c.request_errors(&cases).await, 6);
    // None of them joined.
    assert_frame(
        &c.request(json!({"type": "who", "room": "r"})).await,
        json!({"type": "ok", "room": "r", "members": ["alice"]}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn history_pages_backwards_and_forwards() {
    let server = TestServer::start(&format!(
        "[limits]\nhistory_max = 10\nhistory_on_join = 4\n{NO_RATE_LIMIT}"
    ))
    .await;
    let mut alice = registered(&server, "alice").await;
    alice.join("r").await;
    post(&mut alice, "r", 25).await;

    let cases = [
        // Newest page: the default limit (50) is clamped to history_max.
        (json!({}), items("r", "alice", 16, 25), true),
        (json!({"limit": 3}), items("r", "alice", 23, 25), true),
        (json!({"limit": 100}), items("r", "alice", 16, 25), true),
        (json!({"limit": 0}), json!([]), true),
        (
            json!({"before": null, "after": null, "limit": null}),
            items("r", "alice", 16, 25),
            true,
        ),
        // Backwards.
        (
            json!({"before": 10, "limit": 3}),
            items("r", "alice", 7, 9),
            true,
        ),
        (
            json!({"before": 3, "limit": 5}),
            items("r", "alice", 1, 2),
            false,
        ),
        (
            json!({"before": 4, "limit": 3}),
            items("r", "alice", 1, 3),
            false,
        ),
        (json!({"before": 1}), json!([]), false),
        (json!({"before": 1, "limit": 0}), json!([]), false),
        (json!({"before": 5, "limit": 0}), json!([]), true),
        (
            json!({"before": 100, "limit": 2}),
            items("r", "alice", 24, 25),
            true,
        ),
        // Forwards.
        (
            json!({"after": 0, "limit": 2}),
            items("r", "alice", 1, 2),
            true,
        ),
        (
            json!({"after": 20, "limit": 3}),
            items("r", "alice", 21, 23),
            true,
        ),
        (json!({"after": 22}), items("r", "alice", 23, 25), false),
        (json!({"after": 12}), items("r", "alice", 13, 22), true),
        (json!({"after": 15}), items("r", "alice", 16, 25), false),
        (json!({"after": 25}), json!([]), false),
        (json!({"after": 25, "limit": 0}), json!([]), false),
        (json!({"after": 100}), json!([]), false),
    ];
    for (i, (fields, messages, more)) in cases.iter().enumerate() {
        let mut request = json!({"type": "history", "room": "#R", "id": i});
        for (k, v) in fields.as_object().unwrap() {
            request[k] = v.clone();
        }
        let response = alice.request(request.clone()).await;
        let mut expected = page("r", messages.clone(), *more);
        expected["id"] = json!(i);
        assert_eq!(normalize(&response), expected, "request {request}");
    }
    assert_eq!(cases.len(), 20);

    let bad = [
        json!({"before": 10, "after": 2}),
        json!({"before": -1}),
        json!({"after": -1}),
        json!({"limit": -1}),
        json!({"limit": 1.5}),
        json!({"before": "3"}),
        json!({"after": true}),
    ];
    for (i, fields) in bad.iter().enumerate() {
        let mut request = json!({"type": "history", "room": "r", "id": i});
        for (k, v) in fields.as_object().unwrap() {
            request[k] = v.clone();
        }
        alice.request_error(request, "bad_request").await;
    }
    assert_eq!(bad.len(), 7);
    alice
        .request_error(json!({"type": "history", "id": "no room"}), "bad_request")
        .await;
    alice
        .request_error(
            json!({"type": "history", "room": "r r", "id": "bad"}),
            "bad_room",
        )
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn history_keep_evicts_the_oldest_messages() {
    let server = TestServer::start(&format!(
        "[limits]\nhistory_keep = 5\nhistory_max = 5\nhistory_on_join = 5\n{NO_RATE_LIMIT}"
    ))
    .await;
    let mut alice = registered(&server, "alice").await;
    alice.join("r").await;
    post(&mut alice, "r", 8).await;

    assert_frame(
        &alice.request(json!({"type": "history", "room": "r"})).await,
        page("r", items("r", "alice", 4, 8), false),
    );
    assert_frame(
        &alice
            .request(json!({"type": "history", "room": "r", "before": 6}))
            .await,
        page("r", items("r", "alice", 4, 5), false),
    );
    assert_frame(
        &alice
            .request(json!({"type": "history", "room": "r", "after": 0}))
            .await,
        page("r", items("r", "alice", 4, 8), false),
    );
    assert_frame(
        &alice
            .request(json!({"type": "history", "room": "r", "before": 4}))
            .await,
        page("r", json!([]), false),
    );
    let mut bob = registered(&server, "bob").await;
    assert_frame(
        &bob.request(json!({"type": "join", "room": "r", "since": 0}))
            .await,
        json!({"type": "ok", "room": "r", "topic": "", "members": ["alice", "bob"],
               "epoch": "<epoch>",
               "history": items("r", "alice", 4, 8), "more": false}),
    );
    let mut carol = registered(&server, "carol").await;
    assert_frame(
        &carol.request(json!({"type": "join", "room": "r"})).await,
        json!({"type": "ok", "room": "r", "topic": "", "members": ["alice", "bob", "carol"],
               "epoch": "<epoch>",
               "history": items("r", "alice", 4, 8), "more": false}),
    );
    // The seq carries on regardless.
    alice.ping_roundtrip().await;
    let (echo, _) = alice.say("r", "m9").await;
    assert_frame(&echo, message_event("r", 9, "alice", "m9"));
    server.shutdown().await;
}

#[tokio::test]
async fn history_items_are_the_message_events_as_sent() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("r").await;
    let mut bob = registered(&server, "bob").await;
    let (first, _) = alice.say("r", "plain").await;
    alice
        .send(json!({"type": "message", "room": "r", "text": "waves", "action": true}))
        .await;
    let second = alice.recv().await;
    alice.recv().await;
    assert_frame(
        &alice
            .request(json!({"type": "nick", "nick": "Alicia"}))
            .await,
        json!({"type": "ok", "nick": "Alicia"}),
    );
    let (third, _) = alice.say("r", "renamed").await;
    // Private messages are not part of any room's history.
    alice
        .send(json!({"type": "message", "to": "bob", "text": "private"}))
        .await;
    alice.recv().await;
    bob.recv().await;

    let expected = json!([
        message_event("r", 1, "alice", "plain"),
        {"type": "message", "room": "r", "seq": 2, "ts": "<ts>", "from": "alice", "text": "waves", "action": true},
        message_event("r", 3, "Alicia", "renamed"),
    ]);
    let response = alice.request(json!({"type": "history", "room": "r"})).await;
    assert_frame(&response, page("r", expected.clone(), false));
    // Identical to the live events, timestamps included.
    assert_eq!(response["messages"], json!([first, second, third]));

    let joined = bob.join("r").await;
    assert_frame(
        &joined,
        json!({"type": "ok", "room": "r", "topic": "", "members": ["Alicia", "bob"], "epoch": "<epoch>", "history": expected, "more": false}),
    );
    assert_eq!(joined["history"], json!([first, second, third]));
    server.shutdown().await;
}
