//! The bound on a connection's messages in flight, with the real binary and
//! the message log on: a client that pipelines far past the bound still gets
//! every answer, in request order, each after its echo; and a client that only
//! posts, for a long time, leaves the server's memory where it was.

mod common;

use common::*;
use serde_json::json;

/// Sends `count` room messages without waiting, then reads their answers:
/// each echo, then its `ok`, in request order, seqs following on from `seq`.
async fn burst(client: &mut Client, room: &str, count: u64, first_id: u64, seq: &mut u64) {
    let mut lines = Vec::new();
    for n in 0..count {
        let request = json!({"type": "message", "room": room, "text": format!("m{}", first_id + n), "id": first_id + n});
        lines.extend(serde_json::to_vec(&request).unwrap());
        lines.push(b'\n');
    }
    client.send_raw(&lines).await;
    for n in 0..count {
        let id = first_id + n;
        let echo = client.recv().await;
        *seq += 1;
        assert_eq!(
            (echo["type"].as_str(), echo["seq"].as_u64()),
            (Some("message"), Some(*seq)),
            "message {id}: expected its echo, got {echo}"
        );
        let ok = client.recv().await;
        assert_eq!(
            (ok["type"].as_str(), ok["id"].as_u64(), ok["seq"].as_u64()),
            (Some("ok"), Some(id), Some(*seq)),
            "message {id}: expected its ok, got {ok}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_only_posts_keeps_the_server_memory_flat_and_every_answer_in_order() {
    // Far past the bound of 128 in flight, in bursts the outbound queue holds.
    const BURST: u64 = 1_000;
    const WARM_UP_BURSTS: u64 = 5;
    const BURSTS: u64 = 40;
    let tmp = tempfile::tempdir().unwrap();
    let (_, config) = write_logged_config(tmp.path(), "");
    let server = BinaryServer::start(&config).await;
    let mut bot = server.client("bot").await;
    bot.join("firehose").await;
    let mut seq = 0;
    for n in 0..WARM_UP_BURSTS {
        burst(&mut bot, "firehose", BURST, n * BURST, &mut seq).await;
    }
    let warm = server.rss_kib();
    for n in WARM_UP_BURSTS..BURSTS {
        burst(&mut bot, "firehose", BURST, n * BURST, &mut seq).await;
    }
    let after = server.rss_kib();
    assert_eq!(seq, BURSTS * BURST);
    // Before the bound, each message left ~280 bytes behind: 35,000 messages
    // would have grown the server by ~9.6 MB. Allow allocator noise only.
    assert!(
        after <= warm + 3 * 1024,
        "the server grew from {warm} KiB to {after} KiB over {} messages",
        (BURSTS - WARM_UP_BURSTS) * BURST
    );
    // And the connection is still in good order.
    assert_eq!(bot.ping_roundtrip().await, Vec::<serde_json::Value>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_across_rooms_are_carried_out_as_if_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, config) = write_logged_config(tmp.path(), "fsync = \"always\"");
    let server = BinaryServer::start(&config).await;
    let mut bot = server.client("bot").await;
    bot.join("a").await;
    bot.join("b").await;
    let requests = [
        json!({"type": "message", "room": "a", "text": "a1", "id": 1}),
        json!({"type": "message", "room": "a", "text": "a2", "id": 2}),
        json!({"type": "message", "room": "b", "text": "b1", "id": 3}),
        json!({"type": "message", "room": "a", "text": "a3", "id": 4}),
        json!({"type": "ping", "id": 5}),
        json!({"type": "message", "room": "b", "text": "b2", "id": 6}),
    ];
    let mut lines = Vec::new();
    for request in &requests {
        lines.extend(serde_json::to_vec(request).unwrap());
        lines.push(b'\n');
    }
    bot.send_raw(&lines).await;
    let mut seen = Vec::new();
    for _ in 0..11 {
        let frame = bot.recv().await;
        seen.push(match frame["type"].as_str() {
            Some("message") => format!("echo {}", frame["text"].as_str().unwrap_or("?")),
            Some("ok") => format!("ok {}", frame["id"]),
            _ => panic!("unexpected {frame}"),
        });
    }
    assert_eq!(
        seen,
        [
            "echo a1", "ok 1", "echo a2", "ok 2", "echo b1", "ok 3", "echo a3", "ok 4", "ok 5",
            "echo b2", "ok 6"
        ]
    );
}
