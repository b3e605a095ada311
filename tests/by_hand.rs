//! The README's promise, checked with the real tool: two people holding a
//! conversation by typing JSON lines into `openssl s_client -quiet`. CI installs
//! openssl (`.ci/run`); without it this test fails rather than passing vacuously.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};

use common::{normalize, TestServer, FRAME_TIMEOUT, SERVER_NAME, VERSION};
use serde_json::{json, Value};

/// One `openssl s_client -quiet` session: lines typed in, frames read out.
struct OpensslSession {
    child: Child,
    stdin: ChildStdin,
    frames: Receiver<String>,
}

impl OpensslSession {
    fn connect(server: &TestServer) -> OpensslSession {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(server.addr().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl must be installed for this test (.ci/run installs it)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        OpensslSession {
            child,
            stdin,
            frames,
        }
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to openssl");
        self.stdin.flush().expect("flush to openssl");
    }

    fn read_frame(&self) -> Value {
        let line = self
            .frames
            .recv_timeout(FRAME_TIMEOUT)
            .expect("a frame within the timeout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }
}

impl Drop for OpensslSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_talk_through_openssl_s_client() {
    let server = TestServer::start("").await;
    let (alice, bob) = tokio::task::spawn_blocking({
        let alice = OpensslSession::connect(&server);
        let bob = OpensslSession::connect(&server);
        move || converse(alice, bob)
    })
    .await
    .expect("conversation");
    drop((alice, bob));
    server.shutdown().await;
}

fn hello_ok(nick: &str) -> Value {
    json!({"type":"ok","nick":nick,"server":SERVER_NAME,"version":VERSION,
           "protocol": "1.2",
           "limits":{"max_line_bytes":16384,"max_text_bytes":4096,"max_rooms":64,"history_max":200,"max_page_bytes":262144}})
}

fn converse(
    mut alice: OpensslSession,
    mut bob: OpensslSession,
) -> (OpensslSession, OpensslSession) {
    alice.type_line(r#"{"type":"hello","nick":"alice"}"#);
    assert_eq!(alice.read_frame(), hello_ok("alice"));
    alice.type_line(r##"{"type":"join","room":"#Lobby","id":1}"##);
    assert_eq!(
        normalize(&alice.read_frame()),
        json!({"type":"ok","id":1,"room":"lobby","topic":"","members":["alice"],"epoch": "<epoch>","history":[],"more":false})
    );

    bob.type_line(r#"{"type":"hello","nick":"bob"}"#);
    assert_eq!(bob.read_frame(), hello_ok("bob"));
    // A person pressing Enter on an empty line gets no answer.
    bob.type_line("");
    bob.type_line(r#"{"type":"join","room":"lobby"}"#);
    assert_eq!(
        normalize(&bob.read_frame()),
        json!({"type":"ok","room":"lobby","topic":"","members":["alice","bob"],"epoch": "<epoch>","history":[],"more":false})
    );
    assert_eq!(
        normalize(&alice.read_frame()),
        json!({"type":"join","room":"lobby","nick":"bob","ts":"<ts>"})
    );

    bob.type_line(r#"{"type":"message","room":"lobby","text":"hi alice"}"#);
    let said =
        json!({"type":"message","room":"lobby","seq":1,"ts":"<ts>","from":"bob","text":"hi alice"});
    assert_eq!(
        normalize(&bob.read_frame()),
        said,
        "the sender's echo comes first"
    );
    assert_eq!(
        normalize(&bob.read_frame()),
        json!({"type":"ok","seq":1,"ts":"<ts>"})
    );
    assert_eq!(normalize(&alice.read_frame()), said);

    alice.type_line(r#"{"type":"message","room":"lobby","text":"hello bob","action":true}"#);
    let answer = json!({"type":"message","room":"lobby","seq":2,"ts":"<ts>","from":"alice","text":"hello bob","action":true});
    assert_eq!(normalize(&alice.read_frame()), answer);
    assert_eq!(
        normalize(&alice.read_frame()),
        json!({"type":"ok","seq":2,"ts":"<ts>"})
    );
    assert_eq!(normalize(&bob.read_frame()), answer);

    alice.type_line(r#"{"type":"quit","reason":"lunch"}"#);
    assert_eq!(alice.read_frame(), json!({"type":"ok"}));
    assert_eq!(alice.read_frame(), json!({"type":"bye","reason":"quit"}));
    assert_eq!(
        normalize(&bob.read_frame()),
        json!({"type":"leave","room":"lobby","nick":"alice","reason":"lunch","ts":"<ts>"})
    );
    (alice, bob)
}
