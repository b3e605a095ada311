//! Room moderation (protocol 1.2): `claim`, `role`, `kick`, `ban`/`unban`,
//! `mute`/`unmute`, `flags` and `invite`, each allowed and refused by role;
//! what the flags do at `join`, `message` and `topic`; a server operator's power
//! in a room it holds no role in; every moderation action a room event with the
//! room's next seq, in `history` among the messages; claimed rooms kept when
//! empty and, with the log on, across a restart.

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::accounts::*;
use common::*;
use serde_json::{json, Value};

/// Accounts open, `root` a server operator, no rate limit (the tests send
/// many requests from one connection).
fn config() -> String {
    format!(
        "{}[limits]\n{NO_RATE_LIMIT}",
        accounts_table("open", &["root"])
    )
}

/// [`config`] with the message log on in `log_dir`.
fn logged_config(log_dir: &Path) -> String {
    format!("{}\n{}", config(), log_table(log_dir, ""))
}

/// The members of one room, each a connection named by its nick, so a test
/// can act as any of them and check what every other member was sent.
struct Room {
    name: &'static str,
    members: Vec<(String, Client)>,
}

impl Room {
    fn new(name: &'static str) -> Room {
        Room {
            name,
            members: Vec::new(),
        }
    }

    /// `client` (registered as `nick`) joins; the members already there are
    /// told, and nothing else.
    async fn enter(&mut self, nick: &str, mut client: Client) {
        client.join(self.name).await;
        let join = json!({"type": "join", "room": self.name, "nick": nick, "ts": "<ts>"});
        for (_, member) in &mut self.members {
            let seen: Vec<Value> = member
                .ping_roundtrip()
                .await
                .iter()
                .map(normalize)
                .collect();
            assert_eq!(seen, vec![join.clone()], "{}", member.label);
        }
        self.members.push((nick.to_owned(), client));
    }

    /// A new connection registered as `nick` (no account) joins.
    async fn enter_guest(&mut self, server: &TestServer, nick: &str) {
        let client = registered(server, nick).await;
        self.enter(nick, client).await;
    }

    /// A new connection that registers `nick` as an account joins.
    async fn enter_account(&mut self, server: &TestServer, nick: &str) {
        let client = account(server, nick).await;
        self.enter(nick, client).await;
    }

    fn get(&mut self, nick: &str) -> &mut Client {
        self.members
            .iter_mut()
            .find(|(name, _)| name == nick)
            .map(|(_, client)| client)
            .unwrap_or_else(|| panic!("{nick} is not a member of the test's room"))
    }

    /// Takes `nick`'s connection out of the room's bookkeeping (after a kick,
    /// a ban or a leave).
    fn take(&mut self, nick: &str) -> Client {
        let at = self
            .members
            .iter()
            .position(|(name, _)| name == nick)
            .unwrap_or_else(|| panic!("{nick} is not a member of the test's room"));
        self.members.remove(at).1
    }

    /// As `nick`, a moderation request that becomes a room event: checks the
    /// `ok` and that every other member was sent exactly that event, and
    /// returns it.
    async fn act(&mut self, nick: &str, request: Value) -> Value {
        let (event, _) = self.get(nick).moderate(request).await;
        self.others_saw(nick, std::slice::from_ref(&event)).await;
        event
    }

    /// As `actor`, who is not a member, a moderation request: every member is
    /// sent its event, which is returned.
    async fn act_from_outside(&mut self, actor: &mut Client, request: Value) -> Value {
        let ok = actor.moderate_from_outside(request).await;
        let (first_nick, first) = &mut self.members[0];
        let first_nick = first_nick.clone();
        let seen = first.ping_roundtrip().await;
        assert_eq!(seen.len(), 1, "{}: {seen:?}", first.label);
        let event = seen[0].clone();
        assert_ok_of(&ok, &event);
        self.others_saw(&first_nick, std::slice::from_ref(&event))
            .await;
        event
    }

    /// As `nick`, a request that must fail with `code` and tell nobody.
    async fn refused(&mut self, nick: &str, request: Value, code: &str) {
        self.get(nick).request_error(request, code).await;
        self.others_saw(nick, &[]).await;
    }

    /// As `nick`, a room message: returns its echo, after checking every other
    /// member was sent it too.
    async fn say(&mut self, nick: &str, text: &str) -> Value {
        let name = self.name;
        let (echo, ok) = self.get(nick).say(name, text).await;
        assert_eq!(ok["seq"], echo["seq"], "{ok} {echo}");
        self.others_saw(nick, std::slice::from_ref(&echo)).await;
        echo
    }

    /// Asserts every member but `nick` was sent exactly `frames` since it was
    /// last read.
    async fn others_saw(&mut self, nick: &str, frames: &[Value]) {
        for (name, member) in &mut self.members {
            if name != nick {
                assert_eq!(member.ping_roundtrip().await, frames, "{}", member.label);
            }
        }
    }

    /// Asserts no member was sent anything.
    async fn quiet(&mut self) {
        self.others_saw("", &[]).await;
    }

    /// `who` with `detail`, asked by `nick`.
    async fn who(&mut self, nick: &str) -> Value {
        let name = self.name;
        let frame = self
            .get(nick)
            .request(json!({"type": "who", "room": name, "detail": true}))
            .await;
        assert_eq!(frame["type"], "ok", "{frame}");
        frame["members"].clone()
    }
}

/// `room` claimed by the account `owner`, who is its only member so far.
async fn claimed(server: &TestServer, room: &'static str, owner: &str) -> Room {
    let mut room = Room::new(room);
    room.enter_account(server, owner).await;
    let name = room.name;
    let claim = room
        .act(owner, json!({"type": "claim", "room": name}))
        .await;
    assert_frame(
        &claim,
        json!({"type": "claim", "room": name, "seq": 1, "ts": "<ts>", "by": owner}),
    );
    room
}

fn role(room: &str, account: &str, role: &str) -> Value {
    json!({"type": "role", "room": room, "account": account, "role": role})
}

#[tokio::test]
async fn claim_needs_a_logged_in_member_and_an_unclaimed_room() {
    let server = TestServer::start(&config()).await;
    let mut room = Room::new("ops");
    room.enter_guest(&server, "bob").await;
    room.refused(
        "bob",
        json!({"type": "claim", "room": "ops", "id": 1}),
        "needs_account",
    )
    .await;
    let mut alice = account(&server, "alice").await;
    alice
        .request_error(
            json!({"type": "claim", "room": "ops", "id": 2}),
            "not_in_room",
        )
        .await;
    room.enter("alice", alice).await;
    let claim = room
        .act("alice", json!({"type": "claim", "room": "#OPS"}))
        .await;
    assert_frame(
        &claim,
        json!({"type": "claim", "room": "ops", "seq": 1, "ts": "<ts>", "by": "alice"}),
    );
    assert_eq!(
        room.who("bob").await,
        json!([{"nick": "alice", "account": "alice", "role": "owner"}, {"nick": "bob"}])
    );

    room.enter_account(&server, "dave").await;
    let again = [("dave", 3), ("alice", 4)];
    for (nick, id) in again {
        room.refused(
            nick,
            json!({"type": "claim", "room": "ops", "id": id}),
            "not_permitted",
        )
        .await;
    }
    assert_eq!(again.len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn roles_are_granted_and_taken_strictly_below_ones_own_level() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    for nick in ["bob", "carol", "dave", "eve"] {
        room.enter_account(&server, nick).await;
    }
    let granted = room.act("alice", role("ops", "bob", "op")).await;
    assert_frame(
        &granted,
        json!({"type": "role", "room": "ops", "seq": 2, "ts": "<ts>", "by": "alice", "account": "bob", "role": "op"}),
    );
    room.act("alice", role("ops", "eve", "op")).await;
    let voice = room.act("bob", role("ops", "carol", "voice")).await;
    assert_frame(
        &voice,
        json!({"type": "role", "room": "ops", "seq": 4, "ts": "<ts>", "by": "bob", "account": "carol", "role": "voice"}),
    );

    let refusals = [
        // No role: no power.
        ("dave", role("ops", "carol", "none"), "not_permitted"),
        // voice is below op.
        ("carol", role("ops", "dave", "voice"), "not_permitted"),
        // An op grants only below op, and changes only roles below op.
        ("bob", role("ops", "dave", "op"), "not_permitted"),
        ("bob", role("ops", "eve", "none"), "not_permitted"),
        ("bob", role("ops", "alice", "none"), "not_permitted"),
        // Only a server operator makes owners.
        ("alice", role("ops", "dave", "owner"), "not_permitted"),
        ("alice", role("ops", "ghost", "voice"), "no_such_account"),
    ];
    for (i, (nick, request, code)) in refusals.iter().enumerate() {
        let mut request = request.clone();
        request["id"] = json!(i);
        room.refused(nick, request, code).await;
    }
    assert_eq!(refusals.len(), 7);

    let removed = room.act("bob", role("ops", "carol", "none")).await;
    assert_frame(
        &removed,
        json!({"type": "role", "room": "ops", "seq": 5, "ts": "<ts>", "by": "bob", "account": "carol", "role": "none"}),
    );
    room.act("alice", role("ops", "bob", "none")).await;
    assert_eq!(
        room.who("dave").await,
        json!([
            {"nick": "alice", "account": "alice", "role": "owner"},
            {"nick": "bob", "account": "bob"},
            {"nick": "carol", "account": "carol"},
            {"nick": "dave", "account": "dave"},
            {"nick": "eve", "account": "eve", "role": "op"},
        ])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_op_kicks_a_member_out_with_one_event() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_account(&server, "bob").await;
    room.enter_guest(&server, "carol").await;
    room.enter_guest(&server, "dave").await;
    room.act("alice", role("ops", "bob", "op")).await;
    let _erin = registered(&server, "erin").await;

    let kick = |nick: &str| json!({"type": "kick", "room": "ops", "nick": nick});
    let refusals = [
        ("dave", kick("carol"), "not_permitted"),
        // Not someone of one's own level or above.
        ("bob", kick("alice"), "not_permitted"),
        ("bob", kick("ghost"), "no_such_user"),
        ("bob", kick("erin"), "not_in_room"),
    ];
    for (nick, request, code) in &refusals {
        room.refused(nick, request.clone(), code).await;
    }
    assert_eq!(refusals.len(), 4);

    // The target is sent the kick like everyone else, and no leave follows.
    let event = room
        .act(
            "bob",
            json!({"type": "kick", "room": "ops", "nick": "carol", "reason": "spam"}),
        )
        .await;
    assert_frame(
        &event,
        json!({"type": "kick", "room": "ops", "seq": 3, "ts": "<ts>", "by": "bob", "nick": "carol", "reason": "spam"}),
    );
    let mut carol = room.take("carol");
    carol
        .request_error(
            json!({"type": "message", "room": "ops", "text": "still here?", "id": 1}),
            "not_in_room",
        )
        .await;
    room.quiet().await;

    let event = room
        .act(
            "alice",
            json!({"type": "kick", "room": "ops", "nick": "dave"}),
        )
        .await;
    assert_frame(
        &event,
        json!({"type": "kick", "room": "ops", "seq": 4, "ts": "<ts>", "by": "alice", "nick": "dave"}),
    );
    room.take("dave");
    assert_eq!(
        room.who("alice").await,
        json!([{"nick": "alice", "account": "alice", "role": "owner"}, {"nick": "bob", "account": "bob", "role": "op"}])
    );
    // A kick is not a ban.
    room.enter("carol", carol).await;
    server.shutdown().await;
}

#[tokio::test]
async fn bans_by_account_and_by_nick_remove_the_member_and_refuse_its_join() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_account(&server, "bob").await;
    room.enter_guest(&server, "carol").await;
    room.enter_guest(&server, "dave").await;
    let mut erin = account(&server, "erin").await;

    let refusals = [
        (
            "dave",
            json!({"type": "ban", "room": "ops", "nick": "carol"}),
            "not_permitted",
        ),
        (
            "alice",
            json!({"type": "ban", "room": "ops"}),
            "bad_request",
        ),
        (
            "alice",
            json!({"type": "ban", "room": "ops", "nick": "carol", "account": "bob"}),
            "bad_request",
        ),
    ];
    for (nick, request, code) in &refusals {
        room.refused(nick, request.clone(), code).await;
    }
    assert_eq!(refusals.len(), 3);

    // By account: the member is sent the ban, then is out.
    let ban = room
        .act(
            "alice",
            json!({"type": "ban", "room": "ops", "account": "bob", "reason": "spam"}),
        )
        .await;
    assert_frame(
        &ban,
        json!({"type": "ban", "room": "ops", "seq": 2, "ts": "<ts>", "by": "alice", "account": "bob", "reason": "spam"}),
    );
    let mut bob = room.take("bob");
    bob.request_error(
        json!({"type": "message", "room": "ops", "text": "hello?", "id": 1}),
        "not_in_room",
    )
    .await;
    let refused = bob.request(json!({"type": "join", "room": "ops"})).await;
    assert_error(&refused, "banned", None);
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("alice") && message.contains("spam"),
        "a ban's refusal says by whom and why: {refused}"
    );
    room.quiet().await;

    // By nick, for a nick that is no account.
    let ban = room
        .act(
            "alice",
            json!({"type": "ban", "room": "ops", "nick": "carol"}),
        )
        .await;
    assert_frame(
        &ban,
        json!({"type": "ban", "room": "ops", "seq": 3, "ts": "<ts>", "by": "alice", "nick": "carol"}),
    );
    let mut carol = room.take("carol");
    carol
        .request_error(json!({"type": "join", "room": "ops", "id": 2}), "banned")
        .await;

    // By nick, for a nick that is an account: an account ban.
    let ban = room
        .act(
            "alice",
            json!({"type": "ban", "room": "ops", "nick": "erin"}),
        )
        .await;
    assert_frame(
        &ban,
        json!({"type": "ban", "room": "ops", "seq": 4, "ts": "<ts>", "by": "alice", "account": "erin"}),
    );
    erin.request_error(json!({"type": "join", "room": "ops", "id": 3}), "banned")
        .await;

    let unban = room
        .act(
            "alice",
            json!({"type": "unban", "room": "ops", "account": "bob"}),
        )
        .await;
    assert_frame(
        &unban,
        json!({"type": "unban", "room": "ops", "seq": 5, "ts": "<ts>", "by": "alice", "account": "bob"}),
    );
    room.enter("bob", bob).await;
    // Unbanning someone who is not banned changes nothing: no event, no seq.
    assert_frame(
        &room
            .get("alice")
            .request(json!({"type": "unban", "room": "ops", "nick": "frank", "id": "u"}))
            .await,
        json!({"type": "ok", "id": "u", "room": "ops"}),
    );
    room.quiet().await;

    // An op bans below its level only.
    room.act("alice", role("ops", "bob", "op")).await;
    room.refused(
        "bob",
        json!({"type": "ban", "room": "ops", "account": "alice"}),
        "not_permitted",
    )
    .await;
    let ban = room
        .act("bob", json!({"type": "ban", "room": "ops", "nick": "dave"}))
        .await;
    assert_frame(
        &ban,
        json!({"type": "ban", "room": "ops", "seq": 7, "ts": "<ts>", "by": "bob", "nick": "dave"}),
    );
    room.take("dave");
    server.shutdown().await;
}

#[tokio::test]
async fn a_ban_with_a_duration_ends_at_its_until() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_account(&server, "bob").await;
    let ban = room
        .act(
            "alice",
            json!({"type": "ban", "room": "ops", "account": "bob", "duration": 1}),
        )
        .await;
    let until = ban["until"]
        .as_str()
        .unwrap_or_else(|| panic!("a ban with a duration has an `until`: {ban}"))
        .to_owned();
    assert!(is_protocol_timestamp(&until), "{ban}");
    let mut shown = ban.clone();
    shown["until"] = json!("<until>");
    assert_frame(
        &shown,
        json!({"type": "ban", "room": "ops", "seq": 2, "ts": "<ts>", "by": "alice", "account": "bob", "until": "<until>"}),
    );
    let parse = |ts: &str| humantime::parse_rfc3339(ts).unwrap();
    let until_at = parse(&until);
    let length = until_at
        .duration_since(parse(ban["ts"].as_str().unwrap()))
        .unwrap();
    assert!(
        (Duration::from_millis(990)..=Duration::from_millis(1100)).contains(&length),
        "a 1 s ban lasts {length:?}: {ban}"
    );

    // No sleeping: bob tries to join until the ban lets him, bounded.
    let mut bob = room.take("bob");
    let deadline = Instant::now() + FRAME_TIMEOUT;
    let first_try = SystemTime::now();
    let mut refusals = 0u32;
    loop {
        let sent = SystemTime::now();
        let answer = bob.request(json!({"type": "join", "room": "ops"})).await;
        if answer["type"] == "ok" {
            assert!(
                sent + Duration::from_millis(20) >= until_at,
                "bob joined at {}, before the ban's until {until}",
                humantime::format_rfc3339_millis(sent)
            );
            break;
        }
        assert_error(&answer, "banned", None);
        refusals += 1;
        assert!(
            Instant::now() < deadline,
            "still banned {FRAME_TIMEOUT:?} after a 1 s ban ({refusals} tries): {answer}"
        );
    }
    if first_try + Duration::from_millis(200) < until_at {
        assert!(refusals > 0, "the ban never applied");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_muted_member_can_neither_post_nor_set_the_topic() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_guest(&server, "bob").await;
    room.enter_account(&server, "dave").await;
    room.refused(
        "bob",
        json!({"type": "mute", "room": "ops", "nick": "dave"}),
        "not_permitted",
    )
    .await;

    let mute = room
        .act(
            "alice",
            json!({"type": "mute", "room": "ops", "nick": "bob", "reason": "calm down"}),
        )
        .await;
    assert_frame(
        &mute,
        json!({"type": "mute", "room": "ops", "seq": 2, "ts": "<ts>", "by": "alice", "nick": "bob", "reason": "calm down"}),
    );
    let muted = [
        json!({"type": "message", "room": "ops", "text": "but"}),
        json!({"type": "topic", "room": "ops", "topic": "free speech"}),
    ];
    for request in &muted {
        room.refused("bob", request.clone(), "muted").await;
    }
    assert_eq!(muted.len(), 2);
    // Still a member, and the others still talk.
    assert_eq!(
        room.who("bob").await,
        json!([{"nick": "alice", "account": "alice", "role": "owner"}, {"nick": "bob"}, {"nick": "dave", "account": "dave"}])
    );
    let echo = room.say("dave", "carry on").await;
    assert_eq!(echo["seq"], 3, "{echo}");

    let mute = room
        .act(
            "alice",
            json!({"type": "mute", "room": "ops", "account": "dave"}),
        )
        .await;
    assert_frame(
        &mute,
        json!({"type": "mute", "room": "ops", "seq": 4, "ts": "<ts>", "by": "alice", "account": "dave"}),
    );
    room.refused(
        "dave",
        json!({"type": "message", "room": "ops", "text": "hm"}),
        "muted",
    )
    .await;

    let unmute = room
        .act(
            "alice",
            json!({"type": "unmute", "room": "ops", "nick": "bob"}),
        )
        .await;
    assert_frame(
        &unmute,
        json!({"type": "unmute", "room": "ops", "seq": 5, "ts": "<ts>", "by": "alice", "nick": "bob"}),
    );
    let echo = room.say("bob", "thanks").await;
    assert_eq!(echo["seq"], 6, "{echo}");
    // Unmuting someone who is not muted: ok, no event, no seq.
    assert_frame(
        &room
            .get("alice")
            .request(json!({"type": "unmute", "room": "ops", "nick": "bob", "id": "u"}))
            .await,
        json!({"type": "ok", "id": "u", "room": "ops"}),
    );
    room.quiet().await;
    room.act(
        "alice",
        json!({"type": "unmute", "room": "ops", "account": "dave"}),
    )
    .await;
    room.say("dave", "back").await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_invite_only_room_lets_in_the_invited_once_and_the_roles() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_guest(&server, "carol").await;
    let flags_event = room
        .act(
            "alice",
            json!({"type": "flags", "room": "ops", "invite_only": true}),
        )
        .await;
    assert_frame(
        &flags_event,
        json!({"type": "flags", "room": "ops", "seq": 2, "ts": "<ts>", "by": "alice",
               "invite_only": true, "moderated": false, "topic_lock": false, "accounts_only": false}),
    );
    let mut bob = registered(&server, "bob").await;
    bob.request_error(
        json!({"type": "join", "room": "ops", "id": 1}),
        "invite_only",
    )
    .await;

    let refusals = [
        (
            "carol",
            json!({"type": "invite", "room": "ops", "nick": "bob"}),
            "not_permitted",
        ),
        (
            "alice",
            json!({"type": "invite", "room": "ops", "nick": "ghost"}),
            "no_such_user",
        ),
    ];
    for (nick, request, code) in &refusals {
        room.refused(nick, request.clone(), code).await;
    }
    assert_eq!(refusals.len(), 2);
    bob.expect_nothing().await;

    // The invitee alone is told; it is no room event.
    assert_frame(
        &room
            .get("alice")
            .request(json!({"type": "invite", "room": "ops", "nick": "bob", "id": "i"}))
            .await,
        json!({"type": "ok", "id": "i", "room": "ops", "nick": "bob"}),
    );
    room.quiet().await;
    assert_frame(
        &bob.recv().await,
        json!({"type": "invite", "room": "ops", "by": "alice", "ts": "<ts>"}),
    );
    room.enter("bob", bob).await;
    // One use only.
    let mut bob = room.take("bob");
    assert_frame(
        &bob.request(json!({"type": "leave", "room": "ops"})).await,
        json!({"type": "ok", "room": "ops"}),
    );
    for (_, member) in &mut room.members {
        assert_eq!(member.ping_roundtrip().await.len(), 1, "{}", member.label);
    }
    bob.request_error(
        json!({"type": "join", "room": "ops", "id": 2}),
        "invite_only",
    )
    .await;

    // A role lets its holder in without an invite.
    let erin = account(&server, "erin").await;
    room.act("alice", role("ops", "erin", "voice")).await;
    room.enter("erin", erin).await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_invite_does_not_lift_a_ban() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.act(
        "alice",
        json!({"type": "flags", "room": "ops", "invite_only": true}),
    )
    .await;
    let mut frank = registered(&server, "frank").await;
    room.act(
        "alice",
        json!({"type": "ban", "room": "ops", "nick": "frank"}),
    )
    .await;
    assert_frame(
        &room
            .get("alice")
            .request(json!({"type": "invite", "room": "ops", "nick": "frank"}))
            .await,
        json!({"type": "ok", "room": "ops", "nick": "frank"}),
    );
    assert_frame(
        &frank.recv().await,
        json!({"type": "invite", "room": "ops", "by": "alice", "ts": "<ts>"}),
    );
    frank
        .request_error(json!({"type": "join", "room": "ops", "id": 1}), "banned")
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_moderated_room_lets_only_voice_and_up_post() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_guest(&server, "bob").await;
    room.enter_account(&server, "carol").await;
    room.enter_account(&server, "dave").await;
    room.act("alice", role("ops", "carol", "voice")).await;
    room.act("alice", role("ops", "dave", "op")).await;
    let event = room
        .act(
            "alice",
            json!({"type": "flags", "room": "ops", "moderated": true}),
        )
        .await;
    assert_eq!(event["seq"], 4, "{event}");

    room.refused(
        "bob",
        json!({"type": "message", "room": "ops", "text": "may I?", "id": 1}),
        "not_permitted",
    )
    .await;
    let mut seqs = Vec::new();
    for nick in ["carol", "dave", "alice"] {
        seqs.push(room.say(nick, &format!("{nick} speaks")).await["seq"].clone());
    }
    assert_eq!(seqs, [json!(5), json!(6), json!(7)]);
    // A muted member is told it is muted, whatever the room's flags.
    room.act(
        "alice",
        json!({"type": "mute", "room": "ops", "nick": "bob"}),
    )
    .await;
    room.refused(
        "bob",
        json!({"type": "message", "room": "ops", "text": "may I?", "id": 2}),
        "muted",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_topic_locked_room_lets_only_ops_set_the_topic() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_guest(&server, "bob").await;
    room.enter_account(&server, "carol").await;
    room.enter_account(&server, "dave").await;
    room.act("alice", role("ops", "carol", "voice")).await;
    room.act("alice", role("ops", "dave", "op")).await;
    room.act(
        "alice",
        json!({"type": "flags", "room": "ops", "topic_lock": true}),
    )
    .await;

    let refusals = ["bob", "carol"];
    for nick in refusals {
        room.refused(
            nick,
            json!({"type": "topic", "room": "ops", "topic": "mine"}),
            "not_permitted",
        )
        .await;
    }
    assert_eq!(refusals.len(), 2);
    let dave = room.get("dave");
    dave.send(json!({"type": "topic", "room": "ops", "topic": "set by an op"}))
        .await;
    let topic = dave.recv().await;
    assert_frame(
        &topic,
        json!({"type": "topic", "room": "ops", "topic": "set by an op", "by": "dave", "ts": "<ts>"}),
    );
    assert_frame(
        &dave.recv().await,
        json!({"type": "ok", "room": "ops", "topic": "set by an op"}),
    );
    room.others_saw("dave", &[topic]).await;

    let unlocked = room
        .act(
            "alice",
            json!({"type": "flags", "room": "ops", "topic_lock": false}),
        )
        .await;
    assert_frame(
        &unlocked,
        json!({"type": "flags", "room": "ops", "seq": 5, "ts": "<ts>", "by": "alice",
               "invite_only": false, "moderated": false, "topic_lock": false, "accounts_only": false}),
    );
    let bob = room.get("bob");
    bob.send(json!({"type": "topic", "room": "ops", "topic": "anyone's again"}))
        .await;
    assert_eq!(bob.recv().await["type"], "topic");
    assert_frame(
        &bob.recv().await,
        json!({"type": "ok", "room": "ops", "topic": "anyone's again"}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_accounts_only_room_refuses_guests() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.act(
        "alice",
        json!({"type": "flags", "room": "ops", "accounts_only": true}),
    )
    .await;
    let mut bob = registered(&server, "bob").await;
    bob.request_error(
        json!({"type": "join", "room": "ops", "id": 1}),
        "needs_account",
    )
    .await;
    room.enter_account(&server, "erin").await;
    server.shutdown().await;
}

#[tokio::test]
async fn flags_without_fields_is_a_read_for_anyone() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_guest(&server, "carol").await;
    let mut bob = registered(&server, "bob").await;
    assert_frame(
        &bob.request(json!({"type": "flags", "room": "#Ops", "id": "f"}))
            .await,
        json!({"type": "ok", "id": "f", "room": "ops", "flags": flags(&[])}),
    );
    bob.request_error(
        json!({"type": "flags", "room": "nowhere", "id": 1}),
        "no_such_room",
    )
    .await;
    room.refused(
        "carol",
        json!({"type": "flags", "room": "ops", "moderated": true, "id": 2}),
        "not_permitted",
    )
    .await;
    room.quiet().await;

    let event = room
        .act(
            "alice",
            json!({"type": "flags", "room": "ops", "invite_only": true, "moderated": true}),
        )
        .await;
    assert_frame(
        &event,
        json!({"type": "flags", "room": "ops", "seq": 2, "ts": "<ts>", "by": "alice",
               "invite_only": true, "moderated": true, "topic_lock": false, "accounts_only": false}),
    );
    // Setting a flag to what it is changes nothing: no event, no seq.
    assert_frame(
        &room
            .get("alice")
            .request(json!({"type": "flags", "room": "ops", "invite_only": true, "id": "same"}))
            .await,
        json!({"type": "ok", "id": "same", "room": "ops", "flags": flags(&["invite_only", "moderated"])}),
    );
    room.quiet().await;
    assert_frame(
        &bob.request(json!({"type": "flags", "room": "ops"})).await,
        json!({"type": "ok", "room": "ops", "flags": flags(&["invite_only", "moderated"])}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_operator_moderates_a_room_it_holds_no_role_in() {
    let server = TestServer::start(&config()).await;
    let mut room = claimed(&server, "ops", "alice").await;
    room.enter_account(&server, "bob").await;
    room.enter_guest(&server, "carol").await;
    let mut root = account(&server, "root").await;

    // Even the owner can be kicked by a server operator.
    let kick = room
        .act_from_outside(
            &mut root,
            json!({"type": "kick", "room": "ops", "nick": "alice", "reason": "abuse"}),
        )
        .await;
    assert_frame(
        &kick,
        json!({"type": "kick", "room": "ops", "seq": 2, "ts": "<ts>", "by": "root", "nick": "alice", "reason": "abuse"}),
    );
    room.take("alice");
    let granted = room
        .act_from_outside(&mut root, role("ops", "bob", "op"))
        .await;
    assert_frame(
        &granted,
        json!({"type": "role", "room": "ops", "seq": 3, "ts": "<ts>", "by": "root", "account": "bob", "role": "op"}),
    );
    let flags_event = room
        .act_from_outside(
            &mut root,
            json!({"type": "flags", "room": "ops", "moderated": true}),
        )
        .await;
    assert_frame(
        &flags_event,
        json!({"type": "flags", "room": "ops", "seq": 4, "ts": "<ts>", "by": "root",
               "invite_only": false, "moderated": true, "topic_lock": false, "accounts_only": false}),
    );
    let ban = room
        .act_from_outside(
            &mut root,
            json!({"type": "ban", "room": "ops", "nick": "carol"}),
        )
        .await;
    assert_frame(
        &ban,
        json!({"type": "ban", "room": "ops", "seq": 5, "ts": "<ts>", "by": "root", "nick": "carol"}),
    );
    room.take("carol");
    assert_eq!(
        room.who("bob").await,
        json!([{"nick": "bob", "account": "bob", "role": "op"}])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn moderation_events_take_the_next_seq_among_messages_and_are_in_history() {
    let server = TestServer::start(&config()).await;
    let mut room = Room::new("ops");
    room.enter_account(&server, "alice").await;
    for nick in ["carol", "dave", "erin"] {
        room.enter_guest(&server, nick).await;
    }
    room.enter_account(&server, "bob").await;
    let mut items = vec![room.say("alice", "before the claim").await];
    items.push(
        room.act("alice", json!({"type": "claim", "room": "ops"}))
            .await,
    );
    items.push(room.say("bob", "congrats").await);
    items.push(room.act("alice", role("ops", "bob", "op")).await);
    items.push(
        room.act(
            "bob",
            json!({"type": "flags", "room": "ops", "topic_lock": true}),
        )
        .await,
    );
    items.push(
        room.act(
            "bob",
            json!({"type": "mute", "room": "ops", "nick": "carol", "reason": "shouting"}),
        )
        .await,
    );
    items.push(
        room.act(
            "bob",
            json!({"type": "unmute", "room": "ops", "nick": "carol"}),
        )
        .await,
    );
    items.push(
        room.act(
            "bob",
            json!({"type": "kick", "room": "ops", "nick": "dave", "reason": "off topic"}),
        )
        .await,
    );
    room.take("dave");
    items.push(
        room.act(
            "alice",
            json!({"type": "ban", "room": "ops", "nick": "erin", "reason": "spam"}),
        )
        .await,
    );
    room.take("erin");
    items.push(
        room.act(
            "alice",
            json!({"type": "unban", "room": "ops", "nick": "erin"}),
        )
        .await,
    );
    items.push(room.say("carol", "after").await);
    let seqs: Vec<_> = items.iter().map(|item| item["seq"].as_u64()).collect();
    let expected: Vec<_> = (1..=11).map(Some).collect();
    assert_eq!(seqs, expected, "gapless, messages and events alike");
    let kinds: Vec<_> = items.iter().map(|item| item["type"].clone()).collect();
    assert_eq!(
        json!(kinds),
        json!([
            "message", "claim", "message", "role", "flags", "mute", "unmute", "kick", "ban",
            "unban", "message"
        ])
    );
    assert_frame(
        &items[7],
        json!({"type": "kick", "room": "ops", "seq": 8, "ts": "<ts>", "by": "bob", "nick": "dave", "reason": "off topic"}),
    );

    // `history` holds exactly what the members were sent, in seq order.
    let history = room
        .get("alice")
        .request(json!({"type": "history", "room": "ops", "limit": 50}))
        .await;
    assert_eq!(history["messages"], json!(items), "{history}");
    assert_eq!(history["more"], json!(false), "{history}");
    let page = room
        .get("alice")
        .request(json!({"type": "history", "room": "ops", "before": 7, "limit": 3}))
        .await;
    assert_eq!(page["messages"], json!(items[3..6]), "{page}");
    assert_eq!(page["more"], json!(true), "{page}");
    // And a newcomer's join history.
    let mut frank = registered(&server, "frank").await;
    let join = frank
        .request(json!({"type": "join", "room": "ops", "history": 20}))
        .await;
    assert_eq!(join["history"], json!(items), "{join}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_claimed_room_is_kept_when_empty() {
    let server = TestServer::start(&config()).await;
    let mut kept = claimed(&server, "keep", "alice").await;
    let mut alice = kept.take("alice");
    let claim_history = alice
        .request(json!({"type": "history", "room": "keep"}))
        .await["messages"]
        .clone();
    assert_eq!(
        claim_history.as_array().map(Vec::len),
        Some(1),
        "{claim_history}"
    );
    let mut bob = registered(&server, "bob").await;
    bob.join("gone").await;
    for (client, room) in [(&mut alice, "keep"), (&mut bob, "gone")] {
        assert_frame(
            &client.request(json!({"type": "leave", "room": room})).await,
            json!({"type": "ok", "room": room}),
        );
    }
    // The unclaimed room was dropped, the claimed one was not.
    assert_frame(
        &bob.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [{"room": "keep", "members": 0, "topic": ""}]}),
    );
    assert_frame(
        &bob.request(json!({"type": "join", "room": "keep"})).await,
        json!({"type": "ok", "room": "keep", "topic": "", "members": ["bob"], "epoch": "<epoch>",
               "history": normalize(&claim_history), "more": false}),
    );
    assert_frame(
        &bob.request(json!({"type": "who", "room": "keep", "detail": true}))
            .await,
        json!({"type": "ok", "room": "keep", "members": [{"nick": "bob"}]}),
    );
    // And alice still owns it.
    alice.join("keep").await;
    assert_eq!(bob.ping_roundtrip().await.len(), 1, "alice's join");
    assert_frame(
        &bob.request(json!({"type": "who", "room": "keep", "detail": true}))
            .await,
        json!({"type": "ok", "room": "keep", "members": [
            {"nick": "alice", "account": "alice", "role": "owner"}, {"nick": "bob"}]}),
    );
    server.shutdown().await;
}

#[tokio::test]
async fn moderation_survives_a_restart_with_the_log_on() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let logs = tmp.path().join("logs");
    let server = TestServer::start_in(&state, &logged_config(&logs)).await;
    let mut room = Room::new("ops");
    for nick in ["alice", "bob", "carol", "dave"] {
        room.enter_account(&server, nick).await;
    }
    let mut items = vec![room.say("alice", "m1").await];
    items.push(
        room.act("alice", json!({"type": "claim", "room": "ops"}))
            .await,
    );
    items.push(room.act("alice", role("ops", "bob", "op")).await);
    items.push(
        room.act(
            "bob",
            json!({"type": "ban", "room": "ops", "account": "carol", "reason": "spam"}),
        )
        .await,
    );
    room.take("carol");
    items.push(
        room.act(
            "bob",
            json!({"type": "mute", "room": "ops", "account": "dave"}),
        )
        .await,
    );
    items.push(
        room.act(
            "alice",
            json!({"type": "flags", "room": "ops", "topic_lock": true}),
        )
        .await,
    );
    items.push(room.say("bob", "m7").await);
    let seqs: Vec<_> = items.iter().map(|item| item["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=7).map(Some).collect::<Vec<_>>());
    drop(room);
    server.shutdown().await;
    // The day file holds the events as the members were sent them.
    assert_eq!(log_lines(&day_file(&logs, "ops", &utc_day(0))), items);

    let server = TestServer::start_in(&state, &logged_config(&logs)).await;
    let mut erin = registered(&server, "erin").await;
    assert_frame(
        &erin.request(json!({"type": "rooms"})).await,
        json!({"type": "ok", "more": false, "rooms": [{"room": "ops", "members": 0, "topic": ""}]}),
    );
    let mut carol = login(&server, "carol", PASSWORD).await;
    carol
        .request_error(json!({"type": "join", "room": "ops", "id": 1}), "banned")
        .await;

    let mut room = Room::new("ops");
    let alice = login(&server, "alice", PASSWORD).await;
    room.enter("alice", alice).await;
    let history = room
        .get("alice")
        .request(json!({"type": "history", "room": "ops", "limit": 50}))
        .await;
    assert_eq!(history["messages"], json!(items), "{history}");
    for nick in ["bob", "dave"] {
        let client = login(&server, nick, PASSWORD).await;
        room.enter(nick, client).await;
    }
    room.enter("erin", erin).await;
    assert_eq!(
        room.who("erin").await,
        json!([
            {"nick": "alice", "account": "alice", "role": "owner"},
            {"nick": "bob", "account": "bob", "role": "op"},
            {"nick": "dave", "account": "dave"},
            {"nick": "erin"},
        ])
    );
    room.refused(
        "dave",
        json!({"type": "message", "room": "ops", "text": "still muted?"}),
        "muted",
    )
    .await;
    room.refused(
        "erin",
        json!({"type": "topic", "room": "ops", "topic": "locked?"}),
        "not_permitted",
    )
    .await;
    // The roles still hold, and the numbering goes on.
    let kick = room
        .act(
            "bob",
            json!({"type": "kick", "room": "ops", "nick": "erin"}),
        )
        .await;
    assert_frame(
        &kick,
        json!({"type": "kick", "room": "ops", "seq": 8, "ts": "<ts>", "by": "bob", "nick": "erin"}),
    );
    server.shutdown().await;
}

/// A logged room nobody is in leaves memory (set aside in the store); it has no
/// moderation (that would have kept it in memory), and `who` with `detail` and a
/// `flags` read answer for it as for any room: nobody there, every flag off.
#[tokio::test]
async fn a_logged_room_nobody_is_in_reads_as_empty_and_unflagged() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&logged_config(&tmp.path().join("logs"))).await;
    let mut alice = registered(&server, "alice").await;
    alice.join("quiet").await;
    alice.say("quiet", "anyone?").await;
    let left = alice
        .request(json!({"type": "leave", "room": "quiet", "id": 1}))
        .await;
    assert_frame(&left, json!({"type": "ok", "id": 1, "room": "quiet"}));
    let who = alice
        .request(json!({"type": "who", "room": "quiet", "detail": true, "id": 2}))
        .await;
    assert_frame(
        &who,
        json!({"type": "ok", "id": 2, "room": "quiet", "members": []}),
    );
    let flags = alice
        .request(json!({"type": "flags", "room": "quiet", "id": 3}))
        .await;
    assert_frame(
        &flags,
        json!({"type": "ok", "id": 3, "room": "quiet", "flags": {
            "invite_only": false, "moderated": false, "topic_lock": false, "accounts_only": false
        }}),
    );
    let missing = alice
        .request(json!({"type": "who", "room": "nowhere", "detail": true, "id": 4}))
        .await;
    assert_error(&missing, "no_such_room", Some(json!(4)));
    server.shutdown().await;
}
