//! Load generator for `cargo bench --bench load`: starts the real `confab` binary
//! on loopback and measures what docs/BENCHMARKS.md records:
//! - fan-out: senders and receivers sharing one room; accepted messages per second,
//!   frames delivered per second, and delivery latency percentiles;
//! - memory: the server's resident memory per idle registered connection.
//!
//! Sizes come from the environment so a quick run is possible:
//! `CONFAB_BENCH_MEMBERS`, `CONFAB_BENCH_SENDERS`, `CONFAB_BENCH_MESSAGES`
//! (per sender), `CONFAB_BENCH_IDLE`. It never talks to anything but 127.0.0.1.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

use serde_json::{json, Value};
use tokio_rustls::TlsConnector;

struct Conn {
    lines: Lines,
    writer: Writer,
}

impl Conn {
    async fn open(server: &ServerProcess, connector: &TlsConnector, nick: &str) -> Conn {
        let (lines, writer) = connect(server, connector).await;
        let mut conn = Conn { lines, writer };
        conn.send(&json!({"type":"hello","nick":nick})).await;
        conn.expect_ok().await;
        conn
    }

    async fn send(&mut self, frame: &Value) {
        send_frame(&mut self.writer, frame).await;
    }

    async fn next(&mut self) -> Value {
        next_frame(&mut self.lines).await
    }

    async fn expect_ok(&mut self) -> Value {
        loop {
            let frame = self.next().await;
            match frame["type"].as_str() {
                Some("ok") => return frame,
                Some("error") => panic!("server error: {frame}"),
                _ => {}
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// How fast each sender sends.
#[derive(Clone, Copy)]
enum Pace {
    /// Everything at once: measures throughput at saturation.
    Flat,
    /// This many messages per second per sender: measures latency under load.
    PerSecond(u32),
}

async fn fanout(server: &ServerProcess, connector: &TlsConnector, room: &str, pace: Pace) {
    let members = env_usize("CONFAB_BENCH_MEMBERS", 100);
    let senders = env_usize("CONFAB_BENCH_SENDERS", 10).min(members);
    let per_sender = env_usize("CONFAB_BENCH_MESSAGES", 500);
    let total = senders * per_sender;
    let text = "x".repeat(100);

    let mut conns = Vec::with_capacity(members);
    for n in 0..members {
        let mut conn = Conn::open(server, connector, &format!("{room}{n}")).await;
        conn.send(&json!({"type":"join","room":room,"history":0}))
            .await;
        conn.expect_ok().await;
        conns.push(conn);
    }
    // Drain the join events of later members so every reader starts clean.
    for conn in &mut conns {
        conn.send(&json!({"type":"ping","id":"sync"})).await;
        conn.expect_ok().await;
    }

    let epoch = Instant::now();
    let mut tasks = Vec::new();
    for (n, conn) in conns.into_iter().enumerate() {
        let text = text.clone();
        let room = room.to_owned();
        tasks.push(tokio::spawn(async move {
            let Conn {
                mut lines,
                mut writer,
            } = conn;
            let sending = n < senders;
            // A sender reads while it sends, as a real client would, so its own
            // copies of the room's messages are not held up behind its writes.
            let send_all = async {
                if !sending {
                    return;
                }
                let mut ticks = match pace {
                    Pace::Flat => None,
                    Pace::PerSecond(rate) => Some(tokio::time::interval(Duration::from_secs_f64(
                        1.0 / f64::from(rate),
                    ))),
                };
                for _ in 0..per_sender {
                    if let Some(ticks) = &mut ticks {
                        ticks.tick().await;
                    }
                    let sent_at = epoch.elapsed().as_nanos() as u64;
                    let text = format!("{sent_at} {text}");
                    send_frame(
                        &mut writer,
                        &json!({"type":"message","room":room,"text":text}),
                    )
                    .await;
                }
            };
            let receive_all = async {
                let mut latencies = Vec::with_capacity(total);
                let mut last_seq = 0;
                let mut acks = 0;
                while latencies.len() < total || (sending && acks < per_sender) {
                    let frame = next_frame(&mut lines).await;
                    match frame["type"].as_str() {
                        Some("message") => {
                            let seq = frame["seq"].as_u64().expect("seq");
                            assert_eq!(seq, last_seq + 1, "gap or reordering in the room");
                            last_seq = seq;
                            let sent_at: u64 = frame["text"]
                                .as_str()
                                .and_then(|t| t.split(' ').next())
                                .and_then(|t| t.parse().ok())
                                .expect("timestamp in text");
                            let now = epoch.elapsed().as_nanos() as u64;
                            latencies.push(Duration::from_nanos(now.saturating_sub(sent_at)));
                        }
                        Some("ok") => acks += 1,
                        Some("error") => panic!("server error: {frame}"),
                        _ => {}
                    }
                }
                latencies
            };
            let ((), latencies) = tokio::join!(send_all, receive_all);
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(total * members);
    for task in tasks {
        latencies.extend(task.await.expect("member task"));
    }
    let elapsed = epoch.elapsed();
    latencies.sort_unstable();
    let secs = elapsed.as_secs_f64();
    let pace = match pace {
        Pace::Flat => "all at once".to_owned(),
        Pace::PerSecond(rate) => format!("{rate}/s each"),
    };
    println!(
        "fan-out: {members} members, {senders} senders x {per_sender} messages of ~120 bytes, {pace}"
    );
    println!(
        "  {:.2} s; {:.0} messages/s accepted; {:.0} frames/s delivered",
        secs,
        total as f64 / secs,
        (total * members) as f64 / secs
    );
    println!(
        "  latency p50 {:?}, p99 {:?}, max {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
}

async fn idle_memory(server: &ServerProcess, connector: &TlsConnector) {
    let count = env_usize("CONFAB_BENCH_IDLE", 5000);
    let before = server.rss_kib();
    let mut conns = Vec::with_capacity(count);
    for n in 0..count {
        let mut conn = Conn::open(server, connector, &format!("idle{n}")).await;
        conn.send(&json!({"type":"join","room":format!("idle{}", n % 50)}))
            .await;
        conn.expect_ok().await;
        conns.push(conn);
    }
    let after = server.rss_kib();
    println!("memory: {count} idle registered connections, each in one of 50 rooms");
    println!(
        "  server RSS {} KiB before, {} KiB after: {:.1} KiB per connection",
        before,
        after,
        (after.saturating_sub(before)) as f64 / count as f64
    );
    drop(conns);
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing
    // useful either: this load generator only runs when benchmarks are asked for.
    if !std::env::args().any(|a| a == "--bench") {
        println!("load generator: run with `cargo bench --bench load`");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let server = ServerProcess::start(
            tempfile::tempdir().expect("temp dir"),
            "max_connections = 12000\n",
        );
        let config = pinned_client_config(&server.fingerprint, None);
        let connector = TlsConnector::from(Arc::new(config));
        println!("confab {} on {}", env!("CARGO_PKG_VERSION"), server.addr);
        fanout(&server, &connector, "flat", Pace::Flat).await;
        fanout(&server, &connector, "paced", Pace::PerSecond(100)).await;
        idle_memory(&server, &connector).await;
    });
}
