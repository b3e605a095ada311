//! Attack 1 of issue 11: many connections, each within its own rate limit, burst
//! at the same moment into one room (or at one victim, as private messages).
//! Readers that keep reading keep their connection and get every message, in
//! order; a member that stops reading is cut off as a slow consumer and the
//! room goes on without it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::sync::Barrier;

/// Connections that burst.
const SENDERS: usize = 30;
/// Messages in each burst.
const BURST: usize = 50;
/// Members that only read.
const READERS: usize = 10;
/// The text of every message: 4 KB, the default `max_text_bytes`.
const TEXT_BYTES: usize = 4096;
/// How long a whole scenario may take; it takes seconds.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// Default limits but for the rate bucket: each sender spends two tokens on
/// `hello` and `join` before its burst of 50, so a bucket of 52 keeps every
/// sender within its limit without the test waiting for the default bucket of
/// 50 to refill; and for the per-address limit, since every connection here
/// comes from 127.0.0.1.
const LIMITS: &str = "[limits]\nrate_burst = 52\nmax_connections_per_address = 100\n";

/// A text of [`TEXT_BYTES`] that says who sent it and its place in the burst.
fn text(sender: usize, n: usize) -> String {
    let head = format!("{sender:02} {n:02} ");
    format!("{head}{}", "x".repeat(TEXT_BYTES - head.len()))
}

/// The sender and place in its burst of a text made by [`text`].
fn origin(frame: &Value) -> (usize, usize) {
    let text = frame["text"].as_str().expect("a text");
    assert_eq!(text.len(), TEXT_BYTES, "the text arrived whole");
    let mut words = text.split(' ');
    let sender = words.next().and_then(|w| w.parse().ok()).expect("sender");
    let n = words.next().and_then(|w| w.parse().ok()).expect("place");
    (sender, n)
}

/// One burst of requests, written at once: `BURST` messages with ids 0, 1, …
fn burst(sender: usize, target: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    for n in 0..BURST {
        let mut request = json!({"type": "message", "text": text(sender, n), "id": n});
        for (key, value) in target.as_object().expect("a target") {
            request[key] = value.clone();
        }
        serde_json::to_writer(&mut bytes, &request).unwrap();
        bytes.push(b'\n');
    }
    bytes
}

/// Connects `count` clients named `{prefix}{n}`, each joining `room` if given.
async fn clients(
    server: &TestServer,
    prefix: &str,
    count: usize,
    room: Option<&str>,
) -> Vec<Client> {
    let mut clients = Vec::with_capacity(count);
    for n in 0..count {
        let mut client = registered(server, &format!("{prefix}{n}")).await;
        if let Some(room) = room {
            client
                .send(json!({"type": "join", "room": room, "history": 0}))
                .await;
            let ok = client.recv().await;
            assert_eq!(ok["type"], "ok", "{}: join: {ok}", client.label);
        }
        clients.push(client);
    }
    clients
}

/// Reads every frame queued so far (the joins of later members), so each
/// client starts the burst clean.
async fn settle(clients: &mut [Client]) {
    for client in clients {
        for frame in client.ping_roundtrip().await {
            assert_eq!(frame["type"], "join", "{}: {frame}", client.label);
        }
    }
}

/// Reads the room's messages until seq `last`, asserting each arrives once, in
/// order and whole. Leave events of `gone` (cut off as a slow consumer) may come
/// in between; any other frame, or the end of the connection, fails the test.
async fn read_room(client: &mut Client, last: u64, gone: Option<&str>) -> Vec<Value> {
    let mut next = 1;
    let mut leaves = Vec::new();
    while next <= last {
        let frame = client.recv().await;
        match frame["type"].as_str() {
            Some("message") => {
                assert_eq!(frame["seq"], next, "{}: gap or disorder", client.label);
                origin(&frame);
                next += 1;
            }
            Some("leave") if gone.is_some_and(|nick| frame["nick"] == nick) => {
                assert_eq!(frame["reason"], "slow consumer", "{frame}");
                leaves.push(frame);
            }
            _ => panic!("{}: unexpected frame {frame}", client.label),
        }
    }
    leaves
}

/// Writes the sender's burst when every sender is ready, then reads until it
/// has an `ok` for each of its messages (in request order) and, when `room`
/// is given, every one of the room's `total` messages.
async fn send_burst(
    mut client: Client,
    sender: usize,
    target: Value,
    room_total: Option<u64>,
    start: Arc<Barrier>,
) -> Client {
    let bytes = burst(sender, &target);
    start.wait().await;
    let mut early = client.send_raw_reading(&bytes).await.into_iter();
    let mut oks = 0;
    let mut seen = 0;
    let wanted_messages = room_total.unwrap_or(0);
    while oks < BURST || seen < wanted_messages {
        let frame = match early.next() {
            Some(frame) => frame,
            None => client.recv().await,
        };
        match frame["type"].as_str() {
            Some("ok") => {
                assert_eq!(frame["id"], oks, "{}: answers in order", client.label);
                oks += 1;
            }
            Some("message") if room_total.is_some() => {
                seen += 1;
                assert_eq!(frame["seq"], seen, "{}: gap or disorder", client.label);
            }
            // The victim of a stuck member's cut-off.
            Some("leave") if room_total.is_some() => {
                assert_eq!(frame["reason"], "slow consumer", "{frame}");
            }
            _ => panic!("{}: unexpected frame {frame}", client.label),
        }
    }
    client
}

/// Runs the room burst: every sender's burst at once into `room`, while the
/// readers read. Returns the readers' leave events of `gone`, per reader.
async fn room_burst(
    senders: Vec<Client>,
    readers: Vec<Client>,
    room: &str,
    gone: Option<&'static str>,
) -> Vec<Vec<Value>> {
    let total = (SENDERS * BURST) as u64;
    let start = Arc::new(Barrier::new(SENDERS));
    let senders: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(n, client)| {
            let target = json!({"room": room});
            tokio::spawn(send_burst(client, n, target, Some(total), start.clone()))
        })
        .collect();
    let readers: Vec<_> = readers
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let leaves = read_room(&mut client, total, gone).await;
                (client, leaves)
            })
        })
        .collect();
    let run = async {
        for sender in senders {
            let mut client = sender.await.expect("sender task");
            // Still connected: a round trip answers.
            client.ping_roundtrip().await;
        }
        let mut leaves = Vec::new();
        for reader in readers {
            let (mut client, seen) = reader.await.expect("reader task");
            client.ping_roundtrip().await;
            leaves.push(seen);
        }
        leaves
    };
    tokio::time::timeout(SCENARIO_TIMEOUT, run)
        .await
        .expect("the burst was not delivered within the scenario timeout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_readers_keep_their_connection_and_every_message_of_a_room_burst() {
    let server = TestServer::start(LIMITS).await;
    let mut readers = clients(&server, "reader", READERS, Some("burst")).await;
    let mut senders = clients(&server, "sender", SENDERS, Some("burst")).await;
    settle(&mut readers).await;
    settle(&mut senders).await;

    let leaves = room_burst(senders, readers, "burst", None).await;
    assert_eq!(leaves.len(), READERS, "every reader finished");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_victim_of_a_private_message_burst_keeps_its_connection_and_every_message() {
    let server = TestServer::start(LIMITS).await;
    let mut victim = registered(&server, "victim").await;
    let senders = clients(&server, "sender", SENDERS, None).await;

    let start = Arc::new(Barrier::new(SENDERS));
    let senders: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(n, client)| {
            let target = json!({"to": "victim"});
            tokio::spawn(send_burst(client, n, target, None, start.clone()))
        })
        .collect();
    let read = async |victim: &mut Client| {
        // Each sender's messages arrive in the order it sent them.
        let mut next = [0; SENDERS];
        for _ in 0..SENDERS * BURST {
            let frame = victim.recv().await;
            assert_eq!(frame["type"], "message", "victim: {frame}");
            assert_eq!(frame["to"], "victim");
            let (sender, n) = origin(&frame);
            assert_eq!(frame["from"], format!("sender{sender}"));
            assert_eq!(n, next[sender], "victim: sender {sender} out of order");
            next[sender] += 1;
        }
        assert_eq!(next, [BURST; SENDERS]);
    };
    let run = async {
        read(&mut victim).await;
        for sender in senders {
            let mut client = sender.await.expect("sender task");
            client.ping_roundtrip().await;
        }
        // Nothing more was queued for the victim, and it is still connected.
        victim.expect_nothing().await;
    };
    tokio::time::timeout(SCENARIO_TIMEOUT, run)
        .await
        .expect("the burst was not delivered within the scenario timeout");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_is_cut_off_and_the_room_goes_on() {
    // Bounds small enough that a client that reads nothing reaches its hard
    // bound within one burst, whatever the kernel's socket buffers hold.
    let server = TestServer::start(&format!(
        "{LIMITS}outbound_queue_bytes = 262144\noutbound_queue_max_bytes = 524288\nmax_page_bytes = 131072\n"
    ))
    .await;
    let mut stuck = registered(&server, "stuck").await;
    stuck.join("burst").await;
    let mut readers = clients(&server, "reader", READERS, Some("burst")).await;
    let mut senders = clients(&server, "sender", SENDERS, Some("burst")).await;
    settle(&mut readers).await;
    settle(&mut senders).await;
    // From here on `stuck` reads nothing until the burst is over.

    let leaves = room_burst(senders, readers, "burst", Some("stuck")).await;
    for seen in &leaves {
        assert_eq!(
            seen.len(),
            1,
            "every reader saw the stuck member leave once"
        );
    }

    // What the stuck member can still read: the joins, a prefix of the room's
    // messages, perhaps a best-effort bye, then the end of the connection.
    let frames = stuck
        .recv_until_closed(SENDERS * BURST + READERS + SENDERS + 1)
        .await;
    let mut next = 1;
    for (i, frame) in frames.iter().enumerate() {
        match frame["type"].as_str() {
            Some("join") => {}
            Some("message") => {
                assert_eq!(frame["seq"], next, "stuck: gap at {frame}");
                next += 1;
            }
            Some("bye") => {
                assert_eq!(i, frames.len() - 1, "bye is the last frame");
                assert_frame(frame, json!({"type": "bye", "reason": "slow consumer"}));
            }
            _ => panic!("stuck: unexpected frame {frame}"),
        }
    }
    assert!(
        next - 1 < (SENDERS * BURST) as u64,
        "it cannot have had everything"
    );
    server.shutdown().await;
}
