//! Reloading a running server's configuration (what SIGHUP does), driven
//! in-process through the server's reload handle: what a changed config puts in
//! force, for whom, and that a config that cannot be applied changes nothing.
//! The signal itself, on the real binary, is in `daemon.rs`.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn motd_password_and_server_name_apply_to_the_next_hello() {
    let server = TestServer::start("motd = \"one\"").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;

    let report = server
        .reload("motd = \"two\"\npassword = \"sesame\"\nserver_name = \"renamed.confab\"")
        .await
        .expect("reload");
    assert_eq!(report.applied, ["server_name", "motd", "password"]);
    assert!(report.needs_restart.is_empty(), "{report:?}");
    assert!(!report.certificate_changed);

    let mut nopass = Client::connect(&server).await;
    nopass
        .request_error(json!({"type": "hello", "nick": "bob"}), "auth_failed")
        .await;
    let mut bob = Client::connect(&server).await;
    let hello = bob
        .request(json!({"type": "hello", "nick": "bob", "password": "sesame"}))
        .await;
    assert_eq!(hello["type"], "ok", "{hello}");
    assert_eq!(hello["motd"], "two");
    assert_eq!(hello["server"], "renamed.confab");

    // Alice, registered before, goes on as she was.
    bob.join("lobby").await;
    let joined = alice.recv().await;
    assert_eq!(joined["type"], "join");
    assert_eq!(joined["nick"], "bob");
    bob.say("lobby", "hi alice").await;
    assert_eq!(alice.recv().await["text"], "hi alice");
    server.shutdown().await;
}

#[tokio::test]
async fn configured_rooms_and_topics_follow_the_config() {
    let ops = "[[room]]\nname = \"ops\"\ntopic = \"Deploys\"\n";
    let server = TestServer::start(ops).await;
    let mut alice = registered(&server, "alice").await;
    alice.join("ops").await;

    // A changed topic is set and announced, by the server; a new room appears.
    let changed = "[[room]]\nname = \"ops\"\ntopic = \"Deploys: not on Fridays\"\n\
                   [[room]]\nname = \"news\"\ntopic = \"Read me\"\n";
    let report = server.reload(changed).await.expect("reload");
    assert_eq!(report.applied, ["room"]);
    assert_frame(
        &alice.recv().await,
        json!({"type": "topic", "room": "ops", "topic": "Deploys: not on Fridays",
               "by": SERVER_NAME, "ts": "<ts>"}),
    );
    let rooms = alice.request(json!({"type": "rooms"})).await;
    assert_eq!(
        rooms["rooms"],
        json!([
            {"room": "news", "members": 0, "topic": "Read me"},
            {"room": "ops", "members": 1, "topic": "Deploys: not on Fridays"},
        ])
    );

    // A topic a user set stays while the config's topic does not change.
    alice
        .request(json!({"type": "topic", "room": "ops", "topic": "incident open"}))
        .await;
    assert_eq!(alice.recv().await["type"], "ok");
    server.reload(changed).await.expect("same config again");
    alice.expect_nothing().await;
    let who = alice.request(json!({"type": "rooms"})).await;
    assert_eq!(who["rooms"][1]["topic"], "incident open");

    // Out of the config: the empty room goes now, the occupied one when empty.
    server.reload("").await.expect("reload without rooms");
    let rooms = alice.request(json!({"type": "rooms"})).await;
    assert_eq!(
        rooms["rooms"],
        json!([{"room": "ops", "members": 1, "topic": "incident open"}])
    );
    alice.request(json!({"type": "leave", "room": "ops"})).await;
    let rooms = alice.request(json!({"type": "rooms"})).await;
    assert_eq!(rooms["rooms"], json!([]));
    server.shutdown().await;
}

#[tokio::test]
async fn limits_apply_to_connections_made_after_the_reload() {
    let server = TestServer::start("").await;
    let mut alice = Client::connect(&server).await;
    let before = alice.hello("alice").await;
    assert_eq!(before["limits"]["max_text_bytes"], 4096);
    alice.join("lobby").await;

    server
        .reload("[limits]\nmax_text_bytes = 100\nmax_rooms = 1")
        .await
        .expect("reload");
    let mut bob = Client::connect(&server).await;
    let hello = bob.hello("bob").await;
    assert_eq!(hello["limits"]["max_text_bytes"], 100);
    assert_eq!(hello["limits"]["max_rooms"], 1);
    bob.join("lobby").await;
    let long = "x".repeat(200);
    bob.request_error(
        json!({"type": "message", "room": "lobby", "text": long}),
        "bad_text",
    )
    .await;
    bob.request_error(json!({"type": "join", "room": "dev"}), "too_many_rooms")
        .await;

    // Alice keeps the limits her hello reported.
    let _bob_joined = alice.recv().await;
    alice.say("lobby", &long).await;
    alice.join("dev").await;
    server.shutdown().await;
}

#[tokio::test]
async fn max_connections_and_history_keep_apply_at_once() {
    let server = TestServer::start("[limits]\nhistory_keep = 10").await;
    let mut alice = registered(&server, "alice").await;
    alice.join("lobby").await;
    for n in 1..=5 {
        alice.say("lobby", &format!("message {n}")).await;
    }

    server
        .reload("[limits]\nhistory_keep = 2\nmax_connections = 1")
        .await
        .expect("reload");
    let mut bob = Client::connect(&server).await;
    assert_frame(
        &bob.recv().await,
        json!({"type": "bye", "reason": "server full"}),
    );
    let page = alice
        .request(json!({"type": "history", "room": "lobby"}))
        .await;
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["message 4", "message 5"]);

    // Raised again, the next newcomer is let in.
    server
        .reload("[limits]\nmax_connections = 2")
        .await
        .expect("reload");
    registered(&server, "bob").await;
    server.shutdown().await;
}

#[tokio::test]
async fn certificate_rotation_serves_new_connections_and_keeps_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_certificate(&dir.path().join("first"));
    let server = TestServer::start(&first.tls_table()).await;
    assert_eq!(server.fingerprint, first.fingerprint);
    let mut alice = Client::connect_pinned(server.addr(), &first.fingerprint, None)
        .await
        .expect("connect with the first certificate");
    alice.hello("alice").await;
    alice.join("lobby").await;

    let second = write_certificate(&dir.path().join("second"));
    let report = server.reload(&second.tls_table()).await.expect("reload");
    assert!(report.certificate_changed);
    assert_eq!(report.fingerprint, second.fingerprint);
    assert_eq!(report.applied, ["tls"]);

    assert!(
        Client::connect_pinned(server.addr(), &first.fingerprint, None)
            .await
            .is_err(),
        "a new connection was still served the first certificate"
    );
    let mut bob = Client::connect_pinned(server.addr(), &second.fingerprint, None)
        .await
        .expect("connect with the second certificate");
    bob.hello("bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.recv().await["nick"], "bob");
    alice.say("lobby", "still here").await;
    assert_eq!(bob.recv().await["text"], "still here");
    server.shutdown().await;
}

#[tokio::test]
async fn a_certificate_that_cannot_be_loaded_refuses_the_whole_reload() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write_certificate(dir.path());
    let server = TestServer::start(&format!("motd = \"one\"\n{}", cert.tls_table())).await;

    std::fs::write(&cert.key, "not a key\n").unwrap();
    let refused = server
        .reload(&format!("motd = \"two\"\n{}", cert.tls_table()))
        .await
        .expect_err("a broken key must refuse the reload");
    assert_eq!(refused.key, "tls.key");
    assert_eq!(refused.path, cert.key);

    let mut bob = Client::connect_pinned(server.addr(), &cert.fingerprint, None)
        .await
        .expect("the old certificate is still served");
    assert_eq!(bob.hello("bob").await["motd"], "one");
    server.shutdown().await;
}

#[tokio::test]
async fn keys_that_take_a_restart_are_reported_and_left_as_they_run() {
    let server = TestServer::start("").await;
    let report = server
        .reload(
            "motd = \"hi\"\nlog_format = \"json\"\n\
             [[listen]]\naddr = \"127.0.0.1:0\"\ntls = false\n",
        )
        .await
        .expect("reload");
    assert_eq!(report.needs_restart, ["listen", "log_format"]);
    assert_eq!(report.applied, ["motd"]);

    // Still the one listener, and the part that applies live did.
    let mut alice = Client::connect(&server).await;
    assert_eq!(alice.hello("alice").await["motd"], "hi");
    server.shutdown().await;
}
