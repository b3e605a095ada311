//! Message-log benchmark for `cargo bench --bench log`: room-message throughput
//! of the real `confab` binary with logging off, on with `fsync = "interval"`,
//! and on with `fsync = "always"`, as docs/BENCHMARKS.md records it.
//!
//! Each run starts a fresh server (log directory in a temporary directory on the
//! same disk as the build, not a RAM disk), puts `CONFAB_BENCH_MEMBERS` TLS
//! clients in one room, and lets `CONFAB_BENCH_SENDERS` of them send
//! `CONFAB_BENCH_MESSAGES` messages each, all at once. A run ends when every
//! sender has every `ok` and every member every message; every member checks the
//! room's seqs arrive 1, 2, 3, … without a gap. Each mode runs
//! `CONFAB_BENCH_RUNS` times (default 5), the modes taking turns; the median is
//! reported.

mod support;

use std::sync::Arc;
use std::time::Instant;
use support::*;

use serde_json::json;
use tokio_rustls::TlsConnector;

/// How the server under test logs.
#[derive(Clone, Copy)]
enum Mode {
    Off,
    Interval,
    Always,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "log off",
            Mode::Interval => "log on, fsync = \"interval\" (1s)",
            Mode::Always => "log on, fsync = \"always\"",
        }
    }

    fn table(self, dir: &std::path::Path) -> String {
        let fsync = match self {
            Mode::Off => return String::new(),
            Mode::Interval => "interval",
            Mode::Always => "always",
        };
        format!("[log]\ndir = {:?}\nfsync = \"{fsync}\"\n", dir.join("logs"))
    }
}

async fn until_ok(lines: &mut Lines) {
    loop {
        let frame = next_frame(lines).await;
        match frame["type"].as_str() {
            Some("ok") => return,
            Some("error") => panic!("server error: {frame}"),
            _ => {}
        }
    }
}

/// How senders send.
#[derive(Clone, Copy)]
enum Style {
    /// Everything at once, without waiting (pipelined).
    Burst,
    /// One message at a time, each after the `ok` of the one before.
    Lockstep,
}

/// One run: returns room messages per second (acknowledged and delivered).
async fn run(mode: Mode, style: Style) -> f64 {
    let members = env_usize("CONFAB_BENCH_MEMBERS", 50);
    let senders = env_usize("CONFAB_BENCH_SENDERS", 10).min(members);
    let per_sender = match style {
        Style::Burst => env_usize("CONFAB_BENCH_MESSAGES", 1000),
        Style::Lockstep => env_usize("CONFAB_BENCH_MESSAGES", 1000) / 4,
    };
    let total = senders * per_sender;
    // Next to the build, so the log is on a real disk, whatever /tmp is.
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&base).expect("target dir");
    let state = tempfile::tempdir_in(&base).expect("temp dir");
    let table = mode.table(state.path());
    let server = ServerProcess::start(state, &table);
    let config = pinned_client_config(&server.fingerprint, None);
    let connector = TlsConnector::from(Arc::new(config));

    let mut conns = Vec::with_capacity(members);
    for n in 0..members {
        let (mut lines, mut writer) = connect(&server, &connector).await;
        send_frame(&mut writer, &json!({"type":"hello","nick":format!("m{n}")})).await;
        until_ok(&mut lines).await;
        send_frame(
            &mut writer,
            &json!({"type":"join","room":"bench","history":0}),
        )
        .await;
        until_ok(&mut lines).await;
        conns.push((lines, writer));
    }
    for (lines, writer) in &mut conns {
        send_frame(writer, &json!({"type":"ping"})).await;
        until_ok(lines).await;
    }

    let text = "x".repeat(100);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (n, (mut lines, mut writer)) in conns.into_iter().enumerate() {
        let text = text.clone();
        tasks.push(tokio::spawn(async move {
            let sending = n < senders;
            let (acked, mut acks_seen) = tokio::sync::mpsc::unbounded_channel::<()>();
            let send_all = async {
                if sending {
                    for _ in 0..per_sender {
                        let frame = json!({"type":"message","room":"bench","text":text});
                        send_frame(&mut writer, &frame).await;
                        if let Style::Lockstep = style {
                            acks_seen.recv().await.expect("ok");
                        }
                    }
                }
            };
            let receive_all = async {
                let (mut last_seq, mut acks) = (0, 0);
                while last_seq < total as u64 || (sending && acks < per_sender) {
                    let frame = next_frame(&mut lines).await;
                    match frame["type"].as_str() {
                        Some("message") => {
                            let seq = frame["seq"].as_u64().expect("seq");
                            assert_eq!(seq, last_seq + 1, "gap or reordering in the room");
                            last_seq = seq;
                        }
                        Some("ok") => {
                            acks += 1;
                            let _ = acked.send(());
                        }
                        Some("error") => panic!("server error: {frame}"),
                        _ => {}
                    }
                }
            };
            tokio::join!(send_all, receive_all);
        }));
    }
    for task in tasks {
        task.await.expect("member task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("message-log benchmark: run with `cargo bench --bench log`");
        return;
    }
    let runs = env_usize("CONFAB_BENCH_RUNS", 5).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    for (style, how) in [
        (Style::Burst, "all at once"),
        (
            Style::Lockstep,
            "each sender waiting for its ok before the next",
        ),
    ] {
        let per_sender = env_usize("CONFAB_BENCH_MESSAGES", 1000);
        let per_sender = if let Style::Lockstep = style {
            per_sender / 4
        } else {
            per_sender
        };
        println!(
            "room messages: {} members, {} senders x {per_sender} messages of ~110 bytes, {how}; median of {runs} runs",
            env_usize("CONFAB_BENCH_MEMBERS", 50),
            env_usize("CONFAB_BENCH_SENDERS", 10),
        );
        compare(&runtime, style, runs);
    }
}

fn compare(runtime: &tokio::runtime::Runtime, style: Style, runs: usize) {
    let modes = [Mode::Off, Mode::Interval, Mode::Always];
    // Interleaved, so a slow spell of this shared machine hits every mode alike.
    let mut rates = vec![Vec::with_capacity(runs); modes.len()];
    for _ in 0..runs {
        for (i, mode) in modes.iter().enumerate() {
            rates[i].push(runtime.block_on(run(*mode, style)));
        }
    }
    let mut off = 0.0;
    for (mode, mut rates) in modes.into_iter().zip(rates) {
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        if matches!(mode, Mode::Off) {
            off = median;
        }
        let runs: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "  {:<34} {median:>8.0} messages/s ({:.0}% of off; runs: {})",
            mode.name(),
            100.0 * median / off,
            runs.join(", ")
        );
    }
}
