//! The web client in a real browser: two headless Chromium sessions (alice and
//! bob) and a line-protocol client (carol) in one room, on a plaintext
//! WebSocket listener on loopback. What one says, the others see with the
//! same `seq`; text full of HTML and script shows as that text; a page
//! reloaded while others talk catches up on what it missed, without a gap;
//! and a private message waits, counted, beside the room being read. With
//! protocol 1.2: moderation shows as dimmed room events in seq order (and a
//! ban of the page's own user takes it out of the room), and a registered
//! nick signs in with its password and moderates with slash commands.
//!
//! Needs `chromedriver` and Chromium (Debian's `chromium-driver` and
//! `chromium`, which `.ci/run` installs).

mod common;

use std::collections::BTreeSet;

use common::accounts::{account, accounts_table, PASSWORD};
use common::{registered, Browser, Chromedriver, Client, ShownMessage, TestServer};
use serde_json::{json, Value};

/// A plaintext listener serving the web client and its WebSocket, after the
/// default TLS line listener: `addrs[1]`.
const WEB_LISTENER: &str = "[[listen]]\naddr = \"127.0.0.1:0\"\nwebsocket = true\ntls = false\n";

const ROOM: &str = "general";

/// Markup and script that must reach the page as text, never as elements.
const HOSTILE: &str = "<img src=x onerror=\"document.title='pwned'\"><script>\
                       document.title='pwned'</script><b>bold</b>";

/// How many frames a wait on the line client reads past before giving up.
const MAX_SKIPPED: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_and_a_line_client_chat_and_a_reloaded_page_catches_up() {
    let server = TestServer::start(WEB_LISTENER).await;
    let url = format!("http://127.0.0.1:{}/", server.addrs[1].port());
    let driver = Chromedriver::start().await;
    let alice = driver.browser("alice").await;
    let bob = driver.browser("bob").await;
    for (browser, nick) in [(&alice, "alice"), (&bob, "bob")] {
        browser.goto(&url).await;
        browser.sign_in(nick).await;
        browser.join(ROOM).await;
    }
    let mut carol = registered(&server, "carol").await;
    carol.join(ROOM).await;
    bob.wait_until(
        "#members listing carol",
        "return document.querySelector('#members li[data-nick=\"carol\"]') !== null;",
    )
    .await;

    one_room_three_clients(&alice, &bob, &mut carol).await;
    markup_shows_as_text(&alice, &bob, &mut carol).await;
    a_reloaded_page_catches_up(&bob, &url, &mut carol).await;
    a_private_message_waits_as_unread(&alice, &mut carol).await;

    alice.close().await;
    bob.close().await;
    server.shutdown().await;
}

/// alice types in her page, carol talks from her terminal: everyone sees
/// both lines, each with the one `seq` the server gave it.
async fn one_room_three_clients(alice: &Browser, bob: &Browser, carol: &mut Client) {
    let from_alice = "hello from alice's browser";
    alice.type_into("#input", from_alice).await;
    bob.wait_until(
        "#typing saying alice is typing",
        "return document.getElementById('typing').textContent.includes('alice');",
    )
    .await;
    alice.press_enter("#input").await;
    let seq = next_message_seq(carol, "alice", from_alice).await;
    for browser in [alice, bob] {
        let shown = browser.wait_for_room_message(from_alice).await;
        assert_shown(browser, &shown, "alice", from_alice, seq);
    }
    assert_eq!(
        field(alice, "#input", "value").await,
        "",
        "alice: #input still holds the sent line"
    );

    let from_carol = "hi from carol's terminal";
    let seq = say_in_room(carol, from_carol).await;
    for browser in [alice, bob] {
        let shown = browser.wait_for_room_message(from_carol).await;
        assert_shown(browser, &shown, "carol", from_carol, seq);
    }
}

/// A message made of markup and script shows as its literal text: no element
/// of it reaches `#messages`, and none of its script runs.
async fn markup_shows_as_text(alice: &Browser, bob: &Browser, carol: &mut Client) {
    let seq = say_in_room(carol, HOSTILE).await;
    // A plain line after it: by the time a page shows it, an `onerror` the
    // hostile one might have set off has had its chance to run.
    let after = "that was only text";
    let after_seq = say_in_room(carol, after).await;
    assert!(after_seq > seq, "carol's seqs went backwards");
    for browser in [alice, bob] {
        let shown = browser.wait_for_room_message(HOSTILE).await;
        assert_shown(browser, &shown, "carol", HOSTILE, seq);
        browser.wait_for_room_message(after).await;
        let found = browser
            .run(
                "const count = selector => document.querySelectorAll(selector).length;
                 return {
                     b: count('#messages b'),
                     img: count('#messages img'),
                     script: count('#messages script'),
                 };",
            )
            .await
            .unwrap_or_else(|e| panic!("{}: reading the page failed: {e}", browser.label));
        assert_eq!(
            found,
            json!({"b": 0, "img": 0, "script": 0}),
            "{}: the message's markup reached #messages as elements",
            browser.label
        );
        let title = browser.run("return document.title;").await;
        assert!(
            title.as_ref().is_ok_and(|t| t.as_str() != Some("pwned")),
            "{}: the message's script ran (document.title: {title:?})",
            browser.label
        );
    }
}

/// bob reloads his page while carol sends three lines: the page signs in
/// again by itself (or bob does, if it asks), rejoins, and shows the three
/// with carol's seqs and no gap, saying how many it caught up on.
async fn a_reloaded_page_catches_up(bob: &Browser, url: &str, carol: &mut Client) {
    let texts = ["sent while bob reloads, one", "two", "three"];
    let ((), (seqs, missed)) = tokio::join!(bob.goto(url), async {
        wait_for_event(carol, "bob's leave", |f| {
            f["type"] == "leave" && f["room"] == ROOM && f["nick"] == "bob"
        })
        .await;
        say_while_bob_rejoins(carol, &texts).await
    });
    if bob.is_shown("#signin").await {
        bob.sign_in("bob").await;
    } else {
        bob.wait_connected_as("bob").await;
    }
    for (text, seq) in texts.iter().zip(&seqs) {
        let shown = bob.wait_for_room_message(text).await;
        assert_shown(bob, &shown, "carol", text, *seq);
    }
    // Only what came before bob's rejoin was missed: the rest came live.
    let plural = if missed == 1 { "" } else { "s" };
    let caught_up = format!("caught up: {missed} new message{plural}");
    let wanted = serde_json::to_string(&caught_up).expect("serialize notice");
    bob.wait_until(
        &format!("a notice {caught_up:?}"),
        &format!(
            "return Array.from(document.querySelectorAll('#messages .notice'))
                 .some(n => n.textContent.includes({wanted}));"
        ),
    )
    .await;
    assert_no_gap(bob, &bob.messages().await);
}

/// A private message from carol, while alice reads the room, waits in her
/// sidebar: a `li.private` for carol with an `.unread` count of one, and
/// nothing of it in the room's `#messages`.
async fn a_private_message_waits_as_unread(alice: &Browser, carol: &mut Client) {
    let text = "psst, alice";
    carol
        .send(json!({"type": "message", "to": "alice", "text": text}))
        .await;
    wait_for_event(carol, "the private message's ok", |f| f["type"] == "ok").await;
    let unread = alice
        .wait_until(
            "#rooms listing carol's conversation with an .unread count",
            "const li = document.querySelector('#rooms li.private[data-nick=\"carol\"]');
             const badge = li === null ? null : li.querySelector('.unread');
             return badge === null ? null : badge.textContent;",
        )
        .await;
    assert_eq!(
        unread, "1",
        "alice: the .unread badge of carol's conversation"
    );
    let shown = alice.messages().await;
    assert!(
        shown.iter().all(|m| m.text.as_deref() != Some(text)),
        "alice: the private message shows in the room: {shown:?}"
    );
}

/// Asserts `shown` is a line from `nick` saying `text` with `seq`, with a time.
fn assert_shown(browser: &Browser, shown: &ShownMessage, nick: &str, text: &str, seq: u64) {
    let label = &browser.label;
    assert_eq!(shown.seq(), seq, "{label}: data-seq of {shown:?}");
    assert!(
        shown.is_from(nick),
        "{label}: .nick is not {nick}: {shown:?}"
    );
    assert_eq!(
        shown.text.as_deref(),
        Some(text),
        "{label}: .text of {shown:?}"
    );
    let time = shown.time.as_deref().unwrap_or("");
    assert!(
        time.len() == 5 && time.as_bytes()[2] == b':',
        "{label}: .time of {shown:?} is not HH:MM"
    );
}

/// Asserts every seq from the first shown to the last is shown exactly once.
fn assert_no_gap(browser: &Browser, shown: &[ShownMessage]) {
    let seqs: Vec<u64> = shown
        .iter()
        .filter(|m| m.seq.is_some())
        .map(|m| m.seq())
        .collect();
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seqs.len(),
        "{}: a seq shown twice: {seqs:?}",
        browser.label
    );
    let (Some(first), Some(last)) = (unique.first(), unique.last()) else {
        panic!("{}: no room message shown", browser.label);
    };
    let expected: BTreeSet<u64> = (*first..=*last).collect();
    assert_eq!(
        unique, expected,
        "{}: a gap in the seqs shown",
        browser.label
    );
}

/// The DOM property `property` of the element `selector` names.
async fn field(browser: &Browser, selector: &str, property: &str) -> String {
    let selector_json = serde_json::to_string(selector).expect("serialize selector");
    let property_json = serde_json::to_string(property).expect("serialize property");
    let value = browser
        .run(&format!(
            "return document.querySelector({selector_json})[{property_json}];"
        ))
        .await
        .unwrap_or_else(|e| panic!("{}: reading {selector}.{property}: {e}", browser.label));
    value.as_str().unwrap_or_default().to_string()
}

/// Reads the line client's frames until one `matches`, past the events
/// browsers cause meanwhile (`typing`, `join`, `leave`). An `error` fails.
async fn wait_for_event(
    client: &mut Client,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    let mut skipped = Vec::new();
    while skipped.len() < MAX_SKIPPED {
        let frame = client.recv().await;
        assert_ne!(
            frame["type"], "error",
            "{}: waiting for {what}",
            client.label
        );
        if matches(&frame) {
            return frame;
        }
        skipped.push(frame);
    }
    panic!(
        "{}: no {what} in {MAX_SKIPPED} frames: {skipped:?}",
        client.label
    );
}

/// The `seq` of the room message from `from` saying `text`, as the line
/// client receives it.
async fn next_message_seq(client: &mut Client, from: &str, text: &str) -> u64 {
    let frame = wait_for_event(client, &format!("message {text:?} from {from}"), |f| {
        f["type"] == "message" && f["room"] == ROOM && f["from"] == from && f["text"] == text
    })
    .await;
    seq_of(client, &frame)
}

fn seq_of(client: &Client, frame: &Value) -> u64 {
    frame["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("{}: room message without a seq: {frame}", client.label))
}

/// The line client says `text` in the room; returns the `seq` of its echo.
async fn say_in_room(client: &mut Client, text: &str) -> u64 {
    client
        .send(json!({"type": "message", "room": ROOM, "text": text}))
        .await;
    // The protocol queues the echo before the `ok`.
    let seq = next_message_seq(client, "carol", text).await;
    wait_for_event(client, "the message's ok", |f| f["type"] == "ok").await;
    seq
}

/// The line client says each of `texts` while bob's page comes back; returns
/// their seqs and how many of them the server stored before bob rejoined,
/// which are the ones his page has to catch up on. The server queues events
/// to carol in the order it handles them, so her echoes that come before
/// bob's `join` are exactly those.
async fn say_while_bob_rejoins(client: &mut Client, texts: &[&str]) -> (Vec<u64>, usize) {
    let mut seqs = Vec::new();
    let mut missed = None;
    for text in texts {
        client
            .send(json!({"type": "message", "room": ROOM, "text": text}))
            .await;
        loop {
            let frame = wait_for_event(client, &format!("the ok of {text:?}"), |f| {
                f["type"] == "message" || f["type"] == "join" || f["type"] == "ok"
            })
            .await;
            if frame["type"] == "ok" {
                break;
            }
            if frame["type"] == "join" && frame["nick"] == "bob" {
                missed.get_or_insert(seqs.len());
            } else if frame["type"] == "message"
                && frame["from"] == "carol"
                && frame["text"] == *text
            {
                seqs.push(seq_of(client, &frame));
            }
        }
    }
    assert_eq!(
        seqs.len(),
        texts.len(),
        "{}: an echo is missing: {seqs:?}",
        client.label
    );
    (seqs, missed.unwrap_or(texts.len()))
}

/// The web listener with open registration (`[accounts]`).
fn accounts_config() -> String {
    format!("{WEB_LISTENER}{}", accounts_table("open", &[]))
}

/// Every `#messages` row with a `data-seq` (messages and room events), in
/// page order, as `{seq, text, event}`: `event` is the room event's type,
/// `null` for a message.
const SEQ_ROWS_SCRIPT: &str = "
    const seqRows = () => Array.from(document.querySelectorAll('#messages [data-seq]')).map(row => ({
        seq: Number(row.getAttribute('data-seq')),
        text: (row.querySelector('.text') || row).textContent,
        event: row.classList.contains('room-event') ? row.getAttribute('data-type') : null,
    }));";

/// Waits until `#messages` shows a room event (a dimmed row with its seq)
/// whose text holds `needle`; returns its `{seq, text, event}`.
async fn wait_for_room_event(browser: &Browser, needle: &str) -> Value {
    let wanted = serde_json::to_string(needle).expect("serialize needle");
    browser
        .wait_until(
            &format!("#messages showing a room event {needle:?}"),
            &format!(
                "{SEQ_ROWS_SCRIPT}
                 return seqRows().find(r => r.event !== null && r.text.includes({wanted})) ?? null;"
            ),
        )
        .await
}

/// The seqs of every `#messages` row that has one, in page order.
async fn shown_seqs(browser: &Browser) -> Vec<u64> {
    let rows = browser
        .run(&format!(
            "{SEQ_ROWS_SCRIPT} return seqRows().map(r => r.seq);"
        ))
        .await
        .unwrap_or_else(|e| panic!("{}: reading #messages failed: {e}", browser.label));
    serde_json::from_value(rows.clone())
        .unwrap_or_else(|e| panic!("{}: seqs {rows} unreadable: {e}", browser.label))
}

/// alice (a terminal-protocol client with an account) claims the room and
/// talks before bob opens the page: his join's history shows the claim as a
/// dimmed room event with its seq, before the message. Then she bans bob:
/// (after an invitation to another room, which shows where he is) his page
/// shows the ban in its place, says he was banned, and treats the
/// room as left (crossed out, no members, not in what a reload rejoins);
/// the seqs shown have no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_shows_as_room_events_and_a_ban_takes_the_page_out() {
    let server = TestServer::start(&accounts_config()).await;
    let url = format!("http://127.0.0.1:{}/", server.addrs[1].port());
    let mut alice = account(&server, "alice").await;
    alice.join(ROOM).await;
    let (claim, _) = alice.moderate(json!({"type": "claim", "room": ROOM})).await;
    let (said, _) = alice.say(ROOM, "welcome, this room is moderated now").await;

    let driver = Chromedriver::start().await;
    let bob = driver.browser("bob").await;
    bob.goto(&url).await;
    bob.sign_in("bob").await;
    bob.join(ROOM).await;
    wait_for_event(&mut alice, "bob's join", |f| {
        f["type"] == "join" && f["room"] == ROOM && f["nick"] == "bob"
    })
    .await;

    let shown = wait_for_room_event(&bob, "alice claimed the room").await;
    assert_eq!(
        shown["seq"], claim["seq"],
        "bob: the claim's data-seq: {shown}"
    );
    assert_eq!(shown["event"], "claim", "bob: {shown}");
    let message = bob
        .wait_for_room_message("welcome, this room is moderated now")
        .await;
    assert_eq!(
        Some(message.seq()),
        said["seq"].as_u64(),
        "bob: {message:?}"
    );

    // An invitation is no room event: it shows where bob is, with the way in.
    alice.join("ops").await;
    alice
        .moderate(json!({"type": "claim", "room": "ops"}))
        .await;
    let ok = alice
        .request(json!({"type": "invite", "room": "ops", "nick": "bob"}))
        .await;
    assert_eq!(ok["type"], "ok", "alice: invite: {ok}");
    bob.wait_text("#messages", "alice invited you to #ops (/join ops)")
        .await;

    let (ban, _) = alice
        .moderate(
            json!({"type": "ban", "room": ROOM, "nick": "bob", "reason": "spam", "duration": 3600}),
        )
        .await;
    let shown = wait_for_room_event(&bob, "alice banned bob").await;
    assert_eq!(shown["seq"], ban["seq"], "bob: the ban's data-seq: {shown}");
    let text = shown["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(" until ") && text.ends_with(": spam"),
        "bob: the ban's line: {text:?}"
    );
    bob.wait_text("#messages", "you were banned from #general by alice")
        .await;
    bob.wait_until(
        "#rooms showing general as left",
        "return document.querySelector('#rooms li.room.parted[data-room=\"general\"]') !== null;",
    )
    .await;
    let members = bob
        .run("return document.querySelectorAll('#members li').length;")
        .await
        .unwrap_or_else(|e| panic!("bob: reading #members: {e}"));
    assert_eq!(
        members,
        json!(0),
        "bob: #members of a room he was banned from"
    );
    // A reconnect or a reload rejoins only the rooms in the session.
    let rejoins = bob
        .run(
            "const session = JSON.parse(sessionStorage.getItem('confab.session') || '{}');
             return (session.rooms || []).map(r => r.room);",
        )
        .await
        .unwrap_or_else(|e| panic!("bob: reading the session: {e}"));
    assert_eq!(rejoins, json!([]), "bob: rooms a reconnect would rejoin");

    let seqs = shown_seqs(&bob).await;
    let first = claim["seq"].as_u64().expect("the claim's seq");
    let last = ban["seq"].as_u64().expect("the ban's seq");
    assert_eq!(
        seqs,
        (first..=last).collect::<Vec<u64>>(),
        "bob: the seqs shown, in page order"
    );

    bob.close().await;
    server.shutdown().await;
}

/// alice's nick is an account: signing in without its password says so on
/// the form, a wrong password is refused, the right one shows "logged in as
/// alice". Her slash commands then claim the room, kick carol (a terminal
/// client) with a reason, set flags and list the roles, each seen as carol
/// sees it and as a room event in the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_nick_signs_in_with_its_password_and_moderates() {
    let server = TestServer::start(&accounts_config()).await;
    let url = format!("http://127.0.0.1:{}/", server.addrs[1].port());
    let mut registering = account(&server, "alice").await;
    registering.quit().await;
    let mut carol = registered(&server, "carol").await;
    carol.join(ROOM).await;

    let driver = Chromedriver::start().await;
    let alice = driver.browser("alice").await;
    alice.goto(&url).await;
    alice.submit_sign_in("alice", "").await;
    alice
        .wait_text("#signin-error", "This nick is registered")
        .await;
    alice.submit_sign_in("alice", "not the password").await;
    alice
        .wait_text("#signin-error", "Wrong account password")
        .await;
    assert!(
        alice.is_shown("#signin").await,
        "alice: the form is gone after a wrong password"
    );
    alice.submit_sign_in("alice", PASSWORD).await;
    alice.wait_text("#status", "logged in as alice").await;
    let stored = alice
        .run(
            "return JSON.stringify(Object.assign({}, localStorage))
                 + JSON.stringify(Object.assign({}, sessionStorage));",
        )
        .await
        .unwrap_or_else(|e| panic!("alice: reading storage: {e}"));
    assert!(
        !stored.as_str().unwrap_or_default().contains(PASSWORD),
        "alice: the password is in the page's storage: {stored}"
    );
    alice.join(ROOM).await;

    alice.enter_line("/claim").await;
    let claim = wait_for_event(&mut carol, "alice's claim", |f| f["type"] == "claim").await;
    assert_eq!(claim["by"], "alice", "carol: {claim}");
    wait_for_room_event(&alice, "alice claimed the room").await;

    alice.enter_line("/kick carol being rude").await;
    let kick = wait_for_event(&mut carol, "her kick", |f| f["type"] == "kick").await;
    assert_eq!(
        (&kick["nick"], &kick["reason"]),
        (&json!("carol"), &json!("being rude")),
        "carol: {kick}"
    );
    wait_for_room_event(&alice, "alice kicked carol: being rude").await;
    alice
        .wait_until(
            "#members without carol",
            "return document.querySelector('#members li[data-nick=\"carol\"]') === null;",
        )
        .await;

    alice.enter_line("/flags +i +moderated").await;
    wait_for_room_event(&alice, "alice set the room's flags: invite-only, moderated").await;
    alice.enter_line("/who").await;
    alice
        .wait_text("#messages", "#general: 1 member: alice (owner)")
        .await;
    let error = alice
        .run("return document.getElementById('error').textContent;")
        .await
        .unwrap_or_else(|e| panic!("alice: reading #error: {e}"));
    assert_eq!(error, json!(""), "alice: an error was shown");

    alice.close().await;
    server.shutdown().await;
}
