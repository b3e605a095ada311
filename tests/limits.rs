//! Limits and timeouts: the request rate limit and flooding, max connections, the
//! registration timeout, the idle ping and timeout, and a slow consumer being cut
//! off without holding up its room.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const STRICT_RATE: &str = "[limits]\nrate_burst = 3\nrate_per_second = 0.001\n";

#[tokio::test]
async fn a_request_beyond_the_burst_is_rate_limited_and_not_carried_out() {
    let server = TestServer::start(STRICT_RATE).await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    let mut alice = registered(&server, "alice").await; // token 1
    alice.join("lobby").await; // token 2
    alice.say("lobby", "allowed").await; // token 3
    alice
        .request_error(
            json!({"type": "message", "room": "lobby", "text": "refused", "id": "r"}),
            "rate_limited",
        )
        .await;
    // ping is exempt.
    for i in 0..5 {
        assert_frame(
            &alice.request(json!({"type": "ping", "id": i})).await,
            json!({"type": "ok", "id": i}),
        );
    }
    // bob saw alice join and the allowed message, not the refused one.
    let seen: Vec<Value> = bob.ping_roundtrip().await.iter().map(normalize).collect();
    assert_eq!(
        seen,
        vec![
            json!({"type": "join", "room": "lobby", "nick": "alice", "ts": "<ts>"}),
            message_event("lobby", 1, "alice", "allowed"),
        ]
    );
    // quit is exempt too.
    alice.send(json!({"type": "quit", "id": "q"})).await;
    assert_frame(&alice.recv().await, json!({"type": "ok", "id": "q"}));
    assert_frame(
        &alice.recv().await,
        json!({"type": "bye", "reason": "quit"}),
    );
    alice.expect_closed().await;
    assert_frame(
        &bob.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "alice", "reason": "quit", "ts": "<ts>"}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn blank_lines_are_free_and_garbage_costs_a_token() {
    let server = TestServer::start(STRICT_RATE).await;
    let mut alice = registered(&server, "alice").await; // token 1
    alice.send_raw(&b"\n".repeat(20)).await;
    alice.send_raw(b"  \r\n\t\n").await;
    assert_frame(
        &alice.request(json!({"type": "rooms", "id": 1})).await, // token 2
        json!({"type": "ok", "id": 1, "more": false, "rooms": []}),
    );
    alice.send_raw(b"not json\n").await; // token 3
    alice.expect_error("bad_frame", None).await;
    alice
        .request_error(json!({"type": "rooms", "id": 2}), "rate_limited")
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn persistent_flooding_gets_bye_and_close() {
    let server = TestServer::start(STRICT_RATE).await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    let mut alice = registered(&server, "alice").await; // token 1
    alice.join("lobby").await; // token 2
    let mut flood = Vec::new();
    for i in 0..12 {
        let frame =
            json!({"type": "message", "room": "lobby", "text": format!("flood {i}"), "id": i});
        flood.extend(serde_json::to_vec(&frame).unwrap());
        flood.push(b'\n');
    }
    alice.send_raw(&flood).await;

    let frames = alice.recv_until_closed(20).await;
    let (last, answered) = frames.split_last().expect("at least a bye");
    assert_frame(last, json!({"type": "bye", "reason": "flooding"}));
    // The first message took the last token; the next ones were refused in order
    // until the second bucket (same burst) ran dry.
    assert_frame(&answered[0], message_event("lobby", 1, "alice", "flood 0"));
    assert_frame(
        &answered[1],
        json!({"type": "ok", "id": 0, "seq": 1, "ts": "<ts>"}),
    );
    let refused = &answered[2..];
    assert!(
        (2..=3).contains(&refused.len()),
        "expected 2 or 3 rate_limited responses before the bye (burst 3), got {frames:?}"
    );
    for (k, frame) in refused.iter().enumerate() {
        assert_error(frame, "rate_limited", Some(json!(k + 1)));
    }

    let seen = recv_until_leave(&mut bob, "alice").await;
    assert_eq!(
        seen,
        vec![
            json!({"type": "join", "room": "lobby", "nick": "alice", "ts": "<ts>"}),
            message_event("lobby", 1, "alice", "flood 0"),
            json!({"type": "leave", "room": "lobby", "nick": "alice", "reason": "flooding", "ts": "<ts>"}),
        ]
    );
    bob.expect_nothing().await;
    server.shutdown().await;
}

/// Reads (normalized) frames until a `leave` event for `nick`, which is included.
async fn recv_until_leave(client: &mut Client, nick: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = normalize(&client.recv().await);
        let done = frame["type"] == "leave" && frame["nick"] == nick;
        frames.push(frame);
        if done {
            return frames;
        }
        assert!(frames.len() < 1000, "{}: no leave for {nick}", client.label);
    }
}

#[tokio::test]
async fn beyond_max_connections_a_client_is_told_server_full() {
    let server = TestServer::start("[limits]\nmax_connections = 2\n").await;
    let mut first = registered(&server, "first").await;
    let _second = registered(&server, "second").await;

    // The TLS handshake completes so the newcomer can read why it is refused.
    let mut third = Client::connect(&server).await;
    assert_frame(
        &third.recv().await,
        json!({"type": "bye", "reason": "server full"}),
    );
    third.expect_closed().await;

    // Once a connection ends its slot is free again. The server releases it after
    // the close, so retry (bounded) rather than wait for an unobservable moment.
    first.send(json!({"type": "quit"})).await;
    assert_eq!(first.recv_until_closed(5).await.len(), 2);
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts <= 100, "no slot freed after 100 attempts");
        let mut c = Client::connect(&server).await;
        c.send(json!({"type": "hello", "nick": "fourth"})).await;
        let frame = c.recv().await;
        if frame == json!({"type": "bye", "reason": "server full"}) {
            c.expect_closed().await;
            continue;
        }
        assert_eq!(frame["type"], "ok", "{frame}");
        break;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn no_hello_within_the_registration_timeout_gets_bye() {
    let server = TestServer::start("[limits]\nregistration_timeout = \"200ms\"\n").await;
    let mut registered_client = registered(&server, "alice").await;

    // Taken before connecting, so the server's timer cannot have started earlier.
    let started = Instant::now();
    let mut silent = Client::connect(&server).await;
    assert_frame(
        &silent.recv().await,
        json!({"type": "bye", "reason": "registration timeout"}),
    );
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "bye came too early"
    );
    silent.expect_closed().await;

    // Pinging is not registering.
    let mut pinger = Client::connect(&server).await;
    assert_frame(
        &pinger.request(json!({"type": "ping", "id": 1})).await,
        json!({"type": "ok", "id": 1}),
    );
    assert_frame(
        &pinger.recv().await,
        json!({"type": "bye", "reason": "registration timeout"}),
    );
    pinger.expect_closed().await;

    // The registered client, connected before both, is still there.
    registered_client.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_client_gets_a_ping_then_bye_and_its_rooms_are_told() {
    let server =
        TestServer::start("[limits]\nping_interval = \"300ms\"\nidle_timeout = \"900ms\"\n").await;
    let mut alice = registered(&server, "alice").await;
    // Taken before alice's last request, so her silence began after it.
    let alice_last_active = Instant::now();
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;

    let alice_side = async {
        assert_frame(
            &alice.recv().await,
            json!({"type": "join", "room": "lobby", "nick": "bob", "ts": "<ts>"}),
        );
        assert_frame(&alice.recv().await, json!({"type": "ping"}));
        assert!(
            alice_last_active.elapsed() >= Duration::from_millis(280),
            "ping came too early"
        );
        assert_frame(
            &alice.recv().await,
            json!({"type": "bye", "reason": "idle timeout"}),
        );
        assert!(
            alice_last_active.elapsed() >= Duration::from_millis(880),
            "idle bye came too early"
        );
        alice.expect_closed().await;
    };
    // bob answers each ping with a blank line, which counts as activity.
    let bob_side = async {
        let mut pings = 0;
        loop {
            let frame = bob.recv().await;
            if frame == json!({"type": "ping"}) {
                pings += 1;
                assert!(pings < 50, "bob was pinged {pings} times");
                bob.send_raw(b"\n").await;
                continue;
            }
            assert_frame(
                &frame,
                json!({"type": "leave", "room": "lobby", "nick": "alice", "reason": "idle timeout", "ts": "<ts>"}),
            );
            break;
        }
    };
    tokio::join!(alice_side, bob_side);
    server.shutdown().await;
}

/// Small outbound bounds and a short grace time, so a client that stops reading
/// reaches its hard bound after a few dozen messages, and the room waits for it
/// only briefly (it is then lagging: nobody waits for it again).
const SMALL_QUEUE: &str =
    "outbound_queue_bytes = 65536\noutbound_queue_max_bytes = 131072\ndrain_grace = \"200ms\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_cut_off_and_the_room_keeps_going() {
    const MAX_MESSAGES: u64 = 20_000;
    let server = TestServer::start(&format!(
        "[limits]\n{SMALL_QUEUE}max_page_bytes = 32768
max_text_bytes = 8000\nmax_line_bytes = 16384\n{NO_RATE_LIMIT}"
    ))
    .await;
    let mut stuck = registered(&server, "stuck").await;
    stuck.join("busy").await;
    let mut reader = registered(&server, "reader").await;
    reader.join("busy").await;
    let mut flooder = registered(&server, "flooder").await;
    flooder.join("busy").await;
    assert_eq!(reader.ping_roundtrip().await.len(), 1);
    // From here on `stuck` reads nothing until the end of the test.

    let reader_task = tokio::spawn(async move {
        let mut next_seq: u64 = 1;
        let mut leaves = 0;
        loop {
            let frame = reader.recv().await;
            match frame["type"].as_str() {
                Some("message") => {
                    assert_eq!(frame["seq"], next_seq, "reader: gap or disorder at {frame}");
                    next_seq += 1;
                    if frame["text"] == "the end" {
                        // Hand the client back: dropping it here would close it.
                        return (next_seq - 1, leaves, reader);
                    }
                }
                Some("leave") => {
                    assert_frame(
                        &frame,
                        json!({"type": "leave", "room": "busy", "nick": "stuck", "reason": "slow consumer", "ts": "<ts>"}),
                    );
                    leaves += 1;
                }
                _ => panic!("reader: unexpected frame {frame}"),
            }
        }
    });

    let flood = async {
        let mut stuck_left = false;
        let mut sent = 0;
        while !stuck_left {
            sent += 1;
            assert!(
                sent <= MAX_MESSAGES,
                "the stuck client was not disconnected after {MAX_MESSAGES} messages"
            );
            let text = format!("{sent:06} {}", "x".repeat(7993));
            assert_eq!(text.len(), 8000);
            flooder
                .send(json!({"type": "message", "room": "busy", "text": text}))
                .await;
            loop {
                let frame = flooder.recv().await;
                match frame["type"].as_str() {
                    Some("message") => assert_eq!(frame["seq"], sent, "flooder echo"),
                    Some("ok") => {
                        assert_eq!(frame["seq"], sent, "flooder ok");
                        break;
                    }
                    Some("leave") => {
                        assert_eq!(frame["nick"], "stuck", "{frame}");
                        assert_eq!(frame["reason"], "slow consumer", "{frame}");
                        stuck_left = true;
                    }
                    _ => panic!("flooder: unexpected frame {frame}"),
                }
            }
        }
        let (echo, _) = flooder.say("busy", "the end").await;
        assert_eq!(echo["seq"], sent + 1);
        sent + 1
    };
    let total = tokio::time::timeout(Duration::from_secs(120), flood)
        .await
        .expect("flooding did not finish within 120 s");

    let (received, leaves, _reader) = tokio::time::timeout(Duration::from_secs(30), reader_task)
        .await
        .expect("reader did not finish")
        .expect("reader task panicked");
    assert_eq!(received, total, "the reader got every message");
    assert_eq!(leaves, 1, "the reader saw the stuck client leave once");
    assert_frame(
        &flooder
            .request(json!({"type": "who", "room": "busy"}))
            .await,
        json!({"type": "ok", "room": "busy", "members": ["flooder", "reader"]}),
    );

    // The stuck client's connection was closed: what it can still read is a prefix
    // of the room's messages, possibly ended by a best-effort bye.
    let frames = stuck.recv_until_closed(MAX_MESSAGES as usize + 10).await;
    let mut next_seq: u64 = 1;
    for (i, frame) in frames.iter().enumerate() {
        match frame["type"].as_str() {
            Some("join") => {}
            Some("message") => {
                assert_eq!(frame["seq"], next_seq, "stuck client: gap at {frame}");
                next_seq += 1;
            }
            Some("bye") => {
                assert_eq!(i, frames.len() - 1, "bye must be the last frame");
                assert_frame(frame, json!({"type": "bye", "reason": "slow consumer"}));
            }
            _ => panic!("stuck client: unexpected frame {frame}"),
        }
    }
    assert!(
        next_seq - 1 < total,
        "the stuck client cannot have received everything"
    );
    server.shutdown().await;
}

/// Asserts the server closes `stream` (EOF or reset) within [`FRAME_TIMEOUT`],
/// without sending anything.
async fn expect_tcp_closed(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(FRAME_TIMEOUT, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("{what}: the server sent {n} bytes instead of closing"),
        Err(_) => panic!("{what}: still open after 10 s"),
    }
}

#[tokio::test]
async fn a_client_that_never_starts_tls_is_closed_after_the_handshake_timeout() {
    let server = TestServer::start("[limits]\nhandshake_timeout = \"200ms\"\n").await;
    let started = Instant::now();
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    expect_tcp_closed(&mut raw, "silent TCP client").await;
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "closed before the handshake timeout"
    );
    // The server goes on serving.
    registered(&server, "alice").await;
    server.shutdown().await;
}

#[tokio::test]
async fn beyond_the_socket_ceiling_a_connection_is_closed_at_once() {
    // 2 pending connections (in their handshakes), 16 more sockets to be told
    // "server full", and beyond those 18 a socket is closed without a
    // handshake.
    let server = TestServer::start(
        "[limits]\nmax_connections = 2\nmax_pending_connections = 2\nhandshake_timeout = \"60s\"\n",
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..18 {
        held.push(TcpStream::connect(server.addr()).await.unwrap());
    }
    assert_eq!(held.len(), 18);
    // These sit in their (60 s) handshake, so closing within 10 s is the ceiling.
    let mut extra = TcpStream::connect(server.addr()).await.unwrap();
    expect_tcp_closed(&mut extra, "the 19th socket").await;

    // Once the held sockets go, their slots come back. The server notices each
    // close on its own time, so retry (bounded) instead of waiting.
    drop(held);
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts <= 100, "no slot freed after 100 attempts");
        let Ok(mut c) = Client::connect_pinned(server.addr(), &server.fingerprint, None).await
        else {
            continue;
        };
        c.send(json!({"type": "hello", "nick": "late"})).await;
        match c.try_recv().await {
            Some(frame) if frame["type"] == "ok" => break,
            Some(frame) => assert_frame(&frame, json!({"type": "bye", "reason": "server full"})),
            None => {}
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_to_a_client_that_stopped_reading_end_in_no_such_user() {
    const MAX_MESSAGES: usize = 20_000;
    let server = TestServer::start(&format!(
        "[limits]\n{SMALL_QUEUE}max_page_bytes = 32768
max_text_bytes = 8000\n{NO_RATE_LIMIT}"
    ))
    .await;
    let mut stuck = registered(&server, "stuck").await;
    let mut sender = registered(&server, "sender").await;
    // From here on `stuck` reads nothing until the sender has been refused.
    let mut acknowledged = 0;
    loop {
        assert!(
            acknowledged < MAX_MESSAGES,
            "the stuck client was not cut off after {MAX_MESSAGES} messages"
        );
        let text = format!("{acknowledged:06} {}", "x".repeat(7993));
        let request = json!({"type": "message", "to": "stuck", "text": text, "id": acknowledged});
        let response = sender.request(request).await;
        if response["type"] == "ok" {
            acknowledged += 1;
            continue;
        }
        assert_error(&response, "no_such_user", Some(json!(acknowledged)));
        break;
    }
    assert!(acknowledged > 0, "the first message was refused");
    sender
        .request_error(
            json!({"type": "message", "to": "stuck", "text": "still there?"}),
            "no_such_user",
        )
        .await;

    // What reached the stuck client before it was cut off: acknowledged
    // messages in order, then `bye`, then the end of the connection.
    let frames = stuck.recv_until_closed(MAX_MESSAGES + 1).await;
    let (bye, messages) = frames.split_last().expect("at least the bye");
    assert_eq!(bye, &json!({"type": "bye", "reason": "slow consumer"}));
    assert!(messages.len() <= acknowledged);
    for (n, frame) in messages.iter().enumerate() {
        assert_eq!(frame["type"], "message", "{frame}");
        assert_eq!(frame["from"], "sender");
        assert!(frame["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{n:06} ")));
    }
    server.shutdown().await;
}
