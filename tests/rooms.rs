//! Rooms: join, leave, who, rooms, topic; room names; creation and dropping;
//! configured rooms; per-connection room limit; `not_in_room` and friends.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn join_creates_the_room_and_tells_the_other_members() {
    let server = TestServer::start("").await;
    let mut zed = registered(&server, "Zed").await;
    assert_frame(
        &zed.request(json!({"type": "join", "room": "lobby", "id": "j"}))
            .await,
        json!({"type": "ok", "id": "j", "room": "lobby", "topic": "", "members": ["Zed"], "epoch": "<epoch>", "history": [], "more": false}),
    );
    let mut alice = registered(&server, "alice").await;
    assert_frame(
        &alice
            .request(json!({"type": "join", "room": "#Lobby"}))
            .await,
        json!({"type": "ok", "room": "lobby", "topic": "", "members": ["alice", "Zed"], "epoch": "<epoch>", "history": [], "more": false}),
    );
    assert_frame(
        &zed.recv().await,
        json!({"type": "join", "room": "lobby", "nick": "alice", "ts": "<ts>"}),
    );
    let mut bob = registered(&server, "Bob").await;
    // Sorted by the lowercased nick, not by raw ASCII (which would put "Bob" and
    // "Zed" before "alice").
    assert_frame(
        &bob.request(json!({"type": "join", "room": "LOBBY"})).await,
        json!({"type": "ok", "room": "lobby", "topic": "", "members": ["alice", "Bob", "Zed"], "epoch": "<epoch>", "history": [], "more": false}),
    );
    for member in [&mut zed, &mut alice] {
        let seen = member.ping_roundtrip().await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_frame(
            &seen[0],
            json!({"type": "join", "room": "lobby", "nick": "Bob", "ts": "<ts>"}),
        );
    }
    // The joiner is not told about itself.
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn joining_again_answers_ok_and_tells_nobody() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    alice.say("lobby", "first").await;
    assert_eq!(bob.ping_roundtrip().await.len(), 1);

    assert_frame(
        &bob.request(json!({"type": "join", "room": "#lobby", "id": 2}))
            .await,
        json!({"type": "ok", "id": 2, "room": "lobby", "topic": "", "members": ["alice", "bob"],
               "epoch": "<epoch>",
               "history": [message_event("lobby", 1, "alice", "first")], "more": false}),
    );
    alice.expect_nothing().await;
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn leave_tells_the_other_members_with_or_without_a_reason() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);

    assert_frame(
        &bob.request(json!({"type": "leave", "room": "lobby", "id": "l1"}))
            .await,
        json!({"type": "ok", "id": "l1", "room": "lobby"}),
    );
    assert_frame(
        &alice.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "bob", "ts": "<ts>"}),
    );
    bob.expect_nothing().await;

    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    assert_frame(
        &bob.request(json!({"type": "leave", "room": "#LOBBY", "reason": "lunch"}))
            .await,
        json!({"type": "ok", "room": "lobby"}),
    );
    assert_frame(
        &alice.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "bob", "reason": "lunch", "ts": "<ts>"}),
    );

    // An empty or null reason counts as none.
    for reason in [json!(""), json!(null)] {
        bob.join("lobby").await;
        assert_eq!(alice.ping_roundtrip().await.len(), 1);
        assert_frame(
            &bob.request(json!({"type": "leave", "room": "lobby", "reason": reason}))
                .await,
            json!({"type": "ok", "room": "lobby"}),
        );
        assert_frame(
            &alice.recv().await,
            json!({"type": "leave", "room": "lobby", "nick": "bob", "ts": "<ts>"}),
        );
    }
    // bob is really out.
    let who = alice.request(json!({"type": "who", "room": "lobby"})).await;
    assert_frame(
        &who,
        json!({"type": "ok", "room": "lobby", "members": ["alice"]}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn leave_with_a_bad_reason_is_refused_and_the_member_stays() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    let too_long = "r".repeat(513);
    let bad = [
        (json!("   "), "bad_text"),
        (json!("two\nlines"), "bad_text"),
        (json!("bell\u{7}"), "bad_text"),
        (json!(too_long), "bad_text"),
        (json!(42), "bad_request"),
    ];
    for (i, (reason, code)) in bad.iter().enumerate() {
        bob.request_error(
            json!({"type": "leave", "room": "lobby", "reason": reason, "id": i}),
            code,
        )
        .await;
    }
    assert_eq!(bad.len(), 5);
    alice.expect_nothing().await;
    // The longest allowed reason.
    let longest = "r".repeat(512);
    bob.send(json!({"type": "leave", "room": "lobby", "reason": longest}))
        .await;
    assert_frame(&bob.recv().await, json!({"type": "ok", "room": "lobby"}));
    assert_frame(
        &alice.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "bob", "reason": longest, "ts": "<ts>"}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn requests_on_a_room_you_are_not_in_get_not_in_room() {
    let server = TestServer::start("").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("busy").await;
    let mut alice = registered(&server, "alice").await;
    let mut checked = 0;
    // Whether or not the room exists.
    for room in ["busy", "#Busy", "nowhere"] {
        let requests = [
            json!({"type": "leave", "room": room, "id": 1}),
            json!({"type": "message", "room": room, "text": "hi", "id": 2}),
            json!({"type": "typing", "room": room, "id": 3}),
            json!({"type": "topic", "room": room, "topic": "mine", "id": 4}),
            json!({"type": "history", "room": room, "id": 5}),
        ];
        for request in requests {
            alice.request_error(request, "not_in_room").await;
            checked += 1;
        }
    }
    assert_eq!(checked, 15);
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn who_lists_any_existing_room_sorted() {
    let server = TestServer::start("[[room]]\nname = \"general\"\ntopic = \"Say hello\"\n").await;
    let mut names = Vec::new();
    let mut members = Vec::new();
    for nick in ["carol", "Zed", "alice"] {
        let mut c = registered(&server, nick).await;
        c.join("busy").await;
        members.push(c);
        names.push(nick);
    }
    assert_eq!(names.len(), 3);
    let mut outsider = registered(&server, "zoe").await;
    assert_frame(
        &outsider
            .request(json!({"type": "who", "room": "#BUSY", "id": "w"}))
            .await,
        json!({"type": "ok", "id": "w", "room": "busy", "members": ["alice", "carol", "Zed"]}),
    );
    assert_frame(
        &outsider
            .request(json!({"type": "who", "room": "general"}))
            .await,
        json!({"type": "ok", "room": "general", "members": []}),
    );
    outsider
        .request_error(
            json!({"type": "who", "room": "nowhere", "id": 1}),
            "no_such_room",
        )
        .await;
    outsider
        .request_error(
            json!({"type": "who", "room": "no where", "id": 2}),
            "bad_room",
        )
        .await;
    outsider
        .request_error(json!({"type": "who", "id": 3}), "bad_request")
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn rooms_lists_every_room_sorted_with_counts_and_topics() {
    let server = TestServer::start(
        r#"
        [[room]]
        name = "general"
        topic = "Say hello"
        [[room]]
        name = "quiet"
        "#,
    )
    .await;
    let mut alice = registered(&server, "alice").await;
    assert_frame(
        &alice.request(json!({"type": "rooms", "id": 1})).await,
        json!({"type": "ok", "id": 1, "more": false, "rooms": [
            {"room": "general", "members": 0, "topic": "Say hello"},
            {"room": "quiet", "members": 0, "topic": ""},
        ]}),
    );
    // The configured topic is shown on join too.
    let joined = alice.join("general").await;
    assert_eq!(joined["topic"], "Say hello", "{joined}");
    alice.join("zeta").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("alpha").await;
    bob.join("zeta").await;
    assert_frame(
        &bob.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [
            {"room": "alpha", "members": 1, "topic": ""},
            {"room": "general", "members": 1, "topic": "Say hello"},
            {"room": "quiet", "members": 0, "topic": ""},
            {"room": "zeta", "members": 2, "topic": ""},
        ]}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_empty_room_is_dropped_and_starts_over_at_seq_1() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("temp").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("temp").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    alice.say("temp", "one").await;
    alice.say("temp", "two").await;
    assert_frame(
        &alice
            .request(json!({"type": "topic", "room": "temp", "topic": "old"}))
            .await,
        json!({"type": "topic", "room": "temp", "topic": "old", "by": "alice", "ts": "<ts>"}),
    );
    alice.recv().await; // the topic ok
                        // Still one member: not dropped.
    alice
        .request(json!({"type": "leave", "room": "temp"}))
        .await;
    assert_frame(
        &alice.request(json!({"type": "who", "room": "temp"})).await,
        json!({"type": "ok", "room": "temp", "members": ["bob"]}),
    );
    // The last member leaves: dropped.
    let seen = bob.ping_roundtrip().await;
    assert_eq!(
        seen.len(),
        4,
        "two messages, the topic, alice's leave: {seen:?}"
    );
    assert_frame(
        &bob.request(json!({"type": "leave", "room": "temp"})).await,
        json!({"type": "ok", "room": "temp"}),
    );
    assert_frame(
        &alice.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": []}),
    );
    alice
        .request_error(
            json!({"type": "who", "room": "temp", "id": 1}),
            "no_such_room",
        )
        .await;
    // Created again: no history, no topic, seq from 1.
    assert_frame(
        &alice.request(json!({"type": "join", "room": "temp"})).await,
        json!({"type": "ok", "room": "temp", "topic": "", "members": ["alice"], "epoch": "<epoch>", "history": [], "more": false}),
    );
    let (echo, ok) = alice.say("temp", "again").await;
    assert_frame(&echo, message_event("temp", 1, "alice", "again"));
    assert_frame(&ok, json!({"type": "ok", "seq": 1, "ts": "<ts>"}));
    server.shutdown().await;
}

#[tokio::test]
async fn a_room_whose_last_member_disconnects_is_dropped() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("temp").await;
    alice.say("temp", "one").await;
    alice.send(json!({"type": "quit"})).await;
    let frames = alice.recv_until_closed(5).await;
    assert_eq!(frames.len(), 2, "{frames:?}");
    let mut bob = registered(&server, "bob").await;
    assert_frame(
        &bob.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": []}),
    );
    bob.join("temp").await;
    let (echo, _) = bob.say("temp", "fresh").await;
    assert_frame(&echo, message_event("temp", 1, "bob", "fresh"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_configured_room_persists_with_its_history_and_topic() {
    let server = TestServer::start("[[room]]\nname = \"general\"\ntopic = \"Say hello\"\n").await;
    let mut alice = registered(&server, "alice").await;
    assert_frame(
        &alice
            .request(json!({"type": "join", "room": "#General"}))
            .await,
        json!({"type": "ok", "room": "general", "topic": "Say hello", "members": ["alice"], "epoch": "<epoch>", "history": [], "more": false}),
    );
    alice.say("general", "one").await;
    alice
        .send(json!({"type": "topic", "room": "general", "topic": "Changed"}))
        .await;
    alice.recv().await;
    alice.recv().await;
    alice
        .request(json!({"type": "leave", "room": "general"}))
        .await;
    // Empty, but not dropped; the topic set later replaced the configured one.
    assert_frame(
        &alice.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [{"room": "general", "members": 0, "topic": "Changed"}]}),
    );
    assert_frame(
        &alice
            .request(json!({"type": "who", "room": "general"}))
            .await,
        json!({"type": "ok", "room": "general", "members": []}),
    );
    // Its history and seq carry on.
    assert_frame(
        &alice
            .request(json!({"type": "join", "room": "general"}))
            .await,
        json!({"type": "ok", "room": "general", "topic": "Changed", "members": ["alice"],
               "epoch": "<epoch>",
               "history": [message_event("general", 1, "alice", "one")], "more": false}),
    );
    let (echo, _) = alice.say("general", "two").await;
    assert_frame(&echo, message_event("general", 2, "alice", "two"));
    server.shutdown().await;
}

#[tokio::test]
async fn room_names_are_normalized_or_refused() {
    let server = TestServer::start(&format!("[limits]\nmax_rooms = 100\n{NO_RATE_LIMIT}")).await;
    let mut c = registered(&server, "alice").await;
    let longest = "r".repeat(64);
    let good = [
        ("#Ops", "ops"),
        ("ops", "ops"),
        ("OPS", "ops"),
        ("a.b-c_1", "a.b-c_1"),
        ("9lives", "9lives"),
        ("#X", "x"),
        (longest.as_str(), longest.as_str()),
    ];
    for (written, normalized) in good {
        let ok = c.join(written).await;
        assert_eq!(ok["room"], normalized, "join {written}: {ok}");
    }
    assert_eq!(good.len(), 7);
    let too_long = "r".repeat(65);
    let bad = [
        "",
        "#",
        "##ops",
        ".",
        "..",
        "-x",
        "_x",
        ".hidden",
        "a b",
        "é",
        "a/b",
        "a\\b",
        "#a#",
        too_long.as_str(),
    ];
    for (i, room) in bad.iter().enumerate() {
        c.request_error(json!({"type": "join", "room": room, "id": i}), "bad_room")
            .await;
    }
    assert_eq!(bad.len(), 14);
    c.request_error(json!({"type": "join", "room": 7, "id": 1}), "bad_request")
        .await;
    c.request_error(
        json!({"type": "join", "room": null, "id": 2}),
        "bad_request",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn max_rooms_is_per_connection_and_rejoining_does_not_count() {
    let server = TestServer::start("[limits]\nmax_rooms = 2\n").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("one").await;
    alice.join("two").await;
    alice.join("#ONE").await;
    alice
        .request_error(
            json!({"type": "join", "room": "three", "id": 3}),
            "too_many_rooms",
        )
        .await;
    // The refused join did not create the room.
    assert_frame(
        &alice.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [
            {"room": "one", "members": 1, "topic": ""},
            {"room": "two", "members": 1, "topic": ""},
        ]}),
    );
    // Another connection has its own allowance.
    let mut bob = registered(&server, "bob").await;
    bob.join("three").await;
    bob.join("four").await;
    // Leaving frees a slot.
    alice.request(json!({"type": "leave", "room": "two"})).await;
    alice.join("three").await;
    server.shutdown().await;
}

#[tokio::test]
async fn topic_is_told_to_every_member_including_the_setter() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);

    alice
        .send(json!({"type": "topic", "room": "#Lobby", "topic": "Release day ✓", "id": "t"}))
        .await;
    let event = json!({"type": "topic", "room": "lobby", "topic": "Release day ✓", "by": "alice", "ts": "<ts>"});
    assert_frame(&alice.recv().await, event.clone());
    assert_frame(
        &alice.recv().await,
        json!({"type": "ok", "id": "t", "room": "lobby", "topic": "Release day ✓"}),
    );
    assert_frame(&bob.recv().await, event);

    // Newcomers and the room list see it.
    let mut carol = registered(&server, "carol").await;
    let joined = carol.join("lobby").await;
    assert_eq!(joined["topic"], "Release day ✓", "{joined}");
    assert_frame(
        &carol.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [{"room": "lobby", "members": 3, "topic": "Release day ✓"}]}),
    );
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    assert_eq!(bob.ping_roundtrip().await.len(), 1);

    // Any member may change it; empty clears it.
    bob.send(json!({"type": "topic", "room": "lobby", "topic": ""}))
        .await;
    let cleared = json!({"type": "topic", "room": "lobby", "topic": "", "by": "bob", "ts": "<ts>"});
    assert_frame(&bob.recv().await, cleared.clone());
    assert_frame(
        &bob.recv().await,
        json!({"type": "ok", "room": "lobby", "topic": ""}),
    );
    assert_frame(&alice.recv().await, cleared.clone());
    assert_frame(&carol.recv().await, cleared);
    let joined = carol.join("lobby").await;
    assert_eq!(joined["topic"], "", "{joined}");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_topics_are_refused_and_change_nothing() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    alice
        .send(json!({"type": "topic", "room": "lobby", "topic": "keep me"}))
        .await;
    alice.recv().await;
    alice.recv().await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);

    let too_long = "t".repeat(513);
    let bad = [
        (
            json!({"type": "topic", "room": "lobby", "topic": "   "}),
            "bad_text",
        ),
        (
            json!({"type": "topic", "room": "lobby", "topic": "\u{3000}"}),
            "bad_text",
        ),
        (
            json!({"type": "topic", "room": "lobby", "topic": "two\nlines"}),
            "bad_text",
        ),
        (
            json!({"type": "topic", "room": "lobby", "topic": "tab\tand\rcr"}),
            "bad_text",
        ),
        (
            json!({"type": "topic", "room": "lobby", "topic": "esc\u{1b}[31m"}),
            "bad_text",
        ),
        (
            json!({"type": "topic", "room": "lobby", "topic": "c1\u{85}"}),
            "bad_text",
        ),
        (
            json!({"type": "topic", "room": "lobby", "topic": too_long}),
            "bad_text",
        ),
        (json!({"type": "topic", "room": "lobby"}), "bad_request"),
        (
            json!({"type": "topic", "room": "lobby", "topic": null}),
            "bad_request",
        ),
        (
            json!({"type": "topic", "room": "lobby", "topic": 5}),
            "bad_request",
        ),
        (
            json!({"type": "topic", "room": "no room", "topic": "x"}),
            "bad_room",
        ),
        // Text is checked before membership.
        (
            json!({"type": "topic", "room": "elsewhere", "topic": "  "}),
            "bad_text",
        ),
    ];
    assert_eq!(bob.request_errors(&bad).await, 12);
    alice.expect_nothing().await;
    assert_frame(
        &bob.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [{"room": "lobby", "members": 2, "topic": "keep me"}]}),
    );
    // Exactly 512 bytes, multi-byte characters included, is fine.
    let longest = format!("{}{}", "é".repeat(200), "t".repeat(112));
    assert_eq!(longest.len(), 512);
    bob.send(json!({"type": "topic", "room": "lobby", "topic": longest}))
        .await;
    let event =
        json!({"type": "topic", "room": "lobby", "topic": longest, "by": "bob", "ts": "<ts>"});
    assert_frame(&bob.recv().await, event.clone());
    assert_frame(
        &bob.recv().await,
        json!({"type": "ok", "room": "lobby", "topic": longest}),
    );
    assert_frame(&alice.recv().await, event);
    server.shutdown().await;
}
