//! Memory benchmark for `cargo bench --bench memory`: how much the real
//! `confab` binary grows when clients that each stay within their limits do
//! what costs it memory, as docs/BENCHMARKS.md ("memory-budget run") records.
//!
//! - budget run: `CONFAB_BENCH_CONNS` (100) TLS clients, each in a room of its
//!   own, post 4 KB messages at their rate limit (the default `[limits]`: a
//!   burst of 50, then 10 a second) for `CONFAB_BENCH_SECS` (30) seconds,
//!   reading everything they are sent. No message log.
//! - logged run: `CONFAB_BENCH_LOGGED_CONNS` (20) clients with `[log]` on keep
//!   creating rooms for the same time (join a new room, post one message,
//!   leave), at their request rate; then the server is restarted on the same
//!   log directory.
//!
//! The server's RSS is sampled every second. The binary is this build's, or
//! `CONFAB_BENCH_BINARY` (to measure an older build the same way); it runs
//! with its default limits. `CONFAB_BENCH_RUN` = `budget` or `logged` runs one.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

use serde_json::{json, Value};
use tokio_rustls::TlsConnector;

/// What each client counts of its answers.
#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    rate_limited: AtomicU64,
    too_many_rooms: AtomicU64,
    other_errors: AtomicU64,
    closed: AtomicU64,
}

impl Counts {
    fn note(&self, frame: &Value) {
        match (frame["type"].as_str(), frame["code"].as_str()) {
            (Some("ok"), _) => &self.ok,
            (Some("error"), Some("rate_limited")) => &self.rate_limited,
            (Some("error"), Some("too_many_rooms")) => &self.too_many_rooms,
            (Some("error"), _) => &self.other_errors,
            (Some("bye"), _) => &self.closed,
            _ => return,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self) -> String {
        format!(
            "ok {}, rate_limited {}, too_many_rooms {}, other errors {}, bye {}",
            self.ok.load(Ordering::Relaxed),
            self.rate_limited.load(Ordering::Relaxed),
            self.too_many_rooms.load(Ordering::Relaxed),
            self.other_errors.load(Ordering::Relaxed),
            self.closed.load(Ordering::Relaxed),
        )
    }
}

fn binary() -> PathBuf {
    PathBuf::from(server_binary())
}

/// Default limits but for the per-address one (every client here comes from
/// 127.0.0.1; a build from before that limit existed, run with
/// `CONFAB_BENCH_PRE_HARD_BOUND`, refuses the key); `extra` adds tables (the
/// log).
fn config(state: &Path, extra: &str) -> String {
    let per_address = if std::env::var_os("CONFAB_BENCH_PRE_HARD_BOUND").is_some() {
        ""
    } else {
        "[limits]\nmax_connections_per_address = 100000\n"
    };
    format!(
        "state_dir = {:?}\nlog_level = \"warn,confab::server=info\"\n\
         [[listen]]\naddr = \"127.0.0.1:0\"\n{per_address}{extra}",
        state
    )
}

async fn register(server: &ServerProcess, connector: &TlsConnector, nick: &str) -> (Lines, Writer) {
    let (mut lines, mut writer) = connect(server, connector).await;
    send_frame(&mut writer, &json!({"type":"hello","nick":nick})).await;
    let ok = next_frame(&mut lines).await;
    assert_eq!(ok["type"], "ok", "hello: {ok}");
    (lines, writer)
}

/// Samples the server's RSS every second until `done`; returns the samples.
async fn sample(server: &ServerProcess, done: &AtomicBool) -> Vec<u64> {
    let mut samples = vec![server.rss_kib()];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while !done.load(Ordering::Relaxed) {
        tick.tick().await;
        samples.push(server.rss_kib());
    }
    samples
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_samples(baseline: u64, samples: &[u64]) {
    let every: Vec<String> = samples
        .iter()
        .step_by(5)
        .map(|kib| format!("{:.0}", *kib as f64 / 1024.0))
        .collect();
    let peak = samples.iter().copied().max().unwrap_or(baseline);
    println!(
        "  RSS before the run {}, after {}, peak {} (growth {}); every 5 s, MiB: {}",
        mib(baseline),
        mib(*samples.last().unwrap_or(&baseline)),
        mib(peak),
        mib(peak.saturating_sub(baseline)),
        every.join(" ")
    );
}

async fn budget_run() {
    let conns = env_usize("CONFAB_BENCH_CONNS", 100);
    let secs = env_usize("CONFAB_BENCH_SECS", 30) as u64;
    let state = tempfile::tempdir().expect("temp dir");
    let text = config(state.path(), "");
    let server = ServerProcess::start_config(state, &binary(), &text);
    let connector = connector_for(&server);
    let mut clients = Vec::with_capacity(conns);
    for n in 0..conns {
        let (mut lines, mut writer) = register(&server, &connector, &format!("p{n}")).await;
        send_frame(
            &mut writer,
            &json!({"type":"join","room":format!("own-{n}"),"history":0}),
        )
        .await;
        let ok = next_frame(&mut lines).await;
        assert_eq!(ok["type"], "ok", "join: {ok}");
        clients.push((lines, writer));
    }
    let baseline = server.rss_kib();
    println!(
        "budget run: {conns} connections x 4 KB messages at the default rate limit \
         (burst 50, 10/s) into a room each, {secs} s"
    );
    let counts = Arc::new(Counts::default());
    let done = Arc::new(AtomicBool::new(false));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (n, (mut lines, mut writer)) in clients.into_iter().enumerate() {
        let counts = counts.clone();
        tasks.push(tokio::spawn(async move {
            let text = format!("{n:04}{}", "x".repeat(4000));
            let room = format!("own-{n}");
            let send = async {
                // hello and join took two tokens of the burst of 50.
                let mut pace = tokio::time::interval(Duration::from_millis(100));
                for _ in 0..48 {
                    let frame = json!({"type":"message","room":room,"text":text});
                    send_frame(&mut writer, &frame).await;
                }
                pace.tick().await;
                while Instant::now() < end {
                    pace.tick().await;
                    let frame = json!({"type":"message","room":room,"text":text});
                    send_frame(&mut writer, &frame).await;
                }
                send_frame(&mut writer, &json!({"type":"ping","id":"end"})).await;
            };
            let receive = async {
                loop {
                    let Ok(Some(line)) = lines.next_line().await else {
                        return;
                    };
                    let frame: Value = serde_json::from_str(&line).expect("JSON");
                    if frame["id"] == "end" {
                        return;
                    }
                    counts.note(&frame);
                }
            };
            tokio::join!(send, receive);
            (lines, writer)
        }));
    }
    let sampler = {
        let done = done.clone();
        async move { sample(&server, &done).await }
    };
    let finish = async {
        let mut kept = Vec::new();
        for task in tasks {
            kept.push(task.await.expect("client task"));
        }
        done.store(true, Ordering::Relaxed);
        kept
    };
    let (samples, _connections) = tokio::join!(sampler, finish);
    println!("  answers: {}", counts.report());
    print_samples(baseline, &samples);
}

async fn logged_run() {
    let conns = env_usize("CONFAB_BENCH_LOGGED_CONNS", 20);
    let secs = env_usize("CONFAB_BENCH_SECS", 30) as u64;
    // Next to the build, so the log is on a real disk, whatever /tmp is.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&base).expect("target dir");
    let logs = tempfile::tempdir_in(&base).expect("temp dir");
    let log_table = format!("[log]\ndir = {:?}\n", logs.path().join("logs"));
    let state = tempfile::tempdir().expect("temp dir");
    let text = config(state.path(), &log_table);
    let server = ServerProcess::start_config(state, &binary(), &text);
    let connector = connector_for(&server);
    let mut clients = Vec::with_capacity(conns);
    for n in 0..conns {
        clients.push(register(&server, &connector, &format!("c{n}")).await);
    }
    let baseline = server.rss_kib();
    println!(
        "logged run: {conns} connections with [log] creating rooms (join a new one, post, \
         leave) at their request rate limit, {secs} s"
    );
    let joins = Arc::new(Counts::default());
    let done = Arc::new(AtomicBool::new(false));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (n, (mut lines, mut writer)) in clients.into_iter().enumerate() {
        let joins = joins.clone();
        tasks.push(tokio::spawn(async move {
            // Three requests a room at 10 requests a second (after the burst).
            let mut pace = tokio::time::interval(Duration::from_millis(300));
            let mut k = 0;
            while Instant::now() < end {
                pace.tick().await;
                let room = format!("c{n}-{k}");
                k += 1;
                send_frame(&mut writer, &json!({"type":"join","room":room,"history":0})).await;
                let answer = next_frame(&mut lines).await;
                joins.note(&answer);
                if answer["type"] != "ok" {
                    continue;
                }
                send_frame(
                    &mut writer,
                    &json!({"type":"message","room":room,"text":"hi"}),
                )
                .await;
                loop {
                    let frame = next_frame(&mut lines).await;
                    if frame["type"] == "ok" || frame["type"] == "error" {
                        break;
                    }
                }
                send_frame(&mut writer, &json!({"type":"leave","room":room})).await;
                next_frame(&mut lines).await;
            }
            send_frame(&mut writer, &json!({"type":"rooms"})).await;
            let rooms = next_frame(&mut lines).await;
            rooms["rooms"].as_array().map_or(0, Vec::len)
        }));
    }
    let sampler = {
        let (done, server) = (done.clone(), &server);
        async move { sample(server, &done).await }
    };
    let finish = async {
        let mut listed = 0;
        for task in tasks {
            listed = task.await.expect("client task");
        }
        done.store(true, Ordering::Relaxed);
        listed
    };
    let (samples, listed) = tokio::join!(sampler, finish);
    println!("  joins of new rooms: {}", joins.report());
    println!("  rooms listed at the end: {listed}");
    print_samples(baseline, &samples);
    drop(server);

    // The same log directory, started again.
    let state = tempfile::tempdir().expect("temp dir");
    let text = config(state.path(), &log_table);
    let again = ServerProcess::start_config(state, &binary(), &text);
    println!(
        "  restarted on that log: RSS after start {}",
        mib(again.rss_kib())
    );
    drop(logs);
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("memory benchmark: run with `cargo bench --bench memory`");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let which = std::env::var("CONFAB_BENCH_RUN").unwrap_or_default();
    println!("binary: {}", binary().display());
    if which.is_empty() || which == "budget" {
        runtime.block_on(budget_run());
    }
    if which.is_empty() || which == "logged" {
        runtime.block_on(logged_run());
    }
}

/// TLS pinned to this server's certificate.
fn connector_for(server: &ServerProcess) -> TlsConnector {
    TlsConnector::from(Arc::new(pinned_client_config(&server.fingerprint, None)))
}
