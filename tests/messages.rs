//! Messages (room and private), typing notices, nick change events, text rules,
//! room isolation, and many clients agreeing on one room's order.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Two registered clients that are both in `room`, with the join event drained.
async fn pair_in_room(server: &TestServer, a: &str, b: &str, room: &str) -> (Client, Client) {
    let mut first = registered(server, a).await;
    first.join(room).await;
    let mut second = registered(server, b).await;
    second.join(room).await;
    let seen = first.ping_roundtrip().await;
    assert_eq!(seen.len(), 1, "{a} should see {b} join: {seen:?}");
    (first, second)
}

#[tokio::test]
async fn the_sender_gets_its_echo_before_the_ok() {
    let server = TestServer::start("").await;
    let (mut alice, mut bob) = pair_in_room(&server, "alice", "bob", "lobby").await;
    alice
        .send(json!({"type": "message", "room": "#Lobby", "text": "hello", "id": "m1"}))
        .await;
    let echo = alice.recv().await;
    assert_frame(&echo, message_event("lobby", 1, "alice", "hello"));
    let ok = alice.recv().await;
    assert_frame(
        &ok,
        json!({"type": "ok", "id": "m1", "seq": 1, "ts": "<ts>"}),
    );
    assert_eq!(
        ok["ts"], echo["ts"],
        "the ok carries the message's own timestamp"
    );
    // Every member gets the very same event.
    assert_eq!(bob.recv().await, echo);

    bob.send(json!({"type": "message", "room": "lobby", "text": "hi back", "id": 7}))
        .await;
    let echo = bob.recv().await;
    assert_frame(&echo, message_event("lobby", 2, "bob", "hi back"));
    assert_frame(
        &bob.recv().await,
        json!({"type": "ok", "id": 7, "seq": 2, "ts": "<ts>"}),
    );
    assert_eq!(alice.recv().await, echo);
    alice.expect_nothing().await;
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn text_is_delivered_exactly_newlines_and_unicode_included() {
    let server = TestServer::start("").await;
    let (mut alice, mut bob) = pair_in_room(&server, "alice", "bob", "lobby").await;
    let texts = [
        "line one\nline two\ttabbed",
        "héllo ✓ 🎉 — “quotes” \"escaped\" \\ back",
        "  leading and trailing spaces  ",
        "{\"type\":\"bye\",\"reason\":\"not really\"}\n{\"type\":\"ok\"}",
    ];
    for (i, text) in texts.iter().enumerate() {
        let (echo, _) = alice.say("lobby", text).await;
        let expected = message_event("lobby", i as u64 + 1, "alice", text);
        assert_frame(&echo, expected.clone());
        assert_frame(&bob.recv().await, expected);
    }
    assert_eq!(texts.len(), 4);
    server.shutdown().await;
}

#[tokio::test]
async fn the_action_flag_is_carried_only_when_set() {
    let server = TestServer::start("").await;
    let (mut alice, mut bob) = pair_in_room(&server, "alice", "bob", "lobby").await;
    alice
        .send(json!({"type": "message", "room": "lobby", "text": "waves", "action": true}))
        .await;
    let expected = json!({"type": "message", "room": "lobby", "seq": 1, "ts": "<ts>", "from": "alice", "text": "waves", "action": true});
    assert_frame(&alice.recv().await, expected.clone());
    assert_frame(
        &alice.recv().await,
        json!({"type": "ok", "seq": 1, "ts": "<ts>"}),
    );
    assert_frame(&bob.recv().await, expected);

    for (seq, action) in [(2, json!(false)), (3, json!(null))] {
        alice
            .send(json!({"type": "message", "room": "lobby", "text": "plain", "action": action}))
            .await;
        let expected = message_event("lobby", seq, "alice", "plain");
        assert_frame(&alice.recv().await, expected.clone());
        assert_frame(
            &alice.recv().await,
            json!({"type": "ok", "seq": seq, "ts": "<ts>"}),
        );
        assert_frame(&bob.recv().await, expected);
    }
    alice
        .request_error(
            json!({"type": "message", "room": "lobby", "text": "x", "action": "yes", "id": 1}),
            "bad_request",
        )
        .await;
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn private_messages_reach_only_the_target_in_its_own_spelling() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    let mut bob = registered(&server, "Bob").await;
    let mut carol = registered(&server, "carol").await;
    // No shared room is needed.
    alice
        .send(json!({"type": "message", "to": "bOB", "text": "psst", "id": "p"}))
        .await;
    // No echo for the sender: the ok is the next frame, without a seq.
    let ok = alice.recv().await;
    assert_frame(&ok, json!({"type": "ok", "id": "p", "ts": "<ts>"}));
    let event = bob.recv().await;
    assert_frame(
        &event,
        json!({"type": "message", "to": "Bob", "ts": "<ts>", "from": "alice", "text": "psst"}),
    );
    assert_eq!(event["ts"], ok["ts"]);
    carol.expect_nothing().await;

    bob.send(json!({"type": "message", "to": "ALICE", "text": "shrugs", "action": true}))
        .await;
    assert_frame(&bob.recv().await, json!({"type": "ok", "ts": "<ts>"}));
    assert_frame(
        &alice.recv().await,
        json!({"type": "message", "to": "alice", "ts": "<ts>", "from": "Bob", "text": "shrugs", "action": true}),
    );
    alice.expect_nothing().await;
    bob.expect_nothing().await;
    carol.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_private_message_to_yourself_is_delivered_to_you() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "Alice").await;
    alice
        .send(json!({"type": "message", "to": "alice", "text": "note to self", "id": 1}))
        .await;
    assert_frame(
        &alice.recv().await,
        json!({"type": "message", "to": "Alice", "ts": "<ts>", "from": "Alice", "text": "note to self"}),
    );
    assert_frame(
        &alice.recv().await,
        json!({"type": "ok", "id": 1, "ts": "<ts>"}),
    );
    alice.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn private_message_errors() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    let cases = [
        (
            json!({"type": "message", "to": "nobody", "text": "hi"}),
            "no_such_user",
        ),
        (
            json!({"type": "message", "room": "lobby", "to": "bob", "text": "hi"}),
            "bad_request",
        ),
        (json!({"type": "message", "text": "hi"}), "bad_request"),
        (
            json!({"type": "message", "to": 3, "text": "hi"}),
            "bad_request",
        ),
        (json!({"type": "message", "to": "bob"}), "bad_request"),
        (
            json!({"type": "message", "to": "bob", "text": 12}),
            "bad_request",
        ),
        (
            json!({"type": "message", "to": "bob", "text": ""}),
            "bad_text",
        ),
        (
            json!({"type": "message", "to": "nobody", "text": "\u{7}"}),
            "bad_text",
        ),
    ];
    assert_eq!(alice.request_errors(&cases).await, 8);
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn message_text_rules_give_bad_text() {
    let server =
        TestServer::start(&format!("[limits]\nmax_text_bytes = 10\n{NO_RATE_LIMIT}")).await;
    let (mut alice, mut bob) = pair_in_room(&server, "alice", "bob", "lobby").await;
    let bad = [
        "",
        " ",
        "  \n\t ",
        "\u{3000}\u{2003}",
        "\u{a0}",
        "esc\u{1b}[31m",
        "cr\r",
        "nul\u{0}",
        "del\u{7f}",
        "c1\u{9b}",
        "c1\u{85}",
        "12345678901",
        "ééééé1",
    ];
    for (i, text) in bad.iter().enumerate() {
        alice
            .request_error(
                json!({"type": "message", "room": "lobby", "text": text, "id": i}),
                "bad_text",
            )
            .await;
    }
    assert_eq!(bad.len(), 13);
    bob.expect_nothing().await;

    // Room and text are checked before membership.
    alice
        .request_error(
            json!({"type": "message", "room": "elsewhere", "text": "", "id": "t"}),
            "bad_text",
        )
        .await;
    alice
        .request_error(
            json!({"type": "message", "room": "Bad Room", "text": "x", "id": "r"}),
            "bad_room",
        )
        .await;
    alice
        .request_error(
            json!({"type": "message", "room": "lobby", "id": "m"}),
            "bad_request",
        )
        .await;

    // At the limit, and the allowed controls.
    let good = ["1234567890", "ééééé", "a\nb\tc", "x"];
    for (i, text) in good.iter().enumerate() {
        let (echo, _) = alice.say("lobby", text).await;
        assert_frame(&echo, message_event("lobby", i as u64 + 1, "alice", text));
        assert_frame(
            &bob.recv().await,
            message_event("lobby", i as u64 + 1, "alice", text),
        );
    }
    assert_eq!(good.len(), 4);
    server.shutdown().await;
}

#[tokio::test]
async fn typing_notices_go_to_the_other_members_or_the_target() {
    let server = TestServer::start("").await;
    let (mut alice, mut bob) = pair_in_room(&server, "alice", "Bob", "lobby").await;
    let mut carol = registered(&server, "carol").await;

    assert_frame(
        &alice
            .request(json!({"type": "typing", "room": "#LOBBY", "id": "t"}))
            .await,
        json!({"type": "ok", "id": "t"}),
    );
    assert_frame(
        &bob.recv().await,
        json!({"type": "typing", "room": "lobby", "nick": "alice", "active": true}),
    );
    for (active, shown) in [
        (json!(false), false),
        (json!(null), true),
        (json!(true), true),
    ] {
        assert_frame(
            &alice
                .request(json!({"type": "typing", "room": "lobby", "active": active}))
                .await,
            json!({"type": "ok"}),
        );
        assert_frame(
            &bob.recv().await,
            json!({"type": "typing", "room": "lobby", "nick": "alice", "active": shown}),
        );
    }

    // Private form: to the target only, in the target's spelling.
    assert_frame(
        &carol
            .request(json!({"type": "typing", "to": "bob", "active": false}))
            .await,
        json!({"type": "ok"}),
    );
    assert_frame(
        &bob.recv().await,
        json!({"type": "typing", "to": "Bob", "nick": "carol", "active": false}),
    );
    alice.expect_nothing().await;
    bob.expect_nothing().await;
    carol.expect_nothing().await;

    // To yourself: delivered to you.
    carol.send(json!({"type": "typing", "to": "CAROL"})).await;
    assert_frame(
        &carol.recv().await,
        json!({"type": "typing", "to": "carol", "nick": "carol", "active": true}),
    );
    assert_frame(&carol.recv().await, json!({"type": "ok"}));

    let errors = [
        (json!({"type": "typing", "to": "nobody"}), "no_such_user"),
        (
            json!({"type": "typing", "room": "lobby", "to": "bob"}),
            "bad_request",
        ),
        (json!({"type": "typing"}), "bad_request"),
        (
            json!({"type": "typing", "room": "lobby", "active": "yes"}),
            "bad_request",
        ),
        (json!({"type": "typing", "room": "bad room"}), "bad_room"),
    ];
    assert_eq!(alice.request_errors(&errors).await, 5);
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_nick_change_is_told_once_to_each_connection_sharing_a_room() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    let mut bob = registered(&server, "bob").await;
    let mut carol = registered(&server, "carol").await;
    let mut dave = registered(&server, "dave").await;
    alice.join("a").await;
    alice.join("b").await;
    bob.join("a").await;
    bob.join("b").await;
    carol.join("b").await;
    dave.join("d").await;
    for c in [&mut alice, &mut bob, &mut carol, &mut dave] {
        c.ping_roundtrip().await;
    }

    assert_frame(
        &alice
            .request(json!({"type": "nick", "nick": "Alicia", "id": 1}))
            .await,
        json!({"type": "ok", "id": 1, "nick": "Alicia"}),
    );
    let event = json!({"type": "nick", "old": "alice", "new": "Alicia", "ts": "<ts>"});
    for c in [&mut bob, &mut carol] {
        let seen = c.ping_roundtrip().await;
        assert_eq!(
            seen.len(),
            1,
            "{}: exactly one nick event: {seen:?}",
            c.label
        );
        assert_frame(&seen[0], event.clone());
    }
    alice.expect_nothing().await;
    dave.expect_nothing().await;
    assert_frame(
        &bob.request(json!({"type": "who", "room": "b"})).await,
        json!({"type": "ok", "room": "b", "members": ["Alicia", "bob", "carol"]}),
    );

    // A change of case is a change.
    assert_frame(
        &alice
            .request(json!({"type": "nick", "nick": "ALICIA"}))
            .await,
        json!({"type": "ok", "nick": "ALICIA"}),
    );
    let event = json!({"type": "nick", "old": "Alicia", "new": "ALICIA", "ts": "<ts>"});
    for c in [&mut bob, &mut carol] {
        let seen = c.ping_roundtrip().await;
        assert_eq!(
            seen.len(),
            1,
            "{}: exactly one nick event: {seen:?}",
            c.label
        );
        assert_frame(&seen[0], event.clone());
    }

    // The identical nick: ok, and nobody is told.
    assert_frame(
        &alice
            .request(json!({"type": "nick", "nick": "ALICIA", "id": 3}))
            .await,
        json!({"type": "ok", "id": 3, "nick": "ALICIA"}),
    );
    for c in [&mut alice, &mut bob, &mut carol, &mut dave] {
        c.expect_nothing().await;
    }
    bob.request_error(
        json!({"type": "nick", "nick": "alicia", "id": 4}),
        "nick_in_use",
    )
    .await;

    // Later messages carry the new nick.
    let (echo, _) = alice.say("a", "renamed").await;
    assert_frame(&echo, message_event("a", 1, "ALICIA", "renamed"));
    assert_frame(
        &bob.recv().await,
        message_event("a", 1, "ALICIA", "renamed"),
    );
    server.shutdown().await;
}

/// Sends `frame` (which carries an `id`) and reads until its response, returning
/// every frame read, the response included.
async fn send_and_collect(client: &mut Client, frame: Value) -> Vec<Value> {
    let id = frame["id"].clone();
    client.send(frame).await;
    let mut frames = Vec::new();
    loop {
        let f = client.recv().await;
        let done = f.get("id") == Some(&id) && f["type"] != "message";
        frames.push(f);
        if done {
            return frames;
        }
    }
}

#[tokio::test]
async fn rooms_are_isolated_from_each_other() {
    let server = TestServer::start("").await;
    let plan = [
        ("a1", vec!["r1"]),
        ("b1", vec!["r1"]),
        ("a2", vec!["r2"]),
        ("b2", vec!["r2"]),
        ("a3", vec!["r3"]),
        ("b3", vec!["r3"]),
        ("x", vec!["r1", "r3"]),
    ];
    let mut clients: HashMap<&str, Client> = HashMap::new();
    for (nick, rooms) in &plan {
        let mut c = registered(&server, nick).await;
        for room in rooms {
            c.join(room).await;
        }
        clients.insert(*nick, c);
    }
    // Drain the join events, checking each is about one of the client's rooms.
    for (nick, rooms) in &plan {
        let client = clients.get_mut(nick).unwrap();
        for frame in client.ping_roundtrip().await {
            assert_eq!(frame["type"], "join", "{nick}: {frame}");
            let room = frame["room"].as_str().unwrap();
            assert!(
                rooms.contains(&room),
                "{nick} was told about a join in {room}"
            );
        }
    }

    let sends = [
        ("a1", "r1", "a1 in r1"),
        ("a2", "r2", "a2 in r2"),
        ("a3", "r3", "a3 in r3"),
        ("x", "r1", "x in r1"),
        ("x", "r3", "x in r3"),
        ("b2", "r2", "b2 in r2"),
    ];
    let mut received: HashMap<&str, Vec<Value>> = HashMap::new();
    for (i, (nick, room, text)) in sends.iter().enumerate() {
        let client = clients.get_mut(nick).unwrap();
        let frames = send_and_collect(
            client,
            json!({"type": "message", "room": room, "text": text, "id": i}),
        )
        .await;
        received.entry(*nick).or_default().extend(frames);
    }
    for (nick, _) in &plan {
        let frames = clients.get_mut(nick).unwrap().ping_roundtrip().await;
        received.entry(*nick).or_default().extend(frames);
    }

    let m = |room: &str, seq: u64, from: &str| {
        message_event(room, seq, from, &format!("{from} in {room}"))
    };
    let ok = |id: u64, seq: u64| json!({"type": "ok", "id": id, "seq": seq, "ts": "<ts>"});
    let expected: HashMap<&str, Vec<Value>> = HashMap::from([
        ("a1", vec![m("r1", 1, "a1"), ok(0, 1), m("r1", 2, "x")]),
        ("b1", vec![m("r1", 1, "a1"), m("r1", 2, "x")]),
        ("a2", vec![m("r2", 1, "a2"), ok(1, 1), m("r2", 2, "b2")]),
        ("b2", vec![m("r2", 1, "a2"), m("r2", 2, "b2"), ok(5, 2)]),
        ("a3", vec![m("r3", 1, "a3"), ok(2, 1), m("r3", 2, "x")]),
        ("b3", vec![m("r3", 1, "a3"), m("r3", 2, "x")]),
        (
            "x",
            vec![
                m("r1", 1, "a1"),
                m("r3", 1, "a3"),
                m("r1", 2, "x"),
                ok(3, 2),
                m("r3", 2, "x"),
                ok(4, 2),
            ],
        ),
    ]);
    let mut checked = 0;
    for (nick, _) in &plan {
        let got: Vec<Value> = received
            .remove(nick)
            .unwrap_or_default()
            .iter()
            .map(normalize)
            .collect();
        assert_eq!(got, expected[nick], "frames received by {nick}");
        checked += 1;
    }
    assert_eq!(checked, 7);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_see_the_same_thousand_messages_in_seq_order() {
    const CLIENTS: usize = 50;
    const PER_CLIENT: usize = 20;
    const TOTAL: usize = CLIENTS * PER_CLIENT;
    // All from 127.0.0.1: more than one address's default share.
    let server = TestServer::start(&format!(
        "[limits]\n{NO_RATE_LIMIT}max_connections_per_address = {CLIENTS}\n"
    ))
    .await;
    let barrier = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let (addr, fingerprint) = (server.addr(), server.fingerprint.clone());
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let nick = format!("user{i:02}");
            let mut c = Client::connect_pinned(addr, &fingerprint, None)
                .await
                .expect("connect");
            c.hello(&nick).await;
            c.send(json!({"type": "join", "room": "crowd"})).await;
            // Others join at the same time: their join events may come first.
            loop {
                let frame = c.recv().await;
                if frame["type"] == "join" {
                    continue;
                }
                assert_eq!(frame["type"], "ok", "{nick}: join crowd failed: {frame}");
                break;
            }
            // Everyone is a member before anyone speaks.
            barrier.wait().await;
            let mut batch = Vec::new();
            for j in 0..PER_CLIENT {
                let frame = json!({"type": "message", "room": "crowd", "text": format!("{nick} says {j}"), "id": j});
                batch.extend(serde_json::to_vec(&frame).unwrap());
                batch.push(b'\n');
            }
            c.send_raw(&batch).await;

            let mut seen: Vec<Value> = Vec::with_capacity(TOTAL);
            let mut own_seq: HashMap<String, (Value, Value)> = HashMap::new();
            let mut oks = 0;
            while seen.len() < TOTAL || oks < PER_CLIENT {
                let frame = c.recv().await;
                match frame["type"].as_str() {
                    Some("message") => {
                        if frame["from"] == nick.as_str() {
                            let text = frame["text"].as_str().unwrap().to_string();
                            own_seq.insert(text, (frame["seq"].clone(), frame["ts"].clone()));
                        }
                        seen.push(frame);
                    }
                    Some("ok") => {
                        let j = frame["id"].as_u64().expect("ok with the message id");
                        let (seq, ts) = own_seq
                            .get(&format!("{nick} says {j}"))
                            .unwrap_or_else(|| panic!("{nick}: ok {frame} before its echo"));
                        assert_frame(&frame, json!({"type": "ok", "id": j, "seq": seq, "ts": "<ts>"}));
                        assert_eq!(&frame["ts"], ts);
                        oks += 1;
                    }
                    Some("join") => {}
                    _ => panic!("{nick}: unexpected frame {frame}"),
                }
            }
            // The connection stays open until every client is done, so nobody
            // sees a leave.
            (i, seen, c)
        });
    }
    // Collected as they finish, so the first failure ends the test at once (the
    // other tasks are aborted when the set is dropped).
    let mut finished = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(joined) = tasks.join_next().await {
            finished.push(joined.expect("client task panicked"));
        }
    })
    .await
    .expect("clients did not finish within 120 s");
    finished.sort_by_key(|(i, _, _)| *i);
    let (all, mut clients): (Vec<Vec<Value>>, Vec<Client>) =
        finished.into_iter().map(|(_, seen, c)| (seen, c)).unzip();
    assert_eq!(all.len(), CLIENTS);
    // Nothing more for anyone: no duplicates or stray frames.
    for c in clients.iter_mut() {
        c.expect_nothing().await;
    }

    let reference = &all[0];
    assert_eq!(reference.len(), TOTAL);
    let mut texts = HashSet::new();
    let mut last_per_sender: HashMap<String, usize> = HashMap::new();
    for (k, frame) in reference.iter().enumerate() {
        let from = frame["from"].as_str().unwrap().to_string();
        let text = frame["text"].as_str().unwrap().to_string();
        assert_frame(frame, message_event("crowd", k as u64 + 1, &from, &text));
        let j: usize = text
            .strip_prefix(&format!("{from} says "))
            .and_then(|j| j.parse().ok())
            .unwrap_or_else(|| panic!("message {text:?} not from its sender {from}"));
        // One connection's messages keep their order.
        if let Some(previous) = last_per_sender.insert(from.clone(), j) {
            assert!(
                j > previous,
                "{from}'s messages out of order: {previous} then {j}"
            );
        }
        assert!(texts.insert(text), "duplicate message in {frame}");
    }
    assert_eq!(texts.len(), TOTAL);
    assert_eq!(last_per_sender.len(), CLIENTS);
    for (i, seen) in all.iter().enumerate() {
        assert!(
            seen == reference,
            "client {i} saw a different sequence than client 0"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn null_optional_fields_count_as_absent_and_unknown_fields_are_ignored() {
    let server = TestServer::start("").await;
    let (mut alice, mut bob) = pair_in_room(&server, "alice", "bob", "lobby").await;
    alice
        .send(json!({"type": "message", "room": "lobby", "to": null, "text": "x", "colour": "red"}))
        .await;
    assert_frame(&alice.recv().await, message_event("lobby", 1, "alice", "x"));
    assert_frame(
        &alice.recv().await,
        json!({"type": "ok", "seq": 1, "ts": "<ts>"}),
    );
    assert_frame(&bob.recv().await, message_event("lobby", 1, "alice", "x"));

    alice
        .send(json!({"type": "message", "room": null, "to": "bob", "text": "y", "extra": [1]}))
        .await;
    assert_frame(&alice.recv().await, json!({"type": "ok", "ts": "<ts>"}));
    assert_frame(
        &bob.recv().await,
        json!({"type": "message", "to": "bob", "ts": "<ts>", "from": "alice", "text": "y"}),
    );

    assert_frame(
        &alice
            .request(json!({"type": "typing", "room": "lobby", "to": null, "active": null, "x": 1}))
            .await,
        json!({"type": "ok"}),
    );
    assert_frame(
        &bob.recv().await,
        json!({"type": "typing", "room": "lobby", "nick": "alice", "active": true}),
    );
    alice.expect_nothing().await;
    bob.expect_nothing().await;
    server.shutdown().await;
}
