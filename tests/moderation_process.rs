//! Moderation with the real binary: a ban the server answered `ok` holds after
//! the server is killed with SIGKILL and started again, and the room's owner
//! is still its owner.

mod common;

use common::accounts::*;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_answered_ok_before_a_sigkill_holds_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let extra = format!(
        "[limits]\n{NO_RATE_LIMIT}\n{}\n{}",
        log_table(&logs, "fsync = \"always\""),
        accounts_table("open", &[])
    );
    let config = write_binary_config(tmp.path(), &extra);
    let mut server = BinaryServer::start(&config).await;
    let mut alice = server.client("alice").await;
    alice.register("alice", PASSWORD).await;
    let mut bob = server.client("bob").await;
    bob.register("bob", PASSWORD).await;
    alice.join("ops").await;
    bob.join("ops").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    let (claim, _) = alice
        .moderate(json!({"type": "claim", "room": "ops"}))
        .await;
    assert_eq!(bob.ping_roundtrip().await, vec![claim.clone()]);
    let (ban, _) = alice
        .moderate(json!({"type": "ban", "room": "ops", "account": "bob", "reason": "spam"}))
        .await;
    // Killed the moment the ban is acknowledged.
    server.kill();
    drop((alice, bob));
    assert_frame(
        &ban,
        json!({"type": "ban", "room": "ops", "seq": 2, "ts": "<ts>", "by": "alice", "account": "bob", "reason": "spam"}),
    );

    let server = BinaryServer::start(&config).await;
    let mut bob = login_at(server.addr, &server.fingerprint, "bob", PASSWORD).await;
    bob.request_error(json!({"type": "join", "room": "ops", "id": 1}), "banned")
        .await;
    let mut alice = login_at(server.addr, &server.fingerprint, "alice", PASSWORD).await;
    let join = alice.join("ops").await;
    assert_eq!(join["history"], json!([claim, ban]), "{join}");
    let mut carol = server.client("carol").await;
    carol.join("ops").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    // The owner is still the owner: its kick works, with the next seq.
    let (kick, _) = alice
        .moderate(json!({"type": "kick", "room": "ops", "nick": "carol"}))
        .await;
    assert_frame(
        &kick,
        json!({"type": "kick", "room": "ops", "seq": 3, "ts": "<ts>", "by": "alice", "nick": "carol"}),
    );
    assert_eq!(carol.ping_roundtrip().await, vec![kick]);
}
