//! Every response fits the connection (protocol 1.1): `join`, `history` and
//! `rooms` answers are bounded in bytes by `max_page_bytes` and say `more`, so
//! a page too big for the client's outbound queue arrives in pieces instead of
//! cutting the client that asked; `hello` reports the bound, and a config whose
//! outbound queue cannot hold a page is refused at start. And history read
//! from a day file that holds duplicated or out-of-order lines comes in
//! strictly increasing seq, every message once, deep pages included.

mod client_support;
mod common;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use client_support::{config_home, run_client};
use common::*;

/// The default `max_page_bytes`.
const PAGE: usize = 262_144;

/// A text of 4,000 bytes that JSON doubles: 8,000 bytes on the wire.
fn heavy_text(seq: u64) -> String {
    let head = format!("m{seq} ");
    let mut text = head.clone();
    text.push_str(&"\"\\".repeat((4000 - head.len()) / 2));
    text
}

/// The size of a frame as the server wrote it (the same escapes, so the same
/// length, whatever the order of its keys).
fn wire_len(frame: &Value) -> usize {
    serde_json::to_string(frame).unwrap().len()
}

/// Posts 200 heavy messages to `room` (about 1.6 MB of history on the wire,
/// more than the 1 MiB outbound queue) from a fresh connection, returned so
/// that the room (without a log) stays.
async fn post_heavy(server: &TestServer, room: &str) -> Client {
    let mut alice = registered(server, "alice").await;
    alice.join(room).await;
    for seq in 1..=200 {
        let (echo, _) = alice.say(room, &heavy_text(seq)).await;
        assert_eq!(echo["seq"], seq);
    }
    alice
}

/// The seqs of a page's items, checking each item is the message posted
/// with that seq.
fn seqs(items: &Value) -> Vec<u64> {
    items
        .as_array()
        .expect("a list of items")
        .iter()
        .map(|item| {
            let seq = item["seq"].as_u64().expect("a seq");
            assert_eq!(item["text"], heavy_text(seq), "item {seq}");
            seq
        })
        .collect()
}

/// Checks one page answer: an `ok` within the bound, not empty while more
/// exist. Returns its seqs and `more`.
fn page_of(answer: &Value, list: &str) -> (Vec<u64>, bool) {
    assert_eq!(answer["type"], "ok", "{answer}");
    let len = wire_len(answer);
    assert!(len <= PAGE, "a page of {len} bytes");
    let seqs = seqs(&answer[list]);
    let more = answer["more"].as_bool().expect("more");
    assert!(!seqs.is_empty() || !more, "an empty page that says more");
    (seqs, more)
}

/// Pages backward from the join's page with `before`, then forward from 0
/// with `after`: both must see seqs 1..=200 exactly once, in order, in
/// several pages, and the client keeps its connection throughout.
async fn page_through(bob: &mut Client, room: &str, join: &Value) {
    let (mut seen, mut more) = page_of(join, "history");
    assert!(more, "the join's history cannot be whole: {}", seen.len());
    assert_eq!(seen.last(), Some(&200), "a join keeps the newest messages");
    let mut pages = 1;
    while more {
        let before = seen[0];
        let answer = bob
            .request(json!({"type": "history", "room": room, "before": before, "limit": 200}))
            .await;
        let (page, page_more) = page_of(&answer, "messages");
        assert_eq!(
            page.last(),
            Some(&(before - 1)),
            "a backward page skips nothing"
        );
        seen.splice(0..0, page);
        more = page_more;
        pages += 1;
        assert!(pages <= 200, "paging backward never ends");
    }
    assert_eq!(seen, (1..=200).collect::<Vec<_>>());
    assert!(pages >= 6, "1.6 MB in pages of 256 KiB: {pages} pages");

    let (mut seen, mut more, mut pages) = (Vec::new(), true, 0);
    while more {
        let after = seen.last().copied().unwrap_or(0);
        let answer = bob
            .request(json!({"type": "history", "room": room, "after": after, "limit": 200}))
            .await;
        let (page, page_more) = page_of(&answer, "messages");
        assert_eq!(
            page.first(),
            Some(&(after + 1)),
            "a forward page skips nothing"
        );
        seen.extend(page);
        more = page_more;
        pages += 1;
        assert!(pages <= 200, "paging forward never ends");
    }
    assert_eq!(seen, (1..=200).collect::<Vec<_>>());
    assert!(bob.ping_roundtrip().await.is_empty());
}

#[tokio::test]
async fn a_history_too_big_for_the_queue_comes_in_pages() {
    let server = TestServer::start(&format!("[limits]\n{NO_RATE_LIMIT}")).await;
    let _alice = post_heavy(&server, "big").await;
    let mut bob = registered(&server, "bob").await;
    let join = bob
        .request(json!({"type": "join", "room": "big", "history": 200}))
        .await;
    page_through(&mut bob, "big", &join).await;

    // `since` pages forward: the oldest first, and the client pages on with
    // `after` from the last one it got.
    let mut carol = registered(&server, "carol").await;
    let join = carol
        .request(json!({"type": "join", "room": "big", "since": 0}))
        .await;
    let (mut seen, mut more) = page_of(&join, "history");
    assert_eq!(seen.first(), Some(&1));
    assert!(more);
    while more {
        let after = *seen.last().unwrap();
        let answer = carol
            .request(json!({"type": "history", "room": "big", "after": after}))
            .await;
        let (page, page_more) = page_of(&answer, "messages");
        seen.extend(page);
        more = page_more;
    }
    assert_eq!(seen, (1..=200).collect::<Vec<_>>());
    server.shutdown().await;
}

#[tokio::test]
async fn a_page_read_from_the_log_is_bounded_too() {
    // Memory keeps 10 messages: the rest of every page is read from disk.
    let logs = tempfile::tempdir().unwrap();
    let server = TestServer::start(&format!(
        "[limits]\n{NO_RATE_LIMIT}history_keep = 10\n{}",
        log_table(logs.path(), "")
    ))
    .await;
    let _alice = post_heavy(&server, "big").await;
    let mut bob = registered(&server, "bob").await;
    let join = bob
        .request(json!({"type": "join", "room": "big", "history": 200}))
        .await;
    page_through(&mut bob, "big", &join).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_single_message_always_fits_a_page() {
    // The smallest page allowed holds one heavy message and the frame
    // around it just barely not: each page still brings one.
    let server = TestServer::start(&format!(
        "[limits]\n{NO_RATE_LIMIT}max_line_bytes = 8100\nmax_page_bytes = 8100\n"
    ))
    .await;
    let mut alice = registered(&server, "alice").await;
    alice.join("r").await;
    for seq in 1..=3 {
        alice.say("r", &heavy_text(seq)).await;
    }
    for (request, list, expected) in [
        (json!({"type": "history", "room": "r"}), "messages", 3),
        (
            json!({"type": "history", "room": "r", "after": 0}),
            "messages",
            1,
        ),
        (
            json!({"type": "join", "room": "r", "history": 3}),
            "history",
            3,
        ),
    ] {
        let answer = alice.request(request).await;
        assert_eq!(seqs(&answer[list]), [expected], "{answer}");
        assert_eq!(answer["more"], true);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn hello_reports_max_page_bytes() {
    let server = TestServer::start("[limits]\nmax_page_bytes = 100000\n").await;
    let mut client = Client::connect(&server).await;
    let hello = client.hello("alice").await;
    assert_eq!(hello["limits"]["max_page_bytes"], 100_000, "{hello}");
    server.shutdown().await;
}

/// Sets a 512-byte topic of `"` (1 KiB on the wire) on each of `rooms`.
async fn rooms_with_topics(client: &mut Client, rooms: &[String]) {
    for room in rooms {
        client.join(room).await;
        client
            .send(json!({"type": "topic", "room": room, "topic": "\"".repeat(512)}))
            .await;
        assert_eq!(client.recv().await["type"], "topic");
        assert_eq!(client.recv().await["type"], "ok");
    }
}

#[tokio::test]
async fn rooms_come_in_pages() {
    let server = TestServer::start(&format!(
        "[limits]\n{NO_RATE_LIMIT}max_line_bytes = 4096\nmax_text_bytes = 1024\n\
         max_page_bytes = 4096\nhistory_max = 10\nroom_creations_per_minute = 100\n"
    ))
    .await;
    let mut alice = registered(&server, "alice").await;
    let names: Vec<String> = (0..30).map(|n| format!("r{n:02}")).collect();
    rooms_with_topics(&mut alice, &names[..15]).await;
    for room in &names[15..] {
        alice.join(room).await;
    }
    // Paged through with `after`: every room once, in order; no page over
    // the bound nor over `history_max` rooms.
    let (mut listed, mut after, mut pages) = (Vec::new(), Value::Null, 0);
    loop {
        let answer = alice
            .request(json!({"type": "rooms", "after": after}))
            .await;
        assert_eq!(answer["type"], "ok", "{answer}");
        assert!(wire_len(&answer) <= 4096, "{}", wire_len(&answer));
        let rooms = answer["rooms"].as_array().unwrap();
        assert!((1..=10).contains(&rooms.len()), "{answer}");
        listed.extend(rooms.iter().map(|r| r["room"].as_str().unwrap().to_owned()));
        pages += 1;
        if answer["more"] == false {
            break;
        }
        after = json!(listed.last().unwrap());
    }
    assert_eq!(listed, names);
    // 15 rooms of 1 KiB topics take at least five pages of 4 KiB, and the 15
    // small ones more than one page of ten.
    assert!(pages >= 6, "{pages} pages");

    let page = |answer: Value| -> (Vec<String>, Value) {
        let rooms = answer["rooms"].as_array().unwrap();
        let names = rooms.iter().map(|r| r["room"].as_str().unwrap().to_owned());
        (names.collect(), answer["more"].clone())
    };
    let strings = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        page(
            alice
                .request(json!({"type": "rooms", "after": "#R27", "limit": 1}))
                .await
        ),
        (strings(&["r28"]), json!(true))
    );
    assert_eq!(
        page(
            alice
                .request(json!({"type": "rooms", "after": "r27", "limit": 1000}))
                .await
        ),
        (strings(&["r28", "r29"]), json!(false))
    );
    assert_eq!(
        page(
            alice
                .request(json!({"type": "rooms", "after": "r17", "limit": 1000}))
                .await
        )
        .0
        .len(),
        10,
        "limit is clamped to history_max"
    );
    assert_eq!(
        page(alice.request(json!({"type": "rooms", "limit": 0})).await),
        (vec![], json!(true))
    );
    assert_eq!(
        page(alice.request(json!({"type": "rooms", "after": "zz"})).await),
        (vec![], json!(false))
    );
    alice
        .request_error(
            json!({"type": "rooms", "after": "no such name"}),
            "bad_room",
        )
        .await;
    alice
        .request_error(json!({"type": "rooms", "limit": -1}), "bad_request")
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_client_lists_every_room_page_after_page() {
    let server = TestServer::start(&format!("[limits]\n{NO_RATE_LIMIT}history_max = 3\n")).await;
    let mut alice = registered(&server, "alice").await;
    let names: Vec<String> = (0..8).map(|n| format!("room{n}")).collect();
    for room in &names {
        alice.join(room).await;
    }
    let home = config_home();
    let target = server.addr().to_string();
    let args = [
        "client",
        target.as_str(),
        "--nick",
        "bob",
        "--fingerprint",
        &server.fingerprint,
    ];
    let done = run_client(&args, "/rooms\n", home.path()).await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let listed: Vec<&String> = done
        .stdout
        .iter()
        .filter(|line| line.starts_with("-- #room"))
        .collect();
    let expected: Vec<String> = names.iter().map(|n| format!("-- #{n} (1)")).collect();
    assert_eq!(
        listed,
        expected.iter().collect::<Vec<_>>(),
        "{:?}",
        done.stdout
    );
    server.shutdown().await;
}

#[test]
fn a_config_whose_queue_cannot_hold_a_page_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_binary_config(
        dir.path(),
        "[limits]\nmax_page_bytes = 262144\noutbound_queue_bytes = 1048576\noutbound_queue_max_bytes = 1250000\n",
    );
    let (code, stderr) = run_binary_to_exit(&config);
    assert_eq!(code, Some(1), "{stderr}");
    for key in ["limits.max_page_bytes", "limits.outbound_queue_max_bytes"] {
        assert!(stderr.contains(key), "{key} not named: {stderr}");
    }
}

/// A message line of the generated day file.
fn line(seq: u64, ts: &str, text: &str) -> String {
    format!("{}\n", message_line("deep", seq, ts, "gen", text))
}

#[tokio::test]
async fn history_from_a_day_file_with_untrusted_lines_is_strictly_increasing() {
    const N: u64 = 30_000;
    let logs = tempfile::tempdir().unwrap();
    let day = utc_day(-1);
    let ts = format!("{day}T12:00:00.000Z");
    let mut text =
        format!("{{\"type\":\"epoch\",\"room\":\"deep\",\"epoch\":\"gen1\",\"ts\":\"{ts}\"}}\n");
    for seq in 1..=N {
        text.push_str(&line(seq, &ts, &format!("m{seq} {}", "x".repeat(60))));
        // Written offline: a stray older line, and a line twice.
        if seq == 710 {
            text.push_str(&line(700, &ts, "stray"));
        }
        if seq == 1000 {
            text.push_str(&line(1000, &ts, "dup"));
        }
    }
    let path = day_file(logs.path(), "deep", &day);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();

    let server = TestServer::start(&format!(
        "[limits]\n{NO_RATE_LIMIT}history_keep = 100\n{}",
        log_table(logs.path(), "")
    ))
    .await;
    let mut bob = registered(&server, "bob").await;
    let join = bob
        .request(json!({"type": "join", "room": "deep", "history": 0}))
        .await;
    assert_eq!(join["epoch"], "gen1", "{join}");

    let check = |answer: &Value| -> Vec<u64> {
        assert_eq!(answer["type"], "ok", "{answer}");
        answer["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let seq = item["seq"].as_u64().unwrap();
                assert!(
                    item["text"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("m{seq} ")),
                    "{item}"
                );
                seq
            })
            .collect()
    };
    // Deep pages, either way.
    let deep = bob
        .request(json!({"type": "history", "room": "deep", "before": 12_346, "limit": 5}))
        .await;
    assert_eq!(check(&deep), [12_341, 12_342, 12_343, 12_344, 12_345]);
    let across = bob
        .request(json!({"type": "history", "room": "deep", "after": 690, "limit": 320}))
        .await;
    assert_eq!(check(&across), (691..=890).collect::<Vec<_>>());

    // Every page, backward from the newest: strictly increasing within the
    // page, every seq exactly once overall.
    let mut seen = BTreeSet::new();
    let mut before: Option<u64> = None;
    let mut pages = 0;
    loop {
        let mut request = json!({"type": "history", "room": "deep", "limit": 200});
        if let Some(before) = before {
            request["before"] = json!(before);
        }
        let answer = bob.request(request).await;
        let page = check(&answer);
        assert!(page.windows(2).all(|w| w[0] < w[1]), "{page:?}");
        for seq in &page {
            assert!(seen.insert(*seq), "seq {seq} returned twice");
        }
        pages += 1;
        if answer["more"] == false {
            break;
        }
        before = Some(page[0]);
        assert!(pages <= N / 200 + 5, "paging never ends");
    }
    assert_eq!(seen.len() as u64, N);
    assert_eq!(seen.first(), Some(&1));
    assert_eq!(seen.last(), Some(&N));
    server.shutdown().await;
}
