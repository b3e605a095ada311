//! The login run for `cargo bench --bench logins` (issue 16): a burst of
//! account logins must not slow down other users' chat, because Argon2id
//! (19 MiB, two passes, tens of milliseconds of a core per check) runs on
//! blocking threads, at most two at once, never on the async workers.
//!
//! It starts the real `confab` binary (rate limits lifted, `[accounts]`
//! open), registers `CONFAB_BENCH_LOGINS` accounts (50), and keeps a steady
//! chat going: alice and bob in one room, alice posting every 10 ms and timing
//! her own echo and bob's receipt. Against that chat it runs four bursts of
//! one `hello` with `account_password` per account, all at once, each with
//! 3 s of chat measured before and after it:
//! - wrong passwords, each attempt from a loopback address of its own
//!   (127.1.0.1, …), so that neither back-off (per address, per account)
//!   refuses any: every password is checked, the most Argon2 work such a
//!   burst can cause;
//! - right passwords from as many addresses (a login storm after a restart);
//! - wrong, then right passwords, all from one address, where the back-off
//!   lets only the first few be checked.
//!
//! The TLS handshakes of a burst are done before its quiet 3 s, so the burst is
//! the password checks alone. It prints the chat's round trips (p50/p99/max)
//! before, during and after each burst, the time the burst took, the server's
//! CPU time meanwhile, and how many passwords were checked or refused
//! unchecked. `CONFAB_BENCH_BINARY` runs another build. It never talks to
//! anything but 127.0.0.0/8.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpSocket;
use tokio::sync::Barrier;
use tokio_rustls::TlsConnector;

/// The right password of every account.
const PASSWORD: &str = "correct horse battery staple";
/// How often alice posts.
const EVERY: Duration = Duration::from_millis(10);
/// The chat measured before and after each burst.
const QUIET: Duration = Duration::from_secs(3);
/// Longest wait for any one frame.
const PATIENCE: Duration = Duration::from_secs(60);
/// Where the bursts from one address come from (one for each such burst, so
/// the second does not start in the first one's back-off).
const ONE_ADDRESS_WRONG: Ipv4Addr = Ipv4Addr::new(127, 0, 2, 1);
const ONE_ADDRESS_RIGHT: Ipv4Addr = Ipv4Addr::new(127, 0, 2, 2);

/// A TLS connection from `from` (any loopback address: the server sees it
/// as the client's address), nothing sent yet.
async fn connect_from(
    server: &ServerProcess,
    connector: &TlsConnector,
    from: Ipv4Addr,
) -> (Lines, Writer) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(from), 0))
        .unwrap_or_else(|e| panic!("bind {from}: {e}"));
    let tcp = socket.connect(server.addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (read, writer) = tokio::io::split(tls);
    (tokio::io::BufReader::new(read).lines(), writer)
}

/// Whether this system routes all of 127.0.0.0/8 to loopback (Linux does),
/// so that clients can come from many addresses.
fn many_loopback_addresses() -> bool {
    std::net::TcpListener::bind("127.1.0.1:0").is_ok()
}

/// The address of burst attempt `n` when each attempt has its own.
fn own_address(n: usize) -> Ipv4Addr {
    let n = u32::try_from(n).expect("attempt number");
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 1)) + n)
}

/// The next frame, or `None` once the connection is closed.
async fn next_or_closed(lines: &mut Lines) -> Option<Value> {
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the server stopped answering")
        .ok()??;
    Some(serde_json::from_str(&line).expect("server frame is JSON"))
}

/// Reads up to the answer to a request: `Ok` with the `ok` frame, or `Err`
/// with the error code ("closed" if none came). Events before it are
/// dropped.
async fn answer(lines: &mut Lines) -> Result<Value, String> {
    loop {
        let Some(frame) = next_or_closed(lines).await else {
            return Err("closed".to_owned());
        };
        match frame["type"].as_str() {
            Some("ok") => return Ok(frame),
            Some("error") => return Err(frame["code"].as_str().unwrap_or("?").to_owned()),
            _ => {}
        }
    }
}

/// Reads until the server closes the connection.
async fn until_closed(lines: &mut Lines) {
    while next_or_closed(lines).await.is_some() {}
}

/// Makes `nick` an account with [`PASSWORD`], then quits.
async fn register(server: &ServerProcess, connector: &TlsConnector, nick: String) {
    let (mut lines, mut writer) = connect(server, connector).await;
    send_frame(&mut writer, &json!({"type":"hello","nick":nick})).await;
    answer(&mut lines).await.expect("hello");
    send_frame(&mut writer, &json!({"type":"register","password":PASSWORD})).await;
    let ok = answer(&mut lines)
        .await
        .unwrap_or_else(|code| panic!("register {nick}: {code}"));
    assert_eq!(ok["account"], nick.as_str(), "{ok}");
    send_frame(&mut writer, &json!({"type":"quit"})).await;
    until_closed(&mut lines).await;
}

/// Alice's messages, by number: when each was sent (since the epoch), and
/// how long it took to come back to her and to reach bob.
#[derive(Default)]
struct Samples {
    sent: Vec<Duration>,
    echo: Vec<Option<Duration>>,
    receipt: Vec<Option<Duration>>,
}

/// The steady chat the bursts must not disturb.
struct Chat {
    samples: Arc<Mutex<Samples>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Chat {
    /// alice and bob join a room; alice then posts every [`EVERY`] (the
    /// message's number is its text) until stopped.
    async fn start(server: &ServerProcess, connector: &TlsConnector, epoch: Instant) -> Chat {
        let mut members = Vec::new();
        for nick in ["alice", "bob"] {
            let (mut lines, mut writer) = connect(server, connector).await;
            send_frame(&mut writer, &json!({"type":"hello","nick":nick})).await;
            answer(&mut lines).await.expect("hello");
            send_frame(
                &mut writer,
                &json!({"type":"join","room":"chat","history":0}),
            )
            .await;
            answer(&mut lines).await.expect("join");
            members.push((lines, writer));
        }
        let (bob_lines, bob_writer) = members.pop().expect("bob");
        let (alice_lines, mut alice_writer) = members.pop().expect("alice");
        let samples = Arc::new(Mutex::new(Samples::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        let seen = samples.clone();
        tasks.push(tokio::spawn(async move {
            read_chat(alice_lines, seen, true, epoch).await;
        }));
        let seen = samples.clone();
        tasks.push(tokio::spawn(async move {
            // Bob only reads; his writer stays open with him.
            let _writer = bob_writer;
            read_chat(bob_lines, seen, false, epoch).await;
        }));
        let (sent, stopped) = (samples.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            // A late tick is not made up for by a quick one after it.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0usize;
            while !stopped.load(Ordering::Relaxed) {
                tick.tick().await;
                {
                    let mut samples = sent.lock().expect("samples");
                    samples.sent.push(epoch.elapsed());
                    samples.echo.push(None);
                    samples.receipt.push(None);
                }
                let text = n.to_string();
                send_frame(
                    &mut alice_writer,
                    &json!({"type":"message","room":"chat","text":text}),
                )
                .await;
                n += 1;
            }
        }));
        Chat {
            samples,
            stop,
            tasks,
        }
    }

    /// Stops the chat once the last messages had time to arrive.
    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Notes the arrival of alice's messages at one member: her own echo
/// (`echo`), or bob's receipt.
async fn read_chat(mut lines: Lines, samples: Arc<Mutex<Samples>>, echo: bool, epoch: Instant) {
    while let Some(frame) = next_or_closed(&mut lines).await {
        if frame["type"] != "message" || frame["from"] != "alice" {
            continue;
        }
        let now = epoch.elapsed();
        let n: usize = frame["text"]
            .as_str()
            .and_then(|text| text.parse().ok())
            .expect("a numbered message");
        let mut samples = samples.lock().expect("samples");
        let took = now.saturating_sub(samples.sent[n]);
        let slot = if echo {
            &mut samples.echo[n]
        } else {
            &mut samples.receipt[n]
        };
        *slot = Some(took);
    }
    panic!("the chat connection closed");
}

/// The server's CPU time so far (user and system), from `/proc`; `None` where
/// there is none.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces), from the
    // 3rd: utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|&t| t > 0)?;
    Some(Duration::from_millis(ticks * 1000 / per_second))
}

/// What one burst was.
struct Burst {
    name: &'static str,
    right: bool,
    /// The address of attempt `n`.
    from: fn(usize) -> Ipv4Addr,
}

/// What came of one burst.
struct Outcome {
    /// Each attempt's answer, and when it came since the burst started.
    answers: Vec<(Result<(), String>, Duration)>,
    cpu: Option<Duration>,
    quiet: (Duration, Duration),
    during: (Duration, Duration),
    after: (Duration, Duration),
}

/// Runs `burst` against the chat: one `hello` with `account_password` per
/// account, all at once, with [`QUIET`] of chat before and after.
async fn run_burst(
    server: &ServerProcess,
    connector: &TlsConnector,
    accounts: &[String],
    burst: &Burst,
    epoch: Instant,
) -> Outcome {
    let mut conns = Vec::with_capacity(accounts.len());
    for n in 0..accounts.len() {
        conns.push(connect_from(server, connector, (burst.from)(n)).await);
    }
    let quiet_start = epoch.elapsed();
    tokio::time::sleep(QUIET).await;
    let start = Arc::new(Barrier::new(accounts.len() + 1));
    let mut attempts = Vec::with_capacity(accounts.len());
    for (n, (mut lines, mut writer)) in conns.into_iter().enumerate() {
        let password = if burst.right {
            PASSWORD.to_owned()
        } else {
            format!("wrong password {n}")
        };
        let hello = json!({"type":"hello","nick":accounts[n],"account_password":password});
        let start = start.clone();
        attempts.push(tokio::spawn(async move {
            start.wait().await;
            let began = Instant::now();
            send_frame(&mut writer, &hello).await;
            let answer = answer(&mut lines).await.map(|_| ());
            let took = began.elapsed();
            if answer.is_ok() {
                send_frame(&mut writer, &json!({"type":"quit"})).await;
            }
            // Refused: `bye` follows, and the server closes.
            until_closed(&mut lines).await;
            (answer, took)
        }));
    }
    let cpu_before = cpu_time(server.pid());
    start.wait().await;
    let burst_start = epoch.elapsed();
    let mut answers = Vec::with_capacity(accounts.len());
    for attempt in attempts {
        answers.push(attempt.await.expect("login attempt"));
    }
    let last = answers
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    let burst_end = burst_start + last;
    let cpu = cpu_before.zip(cpu_time(server.pid())).map(|(a, b)| b - a);
    let after_end = burst_end + QUIET;
    tokio::time::sleep(after_end.saturating_sub(epoch.elapsed())).await;
    Outcome {
        answers,
        cpu,
        quiet: (quiet_start, burst_start),
        during: (burst_start, burst_end),
        after: (burst_end, after_end),
    }
}

/// p50 / p99 / max of `took`, in ms.
fn spread(took: &mut [Duration]) -> String {
    if took.is_empty() {
        return "-".to_owned();
    }
    took.sort();
    let at = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:.2} / {:.2} / {:.2}",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(took[took.len() - 1])
    )
}

/// The chat's figures for messages sent within `window`: how many, and the
/// round trips to alice and to bob (a message that never came is counted
/// apart).
fn chat_row(samples: &Samples, label: &str, window: (Duration, Duration)) -> String {
    let within: Vec<usize> = (0..samples.sent.len())
        .filter(|&n| samples.sent[n] >= window.0 && samples.sent[n] < window.1)
        .collect();
    let mut echo: Vec<Duration> = within.iter().filter_map(|&n| samples.echo[n]).collect();
    let mut receipt: Vec<Duration> = within.iter().filter_map(|&n| samples.receipt[n]).collect();
    let lost = 2 * within.len() - echo.len() - receipt.len();
    let lost = if lost == 0 {
        String::new()
    } else {
        format!("  ({lost} never arrived)")
    };
    format!(
        "  {label:<8} {:>6.2} s {:>5}   {:<24} {:<24}{lost}",
        (window.1 - window.0).as_secs_f64(),
        within.len(),
        spread(&mut echo),
        spread(&mut receipt),
    )
}

fn report(burst: &Burst, outcome: &Outcome, samples: &Samples) {
    let mut by_answer: Vec<(String, usize)> = Vec::new();
    for (answer, _) in &outcome.answers {
        let code = match answer {
            Ok(()) => "ok".to_owned(),
            Err(code) => code.clone(),
        };
        match by_answer.iter_mut().find(|(c, _)| *c == code) {
            Some((_, count)) => *count += 1,
            None => by_answer.push((code, 1)),
        }
    }
    let count = |code: &str| {
        by_answer
            .iter()
            .find(|(c, _)| c == code)
            .map_or(0, |(_, n)| *n)
    };
    // A checked password is answered `ok` (right) or `auth_failed` (wrong);
    // `auth_throttled` means it was refused unchecked.
    let checked = count("ok") + count("auth_failed");
    let throttled = count("auth_throttled");
    let mut took: Vec<Duration> = outcome.answers.iter().map(|(_, t)| *t).collect();
    took.sort();
    let answers: Vec<String> = by_answer.iter().map(|(c, n)| format!("{n} {c}")).collect();
    println!(
        "{}: {} logins at once, all answered after {:.2} s (median {:.2} s)",
        burst.name,
        took.len(),
        took.last().copied().unwrap_or_default().as_secs_f64(),
        took.get(took.len() / 2)
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
    );
    println!(
        "  answers: {}; {checked} passwords checked, {throttled} refused unchecked; \
         server CPU during the burst {}",
        answers.join(", "),
        outcome.cpu.map_or("unknown".to_owned(), |cpu| format!(
            "{:.2} s",
            cpu.as_secs_f64()
        )),
    );
    println!(
        "  {:<8} {:>8} {:>5}   {:<24} {:<24}",
        "chat", "window", "msgs", "alice's echo, ms", "bob's receipt, ms"
    );
    println!(
        "  {:<8} {:>8} {:>5}   {:<24} {:<24}",
        "", "", "", "p50 / p99 / max", "p50 / p99 / max"
    );
    println!("{}", chat_row(samples, "before", outcome.quiet));
    println!("{}", chat_row(samples, "during", outcome.during));
    println!("{}", chat_row(samples, "after", outcome.after));
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("login run: run with `cargo bench --bench logins`");
        return;
    }
    let logins = env_usize("CONFAB_BENCH_LOGINS", 50);
    let many = many_loopback_addresses();
    if !many {
        println!(
            "this system does not route 127.1.0.0/16 to loopback: every burst comes from \
             127.0.0.1, so the back-off refuses most of them unchecked"
        );
    }
    let own: fn(usize) -> Ipv4Addr = if many {
        own_address
    } else {
        |_| Ipv4Addr::LOCALHOST
    };
    let bursts = [
        Burst {
            name: "wrong passwords, an address each",
            right: false,
            from: own,
        },
        Burst {
            name: "right passwords, an address each",
            right: true,
            from: own,
        },
        Burst {
            name: "wrong passwords, one address",
            right: false,
            from: if many {
                |_| ONE_ADDRESS_WRONG
            } else {
                |_| Ipv4Addr::LOCALHOST
            },
        },
        Burst {
            name: "right passwords, one address",
            right: true,
            from: if many {
                |_| ONE_ADDRESS_RIGHT
            } else {
                |_| Ipv4Addr::LOCALHOST
            },
        },
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let state = tempfile::tempdir().expect("temp dir");
        // The load benchmark's lifted limits, accounts open, and the
        // sessions' warnings (one per wrong password) left out of the output.
        let config = format!(
            "state_dir = {:?}\n\
             log_level = \"warn,confab::server=info,confab::server::session=error\"\n\
             [[listen]]\naddr = \"127.0.0.1:0\"\n\
             [limits]\nrate_burst = 1000000\nrate_per_second = 1000000.0\n\
             outbound_queue_bytes = 16777216\noutbound_queue_max_bytes = 67108864\n\
             max_connections_per_address = 100000\n\
             [accounts]\nregistration = \"open\"\n",
            state.path()
        );
        let binary = server_binary();
        let server = ServerProcess::start_config(state, Path::new(&binary), &config);
        let connector =
            TlsConnector::from(Arc::new(pinned_client_config(&server.fingerprint, None)));
        println!("confab at {}, {logins} accounts", server.addr);

        let accounts: Vec<String> = (0..logins).map(|n| format!("acct{n:03}")).collect();
        let began = Instant::now();
        let registering: Vec<_> = accounts
            .iter()
            .map(|nick| {
                let (server, connector) = (&server, &connector);
                async move { register(server, connector, nick.clone()).await }
            })
            .collect();
        futures_util::future::join_all(registering).await;
        println!(
            "registered {logins} accounts at once in {:.2} s (one Argon2id hash each)\n",
            began.elapsed().as_secs_f64()
        );

        let epoch = Instant::now();
        let chat = Chat::start(&server, &connector, epoch).await;
        for burst in &bursts {
            let outcome = run_burst(&server, &connector, &accounts, burst, epoch).await;
            // The last messages of the window have had their milliseconds.
            tokio::time::sleep(Duration::from_millis(200)).await;
            report(burst, &outcome, &chat.samples.lock().expect("samples"));
            println!();
        }
        chat.stop().await;
    });
}
