//! The burst run for `cargo bench --bench burst`: attack 1 of issue 11 against the
//! real `confab` binary with its default limits. 30 connections, each within its
//! own rate limit, write a burst of 50 messages of 4 KB at the same moment:
//! - into a room that 10 more members only read (as fast as they can);
//! - as private messages to one victim.
//!
//! It prints how many readers kept their connection, how many messages they
//! got, the server's peak resident memory and the time to deliver everything.
//! `CONFAB_BENCH_BINARY` runs another build (e.g. one from before a change).
//! It never talks to anything but 127.0.0.1.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::Barrier;
use tokio_rustls::TlsConnector;

const SENDERS: usize = 30;
const BURST: usize = 50;
const READERS: usize = 10;
const TEXT_BYTES: usize = 4096;
/// A connection that hears nothing for this long is counted as stalled.
const SILENCE: Duration = Duration::from_secs(15);

struct Conn {
    lines: Lines,
    writer: Writer,
}

impl Conn {
    async fn open(server: &ServerProcess, connector: &TlsConnector, nick: &str) -> Conn {
        let (lines, writer) = connect(server, connector).await;
        let mut conn = Conn { lines, writer };
        conn.request(&json!({"type":"hello","nick":nick})).await;
        conn
    }

    /// Sends `frame` and reads up to its `ok`, dropping the events before it.
    async fn request(&mut self, frame: &Value) {
        send_frame(&mut self.writer, frame).await;
        loop {
            let frame = next_frame(&mut self.lines).await;
            match frame["type"].as_str() {
                Some("ok") => return,
                Some("error") => panic!("server error: {frame}"),
                _ => {}
            }
        }
    }
}

/// What one connection saw of the burst.
#[derive(Default)]
struct Seen {
    messages: usize,
    oks: usize,
    /// Error answers (a private message to a victim already cut off).
    errors: usize,
    /// The `bye` reason, or "closed", if the connection ended.
    ended: Option<String>,
    /// Since the burst began, when the last expected frame came.
    done_at: Option<Duration>,
}

/// Reads until `messages` messages and `answers` answers have come, the
/// connection ends, or it hears nothing for [`SILENCE`].
async fn read(lines: &mut Lines, messages: usize, answers: usize, epoch: Instant) -> Seen {
    let mut seen = Seen::default();
    while seen.messages < messages || seen.oks + seen.errors < answers {
        let line = match tokio::time::timeout(SILENCE, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(_) => {
                seen.ended.get_or_insert_with(|| "closed".to_owned());
                return seen;
            }
            Err(_) => return seen,
        };
        let frame: Value = serde_json::from_str(&line).expect("JSON");
        match frame["type"].as_str() {
            Some("message") => seen.messages += 1,
            Some("ok") => seen.oks += 1,
            Some("error") => seen.errors += 1,
            Some("bye") => seen.ended = frame["reason"].as_str().map(str::to_owned),
            _ => {}
        }
    }
    seen.done_at = Some(epoch.elapsed());
    seen
}

/// One sender's burst, written at once.
fn burst(sender: usize, target: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    for n in 0..BURST {
        let head = format!("{sender:02} {n:02} ");
        let text = format!("{head}{}", "x".repeat(TEXT_BYTES - head.len()));
        let mut request = json!({"type":"message","text":text});
        for (key, value) in target.as_object().expect("target") {
            request[key] = value.clone();
        }
        bytes.extend_from_slice(request.to_string().as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

/// Samples the server's resident memory until `stop`; returns the peak, KiB.
fn watch_rss(server: &ServerProcess, stop: Arc<AtomicBool>) -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(server.rss_kib()));
    let pid = server.pid();
    let watched = peak.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            watched.fetch_max(ServerProcess::rss_kib_of(pid), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    peak
}

/// Runs one scenario: `readers` only read, `senders` burst at `target` (each
/// reading what comes meanwhile). `room`: the senders get the room's messages
/// too. Prints the figures.
async fn scenario(
    name: &str,
    server: &ServerProcess,
    readers: Vec<Conn>,
    senders: Vec<Conn>,
    target: Value,
    room: bool,
) {
    let total = SENDERS * BURST;
    // Every connection spent two tokens of its bucket of 50 (hello, join): let
    // the buckets refill, so each burst stays within its rate limit.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = watch_rss(server, stop.clone());
    let start = Arc::new(Barrier::new(SENDERS + 1));
    let epoch = Instant::now();
    let mut sending = Vec::new();
    for (n, conn) in senders.into_iter().enumerate() {
        let bytes = burst(n, &target);
        let start = start.clone();
        sending.push(tokio::spawn(async move {
            let Conn {
                mut lines,
                mut writer,
            } = conn;
            start.wait().await;
            let messages = if room { total } else { 0 };
            let write = async {
                let _ = writer.write_all(&bytes).await;
                let _ = writer.flush().await;
            };
            let ((), seen) = tokio::join!(write, read(&mut lines, messages, BURST, epoch));
            seen
        }));
    }
    let reading: Vec<_> = readers
        .into_iter()
        .map(|mut conn| tokio::spawn(async move { read(&mut conn.lines, total, 0, epoch).await }))
        .collect();
    start.wait().await;
    let mut readers_seen = Vec::new();
    for task in reading {
        readers_seen.push(task.await.expect("reader"));
    }
    let mut senders_seen = Vec::new();
    for task in sending {
        senders_seen.push(task.await.expect("sender"));
    }
    stop.store(true, Ordering::Relaxed);
    let kept = readers_seen.iter().filter(|s| s.ended.is_none()).count();
    let complete = readers_seen.iter().filter(|s| s.messages == total).count();
    let received: usize = readers_seen.iter().map(|s| s.messages).sum();
    let reasons: Vec<String> = readers_seen
        .iter()
        .chain(&senders_seen)
        .filter_map(|s| s.ended.clone())
        .collect();
    let acked: usize = senders_seen.iter().map(|s| s.oks).sum();
    let refused: usize = senders_seen.iter().map(|s| s.errors).sum();
    let senders_kept = senders_seen.iter().filter(|s| s.ended.is_none()).count();
    let last = readers_seen
        .iter()
        .map(|s| s.done_at)
        .collect::<Option<Vec<_>>>()
        .and_then(|done| done.into_iter().max());
    println!("{name}: {SENDERS} senders x {BURST} messages of {TEXT_BYTES} bytes at once");
    println!(
        "  readers: {kept} of {} kept their connection, {complete} got all {total} messages \
         ({received} of {} in all)",
        readers_seen.len(),
        total * readers_seen.len()
    );
    println!(
        "  senders: {senders_kept} of {SENDERS} kept their connection, {acked} of {total} oks, \
         {refused} errors"
    );
    if !reasons.is_empty() {
        let slow = reasons.iter().filter(|r| *r == "slow consumer").count();
        println!(
            "  connections ended: {} ({slow} with bye \"slow consumer\")",
            reasons.len()
        );
    }
    match last {
        Some(last) => println!("  every reader had every message after {last:.2?}"),
        None => println!("  not every reader got every message"),
    }
    println!(
        "  server RSS {} KiB before, peak {} KiB",
        rss_before,
        peak.load(Ordering::Relaxed)
    );
}

async fn connect_all(
    server: &ServerProcess,
    connector: &TlsConnector,
    prefix: &str,
    count: usize,
    room: Option<&str>,
) -> Vec<Conn> {
    let mut conns = Vec::with_capacity(count);
    for n in 0..count {
        let mut conn = Conn::open(server, connector, &format!("{prefix}{n}")).await;
        if let Some(room) = room {
            conn.request(&json!({"type":"join","room":room,"history":0}))
                .await;
        }
        conns.push(conn);
    }
    // Read the joins of later members, so every connection starts clean.
    for conn in &mut conns {
        conn.request(&json!({"type":"ping"})).await;
    }
    conns
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("burst run: run with `cargo bench --bench burst`");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        for private in [false, true] {
            // A fresh server with its default limits for each scenario, but
            // for the per-address limit: here every client comes from
            // 127.0.0.1, where an attacker's would come from many addresses.
            let server = ServerProcess::start_with_limits(
                tempfile::tempdir().expect("temp dir"),
                "max_connections_per_address = 1000\n",
            );
            let config = pinned_client_config(&server.fingerprint, None);
            let connector = TlsConnector::from(Arc::new(config));
            if private {
                let victim = connect_all(&server, &connector, "victim", 1, None).await;
                let senders = connect_all(&server, &connector, "sender", SENDERS, None).await;
                let target = json!({"to": "victim0"});
                scenario("private burst", &server, victim, senders, target, false).await;
            } else {
                println!("confab at {}", server.addr);
                let room = Some("burst");
                let readers = connect_all(&server, &connector, "reader", READERS, room).await;
                let senders = connect_all(&server, &connector, "sender", SENDERS, room).await;
                let target = json!({"room": "burst"});
                scenario("room burst", &server, readers, senders, target, true).await;
            }
        }
    });
}
