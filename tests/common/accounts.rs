//! Accounts and moderation (protocol 1.2), as the tests drive them: the
//! `[accounts]` table, connections that register or log in, a clean `quit`,
//! and moderation requests whose room event the requester sees before its `ok`.
//! Shared by `accounts.rs`, `moderation.rs` and `moderation_process.rs`.

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::{assert_frame, normalize, Client, TestServer};

/// The password the tests' accounts are registered with (8+ bytes, as the
/// server requires).
pub const PASSWORD: &str = "correct horse battery";

/// An `[accounts]` table: `registration` is "open", "closed" or "off",
/// `operators` the server operators' account names.
pub fn accounts_table(registration: &str, operators: &[&str]) -> String {
    let operators: Vec<String> = operators
        .iter()
        .map(|name| toml::Value::String((*name).to_owned()).to_string())
        .collect();
    format!(
        "[accounts]\nregistration = \"{registration}\"\noperators = [{}]\n",
        operators.join(", ")
    )
}

impl Client {
    /// Sends `register` `{password}` and asserts the `ok` names the connection's
    /// own nick as the new account.
    pub async fn register(&mut self, nick: &str, password: &str) {
        let frame = self
            .request(json!({"type": "register", "password": password}))
            .await;
        assert_frame(&frame, json!({"type": "ok", "account": nick}));
    }

    /// Quits and reads the `ok`, the `bye` and the close, so the nick is free
    /// once this returns.
    pub async fn quit(&mut self) {
        self.send(json!({"type": "quit"})).await;
        assert_frame(&self.recv().await, json!({"type": "ok"}));
        self.expect_bye(json!("quit")).await;
    }

    /// Asserts the next frame is `bye` with `reason` and that the connection
    /// closes after it.
    pub async fn expect_bye(&mut self, reason: Value) {
        assert_frame(&self.recv().await, json!({"type": "bye", "reason": reason}));
        self.expect_closed().await;
    }

    /// Sends a state-changing moderation request from a member of its room and
    /// returns `(event, ok)`: the room event comes first (the requester is a
    /// member), then the `ok`, which names the event's room, seq and ts.
    pub async fn moderate(&mut self, request: Value) -> (Value, Value) {
        self.send(request.clone()).await;
        let event = self.recv().await;
        assert_ne!(
            event["type"], "error",
            "{}: {request} was refused: {event}",
            self.label
        );
        assert_ne!(
            event["type"], "ok",
            "{}: {request} was answered without its room event: {event}",
            self.label
        );
        let ok = self.recv().await;
        assert_ok_of(&ok, &event);
        (event, ok)
    }

    /// Sends a state-changing moderation request from someone who is not a
    /// member of the room (a server operator) and returns the `ok`.
    pub async fn moderate_from_outside(&mut self, request: Value) -> Value {
        let ok = self.request(request.clone()).await;
        assert_eq!(
            ok["type"], "ok",
            "{}: {request} was refused: {ok}",
            self.label
        );
        assert!(
            ok["seq"].is_u64(),
            "{}: {request}'s ok has no seq: {ok}",
            self.label
        );
        ok
    }
}

/// Asserts `ok` is the response to the moderation request that caused
/// `event`: `{"type":"ok","room","seq","ts"}` with the event's values (a
/// `flags` ok also carries the resulting flags).
#[track_caller]
pub fn assert_ok_of(ok: &Value, event: &Value) {
    let mut expected =
        json!({"type": "ok", "room": event["room"], "seq": event["seq"], "ts": event["ts"]});
    if event["type"] == "flags" {
        expected["flags"] = flags_of(event);
    }
    assert_eq!(
        normalize(ok),
        normalize(&expected),
        "\n  ok:    {ok}\n  event: {event}"
    );
    assert_eq!(ok["ts"], event["ts"], "the ok and its event differ in ts");
}

/// The four flags a `flags` event carries, as the `flags` object of its `ok`.
pub fn flags_of(event: &Value) -> Value {
    json!({
        "invite_only": event["invite_only"],
        "moderated": event["moderated"],
        "topic_lock": event["topic_lock"],
        "accounts_only": event["accounts_only"],
    })
}

/// A `flags` object; every flag not named is false.
pub fn flags(set: &[&str]) -> Value {
    let mut flags = json!({"invite_only": false, "moderated": false, "topic_lock": false, "accounts_only": false});
    for name in set {
        assert!(flags.get(*name).is_some(), "no flag named {name}");
        flags[*name] = json!(true);
    }
    flags
}

/// Connects to `addr` (pinning `fingerprint`) and logs in as `nick`, asserting
/// the `hello` `ok` names the account.
pub async fn login_at(addr: SocketAddr, fingerprint: &str, nick: &str, password: &str) -> Client {
    let mut client = Client::connect_pinned(addr, fingerprint, None)
        .await
        .unwrap_or_else(|e| panic!("TLS connection to {addr} failed: {e}"));
    client.label = format!("{nick} ({})", client.label);
    let ok = client
        .request(json!({"type": "hello", "nick": nick, "account_password": password}))
        .await;
    assert_eq!(ok["type"], "ok", "{nick}: login failed: {ok}");
    assert_eq!(ok["nick"], nick, "{nick}: login ok: {ok}");
    assert_eq!(ok["account"], nick, "{nick}: login ok: {ok}");
    client
}

/// [`login_at`] the test server's TLS listener.
pub async fn login(server: &TestServer, nick: &str, password: &str) -> Client {
    login_at(server.addr(), &server.fingerprint, nick, password).await
}

/// A connection registered as `nick` that made its nick an account with
/// [`PASSWORD`] (so it is logged in).
pub async fn account(server: &TestServer, nick: &str) -> Client {
    let mut client = super::registered(server, nick).await;
    client.register(nick, PASSWORD).await;
    client
}
