//! Accounts (protocol 1.2): `register`, logging in with `hello`
//! `account_password`, registered nicks refused without their password, the
//! nick lock, `set_password`, `drop_account`, the registration modes, the
//! Argon2id hashes in the store, and the server operators' `suspend` and
//! `kill`.

mod common;

use common::accounts::*;
use common::*;
use serde_json::json;

/// A server whose one operator is the account `root`.
fn with_root() -> String {
    accounts_table("open", &["root"])
}

/// True when `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn register_then_log_in_on_a_new_connection() {
    let server = TestServer::start("").await;
    let mut alice = Client::connect(&server).await;
    // Not logged in: no `account` in the hello ok, and the protocol is 1.2.
    assert_frame(
        &alice
            .request(json!({"type": "hello", "nick": "alice", "id": "h"}))
            .await,
        json!({"type": "ok", "id": "h", "nick": "alice", "server": SERVER_NAME,
               "version": VERSION, "protocol": "1.2", "limits": default_limits()}),
    );
    assert_frame(
        &alice
            .request(json!({"type": "register", "password": PASSWORD, "id": "r"}))
            .await,
        json!({"type": "ok", "id": "r", "account": "alice"}),
    );
    // Registering logged the connection in.
    alice.join("lobby").await;
    assert_frame(
        &alice
            .request(json!({"type": "who", "room": "lobby", "detail": true}))
            .await,
        json!({"type": "ok", "room": "lobby", "members": [{"nick": "alice", "account": "alice"}]}),
    );
    alice.quit().await;

    let mut again = Client::connect(&server).await;
    assert_frame(
        &again
            .request(
                json!({"type": "hello", "nick": "alice", "account_password": PASSWORD, "id": 7}),
            )
            .await,
        json!({"type": "ok", "id": 7, "nick": "alice", "server": SERVER_NAME,
               "version": VERSION, "protocol": "1.2", "limits": default_limits(),
               "account": "alice"}),
    );
    again.join("lobby").await;
    assert_frame(
        &again
            .request(json!({"type": "who", "room": "lobby", "detail": true}))
            .await,
        json!({"type": "ok", "room": "lobby", "members": [{"nick": "alice", "account": "alice"}]}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_registered_nick_is_refused_without_its_password_and_the_connection_stays() {
    let server = TestServer::start("").await;
    let mut alice = account(&server, "alice").await;
    alice.quit().await;

    let mut c = Client::connect(&server).await;
    // In any case, as nicks compare.
    for (i, nick) in ["alice", "ALICE"].iter().enumerate() {
        c.request_error(
            json!({"type": "hello", "nick": nick, "id": i}),
            "nick_registered",
        )
        .await;
    }
    // The connection stays: another nick works.
    assert_frame(
        &c.request(json!({"type": "hello", "nick": "bob"})).await,
        json!({"type": "ok", "nick": "bob", "server": SERVER_NAME,
               "version": VERSION, "protocol": "1.2", "limits": default_limits()}),
    );
    // Another user may not take a registered nick with `nick` either.
    c.request_error(
        json!({"type": "nick", "nick": "Alice", "id": "n"}),
        "nick_registered",
    )
    .await;
    assert_frame(
        &c.request(json!({"type": "nick", "nick": "bobby"})).await,
        json!({"type": "ok", "nick": "bobby"}),
    );
    // And the account still logs in.
    login(&server, "alice", PASSWORD).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_wrong_account_password_is_refused_then_closed() {
    let server = TestServer::start("").await;
    let mut alice = account(&server, "alice").await;
    alice.quit().await;

    let attempts = [
        json!({"type": "hello", "nick": "alice", "account_password": "not the password", "id": "a"}),
        // A nick that is not an account has no password to match.
        json!({"type": "hello", "nick": "nobody", "account_password": PASSWORD, "id": "a"}),
    ];
    for attempt in &attempts {
        let mut c = Client::connect(&server).await;
        c.send(attempt.clone()).await;
        c.expect_error("auth_failed", Some(json!("a"))).await;
        c.expect_bye(json!("auth failed")).await;
    }
    assert_eq!(attempts.len(), 2);
    // Two failures are within the free tries: the right password works, and
    // the refused attempts took no nick.
    login(&server, "alice", PASSWORD).await;
    registered(&server, "nobody").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_logged_in_connection_cannot_change_its_nick() {
    let server = TestServer::start("").await;
    let mut alice = account(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);

    alice
        .request_error(
            json!({"type": "nick", "nick": "alice2", "id": 1}),
            "not_permitted",
        )
        .await;
    bob.expect_nothing().await;
    assert_frame(
        &bob.request(json!({"type": "who", "room": "lobby", "detail": true}))
            .await,
        json!({"type": "ok", "room": "lobby", "members": [{"nick": "alice", "account": "alice"}, {"nick": "bob"}]}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn set_password_replaces_the_password() {
    const NEW: &str = "a brand new password";
    let server = TestServer::start("").await;
    let mut bob = registered(&server, "bob").await;
    let not_logged_in = [
        (
            json!({"type": "set_password", "old": PASSWORD, "new": NEW}),
            "needs_account",
        ),
        (
            json!({"type": "drop_account", "password": PASSWORD}),
            "needs_account",
        ),
    ];
    assert_eq!(bob.request_errors(&not_logged_in).await, 2);

    let mut alice = account(&server, "alice").await;
    alice
        .request_error(
            json!({"type": "set_password", "old": "not the password", "new": NEW, "id": 1}),
            "auth_failed",
        )
        .await;
    // A wrong old password does not end the session.
    alice.expect_nothing().await;
    alice
        .request_error(
            json!({"type": "set_password", "old": PASSWORD, "new": "short", "id": 2}),
            "weak_password",
        )
        .await;
    assert_frame(
        &alice
            .request(json!({"type": "set_password", "old": PASSWORD, "new": NEW, "id": 3}))
            .await,
        json!({"type": "ok", "id": 3}),
    );
    alice.quit().await;

    // The old password stops working (the second failure of this address).
    let mut old = Client::connect(&server).await;
    old.send(json!({"type": "hello", "nick": "alice", "account_password": PASSWORD}))
        .await;
    old.expect_error("auth_failed", None).await;
    old.expect_bye(json!("auth failed")).await;
    login(&server, "alice", NEW).await;
    server.shutdown().await;
}

#[tokio::test]
async fn drop_account_frees_the_nick_and_the_rooms_it_owned() {
    let server = TestServer::start("").await;
    let mut alice = account(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = account(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);
    let (claim, _) = alice
        .moderate(json!({"type": "claim", "room": "lobby"}))
        .await;
    assert_eq!(bob.ping_roundtrip().await, vec![claim]);

    alice
        .request_error(
            json!({"type": "drop_account", "password": "not the password", "id": 1}),
            "auth_failed",
        )
        .await;
    alice.expect_nothing().await;
    assert_frame(
        &alice
            .request(json!({"type": "drop_account", "password": PASSWORD, "id": 2}))
            .await,
        json!({"type": "ok", "id": 2}),
    );
    // No room event for it; alice keeps her nick, no longer logged in, and
    // the room has no owner left.
    bob.expect_nothing().await;
    assert_frame(
        &bob.request(json!({"type": "who", "room": "lobby", "detail": true}))
            .await,
        json!({"type": "ok", "room": "lobby", "members": [{"nick": "alice"}, {"nick": "bob", "account": "bob"}]}),
    );
    let (claim, _) = bob
        .moderate(json!({"type": "claim", "room": "lobby"}))
        .await;
    assert_frame(
        &claim,
        json!({"type": "claim", "room": "lobby", "seq": 2, "ts": "<ts>", "by": "bob"}),
    );
    assert_eq!(alice.ping_roundtrip().await, vec![claim]);
    alice.quit().await;

    // The nick is anybody's now, without a password.
    let mut carol = Client::connect(&server).await;
    assert_frame(
        &carol
            .request(json!({"type": "hello", "nick": "alice"}))
            .await,
        json!({"type": "ok", "nick": "alice", "server": SERVER_NAME,
               "version": VERSION, "protocol": "1.2", "limits": default_limits()}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn passwords_must_be_8_to_1024_bytes() {
    let server = TestServer::start("").await;
    let mut alice = registered(&server, "alice").await;
    let too_long = "x".repeat(1025);
    let weak = [
        (json!({"type": "register", "password": ""}), "weak_password"),
        (
            json!({"type": "register", "password": "1234567"}),
            "weak_password",
        ),
        // Six bytes in three characters: bytes count, not characters.
        (
            json!({"type": "register", "password": "ééé"}),
            "weak_password",
        ),
        (
            json!({"type": "register", "password": too_long}),
            "weak_password",
        ),
    ];
    assert_eq!(alice.request_errors(&weak).await, 4);
    // Four characters, eight bytes: long enough.
    alice.register("alice", "éééé").await;
    // Registered once, it cannot register again.
    alice
        .request_error(
            json!({"type": "register", "password": PASSWORD, "id": "again"}),
            "not_permitted",
        )
        .await;
    alice.quit().await;
    login(&server, "alice", "éééé").await;

    let mut bob = registered(&server, "bob").await;
    let longest = "x".repeat(1024);
    bob.register("bob", &longest).await;
    bob.quit().await;
    login(&server, "bob", &longest).await;
    server.shutdown().await;
}

#[tokio::test]
async fn registration_off_refuses_everyone() {
    let server = TestServer::start(&accounts_table("off", &[])).await;
    let mut alice = registered(&server, "alice").await;
    let refused = [
        (
            json!({"type": "register", "password": PASSWORD}),
            "not_permitted",
        ),
        (
            json!({"type": "register", "nick": "carol", "password": PASSWORD}),
            "not_permitted",
        ),
    ];
    assert_eq!(alice.request_errors(&refused).await, 2);
    // Nothing was registered: both nicks are free.
    alice.quit().await;
    registered(&server, "alice").await;
    registered(&server, "carol").await;
    server.shutdown().await;
}

#[tokio::test]
async fn only_operators_register_other_nicks_and_closed_leaves_it_to_them() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let server = TestServer::start_in(&state, &with_root()).await;
    // The first operator registers its own nick while registration is open.
    let mut root = account(&server, "root").await;
    let mut alice = registered(&server, "alice").await;
    alice
        .request_error(
            json!({"type": "register", "nick": "dave", "password": PASSWORD, "id": 1}),
            "not_permitted",
        )
        .await;
    assert_frame(
        &root
            .request(json!({"type": "register", "nick": "dave", "password": PASSWORD, "id": 2}))
            .await,
        json!({"type": "ok", "id": 2, "account": "dave"}),
    );
    root.request_error(
        json!({"type": "register", "nick": "Dave", "password": PASSWORD, "id": 3}),
        "nick_registered",
    )
    .await;
    drop((root, alice));
    server.shutdown().await;

    let server = TestServer::start_in(&state, &accounts_table("closed", &["root"])).await;
    let mut bob = registered(&server, "bob").await;
    bob.request_error(
        json!({"type": "register", "password": PASSWORD, "id": 4}),
        "not_permitted",
    )
    .await;
    let mut root = login(&server, "root", PASSWORD).await;
    assert_frame(
        &root
            .request(json!({"type": "register", "nick": "carol", "password": PASSWORD, "id": 5}))
            .await,
        json!({"type": "ok", "id": 5, "account": "carol"}),
    );
    // Registering on carol's behalf logged nobody in as carol: the operator
    // stays root, and carol logs in herself.
    root.join("lobby").await;
    assert_frame(
        &root
            .request(json!({"type": "who", "room": "lobby", "detail": true}))
            .await,
        json!({"type": "ok", "room": "lobby", "members": [{"nick": "root", "account": "root"}]}),
    );
    login(&server, "carol", PASSWORD).await;
    // dave's account, made before the restart, is still there.
    login(&server, "dave", PASSWORD).await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_store_holds_argon2id_hashes_never_the_passwords() {
    const FIRST: &[u8] = b"pw-Zebra-Quokka-7731";
    const SECOND: &[u8] = b"pw-Walrus-Okapi-4402";
    const THIRD: &[u8] = b"pw-Heron-Tapir-9018";
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let server = TestServer::start_in(&state, "").await;
    let text = |bytes: &[u8]| std::str::from_utf8(bytes).unwrap().to_owned();
    let mut alice = registered(&server, "alice").await;
    alice.register("alice", &text(FIRST)).await;
    let ok = alice
        .request(json!({"type": "set_password", "old": text(FIRST), "new": text(SECOND)}))
        .await;
    assert_frame(&ok, json!({"type": "ok"}));
    let mut bob = registered(&server, "bob").await;
    bob.register("bob", &text(THIRD)).await;
    drop((alice, bob));
    server.shutdown().await;

    let path = state.join("accounts.redb");
    let store = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read the account store {}: {e}", path.display()));
    let passwords = [FIRST, SECOND, THIRD];
    for password in passwords {
        assert!(
            !contains(&store, password),
            "{} holds the password {:?} in clear",
            path.display(),
            text(password)
        );
    }
    assert_eq!(passwords.len(), 3);
    // PHC strings with the parameters the team chose (OWASP's minimum).
    assert!(
        contains(&store, b"$argon2id$v=19$m=19456,t=2,p=1$"),
        "{} holds no Argon2id PHC string with m=19456,t=2,p=1",
        path.display()
    );
}

#[tokio::test]
async fn an_operator_suspends_and_unsuspends_an_account() {
    let server = TestServer::start(&with_root()).await;
    let mut root = account(&server, "root").await;
    let mut alice = account(&server, "alice").await;
    alice.join("lobby").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    assert_eq!(alice.ping_roundtrip().await.len(), 1);

    bob.request_error(
        json!({"type": "suspend", "account": "alice", "id": 1}),
        "not_permitted",
    )
    .await;
    root.request_error(
        json!({"type": "suspend", "account": "ghost", "id": 2}),
        "no_such_account",
    )
    .await;
    alice.expect_nothing().await;

    assert_frame(
        &root
            .request(json!({"type": "suspend", "account": "alice", "id": 3}))
            .await,
        json!({"type": "ok", "id": 3}),
    );
    // Her live connection is ended, and the room sees her go.
    alice.expect_bye(json!("suspended by root")).await;
    let leave = normalize(&bob.recv().await);
    assert_eq!(
        (&leave["type"], &leave["room"], &leave["nick"]),
        (&json!("leave"), &json!("lobby"), &json!("alice")),
        "{leave}"
    );
    bob.expect_nothing().await;

    // A suspended account cannot log in, and the connection stays.
    let mut again = Client::connect(&server).await;
    again
        .request_error(
            json!({"type": "hello", "nick": "alice", "account_password": PASSWORD, "id": 4}),
            "not_permitted",
        )
        .await;
    again.hello("alice2").await;

    assert_frame(
        &root
            .request(json!({"type": "unsuspend", "account": "alice", "id": 5}))
            .await,
        json!({"type": "ok", "id": 5}),
    );
    login(&server, "alice", PASSWORD).await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_operator_kills_a_nick_and_the_rooms_see_it_leave() {
    let server = TestServer::start(&with_root()).await;
    let mut root = account(&server, "root").await;
    let mut bob = registered(&server, "bob").await;
    bob.join("lobby").await;
    let mut carol = registered(&server, "carol").await;
    carol.join("lobby").await;
    let mut dave = registered(&server, "dave").await;
    dave.join("lobby").await;
    for member in [&mut bob, &mut carol] {
        member.ping_roundtrip().await;
    }

    carol
        .request_error(
            json!({"type": "kill", "nick": "bob", "id": 1}),
            "not_permitted",
        )
        .await;
    bob.expect_nothing().await;

    assert_frame(
        &root
            .request(json!({"type": "kill", "nick": "bob", "reason": "spam", "id": 2}))
            .await,
        json!({"type": "ok", "id": 2}),
    );
    bob.expect_bye(json!("killed by root: spam")).await;
    for member in [&mut carol, &mut dave] {
        assert_frame(
            &member.recv().await,
            json!({"type": "leave", "room": "lobby", "nick": "bob", "reason": "killed by root: spam", "ts": "<ts>"}),
        );
        member.expect_nothing().await;
    }

    // Without a reason.
    assert_frame(
        &root
            .request(json!({"type": "kill", "nick": "carol", "id": 3}))
            .await,
        json!({"type": "ok", "id": 3}),
    );
    carol.expect_bye(json!("killed by root")).await;
    assert_frame(
        &dave.recv().await,
        json!({"type": "leave", "room": "lobby", "nick": "carol", "reason": "killed by root", "ts": "<ts>"}),
    );
    server.shutdown().await;
}
