//! loadgen: the load generator of the side-by-side benchmark in benches/compare/
//! (confab vs InspIRCd vs ngIRCd vs a Socket.IO chat server), over TLS or plaintext.
//! One process, one thread (a current-thread tokio runtime), the same schedule, texts
//! and checks for every server; only the wire protocol differs.
//!
//! Normally run by benches/compare/run.sh, which builds it. By hand (the server
//! must already run on 127.0.0.1:PORT with process id PID):
//!
//!   loadgen --proto confab|irc|socketio --port PORT --pid PID [--tls]
//!           --scenario fanout|saturate|idle [--out results.jsonl] [sizes...]
//!
//! Scenarios:
//!   fanout    paced fan-out: --members (100) clients in one room; --senders (10)
//!             of them (the first ones) send --rate (100) messages/s each for
//!             --duration (5) seconds, spread evenly over each interval.
//!   saturate  the fan-out room, but each sender writes --burst (500) messages as
//!             fast as it can.
//!   idle      --idle (2000) registered connections, each in one of --rooms (50)
//!             rooms, doing nothing: the server's RSS growth per connection, and
//!             its CPU time per connection made (TCP, TLS, register, join).
//! Other flags: --parallel (200) connections being made at once, --text-bytes
//! (100), --clk-tck (100, getconf CLK_TCK), --settle (2) seconds before the idle
//! scenario's last memory reading, --drain (20) seconds to wait after the last
//! message was sent for the last delivery, --timeout (300) hard limit for the whole
//! run; --label, --name, --run and --note are copied into the result (the server's
//! name, the scenario's name in the tables, the run number, the machine's state).
//! The record has the fields of loadgen.mjs's, so `node loadgen.mjs --summary` (and,
//! for one transport at a time, `--table`) prints either.
//!
//! What it measures, from outside the server: latency from the send time written
//! into each message text to its arrival (same process, same clock); deliveries/s
//! achieved against those offered; the server's CPU time (utime+stime of its
//! process, from /proc/PID/stat) over the measured window, which runs from the
//! first message sent to the last delivery; its VmRSS/VmHWM from /proc/PID/status;
//! this process's own CPU time, to tell when the client rather than the server set
//! the pace; and the CPU time every other process took meanwhile (/proc/stat), to
//! tell a measurement that shared the machine with, say, a build.
//!
//! What it checks (a failure marks the result and exits 1): every receiver gets
//! every message (IRC does not echo a message to its sender, so there a sender
//! expects every message but its own); per sender, messages arrive in order with no
//! gap; for confab and Socket.IO the room's seq runs 1, 2, 3, ... with no gap and
//! every message is acknowledged; no error replies, no unexpected disconnects. A
//! server that has not delivered everything --drain seconds after the last send is
//! not failed but marked as not keeping up ("incomplete").
//!
//! TLS: the client does not verify the server's certificate (every server here has
//! a self-signed one), checks its handshake signature, and resumes no session: each
//! connection makes a full handshake, as distinct users would.
//!
//! It only ever connects to 127.0.0.1, and every wait is bounded in time.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use memchr::{memchr, memchr2, memmem};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

/// The only address this program ever talks to.
const HOST: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;

// ---------------------------------------------------------------------------
// Command line

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Result<Args, String> {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(a) = it.next() {
            let key = a
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {a}"))?;
            let value = match it.peek() {
                Some(v) if !v.starts_with("--") => it.next().unwrap(),
                _ => "true".to_string(),
            };
            map.insert(key.to_string(), value);
        }
        Ok(Args(map))
    }
    fn str(&self, key: &str, fallback: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| fallback.to_string())
    }
    fn num(&self, key: &str, fallback: f64) -> Result<f64, String> {
        match self.0.get(key) {
            None => Ok(fallback),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key} needs a number, got {v}")),
        }
    }
    fn flag(&self, key: &str) -> bool {
        matches!(
            self.0.get(key).map(String::as_str),
            Some("true" | "1" | "yes")
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Confab,
    Irc,
    SocketIo,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Confab => "confab",
            Proto::Irc => "irc",
            Proto::SocketIo => "socketio",
        }
    }
}

struct Cfg {
    proto: Proto,
    port: u16,
    pid: u32,
    tls: bool,
    clk_tck: f64,
    parallel: usize,
}

// ---------------------------------------------------------------------------
// Clocks and /proc

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since this process's epoch (monotonic).
fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// utime+stime of a process (all its threads), in milliseconds.
fn cpu_ms(stat_path: &str, clk_tck: f64) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after it start past ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) * 1000.0 / clk_tck // fields 14 and 15
}

/// CPU time of the whole machine so far, in milliseconds: (user+nice+system of
/// every core, steal) from /proc/stat. The first, less this process's and the
/// server's, is what other processes took meanwhile: another build on the same
/// cores, say.
fn machine_cpu_ms(clk_tck: f64) -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().find(|l| l.starts_with("cpu ")).unwrap_or("");
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(f64::NAN) * 1000.0 / clk_tck;
    (at(0) + at(1) + at(2), at(7))
}

/// What other processes and the hypervisor took from the machine between two
/// readings, per second of `wall_s`: (others ms/s, steal ms/s).
fn others_per_s(m0: (f64, f64), m1: (f64, f64), ours_ms: f64, wall_s: f64) -> (f64, f64) {
    (
        ((m1.0 - m0.0) - ours_ms).max(0.0) / wall_s,
        (m1.1 - m0.1) / wall_s,
    )
}

/// VmRSS and VmHWM of a process, in KiB.
fn mem_kib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

fn percentile(sorted: &[f32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1] as f64
}

// ---------------------------------------------------------------------------
// Transport: TCP, or TLS over it

trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// Accepts any certificate (they are all self-signed here) but checks the
/// handshake's signatures, so the server does the same work as with a real client.
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_connector() -> &'static tokio_rustls::TlsConnector {
    static CONNECTOR: OnceLock<tokio_rustls::TlsConnector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    })
}

async fn open(cfg: &Cfg) -> std::io::Result<Box<dyn Io>> {
    let tcp = TcpStream::connect((HOST, cfg.port)).await?;
    tcp.set_nodelay(true)?;
    if !cfg.tls {
        return Ok(Box::new(tcp));
    }
    let name = ServerName::IpAddress(std::net::IpAddr::V4(HOST).into());
    Ok(Box::new(tls_connector().connect(name, tcp).await?))
}

// ---------------------------------------------------------------------------
// Shared state of a run (one thread: Rc and RefCell)

struct Run {
    failures: RefCell<Vec<String>>,
    /// A connection was lost: deliveries that will never come; stop waiting.
    lost: Cell<bool>,
    /// Woken when the last expected delivery arrives or a connection is lost.
    wake: Notify,
    fanout: RefCell<Option<Book>>,
}

impl Run {
    fn fail(&self, why: String) {
        let mut f = self.failures.borrow_mut();
        if f.len() < 20 {
            f.push(why);
        }
        drop(f);
    }
    fn lose(&self, why: String) {
        self.fail(why);
        self.lost.set(true);
        self.wake.notify_one();
    }

    /// One room message arrived at `member`. text = "<sent µs> <sender> <index> xxx…"
    fn on_message(&self, member: usize, room: &[u8], text: &[u8], seq: Option<u64>) {
        let t = now_us();
        let mut book = self.fanout.borrow_mut();
        let Some(b) = book.as_mut() else { return }; // idle scenario: nothing to count
        if room != b.room.as_bytes() {
            drop(book);
            let room = String::from_utf8_lossy(room);
            return self.fail(format!("member {member}: message for room {room}"));
        }
        let mut rest = text;
        let mut field = || {
            let (n, used) = leading_number(rest)?;
            rest = rest.get(used + 1..)?; // the number and the space after it
            Some(n)
        };
        let (Some(sent), Some(s), Some(k)) = (field(), field(), field()) else {
            drop(book);
            let text = String::from_utf8_lossy(text);
            return self.fail(format!(
                "member {member}: text not from this run: {text:.60}"
            ));
        };
        let s = s as usize;
        if s >= b.senders {
            drop(book);
            return self.fail(format!("member {member}: message from unknown sender {s}"));
        }
        let slot = &mut b.last_index[member * b.senders + s];
        if k as i64 != *slot + 1 {
            let last = *slot;
            *slot = k as i64;
            drop(book);
            return self.fail(format!(
                "member {member}: from sender {s} got #{k} after #{last}"
            ));
        }
        *slot = k as i64;
        if let Some(seq) = seq {
            let last = b.last_seq[member];
            b.last_seq[member] = seq;
            if seq != last + 1 {
                drop(book);
                return self.fail(format!("member {member}: seq {seq} after {last}"));
            }
        }
        b.counts[member] += 1;
        if b.delivered < b.expected {
            b.latencies.push(t.saturating_sub(sent) as f32 / 1000.0);
        }
        b.delivered += 1;
        b.last_delivery_us = t;
        if b.delivered == b.expected {
            self.wake.notify_one();
        }
    }
}

/// The decimal number at the start of `b`, and how many bytes it took.
fn leading_number(b: &[u8]) -> Option<(u64, usize)> {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    Some((
        b[..digits]
            .iter()
            .fold(0u64, |n, c| n * 10 + u64::from(c - b'0')),
        digits,
    ))
}

/// The fan-out's bookkeeping, per receiver.
struct Book {
    room: String,
    senders: usize,
    counts: Vec<u64>,
    last_seq: Vec<u64>,
    last_index: Vec<i64>, // members × senders
    latencies: Vec<f32>,  // ms, one per delivery
    delivered: u64,
    expected: u64,
    last_delivery_us: u64,
}

// ---------------------------------------------------------------------------
// Clients: a task per connection, driven through a channel

enum Cmd {
    Hello(String, oneshot::Sender<Result<(), String>>),
    Join(String, oneshot::Sender<Result<(), String>>),
    Message(String, String),
    Close,
}

enum Pending {
    Waiter(oneshot::Sender<Result<(), String>>),
    Message,
    Ping,
}

/// One connection's protocol state: turns commands into frames and frames into
/// calls on the run.
struct Handler {
    proto: Proto,
    member: usize,
    run: Rc<Run>,
    acks: Rc<Cell<u64>>,
    closing: bool,
    pending: VecDeque<Pending>, // confab: responses come in request order
    waiters: Vec<(String, oneshot::Sender<Result<(), String>>)>, // IRC numerics, Socket.IO ack ids
    next_ack: u64,
}

#[derive(Deserialize)]
struct ConfabFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    room: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct SioMessage<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    seq: u64,
}

#[derive(Deserialize)]
struct SioAck {
    ok: bool,
}

/// A room message's room, text and seq, found in its JSON object without a full
/// parse; None (parse it properly) when a string holds an escape or a field is
/// missing. A key in quotes followed by a colon cannot occur inside a JSON string
/// (its quotes would be escaped there), so the first match is the field.
fn fast_message(json: &[u8]) -> Option<(&[u8], &[u8], u64)> {
    use std::sync::LazyLock;
    static ROOM: LazyLock<memmem::Finder> = LazyLock::new(|| memmem::Finder::new(b"\"room\":\""));
    static TEXT: LazyLock<memmem::Finder> = LazyLock::new(|| memmem::Finder::new(b"\"text\":\""));
    static SEQ: LazyLock<memmem::Finder> = LazyLock::new(|| memmem::Finder::new(b"\"seq\":"));
    fn string_field<'a>(json: &'a [u8], key: &memmem::Finder) -> Option<&'a [u8]> {
        let at = key.find(json)? + key.needle().len();
        let len = memchr2(b'"', b'\\', &json[at..])?;
        (json[at + len] == b'"').then(|| &json[at..at + len])
    }
    let room = string_field(json, &ROOM)?;
    let text = string_field(json, &TEXT)?;
    let at = SEQ.find(json)? + SEQ.needle().len();
    let (seq, _) = leading_number(&json[at..])?;
    Some((room, text, seq))
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

impl Handler {
    fn waiter(&mut self, key: String, tx: oneshot::Sender<Result<(), String>>) {
        self.waiters.push((key, tx));
    }
    fn resolve(&mut self, key: &str, result: Result<(), String>) -> bool {
        match self.waiters.iter().position(|(k, _)| k == key) {
            Some(i) => {
                let _ = self.waiters.swap_remove(i).1.send(result);
                true
            }
            None => false,
        }
    }

    /// Appends the frame(s) for `cmd` to `out`: lines for confab and IRC, one
    /// WebSocket text message each for Socket.IO. Returns false for Close.
    fn encode(&mut self, cmd: Cmd, out: &mut Vec<String>) -> bool {
        match (self.proto, cmd) {
            (_, Cmd::Close) => {
                self.closing = true;
                return false;
            }
            (Proto::Confab, Cmd::Hello(nick, tx)) => {
                self.pending.push_back(Pending::Waiter(tx));
                out.push(format!("{{\"type\":\"hello\",\"nick\":{}}}\n", js(&nick)));
            }
            (Proto::Confab, Cmd::Join(room, tx)) => {
                self.pending.push_back(Pending::Waiter(tx));
                out.push(format!(
                    "{{\"type\":\"join\",\"room\":{},\"history\":0}}\n",
                    js(&room)
                ));
            }
            (Proto::Confab, Cmd::Message(room, text)) => {
                self.pending.push_back(Pending::Message);
                out.push(format!(
                    "{{\"type\":\"message\",\"room\":{},\"text\":{}}}\n",
                    js(&room),
                    js(&text)
                ));
            }
            (Proto::Irc, Cmd::Hello(nick, tx)) => {
                self.waiter("001".into(), tx);
                out.push(format!("NICK {nick}\r\nUSER {nick} 0 * :bench client\r\n"));
            }
            (Proto::Irc, Cmd::Join(room, tx)) => {
                self.waiter(format!("366 #{room}"), tx);
                out.push(format!("JOIN #{room}\r\n"));
            }
            (Proto::Irc, Cmd::Message(room, text)) => {
                out.push(format!("PRIVMSG #{room} :{text}\r\n"))
            }
            (Proto::SocketIo, cmd) => {
                self.next_ack += 1;
                let id = self.next_ack;
                match cmd {
                    Cmd::Hello(nick, tx) => {
                        self.waiter(id.to_string(), tx);
                        out.push(format!("42{id}[\"hello\",{{\"nick\":{}}}]", js(&nick)));
                    }
                    Cmd::Join(room, tx) => {
                        self.waiter(id.to_string(), tx);
                        out.push(format!("42{id}[\"join\",{{\"room\":{}}}]", js(&room)));
                    }
                    Cmd::Message(room, text) => out.push(format!(
                        "42{id}[\"message\",{{\"room\":{},\"text\":{}}}]",
                        js(&room),
                        js(&text)
                    )),
                    Cmd::Close => unreachable!(),
                }
            }
        }
        true
    }

    /// One frame from the server (a line without its end, or a WebSocket text).
    fn on_frame(&mut self, frame: &[u8], out: &mut Vec<String>) {
        match self.proto {
            Proto::Confab => self.on_confab(frame, out),
            Proto::Irc => self.on_irc(frame, out),
            Proto::SocketIo => self.on_sio(frame, out),
        }
    }

    fn on_confab(&mut self, line: &[u8], out: &mut Vec<String>) {
        // The frame nearly every line is: a room message, read without a full parse.
        if line.starts_with(b"{\"type\":\"message\",") {
            if let Some((room, text, seq)) = fast_message(line) {
                return self.run.on_message(self.member, room, text, Some(seq));
            }
        }
        let f: ConfabFrame = match serde_json::from_slice(line) {
            Ok(f) => f,
            Err(e) => {
                return self.run.fail(format!(
                    "confab: bad frame ({e}): {}",
                    String::from_utf8_lossy(line)
                ))
            }
        };
        match &*f.kind {
            "message" => self.run.on_message(
                self.member,
                f.room.as_deref().unwrap_or("").as_bytes(),
                f.text.as_deref().unwrap_or("").as_bytes(),
                f.seq,
            ),
            kind @ ("ok" | "error") => {
                let ok = kind == "ok";
                match self.pending.pop_front() {
                    Some(Pending::Message) if ok => self.acks.set(self.acks.get() + 1),
                    Some(Pending::Message) => self.run.fail(format!(
                        "confab: message refused: {}",
                        String::from_utf8_lossy(line)
                    )),
                    Some(Pending::Ping) => {}
                    Some(Pending::Waiter(tx)) => {
                        let _ = tx.send(if ok {
                            Ok(())
                        } else {
                            Err(String::from_utf8_lossy(line).into())
                        });
                    }
                    None => self.run.fail(format!(
                        "confab: response with no request: {}",
                        String::from_utf8_lossy(line)
                    )),
                }
            }
            "ping" => {
                // The server checks that an idle client is alive: any request will do.
                self.pending.push_back(Pending::Ping);
                out.push("{\"type\":\"ping\"}\n".into());
            }
            "bye" => self
                .run
                .lose(format!("confab: bye: {}", String::from_utf8_lossy(line))),
            _ => {} // join/leave/topic/... events of other members: not measured
        }
    }

    fn on_irc(&mut self, line: &[u8], out: &mut Vec<String>) {
        // [:prefix] COMMAND params... [:trailing]
        let rest = match (line.first(), memchr(b' ', line)) {
            (Some(b':'), Some(i)) => &line[i + 1..],
            (Some(b':'), None) => &[][..],
            _ => line,
        };
        let (cmd, params) = match memchr(b' ', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        if cmd == b"PRIVMSG" {
            let (target, text) = match memmem::find(params, b" :") {
                Some(i) => (&params[..i], &params[i + 2..]),
                None => (params, &[][..]),
            };
            let room = target.strip_prefix(b"#").unwrap_or(target);
            return self.run.on_message(self.member, room, text, None);
        }
        let l = String::from_utf8_lossy(line);
        let (cmd, params) = (
            String::from_utf8_lossy(cmd),
            String::from_utf8_lossy(params),
        );
        match &*cmd {
            "PING" => out.push(format!("PONG {params}\r\n")),
            "001" => {
                self.resolve("001", Ok(()));
            }
            "366" => {
                let chan = params.split(' ').nth(1).unwrap_or("").to_ascii_lowercase();
                self.resolve(&format!("366 {chan}"), Ok(()));
            }
            "ERROR" if !self.closing => self.run.lose(format!("irc: {l}")),
            c if c.len() == 3 && (c.starts_with('4') || c.starts_with('5')) && c != "422" => {
                // An error numeric (422, no MOTD, is harmless): fail the run, and the
                // request waiting, if any.
                self.run.fail(format!("irc: error reply: {l}"));
                if let Some((_, tx)) = self.waiters.pop() {
                    let _ = tx.send(Err(l.to_string()));
                }
            }
            _ => {}
        }
    }

    fn on_sio(&mut self, frame: &[u8], out: &mut Vec<String>) {
        // Engine.IO packet type, then (for "4", a message) the Socket.IO packet.
        match frame {
            [b'2', ..] => out.push("3".into()), // ping → pong
            [b'4', b'2', rest @ ..] => {
                // event: ["message", {...}]; the usual one read without a full parse
                if rest.starts_with(b"[\"message\",{") {
                    if let Some((room, text, seq)) = fast_message(rest) {
                        return self.run.on_message(self.member, room, text, Some(seq));
                    }
                }
                match serde_json::from_slice::<(Cow<str>, SioMessage)>(rest) {
                    Ok((name, m)) if name == "message" => self.run.on_message(
                        self.member,
                        m.room.as_bytes(),
                        m.text.as_bytes(),
                        Some(m.seq),
                    ),
                    Ok(_) => {}
                    Err(e) => self.run.fail(format!(
                        "socketio: bad event ({e}): {}",
                        String::from_utf8_lossy(frame)
                    )),
                }
            }
            [b'4', b'3', rest @ ..] => {
                // ack: <id>[{ok: ...}]
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let id = String::from_utf8_lossy(&rest[..digits]).into_owned();
                let ok = serde_json::from_slice::<(SioAck,)>(&rest[digits..])
                    .map(|a| a.0.ok)
                    .unwrap_or(false);
                let result = if ok {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(frame).into_owned())
                };
                if !self.resolve(&id, result) {
                    if ok {
                        self.acks.set(self.acks.get() + 1);
                    } else {
                        self.run.fail(format!(
                            "socketio: message refused: {}",
                            String::from_utf8_lossy(frame)
                        ));
                    }
                }
            }
            [b'4', b'1', ..] | [b'1', ..] if !self.closing => {
                self.run.lose("socketio: disconnected by the server".into())
            }
            _ => {}
        }
    }

    fn closed(&mut self, why: &str) {
        if !self.closing {
            self.run.lose(format!(
                "{}: connection closed by the server ({why})",
                self.proto.name()
            ));
        }
        for (_, tx) in self.waiters.drain(..) {
            let _ = tx.send(Err("connection closed".into()));
        }
    }
}

/// A line protocol (confab, IRC): reads lines, writes what the handler and the
/// commands produce, in one write per wake-up.
async fn line_task(mut io: Box<dyn Io>, mut h: Handler, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut buf = vec![0u8; 8192];
    let (mut start, mut end) = (0usize, 0usize);
    let mut out: Vec<String> = Vec::new();
    let mut open = true;
    while open {
        tokio::select! {
            biased;
            cmd = rx.recv() => {
                open = h.encode(cmd.unwrap_or(Cmd::Close), &mut out);
                while open {
                    match rx.try_recv() {
                        Ok(cmd) => open = h.encode(cmd, &mut out),
                        Err(_) => break,
                    }
                }
            }
            r = io.read(&mut buf[end..]) => {
                let n = match r {
                    Ok(0) => { h.closed("end of stream"); return }
                    Err(e) => { h.closed(&e.to_string()); return }
                    Ok(n) => n,
                };
                end += n;
                while let Some(nl) = memchr(b'\n', &buf[start..end]) {
                    let mut line = &buf[start..start + nl];
                    if let [head @ .., b'\r'] = line { line = head; }
                    if !line.is_empty() { h.on_frame(line, &mut out); }
                    start += nl + 1;
                }
                if start == end {
                    (start, end) = (0, 0);
                } else if end == buf.len() {
                    if start == 0 {
                        if buf.len() >= 1 << 20 { h.run.lose(format!("{}: line over 1 MiB", h.proto.name())); return }
                        buf.resize(buf.len() * 2, 0);
                    } else {
                        buf.copy_within(start..end, 0);
                        (start, end) = (0, end - start);
                    }
                }
            }
        }
        if !out.is_empty() {
            let bytes = out.concat();
            out.clear();
            if let Err(e) = async {
                io.write_all(bytes.as_bytes()).await?;
                io.flush().await
            }
            .await
            {
                h.closed(&e.to_string());
                return;
            }
        }
    }
    let _ = io.shutdown().await;
}

/// Socket.IO: Engine.IO v4 over a WebSocket, namespace "/".
async fn ws_task(io: Box<dyn Io>, port: u16, mut h: Handler, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let mut ws = match tokio_tungstenite::client_async(url, io).await {
        Ok((ws, _)) => ws,
        Err(e) => return h.closed(&format!("WebSocket handshake: {e}")),
    };
    // Engine.IO "open" (0{...}), then connect to the namespace ("40") and wait for
    // its answer before any event is sent, as socket.io-client does.
    let mut out: Vec<String> = Vec::new();
    let mut connected = false;
    while !connected {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => match t.as_bytes() {
                [b'0', ..] => {
                    if ws.send(Message::text("40")).await.is_err() {
                        return h.closed("send");
                    }
                }
                [b'4', b'0', ..] => connected = true,
                [b'2', ..] => {
                    let _ = ws.send(Message::text("3")).await;
                }
                other => {
                    return h.closed(&format!("unexpected {}", String::from_utf8_lossy(other)))
                }
            },
            Some(Ok(_)) => {}
            Some(Err(e)) => return h.closed(&e.to_string()),
            None => return h.closed("end of stream"),
        }
    }
    let mut open = true;
    while open {
        tokio::select! {
            biased;
            cmd = rx.recv() => {
                open = h.encode(cmd.unwrap_or(Cmd::Close), &mut out);
                while open {
                    match rx.try_recv() {
                        Ok(cmd) => open = h.encode(cmd, &mut out),
                        Err(_) => break,
                    }
                }
            }
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => h.on_frame(t.as_bytes(), &mut out),
                Some(Ok(Message::Close(_))) | None => return h.closed("closed"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return h.closed(&e.to_string()),
            }
        }
        if !out.is_empty() {
            for f in out.drain(..) {
                if ws.feed(Message::text(f)).await.is_err() {
                    return h.closed("send");
                }
            }
            if ws.flush().await.is_err() {
                return h.closed("send");
            }
        }
    }
    let _ = ws.close(None).await;
}

struct Client {
    tx: mpsc::UnboundedSender<Cmd>,
    acks: Rc<Cell<u64>>,
}

impl Client {
    async fn request(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Cmd,
    ) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .map_err(|_| "connection closed".to_string())?;
        rx.await.map_err(|_| "connection closed".to_string())?
    }
    fn send(&self, room: &str, text: String) {
        let _ = self.tx.send(Cmd::Message(room.to_string(), text));
    }
    fn close(&self) {
        let _ = self.tx.send(Cmd::Close);
    }
}

async fn connect_client(
    cfg: &Cfg,
    run: &Rc<Run>,
    member: usize,
    nick: String,
    room: String,
) -> Result<Client, String> {
    let io = timeout(Duration::from_secs(30), open(cfg))
        .await
        .map_err(|_| format!("{nick}: connect timed out"))?
        .map_err(|e| format!("{nick}: connect: {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let acks = Rc::new(Cell::new(0));
    let h = Handler {
        proto: cfg.proto,
        member,
        run: run.clone(),
        acks: acks.clone(),
        closing: false,
        pending: VecDeque::new(),
        waiters: Vec::new(),
        next_ack: 0,
    };
    match cfg.proto {
        Proto::SocketIo => tokio::task::spawn_local(ws_task(io, cfg.port, h, rx)),
        _ => tokio::task::spawn_local(line_task(io, h, rx)),
    };
    let c = Client { tx, acks };
    let limit = Duration::from_secs(30);
    timeout(limit, c.request(|tx| Cmd::Hello(nick.clone(), tx)))
        .await
        .map_err(|_| format!("{nick}: register timed out"))?
        .map_err(|e| format!("{nick}: register: {e}"))?;
    timeout(limit, c.request(|tx| Cmd::Join(room.clone(), tx)))
        .await
        .map_err(|_| format!("{nick}: join timed out"))?
        .map_err(|e| format!("{nick}: join: {e}"))?;
    Ok(c)
}

/// Connects `n` clients (nicks prefix0..), each joining room_of(i), at most
/// cfg.parallel (200) connecting at once.
async fn connect_all(
    cfg: &Cfg,
    run: &Rc<Run>,
    n: usize,
    prefix: &str,
    room_of: impl Fn(usize) -> String,
) -> Result<Vec<Client>, String> {
    let mut results: Vec<(usize, Result<Client, String>)> = futures_util::stream::iter(0..n)
        .map(|i| {
            let fut = connect_client(cfg, run, i, format!("{prefix}{i}"), room_of(i));
            async move { (i, fut.await) }
        })
        .buffer_unordered(cfg.parallel)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

// ---------------------------------------------------------------------------
// Scenarios

fn text_for(s: usize, k: u64, pad: &str) -> String {
    let head = format!("{} {s} {k} ", now_us());
    let fill = pad.len().saturating_sub(head.len()).max(1);
    head + &pad[..fill]
}

async fn fanout(
    cfg: &Cfg,
    args: &Args,
    run: &Rc<Run>,
    paced: bool,
) -> Result<serde_json::Value, String> {
    let members = args.num("members", 100.0)? as usize;
    let senders = (args.num("senders", 10.0)? as usize).min(members);
    let rate = args.num("rate", 100.0)?; // messages/s per sender (paced)
    let duration = args.num("duration", 5.0)?;
    let per_sender = if paced {
        (rate * duration).round() as u64
    } else {
        args.num("burst", 500.0)? as u64
    };
    let text_bytes = args.num("text-bytes", 100.0)? as usize;
    let drain = args.num("drain", 20.0)?;
    let room = "bench".to_string();
    let total = senders as u64 * per_sender;
    let echo = cfg.proto != Proto::Irc; // IRC does not send a message back to its sender
    let expected_of = |i: usize| {
        if echo || i >= senders {
            total
        } else {
            total - per_sender
        }
    };
    let expected: u64 = (0..members).map(expected_of).sum();

    let clients = connect_all(cfg, run, members, "m", |_| room.clone()).await?;
    sleep(Duration::from_secs(1)).await; // let the join events of late members reach everyone

    *run.fanout.borrow_mut() = Some(Book {
        room: room.clone(),
        senders,
        counts: vec![0; members],
        last_seq: vec![0; members],
        last_index: vec![-1; members * senders],
        latencies: Vec::with_capacity(expected as usize),
        delivered: 0,
        expected,
        last_delivery_us: 0,
    });
    let pad = "x".repeat(text_bytes);

    // Start of the measured window.
    let self_stat = "/proc/self/stat";
    let server_stat = format!("/proc/{}/stat", cfg.pid);
    let cpu0 = cpu_ms(&server_stat, cfg.clk_tck);
    let own0 = cpu_ms(self_stat, cfg.clk_tck);
    let machine0 = machine_cpu_ms(cfg.clk_tck);
    let t0 = now_us();

    if paced {
        // Sender s's k-th message is due at t0 + (k + s/senders) / rate: the senders
        // are spread evenly over each interval, and the average rate stays exact
        // whatever the timer jitter (a late tick sends what fell due meanwhile).
        let mut sent = vec![0u64; senders];
        loop {
            let elapsed = (now_us() - t0) as f64 / 1e6;
            let mut finished = true;
            for (s, sent) in sent.iter_mut().enumerate() {
                let due = ((elapsed * rate - s as f64 / senders as f64).floor() + 1.0)
                    .clamp(0.0, per_sender as f64) as u64;
                while *sent < due {
                    clients[s].send(&room, text_for(s, *sent, &pad));
                    *sent += 1;
                }
                finished &= *sent >= per_sender;
            }
            if finished || run.lost.get() {
                break;
            }
            sleep(Duration::from_millis(1)).await;
        }
    } else {
        // As fast as possible: every sender queues its burst, yielding every 50
        // messages so that reading goes on meanwhile.
        for k in 0..per_sender {
            for (s, c) in clients.iter().take(senders).enumerate() {
                c.send(&room, text_for(s, k, &pad));
            }
            if k % 50 == 49 {
                tokio::task::yield_now().await;
            }
        }
    }
    let send_end = now_us();

    // Wait for every delivery (at most `drain` seconds after the last send).
    let deadline = Instant::now() + Duration::from_secs_f64(drain);
    loop {
        let done = run
            .fanout
            .borrow()
            .as_ref()
            .map(|b| b.delivered >= b.expected)
            .unwrap_or(true);
        if done || run.lost.get() || Instant::now() >= deadline {
            break;
        }
        let _ = timeout(
            deadline.saturating_duration_since(Instant::now()),
            run.wake.notified(),
        )
        .await;
    }
    // And (confab, Socket.IO) every acknowledgement, within the same limit.
    let mut last_ack = None;
    if echo {
        while !run.lost.get()
            && clients
                .iter()
                .take(senders)
                .any(|c| c.acks.get() < per_sender)
            && Instant::now() < deadline
        {
            sleep(Duration::from_millis(1)).await;
        }
        last_ack = Some(now_us());
    }
    let (delivered, complete, last_delivery) = {
        let b = run.fanout.borrow();
        let b = b.as_ref().unwrap();
        (b.delivered, b.delivered >= b.expected, b.last_delivery_us)
    };
    // End of the measured window: the last delivery (or now, if some never came).
    let end = if complete { last_delivery } else { now_us() };
    let cpu1 = cpu_ms(&server_stat, cfg.clk_tck);
    let own1 = cpu_ms(self_stat, cfg.clk_tck);
    let machine1 = machine_cpu_ms(cfg.clk_tck);
    let (rss, hwm) = mem_kib(cfg.pid);

    // Checks.
    let mut book = run.fanout.borrow_mut().take().unwrap();
    let lost = run.lost.get();
    if complete || lost {
        for (i, &n) in book.counts.iter().enumerate() {
            if n != expected_of(i) {
                run.fail(format!(
                    "member {i}: got {n} of {} messages",
                    expected_of(i)
                ));
            }
        }
    }
    if echo && (complete || lost) {
        for (s, c) in clients.iter().take(senders).enumerate() {
            if c.acks.get() != per_sender {
                run.fail(format!(
                    "sender {s}: {} of {per_sender} messages acknowledged",
                    c.acks.get()
                ));
            }
        }
    }
    for c in &clients {
        c.close();
    }

    book.latencies.sort_unstable_by(f32::total_cmp);
    let lat = &book.latencies;
    let wall_s = (end - t0) as f64 / 1e6;
    let scheduled_s = if paced {
        per_sender as f64 / rate
    } else {
        f64::NAN
    };
    let offered = expected as f64 / scheduled_s;
    let achieved = delivered as f64 / wall_s;
    let server_cpu = cpu1 - cpu0;
    let (others, steal) = others_per_s(machine0, machine1, server_cpu + own1 - own0, wall_s);
    Ok(json!({
        "members": members, "senders": senders, "perSender": per_sender, "textBytes": text_bytes,
        "rate": if paced { json!(rate) } else { json!(null) },
        "duration": if paced { json!(duration) } else { json!(null) },
        "messages": total,
        "deliveriesExpected": expected,
        "delivered": delivered,
        "complete": complete,
        "wallS": wall_s,
        "sendS": (send_end - t0) as f64 / 1e6,
        "deliveriesPerS": achieved,
        "offeredDeliveriesPerS": if paced { json!(offered) } else { json!(null) },
        "keptUp": if paced { json!(complete && achieved >= 0.95 * offered) } else { json!(null) },
        "acceptedPerS": last_ack.map(|a| total as f64 / ((a - t0) as f64 / 1e6)),
        "latencyMs": { "p50": percentile(lat, 50.0), "p99": percentile(lat, 99.0), "max": percentile(lat, 100.0) },
        "serverCpuMsPerS": server_cpu / wall_s,
        "serverCpuMs": server_cpu,
        "serverCpuSPerMillion": server_cpu / delivered.max(1) as f64 * 1000.0,
        "serverRssKiB": rss,
        "serverHwmKiB": hwm,
        "loadgenCpuMsPerS": (own1 - own0) / wall_s,
        // One thread: the share of the window it was busy.
        "loadgenEventLoopUtil": (own1 - own0) / 1000.0 / wall_s,
        "othersCpuMsPerS": others,
        "stealMsPerS": steal,
    }))
}

async fn idle(cfg: &Cfg, args: &Args, run: &Rc<Run>) -> Result<serde_json::Value, String> {
    let n = args.num("idle", 2000.0)? as usize;
    let rooms = (args.num("rooms", 50.0)? as usize).max(1);
    let settle = args.num("settle", 2.0)?;
    sleep(Duration::from_millis(500)).await;
    let (before, _) = mem_kib(cfg.pid);
    let server_stat = format!("/proc/{}/stat", cfg.pid);
    let cpu0 = cpu_ms(&server_stat, cfg.clk_tck);
    let own0 = cpu_ms("/proc/self/stat", cfg.clk_tck);
    let machine0 = machine_cpu_ms(cfg.clk_tck);
    let t0 = Instant::now();
    let clients = connect_all(cfg, run, n, "i", |i| format!("idle{}", i % rooms)).await?;
    let connect_s = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_ms(&server_stat, cfg.clk_tck);
    let own1 = cpu_ms("/proc/self/stat", cfg.clk_tck);
    let (others, steal) = others_per_s(
        machine0,
        machine_cpu_ms(cfg.clk_tck),
        cpu1 - cpu0 + own1 - own0,
        connect_s,
    );
    sleep(Duration::from_secs_f64(settle)).await;
    let (after, hwm) = mem_kib(cfg.pid);
    for c in &clients {
        c.close();
    }
    Ok(json!({
        "connections": n,
        "rooms": rooms,
        "connectS": connect_s,
        "connectsPerS": n as f64 / connect_s,
        "serverCpuMsPerConnect": (cpu1 - cpu0) / n as f64,
        "rssBeforeKiB": before,
        "rssAfterKiB": after,
        "serverHwmKiB": hwm,
        "kibPerConnection": (after - before) / n as f64,
        "othersCpuMsPerS": others,
        "stealMsPerS": steal,
    }))
}

// ---------------------------------------------------------------------------
// Main

fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "n/a".into()
    }
}

async fn main_async(args: Args) -> Result<bool, String> {
    let proto = match args.str("proto", "").as_str() {
        "confab" => Proto::Confab,
        "irc" => Proto::Irc,
        "socketio" => Proto::SocketIo,
        _ => return Err("--proto must be confab, irc or socketio".into()),
    };
    let port = args.num("port", f64::NAN)?;
    let pid = args.num("pid", f64::NAN)?;
    if !(1.0..=65535.0).contains(&port) {
        return Err("--port N is required".into());
    }
    if !(pid >= 1.0 && std::path::Path::new(&format!("/proc/{pid}/stat")).exists()) {
        return Err("--pid N (a running server) is required".into());
    }
    let cfg = Cfg {
        proto,
        port: port as u16,
        pid: pid as u32,
        tls: args.flag("tls"),
        clk_tck: args.num("clk-tck", 100.0)?,
        parallel: (args.num("parallel", 200.0)? as usize).max(1),
    };
    let scenario = args.str("scenario", "fanout");
    let run = Rc::new(Run {
        failures: RefCell::default(),
        lost: Cell::new(false),
        wake: Notify::new(),
        fanout: RefCell::default(),
    });

    let result = match scenario.as_str() {
        "fanout" => fanout(&cfg, &args, &run, true).await,
        "saturate" => fanout(&cfg, &args, &run, false).await,
        "idle" => idle(&cfg, &args, &run).await,
        other => return Err(format!("unknown --scenario {other}")),
    };
    let mut result = match result {
        Ok(r) => r,
        Err(e) => {
            run.fail(e);
            json!({})
        }
    };
    let failures = run.failures.borrow().clone();
    let transport = if cfg.tls { "tls" } else { "plain" };
    let label = args.str("label", proto.name());
    let record = result.as_object_mut().unwrap();
    for (k, v) in [
        ("label", json!(label)),
        ("proto", json!(proto.name())),
        ("transport", json!(transport)),
        ("scenario", json!(scenario)),
        ("name", json!(args.str("name", &scenario))),
        ("run", json!(args.num("run", 1.0)?)),
        ("loadgen", json!("rust")),
        ("note", json!(args.0.get("note"))),
        ("failures", json!(failures)),
    ] {
        record.insert(k.into(), v);
    }
    let line = serde_json::to_string(&result).unwrap();
    if let Some(path) = args.0.get("out") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        writeln!(f, "{line}").map_err(|e| format!("{path}: {e}"))?;
    }
    // One line for people watching the run.
    let g = |k: &str| {
        result
            .pointer(k)
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN)
    };
    if scenario == "idle" {
        eprintln!(
            "  {label} ({transport}): {} KiB per connection (RSS {} → {} MiB), {} connects/s, {} ms of server CPU each",
            fmt(g("/kibPerConnection"), 1),
            fmt(g("/rssBeforeKiB") / 1024.0, 1),
            fmt(g("/rssAfterKiB") / 1024.0, 1),
            fmt(g("/connectsPerS"), 0),
            fmt(g("/serverCpuMsPerConnect"), 2),
        );
    } else if !failures.is_empty() && result.get("delivered").is_none() {
        // set-up failed: nothing measured
    } else {
        eprintln!(
            "  {label} ({transport}): {} of {} deliveries/s offered, p50 {} ms, p99 {} ms, max {} ms; server {} CPU-s per million deliveries ({} ms/s); loadgen busy {}",
            fmt(g("/deliveriesPerS"), 0),
            fmt(g("/offeredDeliveriesPerS"), 0),
            fmt(g("/latencyMs/p50"), 2),
            fmt(g("/latencyMs/p99"), 1),
            fmt(g("/latencyMs/max"), 1),
            fmt(g("/serverCpuSPerMillion"), 2),
            fmt(g("/serverCpuMsPerS"), 0),
            fmt(g("/loadgenEventLoopUtil"), 2),
        );
    }
    println!("{line}");
    if !failures.is_empty() {
        eprintln!("loadgen: FAILED checks: {}", failures.join("; "));
    }
    Ok(failures.is_empty())
}

fn main() {
    epoch();
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    // Hard limit for the whole run, whatever happens.
    let limit = args.num("timeout", 300.0).unwrap_or(300.0);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(limit));
        eprintln!("loadgen: gave up after {limit} s");
        std::process::exit(3);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let code = match local.block_on(&rt, main_async(args)) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("loadgen: {e}");
            2
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
