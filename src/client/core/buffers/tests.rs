//! The buffer model's rules, one test each.

use super::*;
use crate::client::core::rooms::{Numbering, Summary};
use crate::client::core::update::Done;
use crate::protocol::frames::{RoomAction, Sanction};
use crate::protocol::moderation::Role;
use serde_json::{Map, Value};

fn nick(name: &str) -> Nick {
    Nick::parse(name).unwrap()
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn epoch(name: &str) -> Option<Epoch> {
    Some(Epoch::parse(name).unwrap())
}

fn said(room_name: &str, seq: u64, from: &str, text: &str) -> ServerEvent {
    ServerEvent::Known(Event::Message(Message {
        room: Some(room(room_name)),
        to: None,
        seq: Some(seq),
        ts: format!("2026-11-21T10:00:{:02}Z", seq % 60),
        from: nick(from),
        text: text.into(),
        action: false,
    }))
}

fn whispered(from: &str, to: &str, text: &str) -> Message {
    Message {
        room: None,
        to: Some(nick(to)),
        seq: None,
        ts: "2026-11-21T10:00:00Z".into(),
        from: nick(from),
        text: text.into(),
        action: false,
    }
}

fn answer(name: &str, history: Vec<ServerEvent>, more: bool) -> JoinAnswer {
    JoinAnswer {
        room: room(name),
        topic: format!("all about {name}"),
        members: vec![nick("bob"), nick("Ann"), nick("carol")],
        epoch: epoch("E1"),
        history,
        more,
    }
}

fn page(name: &str, messages: Vec<ServerEvent>, more: bool) -> HistoryAnswer {
    HistoryAnswer {
        room: room(name),
        epoch: epoch("E1"),
        messages,
        more,
    }
}

/// Connected as Ann, in #general (focused, index 1) and #random (2).
fn session(now: Instant) -> Buffers {
    let mut buffers = Buffers::new("chat.example");
    buffers.apply(
        Update::Connected {
            server: "chat.example".into(),
            version: "0.1.0".into(),
            nick: nick("Ann"),
            motd: Some("welcome\nbe nice".into()),
        },
        now,
    );
    let joined = |name: &str, current| Update::Joined {
        answer: answer(name, vec![said(name, 1, "bob", "earlier")], false),
        current,
    };
    buffers.apply(joined("general", true), now);
    buffers.apply(joined("random", false), now);
    buffers
}

fn live(buffers: &mut Buffers, event: ServerEvent, now: Instant) -> Effects {
    buffers.apply(Update::Event(event), now)
}

fn index(buffers: &Buffers, key: BufferKey) -> usize {
    buffers.position(&key).unwrap()
}

fn seqs(buffer: &Buffer) -> Vec<u64> {
    buffer.lines.iter().filter_map(|line| line.seq).collect()
}

fn texts(buffer: &Buffer) -> Vec<String> {
    buffer
        .lines
        .iter()
        .map(|line| match &line.kind {
            LineKind::Message { text, .. } => text.clone(),
            LineKind::Notice(text) | LineKind::Error(text) | LineKind::Marker(text) => text.clone(),
            LineKind::Event(event) => format!("{event:?}"),
        })
        .collect()
}

fn deliveries(buffer: &Buffer) -> Vec<(String, Delivery)> {
    buffer
        .lines
        .iter()
        .filter_map(|line| match &line.kind {
            LineKind::Message { text, delivery, .. } => Some((text.clone(), delivery.clone())),
            _ => None,
        })
        .collect()
}

fn member(name: &str, role: Option<Role>) -> MemberDetail {
    MemberDetail {
        nick: nick(name),
        account: role.map(|_| nick(name)),
        role,
    }
}

fn action(room_name: &str, seq: u64) -> RoomAction {
    RoomAction {
        room: room(room_name),
        seq,
        ts: "2026-11-21T10:05:00Z".into(),
        by: nick("carol"),
    }
}

fn counts(buffer: &Buffer) -> (usize, usize) {
    (buffer.unread, buffer.mentions)
}

#[test]
fn a_session_starts_in_the_server_buffer_and_joins_rooms_after_it() {
    let now = Instant::now();
    let buffers = Buffers::new("chat.example");
    assert_eq!(buffers.connection(), &Connection::Connecting);
    assert_eq!(buffers.focused_buffer().key, BufferKey::Server);
    assert_eq!(buffers.me(), None);
    let buffers = session(now);
    assert_eq!(buffers.me(), Some(&nick("Ann")));
    assert_eq!(buffers.connection(), &Connection::Online);
    assert_eq!(buffers.server(), "chat.example");
    let titles: Vec<&str> = buffers.buffers().iter().map(|b| b.title.as_str()).collect();
    assert_eq!(titles, ["chat.example", "#general", "#random"]);
    assert_eq!(
        texts(&buffers.buffers()[SERVER]),
        [
            "connected to chat.example (confab 0.1.0) as Ann",
            "welcome",
            "be nice"
        ]
    );
    let general = buffers.focused_buffer();
    assert_eq!(general.key, BufferKey::Room(room("general")));
    assert_eq!(general.topic, "all about general");
    let members: Vec<&str> = general.members.iter().map(Nick::as_str).collect();
    assert_eq!(members, ["Ann", "bob", "carol"]);
    assert_eq!(general.epoch, epoch("E1"));
    // History is backlog: it counts as read even where not focused.
    assert_eq!(counts(&buffers.buffers()[2]), (0, 0));
    assert_eq!(texts(&buffers.buffers()[2]), ["earlier"]);
}

#[test]
fn unfocused_messages_count_as_unread_and_mentions_ring_until_focused() {
    let now = Instant::now();
    let mut buffers = session(now);
    let random = index(&buffers, BufferKey::Room(room("random")));

    let quiet = live(&mut buffers, said("random", 2, "bob", "lunch?"), now);
    assert!(!quiet.bell && !quiet.refocused);
    let loud = live(&mut buffers, said("random", 3, "bob", "ann: you in?"), now);
    assert!(loud.bell);
    assert_eq!(counts(&buffers.buffers()[random]), (2, 1));
    assert!(buffers.buffers()[random].lines.back().unwrap().mention);
    // Events are not messages; the user's own messages never count.
    live(
        &mut buffers,
        ServerEvent::Known(Event::Join {
            room: room("random"),
            nick: nick("dave"),
            ts: "t".into(),
        }),
        now,
    );
    live(&mut buffers, said("random", 4, "ann", "ann is here"), now);
    assert_eq!(counts(&buffers.buffers()[random]), (2, 1));
    // The focused buffer counts nothing, but a mention still rings.
    let here = live(&mut buffers, said("general", 2, "carol", "hi Ann"), now);
    assert!(here.bell);
    assert_eq!(counts(buffers.focused_buffer()), (0, 0));

    assert!(buffers.focus(random));
    assert_eq!(counts(&buffers.buffers()[random]), (0, 0));
    assert!(!buffers.focus(random), "already there");
    assert!(!buffers.focus(99));
}

#[test]
fn a_mention_is_the_nick_as_a_whole_word_in_any_case() {
    let me = nick("ann-2");
    let cases = [
        ("ann-2: ping", true),
        ("hey ANN-2!", true),
        ("(Ann-2)", true),
        ("héann-2é", true),
        ("ann", false),
        ("ann-22", false),
        ("xann-2", false),
        ("ann-2_", false),
        ("", false),
    ];
    for (text, expected) in cases {
        assert_eq!(names(text, &me), expected, "{text:?}");
    }
    assert_eq!(cases.len(), 9);
}

#[test]
fn a_private_message_opens_a_buffer_titled_as_its_sender_spells_it() {
    let now = Instant::now();
    let mut buffers = session(now);
    let effects = live(
        &mut buffers,
        ServerEvent::Known(Event::Message(whispered("Bob", "Ann", "psst"))),
        now,
    );
    assert!(effects.bell, "a private message from someone else rings");
    let bob = index(&buffers, BufferKey::Private("bob".into()));
    assert_eq!(bob, 3, "opened at the end of the list");
    assert_eq!(buffers.buffers()[bob].title, "Bob");
    assert_eq!(counts(&buffers.buffers()[bob]), (1, 1));
    live(
        &mut buffers,
        ServerEvent::Known(Event::Message(whispered("BOB", "Ann", "again"))),
        now,
    );
    assert_eq!(buffers.buffers()[bob].title, "BOB");
    assert_eq!(counts(&buffers.buffers()[bob]), (2, 2));
    assert_eq!(buffers.buffers().len(), 4, "one buffer per nick, any case");
}

#[test]
fn leaving_a_buffer_marks_where_new_lines_start() {
    let now = Instant::now();
    let mut buffers = session(now);
    let general = buffers.focused();
    live(&mut buffers, said("general", 2, "bob", "seen"), now);
    assert_eq!(buffers.buffers()[general].marker, None);
    assert!(buffers.focus(SERVER));
    assert!(buffers.buffers()[general].marker.is_some());
    assert!(
        !buffers.buffers()[general].marker_visible(),
        "nothing new yet"
    );
    // Something elsewhere does not make the marker show.
    live(&mut buffers, said("random", 2, "bob", "elsewhere"), now);
    assert!(!buffers.buffers()[general].marker_visible());
    live(&mut buffers, said("general", 3, "bob", "new one"), now);
    live(&mut buffers, said("general", 4, "bob", "newer"), now);
    let buffer = &buffers.buffers()[general];
    assert_eq!(buffer.marker_at(), Some(2));
    assert_eq!(texts(buffer)[2], "new one");
    // Coming back keeps it where it was; older lines fetched meanwhile
    // go in front of it, not after it.
    assert!(buffers.focus(general));
    buffers.buffers[general].more_before = true;
    let request = buffers.older_request(general).unwrap();
    assert!(matches!(
        request,
        Request::History {
            page: HistoryPage::Before(1),
            ..
        }
    ));
    buffers.apply(
        Update::History {
            page: HistoryPage::Before(1),
            answer: HistoryAnswer {
                room: room("general"),
                epoch: epoch("E1"),
                messages: vec![said("general", 0, "bob", "oldest")],
                more: false,
            },
        },
        now,
    );
    let buffer = &buffers.buffers()[general];
    assert_eq!(buffer.marker_at(), Some(3));
    assert_eq!(texts(buffer)[3], "new one");
    // Leaving a buffer without lines leaves no marker.
    assert!(buffers.focus(SERVER));
    buffers.buffers[SERVER].lines.clear();
    assert!(buffers.focus(general));
    assert_eq!(buffers.buffers()[SERVER].marker, None);
}

#[test]
fn focus_moves_around_the_list_and_to_activity_mentions_first() {
    let now = Instant::now();
    let mut buffers = session(now);
    buffers.apply(
        Update::Joined {
            answer: answer("ops", Vec::new(), false),
            current: false,
        },
        now,
    );
    // server, general, random, ops; general focused.
    assert!(buffers.focus_next());
    assert_eq!(buffers.focused(), 2);
    assert!(buffers.focus_next() && buffers.focus_next());
    assert_eq!(buffers.focused(), 0, "wraps after the last");
    assert!(buffers.focus_prev());
    assert_eq!(buffers.focused(), 3, "wraps before the first");
    assert!(buffers.focus(1));

    assert!(!buffers.focus_active(), "nothing to go to");
    live(&mut buffers, said("random", 2, "bob", "plain"), now);
    live(&mut buffers, said("ops", 1, "bob", "Ann, look"), now);
    assert!(buffers.focus_active());
    assert_eq!(buffers.focused(), 3, "mentions first");
    assert!(buffers.focus_active());
    assert_eq!(buffers.focused(), 2, "then unread");
    assert!(!buffers.focus_active());
    // In list order after the focused one, wrapping around.
    live(&mut buffers, said("general", 2, "bob", "one"), now);
    live(&mut buffers, said("ops", 2, "bob", "two"), now);
    assert!(buffers.focus(3));
    live(&mut buffers, said("random", 3, "bob", "three"), now);
    assert!(buffers.focus_active());
    assert_eq!(buffers.focused(), 1);
}

#[test]
fn an_own_room_message_shows_once_pending_then_as_the_server_echoed_it() {
    let now = Instant::now();
    let mut buffers = session(now);
    let general = buffers.focused();
    let pending = |text: &str| Update::Pending {
        target: Target::Room(room("general")),
        text: text.into(),
        action: false,
    };
    buffers.apply(pending("same"), now);
    buffers.apply(pending("same"), now);
    live(&mut buffers, said("general", 2, "bob", "meanwhile"), now);
    let first = buffers.buffers()[general].lines[1].clone();
    assert_eq!(first.ts, None);
    assert_eq!(
        deliveries(&buffers.buffers()[general])[1..],
        [
            ("same".into(), Delivery::Pending),
            ("same".into(), Delivery::Pending),
            ("meanwhile".into(), Delivery::Sent),
        ]
    );
    let echo = live(&mut buffers, said("general", 3, "ANN", "same"), now);
    assert!(!echo.bell);
    let buffer = &buffers.buffers()[general];
    assert_eq!(buffer.lines.len(), 4, "the echo replaced its pending line");
    let confirmed = &buffer.lines[1];
    assert_eq!(confirmed.id, first.id, "in its place");
    assert_eq!(confirmed.seq, Some(3));
    assert!(confirmed.ts.is_some());
    assert!(matches!(
        &confirmed.kind,
        LineKind::Message { from, delivery: Delivery::Sent, .. } if from.as_str() == "ANN"
    ));
    assert_eq!(
        buffer.lines[2].kind,
        LineKind::Message {
            from: nick("Ann"),
            text: "same".into(),
            action: false,
            delivery: Delivery::Pending
        },
        "the second stays pending"
    );
    // An action with the same text is another message.
    live(
        &mut buffers,
        ServerEvent::Known(Event::Message(Message {
            action: true,
            ..match said("general", 4, "Ann", "same") {
                ServerEvent::Known(Event::Message(message)) => message,
                _ => unreachable!(),
            }
        })),
        now,
    );
    let buffer = &buffers.buffers()[general];
    assert_eq!(buffer.lines.len(), 5);
    assert_eq!(deliveries(buffer)[2].1, Delivery::Pending);
}

#[test]
fn own_private_messages_are_marked_sent_or_failed() {
    let now = Instant::now();
    let mut buffers = session(now);
    let to_bob = |text: &str| Update::Pending {
        target: Target::User(nick("Bob")),
        text: text.into(),
        action: false,
    };
    buffers.apply(to_bob("first"), now);
    buffers.apply(to_bob("second"), now);
    let bob = index(&buffers, BufferKey::Private("bob".into()));
    assert_eq!(buffers.focused(), 1, "sending does not move the focus");
    buffers.apply(Update::PrivateSent(whispered("Ann", "bob", "first")), now);
    buffers.apply(
        Update::NotSent {
            target: Target::User(nick("Bob")),
            text: "second".into(),
            action: false,
            reason: "no such user".into(),
        },
        now,
    );
    let buffer = &buffers.buffers()[bob];
    assert_eq!(
        deliveries(buffer),
        [
            ("first".into(), Delivery::Sent),
            ("second".into(), Delivery::Failed("no such user".into())),
        ]
    );
    assert_eq!(buffer.lines[0].ts.as_deref(), Some("2026-11-21T10:00:00Z"));
    assert_eq!(buffer.title, "bob", "as the server spells it");
    assert_eq!(counts(buffer), (0, 0), "own messages never count");
    // Sent with no pending line (another face sent it): added.
    buffers.apply(Update::PrivateSent(whispered("Ann", "bob", "third")), now);
    assert_eq!(deliveries(&buffers.buffers()[bob]).len(), 3);
    // Refused with no pending line: said in the focused buffer.
    buffers.apply(
        Update::NotSent {
            target: Target::Room(room("nowhere")),
            text: "lost".into(),
            action: false,
            reason: "not in room".into(),
        },
        now,
    );
    assert_eq!(
        buffers.focused_buffer().lines.back().unwrap().kind,
        LineKind::Error("a message to #nowhere was not sent: not in room".into())
    );
}

#[test]
fn a_nick_change_renames_members_and_the_private_buffer() {
    let now = Instant::now();
    let mut buffers = session(now);
    buffers.apply(
        Update::Joined {
            answer: JoinAnswer {
                members: vec![nick("Ann"), nick("carol")],
                ..answer("ops", Vec::new(), false)
            },
            current: false,
        },
        now,
    );
    buffers.open_private(&nick("Bob"));
    let bob = buffers.focused();
    let lines_before: Vec<usize> = buffers.buffers().iter().map(|b| b.lines.len()).collect();
    let rename = ServerEvent::Known(Event::Nick {
        old: nick("BOB"),
        new: nick("Robert"),
        ts: "t".into(),
    });
    live(&mut buffers, rename.clone(), now);
    let lines_after: Vec<usize> = buffers.buffers().iter().map(|b| b.lines.len()).collect();
    // server, general, random, ops, bob: ops never had him.
    assert_eq!(lines_before, [3, 1, 1, 0, 0]);
    assert_eq!(lines_after, [3, 2, 2, 0, 1]);
    let general = &buffers.buffers()[1];
    assert_eq!(general.lines.back().unwrap().kind, LineKind::Event(rename));
    let members: Vec<&str> = general.members.iter().map(Nick::as_str).collect();
    assert_eq!(members, ["Ann", "carol", "Robert"]);
    let private = &buffers.buffers()[bob];
    assert_eq!(private.key, BufferKey::Private("robert".into()));
    assert_eq!(private.title, "Robert");
    // The user's own nick follows too.
    live(
        &mut buffers,
        ServerEvent::Known(Event::Nick {
            old: nick("ann"),
            new: nick("Anna"),
            ts: "t".into(),
        }),
        now,
    );
    assert_eq!(buffers.me(), Some(&nick("Anna")));
    assert!(buffers.buffers()[3].members.contains(&nick("Anna")));
}

#[test]
fn typing_lasts_six_seconds_after_the_last_notice_or_until_a_message() {
    let t0 = Instant::now();
    let mut buffers = session(t0);
    let typing = |who: &str, active| Update::Typing {
        room: Some(room("general")),
        nick: nick(who),
        active,
    };
    let at = |seconds: u64| t0 + Duration::from_secs(seconds);
    buffers.apply(typing("carol", true), t0);
    buffers.apply(typing("bob", true), t0);
    assert_eq!(buffers.typing_here(at(5)), [nick("bob"), nick("carol")]);
    assert_eq!(buffers.typing_here(at(6)), Vec::<Nick>::new());
    // A new notice restarts the six seconds.
    buffers.apply(typing("bob", true), at(5));
    assert_eq!(buffers.typing_here(at(10)), [nick("bob")]);
    // A message from bob ends it at once; so does `active: false`.
    live(&mut buffers, said("general", 2, "Bob", "done"), at(6));
    assert_eq!(buffers.typing_here(at(6)), Vec::<Nick>::new());
    buffers.apply(typing("carol", true), at(7));
    buffers.apply(typing("carol", false), at(8));
    assert_eq!(buffers.typing_here(at(8)), Vec::<Nick>::new());
    // Private typing shows in that buffer only; nobody sees their own.
    buffers.apply(
        Update::Typing {
            room: None,
            nick: nick("dave"),
            active: true,
        },
        at(9),
    );
    buffers.apply(typing("ann", true), at(9));
    assert_eq!(buffers.typing_here(at(9)), Vec::<Nick>::new());
    buffers.open_private(&nick("dave"));
    assert_eq!(buffers.typing_here(at(9)), [nick("dave")]);
}

#[test]
fn older_pages_go_in_front_once_without_duplicates() {
    let now = Instant::now();
    let mut buffers = session(now);
    buffers.apply(
        Update::Joined {
            answer: answer(
                "ops",
                (5..=7).map(|seq| said("ops", seq, "bob", "x")).collect(),
                true,
            ),
            current: true,
        },
        now,
    );
    let ops = buffers.focused();
    assert!(buffers.buffers()[ops].more_before);
    assert_eq!(buffers.older_request(SERVER), None, "not a room");
    assert_eq!(
        buffers.older_request(ops),
        Some(Request::History {
            room: room("ops"),
            page: HistoryPage::Before(5),
            limit: None,
            epoch: epoch("E1"),
        })
    );
    assert!(buffers.buffers()[ops].is_fetching());
    assert_eq!(buffers.older_request(ops), None, "already asked");
    let effects = buffers.apply(
        Update::History {
            page: HistoryPage::Before(5),
            answer: page(
                "ops",
                (2..=5).map(|seq| said("ops", seq, "bob", "Ann?")).collect(),
                false,
            ),
        },
        now,
    );
    assert!(!effects.bell, "a backlog does not ring");
    let buffer = &buffers.buffers()[ops];
    assert_eq!(seqs(buffer), [2, 3, 4, 5, 6, 7]);
    assert!(!buffer.more_before && !buffer.is_fetching());
    assert!(buffer.lines[0].mention, "still highlighted");
    assert_eq!(counts(buffer), (0, 0));
    assert_eq!(buffers.older_request(ops), None, "nothing more to fetch");
}

#[test]
fn a_room_without_seqs_asks_for_its_newest_page_first() {
    let now = Instant::now();
    let mut buffers = session(now);
    buffers.apply(
        Update::Joined {
            answer: answer("ops", Vec::new(), true),
            current: false,
        },
        now,
    );
    let ops = index(&buffers, BufferKey::Room(room("ops")));
    live(
        &mut buffers,
        ServerEvent::Known(Event::Join {
            room: room("ops"),
            nick: nick("dave"),
            ts: "t".into(),
        }),
        now,
    );
    assert!(matches!(
        buffers.older_request(ops),
        Some(Request::History {
            page: HistoryPage::Newest,
            ..
        })
    ));
    buffers.apply(
        Update::History {
            page: HistoryPage::Newest,
            answer: page("ops", vec![said("ops", 9, "bob", "old")], true),
        },
        now,
    );
    let buffer = &buffers.buffers()[ops];
    assert_eq!(texts(buffer)[0], "old", "in front of the live join");
    assert!(buffer.more_before);
    assert!(matches!(
        buffers.older_request(ops),
        Some(Request::History {
            page: HistoryPage::Before(9),
            ..
        })
    ));
    // An error may be that page's: it can be asked for again.
    buffers.apply(Update::Error("rate limited".into()), now);
    assert!(buffers.older_request(ops).is_some());
}

#[test]
fn the_users_history_merges_by_seq_and_says_when_a_room_is_empty() {
    let now = Instant::now();
    let mut buffers = session(now);
    let general = buffers.focused();
    live(&mut buffers, said("general", 5, "bob", "five"), now);
    buffers.apply(
        Update::History {
            page: HistoryPage::Newest,
            answer: page(
                "general",
                (3..=5)
                    .map(|seq| said("general", seq, "bob", "m"))
                    .collect(),
                true,
            ),
        },
        now,
    );
    let buffer = &buffers.buffers()[general];
    assert_eq!(seqs(buffer), [1, 3, 4, 5]);
    assert!(!buffer.more_before, "nothing older than seq 1 came");
    buffers.apply(
        Update::History {
            page: HistoryPage::Newest,
            answer: page("general", Vec::new(), false),
        },
        now,
    );
    assert_eq!(
        buffers.buffers()[general].lines.back().unwrap().kind,
        LineKind::Notice("no messages in #general".into())
    );
}

#[test]
fn leaving_removes_the_buffer_and_closing_says_what_it_takes() {
    let now = Instant::now();
    let mut buffers = session(now);
    buffers.open_private(&nick("bob"));
    // server, general, random, bob (focused).
    assert_eq!(buffers.close(SERVER), Close::No);
    assert_eq!(buffers.close(1), Close::Leave(room("general")));
    assert_eq!(buffers.buffers().len(), 4, "a room goes when left");
    let effects = buffers.apply(
        Update::Left {
            room: room("general"),
            current: Some(room("random")),
        },
        now,
    );
    assert!(!effects.refocused, "the focused buffer is still bob's");
    assert_eq!(buffers.focused_buffer().title, "bob");
    assert_eq!(buffers.focused(), 2);
    live(&mut buffers, said("random", 2, "bob", "unread"), now);
    assert_eq!(buffers.close(2), Close::Closed);
    assert_eq!(buffers.buffers().len(), 2);
    assert_eq!(buffers.focused_buffer().title, "#random", "the one before");
    assert_eq!(counts(buffers.focused_buffer()), (0, 0));
    let effects = buffers.apply(
        Update::Left {
            room: room("random"),
            current: None,
        },
        now,
    );
    assert!(effects.refocused);
    assert_eq!(buffers.focused(), SERVER);
    assert_eq!(buffers.close(7), Close::No);
}

#[test]
fn joining_and_switching_focus_the_room() {
    let now = Instant::now();
    let mut buffers = session(now);
    let effects = buffers.apply(Update::Switched(room("random")), now);
    assert!(effects.refocused);
    assert_eq!(buffers.focused(), 2);
    let effects = buffers.apply(
        Update::Joined {
            answer: answer("general", vec![said("general", 2, "bob", "b")], false),
            current: true,
        },
        now,
    );
    assert!(effects.refocused);
    assert_eq!(buffers.focused(), 1, "the buffer is reused in its place");
    assert_eq!(seqs(buffers.focused_buffer()), [1, 2]);
    assert_eq!(buffers.buffers().len(), 3);
}

#[test]
fn a_buffer_keeps_its_newest_lines_and_a_room_fetches_the_rest_again() {
    let now = Instant::now();
    let mut buffers = session(now);
    let random = index(&buffers, BufferKey::Room(room("random")));
    assert!(!buffers.buffers()[random].more_before);
    for seq in 2..=(MAX_LINES as u64 + 1) {
        live(&mut buffers, said("random", seq, "bob", "flood"), now);
    }
    let buffer = &buffers.buffers()[random];
    assert_eq!(buffer.lines.len(), MAX_LINES);
    assert_eq!(buffer.lines[0].seq, Some(2), "the oldest went");
    assert!(buffer.more_before);
    assert_eq!(buffer.unread, MAX_LINES, "the count is not capped");
    // Scrolling back reaches past the usual number of lines…
    assert_eq!(
        buffers.older_request(random),
        Some(Request::History {
            room: room("random"),
            page: HistoryPage::Before(2),
            limit: None,
            epoch: Some(Epoch::parse("E1").unwrap()),
        })
    );
    buffers.apply(
        Update::History {
            page: HistoryPage::Before(2),
            answer: HistoryAnswer {
                room: room("random"),
                epoch: Some(Epoch::parse("E1").unwrap()),
                messages: vec![said("random", 1, "bob", "the first")],
                more: false,
            },
        },
        now,
    );
    let buffer = &buffers.buffers()[random];
    assert_eq!(buffer.lines.len(), MAX_LINES + 1, "the whole history");
    assert_eq!(buffer.lines[0].seq, Some(1));
    assert!(!buffer.more_before);
    // …and back at the newest lines, the buffer holds its usual number.
    buffers.back_to_newest(random);
    let buffer = &buffers.buffers()[random];
    assert_eq!(buffer.lines.len(), MAX_LINES);
    assert!(buffer.more_before);
    // A private buffer's dropped lines cannot be fetched.
    for n in 0..=MAX_LINES {
        buffers.apply(
            Update::PrivateSent(whispered("Ann", "bob", &n.to_string())),
            now,
        );
    }
    let bob = index(&buffers, BufferKey::Private("bob".into()));
    assert_eq!(buffers.buffers()[bob].lines.len(), MAX_LINES);
    assert!(!buffers.buffers()[bob].more_before);
}

#[test]
fn a_rejoin_brings_the_topic_and_members_up_to_date() {
    let now = Instant::now();
    let mut buffers = session(now);
    let general = index(&buffers, BufferKey::Room(room("general")));
    buffers.apply(
        Update::Rejoining {
            room: room("general"),
            topic: String::new(),
            members: vec![nick("Ann"), nick("carol")],
        },
        now,
    );
    let buffer = &buffers.buffers()[general];
    assert_eq!(buffer.topic, "");
    assert_eq!(buffer.members, [nick("Ann"), nick("carol")]);
}

#[test]
fn a_restart_forgets_the_old_numbering_and_catch_ups_leave_markers() {
    let now = Instant::now();
    let mut buffers = session(now);
    let general = buffers.focused();
    buffers.buffers[general].more_before = true;
    buffers.apply(Update::Restarted(room("general")), now);
    let buffer = &buffers.buffers()[general];
    assert_eq!(seqs(buffer), Vec::<u64>::new());
    assert!(!buffer.more_before && buffer.epoch.is_none());
    assert_eq!(
        buffer.lines.back().unwrap().kind,
        LineKind::Marker(restarted(&room("general")))
    );
    let summary = Summary {
        room: room("general"),
        numbering: Numbering::Same { since: Some(41) },
        shown: 3,
    };
    buffers.apply(Update::Rejoined(summary), now);
    assert_eq!(
        buffers.buffers()[general].lines.back().unwrap().kind,
        LineKind::Marker("rejoined #general (caught up from seq 41: 3 new messages)".into())
    );
    // A page of another numbering is not spliced among the old seqs.
    live(
        &mut buffers,
        said("general", 1, "bob", "new numbering"),
        now,
    );
    buffers.apply(
        Update::History {
            page: HistoryPage::Newest,
            answer: HistoryAnswer {
                epoch: epoch("E2"),
                ..page("general", vec![said("general", 1, "bob", "x")], false)
            },
        },
        now,
    );
    assert_eq!(seqs(&buffers.buffers()[general]), [1]);
    assert_eq!(buffers.buffers()[general].epoch, epoch("E2"));
}

#[test]
fn answers_to_commands_are_notices_in_the_focused_buffer() {
    let now = Instant::now();
    let mut buffers = session(now);
    let general = buffers.focused();
    let before = buffers.buffers()[general].lines.len();
    buffers.apply(Update::Help, now);
    assert_eq!(buffers.buffers()[general].lines.len(), before + HELP.len());
    buffers.apply(
        Update::Who {
            room: room("random"),
            members: vec![member("zed", None), member("Ann", Some(Role::Op))],
        },
        now,
    );
    buffers.apply(
        Update::Rooms {
            rooms: vec![RoomSummary {
                room: room("ops"),
                members: 2,
                topic: "deploys\u{1b}[2J".into(),
            }],
            first: true,
        },
        now,
    );
    buffers.apply(
        Update::Rooms {
            rooms: Vec::new(),
            first: false,
        },
        now,
    );
    buffers.apply(
        Update::Topic {
            room: room("general"),
            topic: String::new(),
        },
        now,
    );
    buffers.apply(Update::Status("hello\u{7}".into()), now);
    buffers.apply(Update::NickChanged(nick("Anna")), now);
    buffers.apply(Update::Resending, now);
    buffers.apply(Update::Frame("{}".into()), now);
    buffers.apply(Update::Error("nope".into()), now);
    let tail: Vec<String> = texts(&buffers.buffers()[general]).split_off(before + HELP.len());
    assert_eq!(
        tail,
        [
            "#random: 2 members: zed, Ann (op)",
            "#ops (2) - deploys^[[2J",
            "#general has no topic",
            "hello^G",
            "you are now Anna",
            "resending a message the server never stored",
            "nope",
        ]
    );
    assert!(matches!(
        buffers.buffers()[general].lines.back().unwrap().kind,
        LineKind::Error(_)
    ));
    let members: Vec<&str> = buffers.buffers()[2]
        .members
        .iter()
        .map(Nick::as_str)
        .collect();
    assert_eq!(members, ["Ann", "zed"], "who refreshes the members");
    assert_eq!(buffers.me(), Some(&nick("Anna")));
}

#[test]
fn the_connection_state_follows_drops_and_reconnects() {
    let now = Instant::now();
    let mut buffers = session(now);
    buffers.apply(Update::Queued(2), now);
    buffers.apply(
        Update::Reconnecting {
            reason: "reset".into(),
            delay: Duration::from_millis(1500),
        },
        now,
    );
    assert_eq!(
        buffers.connection(),
        &Connection::Reconnecting {
            reason: "reset".into(),
            at: now + Duration::from_millis(1500),
        }
    );
    assert_eq!(buffers.queued(), 2);
    buffers.apply(Update::Reconnected { nick: nick("Ann_") }, now);
    assert_eq!(buffers.connection(), &Connection::Online);
    assert_eq!(buffers.me(), Some(&nick("Ann_")));
    let server = texts(&buffers.buffers()[SERVER]);
    assert_eq!(
        server[server.len() - 2..],
        [
            "connection lost (reset); reconnecting in 1.5s",
            "reconnected as Ann_"
        ]
    );
}

#[test]
fn unknown_events_go_to_their_room_or_the_server_buffer() {
    let now = Instant::now();
    let mut buffers = session(now);
    let unknown = |room: Option<&str>| {
        let mut fields = Map::new();
        fields.insert("ts".into(), Value::from("2026-11-21T10:00:00Z"));
        if let Some(room) = room {
            fields.insert("room".into(), Value::from(room));
        }
        ServerEvent::Unknown(crate::protocol::incoming::UnknownEvent {
            kind: "poll".into(),
            fields,
        })
    };
    live(&mut buffers, unknown(Some("random")), now);
    live(&mut buffers, unknown(None), now);
    live(&mut buffers, ServerEvent::Known(Event::Ping), now);
    let random = &buffers.buffers()[2];
    assert_eq!(random.lines.len(), 2);
    assert_eq!(random.lines[1].ts.as_deref(), Some("2026-11-21T10:00:00Z"));
    assert_eq!(counts(random), (0, 0));
    assert_eq!(buffers.buffers()[SERVER].lines.len(), 4);
}

#[test]
fn completion_offers_the_room_first_then_every_other_nick() {
    let now = Instant::now();
    let mut buffers = session(now);
    buffers.apply(
        Update::Joined {
            answer: JoinAnswer {
                members: vec![nick("Ann"), nick("Zoe"), nick("bob")],
                ..answer("ops", Vec::new(), false)
            },
            current: false,
        },
        now,
    );
    buffers.open_private(&nick("dave"));
    assert!(buffers.focus(1));
    assert_eq!(
        buffers.completion(),
        Completion {
            here: vec!["bob".into(), "carol".into()],
            others: vec!["dave".into(), "Zoe".into()],
            rooms: vec!["general".into(), "random".into(), "ops".into()],
        }
    );
}

#[test]
fn kicked_and_banned_members_leave_the_member_list() {
    let now = Instant::now();
    let mut buffers = session(now);
    let kick = ServerEvent::Known(Event::Kick {
        action: action("random", 2),
        nick: nick("bob"),
        reason: Some("spam".into()),
    });
    live(&mut buffers, kick, now);
    let ban = ServerEvent::Known(Event::Ban(Sanction {
        action: action("random", 3),
        account: Some(nick("CAROL")),
        nick: None,
        reason: None,
        until: None,
    }));
    live(&mut buffers, ban, now);
    let random = &buffers.buffers()[index(&buffers, BufferKey::Room(room("random")))];
    let members: Vec<&str> = random.members.iter().map(Nick::as_str).collect();
    assert_eq!(members, ["Ann"]);
    assert_eq!(
        seqs(random),
        [1, 2, 3],
        "the events are room lines with seqs"
    );
    assert!(!random.parted);
    // Events are not messages: nothing unread.
    assert_eq!(counts(random), (0, 0));
}

#[test]
fn a_room_the_user_was_put_out_of_keeps_its_buffer_until_closed() {
    let now = Instant::now();
    let mut buffers = session(now);
    let random = index(&buffers, BufferKey::Room(room("random")));
    let kick = ServerEvent::Known(Event::Kick {
        action: action("random", 2),
        nick: nick("Ann"),
        reason: Some("flood".into()),
    });
    live(&mut buffers, kick, now);
    let effects = buffers.apply(
        Update::Removed {
            room: room("random"),
            current: Some(room("general")),
        },
        now,
    );
    assert!(effects.bell);
    let buffer = &buffers.buffers()[random];
    assert!(buffer.parted && buffer.members.is_empty());
    assert_eq!(counts(buffer), (1, 1), "it counts as a mention until seen");
    assert_eq!(
        texts(buffer).last().unwrap(),
        "you are no longer in #random (/join random to try again)"
    );
    // Joining again makes it a room like any other.
    buffers.apply(
        Update::Joined {
            answer: answer("random", Vec::new(), false),
            current: false,
        },
        now,
    );
    assert!(!buffers.buffers()[random].parted);
    buffers.apply(
        Update::Removed {
            room: room("random"),
            current: None,
        },
        now,
    );
    // Closing it leaves nothing: the buffer just goes.
    assert_eq!(buffers.close(random), Close::Closed);
    assert!(buffers.position(&BufferKey::Room(room("random"))).is_none());
}

#[test]
fn an_invite_lands_in_the_server_buffer_as_news_for_the_user() {
    let now = Instant::now();
    let mut buffers = session(now);
    let invite = ServerEvent::Known(Event::Invite {
        room: room("general"),
        by: nick("carol"),
        ts: "2026-11-21T10:06:00Z".into(),
    });
    assert!(live(&mut buffers, invite.clone(), now).bell);
    let server = &buffers.buffers()[SERVER];
    assert_eq!(server.lines.back().unwrap().kind, LineKind::Event(invite));
    assert_eq!(counts(server), (1, 1));
    let general = &buffers.buffers()[index(&buffers, BufferKey::Room(room("general")))];
    assert!(!matches!(
        general.lines.back().unwrap().kind,
        LineKind::Event(_)
    ));
}

#[test]
fn the_account_and_a_needed_login_show_in_the_session_state() {
    let now = Instant::now();
    let mut buffers = Buffers::new("chat.example");
    buffers.apply(
        Update::NeedsLogin {
            nick: nick("Ann"),
            refusal: None,
        },
        now,
    );
    assert_eq!(buffers.connection(), &Connection::NeedsLogin);
    assert_eq!(
        texts(&buffers.buffers()[SERVER]),
        ["nick Ann is registered: /login PASSWORD, or /nick OTHER"]
    );
    buffers.apply(
        Update::Connected {
            server: "chat.example".into(),
            version: "0.1.0".into(),
            nick: nick("Ann"),
            motd: None,
        },
        now,
    );
    buffers.apply(Update::LoggedIn(Some(nick("Ann"))), now);
    assert_eq!(buffers.connection(), &Connection::Online);
    assert_eq!(buffers.account(), Some(&nick("Ann")));
    // A reconnect that logs in to the same account says nothing new.
    buffers.apply(Update::LoggedIn(Some(nick("Ann"))), now);
    buffers.apply(Update::Done(Done::AccountDropped(nick("Ann"))), now);
    buffers.apply(Update::LoggedIn(None), now);
    assert_eq!(buffers.account(), None);
    let server = texts(&buffers.buffers()[SERVER]);
    assert_eq!(
        server[server.len() - 3..],
        [
            "logged in as Ann",
            "dropped the account Ann (you keep the nick)",
            "not logged in to an account",
        ]
    );
}
