//! Servers of other protocol versions than this client's, played by a fake
//! server over real TLS: a newer one (event types, error codes and fields this
//! client does not know) must not break it, and an older one (no room epochs)
//! must not make it claim a catch-up it cannot know is complete.

mod client_support;

use client_support::{config_home, hello_ok, Answer, ClientProcess, FakeServer};

fn answer(lines: Vec<String>) -> Answer {
    Answer {
        lines,
        close: false,
    }
}

/// `ok` and `bye` for a `quit`.
fn quit(request: &serde_json::Value) -> Answer {
    Answer {
        lines: vec![
            format!(r#"{{"type":"ok","id":{}}}"#, request["id"]),
            r#"{"type":"bye","reason":"quit"}"#.to_owned(),
        ],
        close: true,
    }
}

fn client_args<'a>(server: &'a FakeServer, addr: &'a str) -> Vec<&'a str> {
    vec![
        "client",
        addr,
        "--nick",
        "alice",
        "--join",
        "ops",
        "--fingerprint",
        &server.fingerprint,
    ]
}

/// A 1.3-style server: new fields everywhere, a numbered room event of a new
/// kind in the history, a new live event, and a new error code.
#[tokio::test]
async fn a_newer_server_is_shown_not_misread() {
    let mut server = FakeServer::start(1, |_, request| {
        let id = &request["id"];
        match request["type"].as_str() {
            Some("hello") => answer(vec![hello_ok(request, Some("1.3"), r#","account":"alice""#)]),
            Some("join") => answer(vec![
                format!(
                    r#"{{"type":"ok","id":{id},"room":"ops","topic":"","members":["alice"],"epoch":"E1","flags":{{"moderated":true}},"history":[{{"type":"message","room":"ops","seq":1,"ts":"2026-11-21T10:00:00.000Z","from":"bob","text":"earlier","edited":false}},{{"type":"redact","room":"ops","seq":2,"ts":"2026-11-21T10:01:00.000Z","by":"bob","target":"carol"}}],"more":false}}"#
                ),
                r#"{"type":"announce","room":"ops","by":"bob","nick":"alice","ts":"2026-11-21T10:02:00.000Z"}"#.to_owned(),
            ]),
            Some("message") => answer(vec![format!(
                r#"{{"type":"error","id":{id},"code":"frozen","message":"you are frozen in #ops","until":"later"}}"#
            )]),
            Some("quit") => quit(request),
            _ => answer(vec![format!(r#"{{"type":"ok","id":{id}}}"#)]),
        }
    })
    .await;
    let home = config_home();
    let addr = server.addr.to_string();
    let mut alice = ClientProcess::spawn(&client_args(&server, &addr), home.path());
    alice.send_line("anyone there?").await;
    let done = alice.finish().await;
    assert_eq!(
        done.code,
        Some(1),
        "the frozen message failed: {}",
        done.stderr
    );
    assert!(
        done.stderr
            .contains("error: you are frozen in #ops (frozen)"),
        "{}",
        done.stderr
    );
    assert!(
        !done.stderr.contains("malformed") && !done.stderr.contains("cannot read"),
        "{}",
        done.stderr
    );
    // Without the local time in front of events.
    let lines: Vec<&str> = done
        .all_stdout
        .iter()
        .map(|line| match line.find(" #ops ") {
            Some(at) if !line.starts_with("--") => &line[at + 1..],
            _ => line.as_str(),
        })
        .collect();
    assert_eq!(
        lines,
        [
            "-- connected to fake (confab 9.9.9) as alice",
            "-- logged in as alice",
            "-- joined #ops (no topic); 1 here: alice",
            "#ops <bob> earlier",
            "#ops [redact] by=bob target=carol",
            "#ops [announce] by=bob nick=alice",
        ],
        "{}",
        done.stderr
    );
    let mut kinds = Vec::new();
    while let Ok((_, request)) = server.requests.try_recv() {
        kinds.push(request["type"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(kinds, ["hello", "join", "message", "quit"]);
    server.task.await.unwrap();
}

/// A 1.0 server (no `protocol`, no `epoch`) drops the connection; on the
/// rejoin it reports nothing new. The client asks from its last seq, shows no
/// epoch it never had, and does not claim to be caught up.
#[tokio::test]
async fn a_server_without_epochs_gets_no_claim_of_a_complete_catch_up() {
    let mut server = FakeServer::start(2, |connection, request| {
        let id = &request["id"];
        match (connection, request["type"].as_str()) {
            (_, Some("hello")) => answer(vec![hello_ok(request, None, "")]),
            (0, Some("join")) => Answer {
                lines: vec![format!(
                    r#"{{"type":"ok","id":{id},"room":"ops","topic":"","members":["alice","bob"],"history":[{{"type":"message","room":"ops","seq":1,"ts":"2026-11-21T10:00:00.000Z","from":"bob","text":"one"}},{{"type":"message","room":"ops","seq":2,"ts":"2026-11-21T10:00:01.000Z","from":"bob","text":"two"}}],"more":false}}"#
                )],
                // The server goes away right after.
                close: true,
            },
            (_, Some("join")) => answer(vec![format!(
                r#"{{"type":"ok","id":{id},"room":"ops","topic":"","members":["alice","bob"],"history":[],"more":false}}"#
            )]),
            (_, Some("quit")) => quit(request),
            _ => answer(vec![format!(r#"{{"type":"ok","id":{id}}}"#)]),
        }
    })
    .await;
    let home = config_home();
    let addr = server.addr.to_string();
    let mut alice = ClientProcess::spawn(&client_args(&server, &addr), home.path());
    alice.line_containing("<bob> two").await;
    let rejoin = loop {
        match server.next_request().await {
            (1, request) if request["type"] == "join" => break request,
            _ => {}
        }
    };
    assert_eq!(rejoin["since"], 2, "{rejoin}");
    assert!(rejoin.get("epoch").is_none(), "{rejoin}");
    // The rejoin is answered before the quit that the end of input brings.
    let done = alice.finish().await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.stderr.contains(
            "-- rejoined #ops (0 messages after seq 2; the server does not report room epochs"
        ),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("caught up"), "{}", done.stderr);
    assert!(!done.stderr.contains("restarted"), "{}", done.stderr);
    server.task.await.unwrap();
}
