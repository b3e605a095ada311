//! TLS: the self-signed certificate is generated once in the state directory and
//! reused, clients pinning its fingerprint connect (TLS 1.2 and 1.3) and clients
//! pinning another fail; the plaintext listener works on loopback and is refused
//! elsewhere unless explicitly allowed.

mod common;

use base64::Engine as _;
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::ProtocolVersion;
use serde_json::json;

/// The fingerprint as D13 defines it, computed independently of the server.
fn expected_fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref())
    )
}

fn assert_fingerprint_shape(fingerprint: &str) {
    let encoded = fingerprint
        .strip_prefix("SHA256:")
        .unwrap_or_else(|| panic!("fingerprint {fingerprint:?} does not start with SHA256:"));
    // 32 bytes in unpadded standard base64.
    assert_eq!(encoded.len(), 43, "{fingerprint}");
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "{fingerprint}"
    );
}

#[tokio::test]
async fn the_self_signed_certificate_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    assert!(!cert_path.exists());

    let first = TestServer::start_in(dir.path(), "").await;
    assert!(
        cert_path.is_file(),
        "cert.pem was not written to the state dir"
    );
    assert!(
        key_path.is_file(),
        "key.pem was not written to the state dir"
    );
    let cert_pem = std::fs::read(&cert_path).unwrap();
    let key_pem = std::fs::read(&key_path).unwrap();
    let der = CertificateDer::from_pem_slice(&cert_pem).expect("cert.pem holds a certificate");
    assert_fingerprint_shape(&first.fingerprint);
    assert_eq!(first.fingerprint, expected_fingerprint(der.as_ref()));
    assert_eq!(confab::tls::fingerprint(der.as_ref()), first.fingerprint);
    // The certificate served is that one (the client pins its fingerprint).
    let mut c = Client::connect(&first).await;
    c.hello("alice").await;
    let fingerprint = first.fingerprint.clone();
    first.shutdown().await;

    let second = TestServer::start_in(dir.path(), "").await;
    assert_eq!(
        second.fingerprint, fingerprint,
        "a new certificate was generated"
    );
    assert_eq!(
        std::fs::read(&cert_path).unwrap(),
        cert_pem,
        "cert.pem was rewritten"
    );
    assert_eq!(
        std::fs::read(&key_path).unwrap(),
        key_pem,
        "key.pem was rewritten"
    );
    let mut c = Client::connect_pinned(second.addr(), &fingerprint, None)
        .await
        .expect("the old pin still works");
    c.hello("alice").await;
    second.shutdown().await;
}

#[tokio::test]
async fn a_missing_state_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").join("confab");
    let server = TestServer::start_in(&state, "").await;
    assert!(state.join("cert.pem").is_file());
    assert!(state.join("key.pem").is_file());
    let mut c = Client::connect(&server).await;
    c.hello("alice").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_pinning_another_certificate_fails_the_handshake() {
    let server = TestServer::start("").await;
    let other = TestServer::start("").await;
    assert_ne!(server.fingerprint, other.fingerprint);
    let wrong_pins = [
        other.fingerprint.clone(),
        format!("SHA256:{}", "A".repeat(43)),
    ];
    for pin in &wrong_pins {
        let result = Client::connect_pinned(server.addr(), pin, None).await;
        assert!(result.is_err(), "a handshake pinning {pin} succeeded");
    }
    assert_eq!(wrong_pins.len(), 2);
    // The server is unharmed and the right pin works.
    let mut c = Client::connect(&server).await;
    c.hello("alice").await;
    server.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn tls_1_2_and_1_3_both_work() {
    let server = TestServer::start("").await;
    let versions = [
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
    ];
    for (i, (version, expected)) in versions.iter().enumerate() {
        let mut c =
            Client::connect_pinned(server.addr(), &server.fingerprint, Some(&[*version][..]))
                .await
                .unwrap_or_else(|e| panic!("{expected:?} handshake failed: {e}"));
        assert_eq!(c.tls_version, Some(*expected));
        c.hello(&format!("user{i}")).await;
        c.join("lobby").await;
    }
    assert_eq!(versions.len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn the_plaintext_listener_speaks_the_same_protocol() {
    let server = TestServer::start("[[listen]]\naddr = \"127.0.0.1:0\"\ntls = false\n").await;
    assert_eq!(server.addrs.len(), 2);
    let mut tls_client = registered(&server, "alice").await;
    tls_client.join("lobby").await;

    let mut plain = Client::connect_plain(server.addrs[1]).await;
    assert_eq!(plain.tls_version, None);
    assert_frame(
        &plain
            .request(json!({"type": "hello", "nick": "script"}))
            .await,
        json!({"type": "ok", "nick": "script", "server": SERVER_NAME, "version": VERSION, "protocol": "1.2", "limits": default_limits()}),
    );
    assert_frame(
        &plain
            .request(json!({"type": "join", "room": "#Lobby"}))
            .await,
        json!({"type": "ok", "room": "lobby", "topic": "", "members": ["alice", "script"], "epoch": "<epoch>", "history": [], "more": false}),
    );
    let (echo, ok) = plain.say("lobby", "deploy finished").await;
    assert_frame(
        &echo,
        message_event("lobby", 1, "script", "deploy finished"),
    );
    assert_frame(&ok, json!({"type": "ok", "seq": 1, "ts": "<ts>"}));
    assert_frame(
        &tls_client.recv().await,
        json!({"type": "join", "room": "lobby", "nick": "script", "ts": "<ts>"}),
    );
    assert_eq!(tls_client.recv().await, echo);
    let (echo, _) = tls_client.say("lobby", "thanks").await;
    assert_eq!(plain.recv().await, echo);
    server.shutdown().await;
}

/// A config with exactly the given `[[listen]]` section (no default listener).
fn config_with_listener(state_dir: &std::path::Path, listen: &str) -> String {
    format!(
        "state_dir = {}\n[[listen]]\n{listen}",
        toml::Value::String(state_dir.display().to_string())
    )
}

#[test]
fn a_plaintext_listener_off_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let refused = [
        "addr = \"0.0.0.0:7667\"\ntls = false\n",
        "addr = \"192.0.2.1:7667\"\ntls = false\n",
        "addr = \"[::]:7667\"\ntls = false\n",
        "addr = \"0.0.0.0:7667\"\ntls = false\nallow_insecure_plaintext = false\n",
    ];
    for listen in refused {
        let text = config_with_listener(dir.path(), listen);
        match confab::config::Settings::from_toml_str(&text, std::path::Path::new("test.toml")) {
            Ok(_) => panic!("plaintext listener accepted:\n{text}"),
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.to_lowercase().contains("loopback"),
                    "the error does not mention loopback: {message}"
                );
                assert!(
                    message.contains("test.toml"),
                    "the error does not name the file: {message}"
                );
            }
        }
    }
    assert_eq!(refused.len(), 4);
}

#[test]
fn plaintext_is_allowed_on_loopback_or_when_explicitly_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = [
        (
            "addr = \"127.0.0.1:7667\"\ntls = false\n",
            "127.0.0.1:7667",
            false,
        ),
        ("addr = \"[::1]:7667\"\ntls = false\n", "[::1]:7667", false),
        (
            "addr = \"0.0.0.0:7667\"\ntls = false\nallow_insecure_plaintext = true\n",
            "0.0.0.0:7667",
            false,
        ),
        (
            "addr = \"0.0.0.0:7667\"\ntls = true\n",
            "0.0.0.0:7667",
            true,
        ),
        ("addr = \"0.0.0.0:7667\"\n", "0.0.0.0:7667", true),
    ];
    for (listen, addr, tls) in allowed {
        let text = config_with_listener(dir.path(), listen);
        let settings = parse_settings(&text);
        assert_eq!(settings.listeners.len(), 1, "{text}");
        assert_eq!(settings.listeners[0].addr, addr.parse().unwrap(), "{text}");
        assert_eq!(settings.listeners[0].tls, tls, "{text}");
    }
    assert_eq!(allowed.len(), 5);
}
