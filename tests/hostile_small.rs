//! The smaller holes a hostile client or a careless start could open: message
//! logs readable by other local users, a nick that passes for the server, pings
//! that cost nothing, and a shutdown that a second Ctrl-C cannot cut short.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::*;
use serde_json::json;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_logs_are_owner_only_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, config) = write_logged_config(dir.path(), "private = true");
    let server = BinaryServer::start_with(&config, |command| {
        // SAFETY: umask is async-signal-safe and touches nothing but the child.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    })
    .await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.join("ops").await;
    alice.say("ops", "the deploy key is in the vault").await;
    let ok = alice
        .request(json!({"type": "message", "to": "bob", "text": "psst", "id": 1}))
        .await;
    assert_eq!(ok["type"], "ok", "{ok}");
    assert_eq!(bob.recv().await["text"], "psst");

    let day = format!("{}.jsonl", utc_day(0));
    for dir in [logs.clone(), logs.join("ops"), logs.join("@private")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in [
        logs.join("ops").join(&day),
        logs.join("ops").join("state.json"),
        logs.join("@private").join(&day),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn the_server_name_is_not_a_nick_in_any_case() {
    let server = TestServer::start("server_name = \"Chat-Host\"").await;
    let mut client = Client::connect(&server).await;
    let refused = client
        .request(json!({"type": "hello", "nick": "chat-HOST", "id": 1}))
        .await;
    assert_eq!(refused["code"], "bad_nick", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("reserved"),
        "{refused}"
    );
    client.hello("mallory").await;
    let refused = client
        .request(json!({"type": "nick", "nick": "CHAT-HOST", "id": 2}))
        .await;
    assert_eq!(refused["code"], "bad_nick", "{refused}");
    let renamed = client
        .request(json!({"type": "nick", "nick": "Chat-Hostess", "id": 3}))
        .await;
    assert_frame(
        &renamed,
        json!({"type": "ok", "id": 3, "nick": "Chat-Hostess"}),
    );
}

#[tokio::test]
async fn pings_have_a_generous_bucket_of_their_own() {
    let server = TestServer::start(
        "[limits]\nrate_burst = 3\nrate_per_second = 0.001\nping_rate_burst = 5\nping_rate_per_second = 0.001\n",
    )
    .await;
    let mut client = Client::connect(&server).await;
    for id in 0..5 {
        let pong = client.request(json!({"type": "ping", "id": id})).await;
        assert_frame(&pong, json!({"type": "ok", "id": id}));
    }
    let limited = client.request(json!({"type": "ping", "id": 5})).await;
    assert_eq!(limited["code"], "rate_limited", "{limited}");
    // The pings took nothing from the request bucket.
    client.hello("alice").await;
    client.join("ops").await;
    client.join("dev").await;
    // Pinging on past the ping bucket's patience is flooding, as for requests.
    for id in 6..11 {
        client.send(json!({"type": "ping", "id": id})).await;
    }
    let frames = client.recv_until_closed(20).await;
    assert_eq!(
        frames.last(),
        Some(&json!({"type": "bye", "reason": "flooding"})),
        "{frames:?}"
    );
}

/// A member whose receive window stays shut (it never reads), so the server's
/// writes to it cannot finish and a graceful shutdown waits for them.
async fn stuck_member(server: &BinaryServer, room: &str) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.addr);
    let label = "stuck member".to_owned();
    let mut stuck = Client::over_tls(tcp, &server.fingerprint, None, label)
        .await
        .unwrap();
    stuck.send(json!({"type": "hello", "nick": "stuck"})).await;
    stuck.send(json!({"type": "join", "room": room})).await;
    stuck
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_during_a_slow_shutdown_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_binary_config(
        dir.path(),
        &format!(
            "shutdown_timeout = \"300s\"\n[limits]\n{NO_RATE_LIMIT}write_timeout = \"300s\"\n"
        ),
    );
    let mut server = BinaryServer::start(&config).await;
    let mut alice = server.client("alice").await;
    alice.join("ops").await;
    let _stuck = stuck_member(&server, "ops").await;
    // The stuck member is in the room once alice hears it join.
    let joined = alice.recv().await;
    assert_eq!(
        (joined["type"].clone(), joined["nick"].clone()),
        (json!("join"), json!("stuck"))
    );
    // More than its shut window and the server's socket buffer can take (up
    // to 4 MiB on Linux): its writer is left waiting on it, for as long as
    // write_timeout allows, whether or not it is cut as a slow consumer.
    let text = "x".repeat(4000);
    let messages = 1500;
    for _ in 0..messages {
        alice
            .send(json!({"type": "message", "room": "ops", "text": text}))
            .await;
    }
    let mut answered = 0;
    while answered < messages {
        let frame = alice.recv().await;
        if frame["type"] == "ok" {
            answered += 1;
        }
    }

    server.signal("-TERM");
    server.wait_for_log("shutting down").await;
    assert_frame(
        &alice.recv().await,
        json!({"type": "bye", "reason": "server shutting down"}),
    );
    server.signal("-TERM");
    server
        .wait_for_log("during the shutdown: exiting at once")
        .await;
    let status = server.wait_for_exit();
    assert_eq!(status.code(), Some(1), "{status:?}");
}
