//! The WebSocket listener as a browser and a reverse proxy meet it: a browser
//! and a line-protocol client share a room frame for frame; only allowed
//! origins asking for `confab.v1` get a WebSocket; what ends a WebSocket, with
//! which close code, and what the room sees of it; the web client's files and
//! their headers; and a trusted proxy's `X-Forwarded-For` deciding which
//! address a connection counts against.

mod common;

use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::Message;

use common::*;

/// A WebSocket listener over TLS, after the default line listener: `addrs[1]`.
const WEB_LISTENER: &str = "[[listen]]\naddr = \"127.0.0.1:0\"\nwebsocket = true\n";

/// The smallest line limit the config allows, so an over-long frame is cheap.
const SMALL_LINES: &str = "[limits]\nmax_line_bytes = 1024\nmax_text_bytes = 1000\n";

/// Opens a WebSocket to the TLS listener at `addr` with the browser's
/// request as `edit` leaves it.
async fn upgrade(
    server: &TestServer,
    addr: SocketAddr,
    label: &str,
    edit: impl FnOnce(&mut Request),
) -> Result<WsClient, UpgradeRefused> {
    let mut request = browser_request(addr, true);
    edit(&mut request);
    WsClient::handshake(tls_stream(addr, &server.fingerprint).await, request, label).await
}

/// The `hello` answer without the nick it names.
fn without_nick(ok: &Value) -> Value {
    let mut ok = ok.clone();
    ok.as_object_mut().expect("an object").remove("nick");
    ok
}

#[tokio::test]
async fn a_browser_and_a_line_client_see_the_same_room() {
    let server = TestServer::start(WEB_LISTENER).await;
    let mut line = Client::connect(&server).await;
    let line_ok = line.hello("bob").await;
    line.join("lobby").await;
    let mut browser = WsClient::connect(server.addrs[1], &server.fingerprint).await;
    assert_eq!(browser.protocol.as_deref(), Some("confab.v1"));
    let browser_ok = browser.hello("alice").await;
    assert_eq!(browser_ok["limits"], default_limits(), "{browser_ok}");
    assert_eq!(
        without_nick(&browser_ok),
        without_nick(&line_ok),
        "a browser's hello answer is a line client's"
    );

    browser.join("lobby").await;
    assert_frame(
        &line.recv().await,
        json!({"type": "join", "room": "lobby", "nick": "alice", "ts": "<ts>"}),
    );
    let (echo, ok) = browser.say("lobby", "from the browser").await;
    assert_frame(
        &echo,
        message_event("lobby", 1, "alice", "from the browser"),
    );
    assert_eq!((&ok["seq"], &ok["ts"]), (&echo["seq"], &echo["ts"]));
    assert_eq!(line.recv().await, echo, "the very same event, seq and ts");

    let (echo, ok) = line.say("lobby", "from the terminal").await;
    assert_frame(&echo, message_event("lobby", 2, "bob", "from the terminal"));
    assert_eq!((&ok["seq"], &ok["ts"]), (&echo["seq"], &echo["ts"]));
    assert_eq!(
        browser.recv().await,
        echo,
        "the very same event, seq and ts"
    );

    line.expect_nothing().await;
    browser.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn only_allowed_origins_asking_for_the_subprotocol_get_a_websocket() {
    let listed = format!("{WEB_LISTENER}origins = [\"https://chat.example\"]\n");
    let server = TestServer::start(&format!("{WEB_LISTENER}{listed}")).await;
    let (own, with_list) = (server.addrs[1], server.addrs[2]);
    let mut checked = 0;

    let mut browser = upgrade(&server, own, "own page", |_| {})
        .await
        .expect("the listener's own page gets in");
    browser.hello("own").await;
    checked += 1;

    let mut tool = upgrade(&server, own, "no origin", |request| {
        request.headers_mut().remove("Origin");
    })
    .await
    .expect("a client that is no browser sends no Origin, and gets in");
    tool.hello("tool").await;
    checked += 1;

    let refused = upgrade(&server, own, "other site", |request| {
        set_header(request, "Origin", "https://evil.example");
    })
    .await
    .err()
    .expect("another site's page gets no WebSocket");
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.contains("https://evil.example"), "{refused:?}");
    checked += 1;

    let mut listed_page = upgrade(&server, with_list, "listed origin", |request| {
        set_header(request, "Origin", "https://chat.example");
    })
    .await
    .expect("a listed origin gets in");
    listed_page.hello("listed").await;
    checked += 1;

    let refused = upgrade(&server, with_list, "own page, list set", |_| {})
        .await
        .err()
        .expect("with a list, the listener's own origin is not let in");
    assert_eq!(refused.status, 403, "{refused:?}");
    checked += 1;

    for protocols in [None, Some("chat.v2")] {
        let refused = upgrade(
            &server,
            own,
            "wrong subprotocol",
            |request| match protocols {
                None => drop(request.headers_mut().remove("Sec-WebSocket-Protocol")),
                Some(other) => set_header(request, "Sec-WebSocket-Protocol", other),
            },
        )
        .await
        .err()
        .expect("no WebSocket without confab.v1");
        assert_eq!(refused.status, 400, "{protocols:?}: {refused:?}");
        assert!(refused.body.contains(SUBPROTOCOL), "{refused:?}");
        checked += 1;
    }
    assert_eq!(checked, 7);
    server.shutdown().await;
}

/// Bob on the line protocol and a browser (`carol`) in `lobby`, bob having
/// seen carol join.
async fn watched_browser(server: &TestServer) -> (Client, WsClient) {
    let mut bob = registered(server, "bob").await;
    bob.join("lobby").await;
    let mut carol = WsClient::connect(server.addrs[1], &server.fingerprint).await;
    carol.hello("carol").await;
    carol.join("lobby").await;
    assert_frame(
        &bob.recv().await,
        json!({"type": "join", "room": "lobby", "nick": "carol", "ts": "<ts>"}),
    );
    (bob, carol)
}

/// Asserts the browser's WebSocket closes with `code` and nothing before it,
/// and bob sees carol leave as a closed connection.
async fn assert_dropped(bob: &mut Client, carol: &mut WsClient, code: u16) {
    let closed = carol.recv_until_close(10).await;
    assert_eq!(closed.code, code, "{closed:?}");
    assert!(closed.frames.is_empty(), "{closed:?}");
    assert_frame(
        &bob.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "carol", "reason": "connection closed", "ts": "<ts>"}),
    );
    bob.expect_nothing().await;
}

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    let server = TestServer::start(WEB_LISTENER).await;
    let (mut bob, mut carol) = watched_browser(&server).await;
    let frame = br#"{"type":"ping","id":1}"#.to_vec();
    carol.send_message(Message::binary(frame)).await;
    assert_dropped(&mut bob, &mut carol, 1003).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_text_frame_holding_a_line_break_closes_with_1007() {
    let server = TestServer::start(WEB_LISTENER).await;
    let (mut bob, mut carol) = watched_browser(&server).await;
    let two_lines = "{\"type\":\"ping\",\"id\":1}\n{\"type\":\"ping\",\"id\":2}";
    carol.send_message(Message::text(two_lines)).await;
    assert_dropped(&mut bob, &mut carol, 1007).await;
    server.shutdown().await;
}

/// A room message whose frame is exactly `bytes` long.
fn message_of_length(bytes: usize) -> (Value, String) {
    let frame = |text: &str| json!({"type": "message", "room": "lobby", "text": text});
    let overhead = frame("").to_string().len();
    let text = "a".repeat(bytes - overhead);
    let message = frame(&text);
    assert_eq!(message.to_string().len(), bytes);
    (message, text)
}

#[tokio::test]
async fn a_frame_over_max_line_bytes_closes_with_1009() {
    let server = TestServer::start(&format!("{WEB_LISTENER}{SMALL_LINES}")).await;
    let (mut bob, mut carol) = watched_browser(&server).await;
    let (longest, text) = message_of_length(1024);
    carol.send(longest).await;
    let echo = carol.recv().await;
    assert_frame(&echo, message_event("lobby", 1, "carol", &text));
    assert_eq!(carol.recv().await["type"], "ok");
    assert_eq!(bob.recv().await, echo, "a frame of max_line_bytes passes");

    let (too_long, _) = message_of_length(1025);
    carol.send(too_long).await;
    assert_dropped(&mut bob, &mut carol, 1009).await;
    server.shutdown().await;
}

/// A frame so long the WebSocket layer will not read it whole gets the same
/// close code as one just over the limit.
#[tokio::test]
async fn a_frame_far_over_max_line_bytes_closes_with_1009_too() {
    let server = TestServer::start(&format!("{WEB_LISTENER}{SMALL_LINES}")).await;
    let (mut bob, mut carol) = watched_browser(&server).await;
    let (huge, _) = message_of_length(70 * 1024);
    carol.send(huge).await;
    assert_dropped(&mut bob, &mut carol, 1009).await;
    server.shutdown().await;
}

#[tokio::test]
async fn quit_says_bye_then_closes_with_1000() {
    let server = TestServer::start(WEB_LISTENER).await;
    let (mut bob, mut carol) = watched_browser(&server).await;
    carol.send(json!({"type": "quit", "id": "q"})).await;
    let closed = carol.recv_until_close(10).await;
    assert_eq!(
        closed.frames,
        vec![
            json!({"type": "ok", "id": "q"}),
            json!({"type": "bye", "reason": "quit"})
        ]
    );
    assert_eq!(closed.code, 1000, "{closed:?}");
    assert_frame(
        &bob.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "carol", "reason": "quit", "ts": "<ts>"}),
    );
    bob.expect_nothing().await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_web_client_files_come_with_their_types_and_a_policy() {
    let server = TestServer::start(WEB_LISTENER).await;
    let web = server.addrs[1];
    let host = format!("localhost:{}", web.port());
    let files = [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ];
    for (path, content_type) in files {
        let page = http_get(tls_stream(web, &server.fingerprint).await, path, &host).await;
        assert_eq!(page.status, 200, "GET {path}: {page:?}");
        assert_eq!(
            page.header("content-type"),
            Some(content_type),
            "GET {path}"
        );
        let policy = page.header("content-security-policy").unwrap_or_default();
        assert!(
            policy.contains("default-src 'none'") && policy.contains("script-src 'self'"),
            "GET {path}: policy {policy:?}"
        );
        assert!(!page.body.is_empty(), "GET {path}: empty body");
    }
    assert_eq!(files.len(), 3);
    let missing = http_get(tls_stream(web, &server.fingerprint).await, "/nope", &host).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    server.shutdown().await;
}

/// A plaintext WebSocket listener on loopback behind a proxy on 127.0.0.1,
/// two connections per address at most.
const PROXIED: &str = "[limits]\nmax_connections_per_address = 2\n\
    [[listen]]\naddr = \"127.0.0.1:0\"\ntls = false\nwebsocket = true\n\
    trusted_proxies = [\"127.0.0.1\"]\n";

/// A WebSocket through the proxy, for the client `forwarded_for` (none: the
/// proxy's own).
async fn through_proxy(
    server: &TestServer,
    forwarded_for: Option<&str>,
) -> Result<WsClient, UpgradeRefused> {
    let addr = server.addrs[1];
    let mut request = browser_request(addr, false);
    if let Some(client) = forwarded_for {
        set_header(&mut request, "X-Forwarded-For", client);
    }
    let label = format!("proxied for {forwarded_for:?}");
    WsClient::handshake(plain_stream(addr).await, request, &label).await
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_real_client_is_counted() {
    let server = TestServer::start(PROXIED).await;
    let mut open = Vec::new();
    for n in 1..=3 {
        let mut guest = through_proxy(&server, Some(&format!("198.51.100.{n}")))
            .await
            .expect("each forwarded client gets a WebSocket");
        guest.hello(&format!("guest{n}")).await;
        open.push(guest);
    }
    for n in 1..=2 {
        let mut same = through_proxy(&server, Some("198.51.100.77"))
            .await
            .expect("one address's first two connections get in");
        same.hello(&format!("same{n}")).await;
        open.push(same);
    }
    let mut third = through_proxy(&server, Some("198.51.100.77"))
        .await
        .expect("the third gets its WebSocket, to be told why it is refused");
    let closed = third.recv_until_close(10).await;
    assert_eq!(closed.frames.len(), 2, "{closed:?}");
    assert_error(&closed.frames[0], "too_many_connections", None);
    assert!(
        closed.frames[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 2")),
        "{closed:?}"
    );
    assert_frame(
        &closed.frames[1],
        json!({"type": "bye", "reason": "too many connections from your address"}),
    );
    assert_eq!(closed.code, 1000, "{closed:?}");

    // Five clients came through the proxy, and it still has its own two.
    let mut own = through_proxy(&server, None)
        .await
        .expect("the proxy's own address is not spent by its clients");
    own.hello("proxy").await;
    for guest in &mut open {
        guest.expect_nothing().await;
    }
    assert_eq!(open.len(), 5);
    server.shutdown().await;
}
