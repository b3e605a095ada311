//! Trusting the server's certificate the way ssh does: the known-hosts file, the
//! question on a terminal, the refusal in scripts, `--fingerprint`, `--ca`, and
//! the loud refusal of a changed certificate.

mod client_support;
mod common;

use client_support::{config_home, known_hosts, run_client, ClientProcess};
use common::{registered, TestServer};

/// A script meeting an unknown self-signed server is refused, shown the
/// fingerprint and the exact flag and file line that would pin it, and sends
/// nothing.
#[tokio::test]
async fn an_unknown_server_is_refused_in_scripts_with_the_way_to_pin_it() {
    let server = TestServer::start("").await;
    let mut watcher = registered(&server, "watcher").await;
    watcher.join("ops").await;
    let home = config_home();
    let addr = server.addr().to_string();
    let done = run_client(
        &["client", &addr, "--nick", "bot", "--join", "ops"],
        "hello\n",
        home.path(),
    )
    .await;
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    let fp = &server.fingerprint;
    assert!(
        done.stderr.contains(&format!("Its fingerprint is {fp}")),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains(&format!("  --fingerprint {fp}\n")),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains(&format!("  {addr} {fp}\n")),
        "{}",
        done.stderr
    );
    assert!(!known_hosts(home.path()).exists());
    // Nothing was sent: the watcher never saw the bot join.
    watcher.expect_nothing().await;
}

/// `--fingerprint` trusts exactly that certificate, for this run only.
#[tokio::test]
async fn a_pinned_fingerprint_is_accepted_and_a_wrong_one_refused() {
    let server = TestServer::start("").await;
    let home = config_home();
    let addr = server.addr().to_string();
    let pinned = run_client(
        &[
            "client",
            &addr,
            "--nick",
            "bot",
            "--fingerprint",
            &server.fingerprint,
        ],
        "/rooms\n",
        home.path(),
    )
    .await;
    assert_eq!(pinned.code, Some(0), "{}", pinned.stderr);
    assert_eq!(pinned.stdout[1], "-- no rooms yet: /join ROOM creates one");
    assert!(
        !known_hosts(home.path()).exists(),
        "a pin is for one run only"
    );

    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let refused = run_client(
        &["client", &addr, "--nick", "bot", "--fingerprint", wrong],
        "/rooms\n",
        home.path(),
    )
    .await;
    assert_eq!(refused.code, Some(3), "{}", refused.stderr);
    assert!(refused.stdout.is_empty(), "{:?}", refused.stdout);
    assert!(
        refused.stderr.contains(&format!(
            "expected: {wrong}\nreceived: {}",
            server.fingerprint
        )),
        "{}",
        refused.stderr
    );
}

/// A known host whose certificate changed is refused loudly, with both
/// fingerprints and the line to remove.
#[tokio::test]
async fn a_changed_certificate_is_refused_loudly() {
    let server = TestServer::start("").await;
    let home = config_home();
    let addr = server.addr().to_string();
    let old = "SHA256:0ldF1ngerpr1ntF0rTh1sH0stXXXXXXXXXXXXXXXXX";
    let hosts = known_hosts(home.path());
    std::fs::create_dir_all(hosts.parent().unwrap()).unwrap();
    std::fs::write(&hosts, format!("# my servers\n{addr} {old}\n")).unwrap();
    let done = run_client(&["client", &addr, "--nick", "bot"], "/rooms\n", home.path()).await;
    assert_eq!(done.code, Some(3), "{}", done.stderr);
    let stderr = &done.stderr;
    assert!(
        stderr.contains(&format!("THE CERTIFICATE OF {addr} HAS CHANGED")),
        "{stderr}"
    );
    assert!(stderr.contains("intercepting"), "{stderr}");
    assert!(
        stderr.contains(&format!("expected: {old} ({}, line 2)", hosts.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("received: {}", server.fingerprint)),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("remove line 2 of {}", hosts.display())),
        "{stderr}"
    );
    assert!(done.stdout.is_empty());
}

/// On a terminal the client asks; "yes" writes the known-hosts line, and the
/// next run (a script now) trusts the server without asking.
#[tokio::test]
async fn accepting_on_a_terminal_remembers_the_server() {
    let server = TestServer::start("").await;
    let home = config_home();
    let addr = server.addr().to_string();
    let mut person = ClientProcess::spawn_in_terminal(
        &["client", &addr, "--nick", "carol", "--line"],
        home.path(),
    );
    // Typed ahead: the terminal holds the answer until the question reads it.
    person.send_line("yes").await;
    person.line_containing(&server.fingerprint).await;
    person.line_containing("connected to test.confab").await;
    let line = std::fs::read_to_string(known_hosts(home.path())).unwrap();
    assert_eq!(line, format!("{addr} {}\n", server.fingerprint));
    person.send_line("/quit").await;
    let done = person.finish().await;
    assert_eq!(done.code, Some(0), "{}", done.stderr);

    let script = run_client(&["client", &addr, "--nick", "bot"], "/rooms\n", home.path()).await;
    assert_eq!(script.code, Some(0), "{}", script.stderr);
    assert_eq!(script.stdout[1], "-- no rooms yet: /join ROOM creates one");
}

/// `--ca`: a certificate chaining to the given CA and naming the host is
/// trusted; against another CA the handshake is refused.
#[tokio::test]
async fn a_ca_file_vouches_for_the_server_it_signed() {
    let server = TestServer::start("").await;
    let home = config_home();
    let cert = server.state_dir.join(confab::tls::CERT_FILE);
    // The self-signed certificate names localhost, so it is its own CA here.
    let by_name = format!("localhost:{}", server.addr().port());
    let cert_arg = cert.display().to_string();
    let trusted = run_client(
        &["client", &by_name, "--nick", "bot", "--ca", &cert_arg],
        "/rooms\n",
        home.path(),
    )
    .await;
    assert_eq!(trusted.code, Some(0), "{}", trusted.stderr);

    let other = TestServer::start("").await;
    let other_cert = other
        .state_dir
        .join(confab::tls::CERT_FILE)
        .display()
        .to_string();
    let refused = run_client(
        &["client", &by_name, "--nick", "bot", "--ca", &other_cert],
        "/rooms\n",
        home.path(),
    )
    .await;
    assert_eq!(refused.code, Some(3), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("TLS handshake failed"),
        "{}",
        refused.stderr
    );
}

/// `confab server --print-fingerprint` prints the fingerprint the server then
/// serves with.
#[tokio::test]
async fn the_server_prints_the_fingerprint_it_serves() {
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("confab.toml");
    std::fs::write(
        &config,
        format!("state_dir = {:?}\n", state.path().display().to_string()),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "server",
            "--config",
            &config.display().to_string(),
            "--print-fingerprint",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    let server = TestServer::start_in(state.path(), "").await;
    assert_eq!(printed, format!("{}\n", server.fingerprint));
}
