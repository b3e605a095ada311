//! Deep-history benchmark for `cargo bench --bench history`: the server CPU
//! time one `history` page costs when the page lives deep in a large day file,
//! as docs/BENCHMARKS.md records it.
//!
//! It writes one room's day file of about `CONFAB_BENCH_FILE_MB` MB (default
//! 100) of messages of `CONFAB_BENCH_TEXT_BYTES` bytes of text (default 1000)
//! in the log's own format, starts the server on it (`[log]`, default
//! `history_keep`, so every page asked for is read from the file), and asks
//! for `CONFAB_BENCH_PAGES` pages (default 100) of 50 messages spread over the
//! whole file, one at a time. It reads the server's CPU time (user + system,
//! from `/proc/PID/stat`) around the first page and around the others, and
//! checks every page holds the 50 seqs asked for. `CONFAB_BENCH_BINARY` runs
//! another build (the one before this change, say) on the same file.

mod support;

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use support::*;

use serde_json::json;
use tokio_rustls::TlsConnector;

/// The server's CPU time so far, in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // The fields after the command name (which may hold spaces) start at
    // "state"; utime and stime are the 14th and 15th fields of the line.
    let after = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports these in USER_HZ, 100 per second on every platform it
    // runs on today.
    ticks as f64 * 10.0
}

/// Writes the day file; returns how many messages it holds.
fn write_day_file(logs: &std::path::Path, megabytes: usize, text_bytes: usize) -> u64 {
    let day =
        humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()[..10].to_owned();
    let dir = logs.join("deep");
    std::fs::create_dir_all(&dir).expect("room dir");
    let file = std::fs::File::create(dir.join(format!("{day}.jsonl"))).expect("day file");
    let mut out = std::io::BufWriter::new(file);
    let ts = format!("{day}T00:00:00.000Z");
    writeln!(
        out,
        r#"{{"type":"epoch","room":"deep","epoch":"bench","ts":"{ts}"}}"#
    )
    .unwrap();
    let filler = "lorem ipsum ".repeat(text_bytes / 12 + 1);
    let (mut written, mut seq) = (0usize, 0u64);
    while written < megabytes * 1_000_000 {
        seq += 1;
        let line = format!(
            r#"{{"type":"message","room":"deep","seq":{seq},"ts":"{ts}","from":"gen","text":"{seq} {}"}}"#,
            &filler[..text_bytes]
        );
        writeln!(out, "{line}").unwrap();
        written += line.len() + 1;
    }
    out.flush().unwrap();
    seq
}

/// Asks for one page and checks it holds the 50 seqs before `before`.
async fn ask(writer: &mut Writer, lines: &mut Lines, request: serde_json::Value, before: u64) {
    send_frame(writer, &request).await;
    let answer = next_frame(lines).await;
    let seqs: Vec<u64> = answer["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {answer}"))
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (before - 50..before).collect::<Vec<_>>());
}

async fn run() {
    let megabytes = env_usize("CONFAB_BENCH_FILE_MB", 100);
    let text_bytes = env_usize("CONFAB_BENCH_TEXT_BYTES", 1000);
    let pages = env_usize("CONFAB_BENCH_PAGES", 100) as u64;
    // Next to the build, so the file is on a real disk, whatever /tmp is.
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&base).expect("target dir");
    let state = tempfile::tempdir_in(&base).expect("temp dir");
    let logs = state.path().join("logs");
    let total = write_day_file(&logs, megabytes, text_bytes);
    let table = format!("[log]\ndir = {:?}\n", logs);
    let started = Instant::now();
    let server = ServerProcess::start(state, &table);
    println!(
        "binary: {}",
        std::path::Path::new(&server_binary()).display()
    );
    println!(
        "day file: {megabytes} MB, {total} messages of {text_bytes} bytes; server up in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let config = pinned_client_config(&server.fingerprint, None);
    let connector = TlsConnector::from(Arc::new(config));
    let (mut lines, mut writer) = connect(&server, &connector).await;
    send_frame(&mut writer, &json!({"type":"hello","nick":"reader"})).await;
    assert_eq!(next_frame(&mut lines).await["type"], "ok");
    send_frame(
        &mut writer,
        &json!({"type":"join","room":"deep","history":0}),
    )
    .await;
    assert_eq!(next_frame(&mut lines).await["type"], "ok");

    // Pages of 50 spread over the file's oldest part (memory holds the newest
    // `history_keep`), the first one alone: it may build an index.
    let span = total.saturating_sub(2000).max(1);
    let page = |i: u64| {
        let before = 51 + (i * 7919) % span;
        (
            json!({"type":"history","room":"deep","before":before,"limit":50}),
            before,
        )
    };
    let pid = server.pid();
    let (request, before) = page(0);
    let (cpu, wall) = (cpu_ms(pid), Instant::now());
    ask(&mut writer, &mut lines, request, before).await;
    let first_cpu = cpu_ms(pid) - cpu;
    let first_wall = wall.elapsed().as_secs_f64() * 1000.0;

    let (cpu, wall) = (cpu_ms(pid), Instant::now());
    for i in 1..=pages {
        let (request, before) = page(i);
        ask(&mut writer, &mut lines, request, before).await;
    }
    let cpu = cpu_ms(pid) - cpu;
    let wall = wall.elapsed().as_secs_f64() * 1000.0;
    println!("first page: {first_cpu:.0} ms of server CPU, {first_wall:.1} ms round trip");
    println!(
        "next {pages} pages: {:.2} ms of server CPU per page, {:.2} ms round trip per page",
        cpu / pages as f64,
        wall / pages as f64
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("deep-history benchmark: run with `cargo bench --bench history`");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
