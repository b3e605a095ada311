// loadgen.mjs: the first load generator of the side-by-side benchmark in
// benches/compare/ (confab vs InspIRCd vs a Socket.IO chat server), and the printer
// of its tables. The same Node process, with the same scheduling and the same
// checks, drives every server, so the client side is identical; only the wire
// protocol differs. run.sh now drives the servers with loadgen-rs/ (the same
// scenarios, checks and result records, without a single event loop's ceiling of
// about 100,000 deliveries/s); `run.sh --loadgen node` still runs this one.
//
// By hand (the server must already run on 127.0.0.1:PORT with process id PID):
//
//   node loadgen.mjs --proto confab|irc|socketio --port PORT --pid PID [--tls] \
//        --scenario fanout|idle|saturate [--out results.jsonl] [sizes...]
//   node loadgen.mjs --table results.jsonl      print the results as Markdown tables
//   node loadgen.mjs --summary results.jsonl    the same, TLS and plaintext side by
//                                               side, and issue 13's targets
//
// --tls: TLS to the server (TLS sockets; Socket.IO over HTTPS), checking no
// certificate (every server in the comparison has a self-signed one).
//
// Scenarios:
//   fanout    paced fan-out: --members (100) clients in one room; --senders (10) of
//             them send --rate (100) messages/s each for --duration (5) seconds.
//   idle      --idle (2000) registered connections, each in one of --rooms (50)
//             rooms, doing nothing: the server's RSS growth per connection.
//   saturate  the fan-out room, but each sender writes --burst (500) messages as
//             fast as it can.
// Other flags: --text-bytes (100) length of each message text, --clk-tck (100)
// the kernel's clock ticks per second (getconf CLK_TCK), --settle (2) seconds to
// wait before the idle scenario's last memory reading, --timeout (180) hard limit
// in seconds for the whole run, --parallel (200) connections being made at once,
// --label, --name, --run and --note (copied into the result: the server's name, the
// scenario's name in the tables, the run number, and what the machine was doing).
//
// What it measures, from outside the server: latency from the send time written
// into each message text to its arrival (same process, same clock); deliveries/s;
// the server's CPU time (utime+stime from /proc/PID/stat) per second of wall time;
// its VmRSS/VmHWM from /proc/PID/status; and the load generator's own CPU and
// event-loop utilisation, to tell when the client rather than the server is the
// bottleneck.
//
// What it checks: every receiver gets every message (IRC does not echo a message to
// its sender, so there each receiver expects every message but its own); per
// sender, messages arrive in order with no gap (all three protocols); for confab and
// Socket.IO the room's seq runs 1, 2, 3, ... with no gap, and every message is
// acknowledged; no error replies, no unexpected disconnects. A failed check marks
// the result "FAILED" and the process exits non-zero.
//
// It only ever connects to 127.0.0.1, and every wait is bounded in time.

import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

const HOST = '127.0.0.1'; // the only address this program ever talks to

// ---------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) args[key] = true;
    else { args[key] = next; i++; }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const num = (key, fallback) => (args[key] === undefined ? fallback : Number(args[key]));
const TLS = args.tls === true || args.tls === 'true';

// ---------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => Math.round(performance.now() * 1000); // microseconds, monotonic

/** Rejects after `ms` with `what` in the message, unless `promise` settles first. */
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs `fn(i)` for i in 0..n with at most `limit` running at once. */
async function pool(n, limit, fn) {
  let next = 0;
  const workers = [];
  for (let w = 0; w < Math.min(limit, n); w++) {
    workers.push((async () => {
      while (next < n) {
        const i = next++;
        await fn(i);
      }
    })());
  }
  await Promise.all(workers);
}

/** The server's CPU time so far (user + system, all threads), in milliseconds. */
function serverCpuMs(pid, clkTck) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields after it start past ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  return ((utime + stime) * 1000) / clkTck;
}

/** VmRSS and VmHWM of the server, in KiB. */
function serverMem(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm')) || [])[1]);
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

// ---------------------------------------------------------------------------
// A line-oriented TCP connection (confab and IRC both speak lines)

class LineConn {
  constructor(port, onLine, onClose) {
    this.sock = TLS
      ? tls.connect({ host: HOST, port, rejectUnauthorized: false })
      : net.connect({ host: HOST, port });
    this.sock.setNoDelay(true);
    this.sock.setEncoding('utf8');
    this.rest = '';
    this.closing = false;
    this.connected = new Promise((resolve, reject) => {
      this.sock.once(TLS ? 'secureConnect' : 'connect', resolve);
      this.sock.once('error', reject);
    });
    this.sock.on('data', (chunk) => {
      let data = this.rest + chunk;
      let start = 0;
      let nl;
      while ((nl = data.indexOf('\n', start)) !== -1) {
        let end = nl;
        if (end > start && data.charCodeAt(end - 1) === 13) end--; // drop \r
        if (end > start) onLine(data.slice(start, end));
        start = nl + 1;
      }
      this.rest = data.slice(start);
    });
    this.sock.on('error', () => {}); // reported through 'close'
    this.sock.on('close', () => { if (!this.closing) onClose(); });
  }
  write(s) { this.sock.write(s); }
  close() { this.closing = true; this.sock.destroy(); }
}

// ---------------------------------------------------------------------------
// Protocol clients. Each has: connect(nick), join(room), send(room, text),
// close(); and calls this.onMessage(room, text, seq|null) for each room message,
// this.fail(reason) for anything wrong. `acks` counts acknowledged messages.

class ConfabClient {
  constructor(port, fail) {
    this.port = port;
    this.fail = fail;
    this.onMessage = () => {};
    this.acks = 0;
    this.pending = []; // one entry per request in flight: a resolver, or 'msg' / 'ping'
  }
  async connect(nick) {
    this.conn = new LineConn(this.port, (l) => this.line(l), () => this.fail('confab: connection closed by the server'));
    await this.conn.connected;
    await this.request({ type: 'hello', nick });
  }
  async join(room) {
    await this.request({ type: 'join', room, history: 0 });
  }
  request(frame) {
    return new Promise((resolve, reject) => {
      this.pending.push((f) => (f.type === 'ok' ? resolve(f) : reject(new Error(`confab: ${JSON.stringify(f)}`))));
      this.conn.write(JSON.stringify(frame) + '\n');
    });
  }
  send(room, text) {
    this.pending.push('msg');
    this.conn.write(JSON.stringify({ type: 'message', room, text }) + '\n');
  }
  line(l) {
    const f = JSON.parse(l);
    switch (f.type) {
      case 'message':
        this.onMessage(f.room, f.text, f.seq);
        break;
      case 'ok':
      case 'error': {
        const p = this.pending.shift();
        if (p === 'msg') {
          if (f.type === 'ok') this.acks++;
          else this.fail(`confab: message refused: ${l}`);
        } else if (p === 'ping') {
          // answer to our reply to a server ping: nothing to do
        } else if (p) p(f);
        else this.fail(`confab: response with no request: ${l}`);
        break;
      }
      case 'ping': // the server checks that an idle client is alive
        this.pending.push('ping');
        this.conn.write('{"type":"ping"}\n');
        break;
      case 'bye':
        this.fail(`confab: bye: ${l}`);
        break;
      default: // join/leave/topic/... events of other members: not measured
        break;
    }
  }
  close() { this.conn?.close(); }
}

class IrcClient {
  constructor(port, fail) {
    this.port = port;
    this.fail = fail;
    this.onMessage = () => {};
    this.acks = 0; // IRC has no acknowledgement of PRIVMSG
    this.waiters = new Map(); // numeric or "366 #chan" → resolver
    this.registered = false;
  }
  async connect(nick) {
    this.nick = nick;
    this.conn = new LineConn(this.port, (l) => this.line(l), () => this.fail('irc: connection closed by the server'));
    await this.conn.connected;
    const welcome = new Promise((r) => this.waiters.set('001', r));
    this.conn.write(`NICK ${nick}\r\nUSER ${nick} 0 * :bench client\r\n`);
    await welcome;
    this.registered = true;
  }
  async join(room) {
    const chan = `#${room}`;
    const done = new Promise((r) => this.waiters.set(`366 ${chan.toLowerCase()}`, r));
    this.conn.write(`JOIN ${chan}\r\n`);
    await done; // end of NAMES: the join is complete
  }
  send(room, text) {
    this.conn.write(`PRIVMSG #${room} :${text}\r\n`);
  }
  line(l) {
    // [:prefix] COMMAND params... [:trailing]
    let i = 0;
    if (l.charCodeAt(0) === 58 /* : */) i = l.indexOf(' ') + 1;
    const sp = l.indexOf(' ', i);
    const cmd = sp === -1 ? l.slice(i) : l.slice(i, sp);
    const params = sp === -1 ? '' : l.slice(sp + 1);
    if (cmd === 'PRIVMSG') {
      const colon = params.indexOf(' :');
      const target = params.slice(0, colon);
      this.onMessage(target.slice(1), params.slice(colon + 2), null);
    } else if (cmd === 'PING') {
      this.conn.write(`PONG ${params}\r\n`);
    } else if (cmd === '001') {
      this.waiters.get('001')?.();
    } else if (cmd === '366') {
      const chan = params.split(' ')[1].toLowerCase();
      const w = this.waiters.get(`366 ${chan}`);
      if (w) { this.waiters.delete(`366 ${chan}`); w(); }
    } else if (cmd === 'ERROR') {
      this.fail(`irc: ${l}`);
    } else if (/^[45]\d\d$/.test(cmd) && cmd !== '422' /* no MOTD: harmless */) {
      this.fail(`irc: error reply: ${l}`);
    }
  }
  close() { this.conn?.close(); }
}

let ioClient; // socket.io-client, imported only when needed

class SocketIoClient {
  constructor(port, fail) {
    this.port = port;
    this.fail = fail;
    this.onMessage = () => {};
    this.acks = 0;
    this.closing = false;
  }
  async connect(nick) {
    // WebSocket transport straight away (no HTTP long-polling first), a connection
    // of its own per client (forceNew: no multiplexing over one Manager), and no
    // automatic reconnection, so a dropped connection is seen as a failure.
    this.sock = ioClient(`${TLS ? 'https' : 'http'}://${HOST}:${this.port}`, {
      transports: ['websocket'],
      rejectUnauthorized: false,
      forceNew: true,
      reconnection: false,
      timeout: 20000,
    });
    await new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('connect_error', reject);
    });
    this.sock.on('disconnect', (reason) => { if (!this.closing) this.fail(`socketio: disconnected: ${reason}`); });
    this.sock.on('message', (m) => this.onMessage(m.room, m.text, m.seq));
    const res = await this.sock.timeout(20000).emitWithAck('hello', { nick });
    if (!res.ok) throw new Error(`socketio: hello refused: ${JSON.stringify(res)}`);
  }
  async join(room) {
    const res = await this.sock.timeout(20000).emitWithAck('join', { room });
    if (!res.ok) throw new Error(`socketio: join refused: ${JSON.stringify(res)}`);
  }
  send(room, text) {
    this.sock.emit('message', { room, text }, (res) => {
      if (res?.ok) this.acks++;
      else this.fail(`socketio: message refused: ${JSON.stringify(res)}`);
    });
  }
  close() { this.closing = true; this.sock?.disconnect(); }
}

async function makeClient(proto, port, fail) {
  switch (proto) {
    case 'confab': return new ConfabClient(port, fail);
    case 'irc': return new IrcClient(port, fail);
    case 'socketio':
      if (!ioClient) ({ io: ioClient } = await import('socket.io-client'));
      return new SocketIoClient(port, fail);
    default: throw new Error(`unknown --proto ${proto}`);
  }
}

// ---------------------------------------------------------------------------
// Scenarios

/** Connects `n` clients (nicks prefix0..), each joining roomOf(i). */
async function connectAll(cfg, n, prefix, roomOf, fail) {
  const clients = new Array(n);
  await pool(n, num('parallel', 200), async (i) => {
    const c = await makeClient(cfg.proto, cfg.port, fail);
    clients[i] = c;
    await withTimeout(c.connect(`${prefix}${i}`), 30000, `register ${prefix}${i}`);
    await withTimeout(c.join(roomOf(i)), 30000, `join ${prefix}${i}`);
  });
  return clients;
}

/** fanout (paced) and saturate (as fast as possible): one room, many members. */
async function fanout(cfg, paced) {
  const members = num('members', 100);
  const senders = Math.min(num('senders', 10), members);
  const rate = num('rate', 100); // messages/s per sender (paced)
  const duration = num('duration', 5); // seconds (paced)
  const perSender = paced ? Math.round(rate * duration) : num('burst', 500);
  const textBytes = num('text-bytes', 100);
  const room = 'bench';
  const total = senders * perSender; // messages sent into the room
  const echo = cfg.proto !== 'irc'; // IRC does not send a message back to its sender
  const expectedPerMember = (i) => (echo || i >= senders ? total : total - perSender);
  let expected = 0;
  for (let i = 0; i < members; i++) expected += expectedPerMember(i);

  const failures = [];
  // A lost connection means deliveries that will never come: stop waiting.
  let lost = false;
  let abort;
  const aborted = new Promise((r) => { abort = r; });
  const fail = (why) => {
    if (failures.length < 20) failures.push(why);
    if (/closed|bye|disconnected/.test(why)) { lost = true; abort(); }
  };

  const clients = await connectAll(cfg, members, 'm', () => room, fail);
  await sleep(1000); // let the join events of late members reach everyone

  // Per-receiver bookkeeping, and one flat array for every latency sample.
  const latencies = new Float64Array(expected);
  let delivered = 0;
  let lastDeliveryUs = 0;
  let done;
  const allDelivered = new Promise((r) => { done = r; });
  const counts = new Int32Array(members);
  const lastSeq = new Float64Array(members);
  const lastIndex = Array.from({ length: members }, () => new Int32Array(senders).fill(-1));
  clients.forEach((c, i) => {
    c.onMessage = (r, text, seq) => {
      const t = nowUs();
      if (r !== room) return fail(`member ${i}: message for room ${r}`);
      // text = "<sent µs> <sender> <index> xxxx..."
      const a = text.indexOf(' ');
      const b = text.indexOf(' ', a + 1);
      const c2 = text.indexOf(' ', b + 1);
      const sentUs = Number(text.slice(0, a));
      const s = Number(text.slice(a + 1, b));
      const k = Number(text.slice(b + 1, c2));
      if (k !== lastIndex[i][s] + 1) fail(`member ${i}: from sender ${s} got #${k} after #${lastIndex[i][s]}`);
      lastIndex[i][s] = k;
      if (seq !== null && seq !== undefined) {
        if (seq !== lastSeq[i] + 1) fail(`member ${i}: seq ${seq} after ${lastSeq[i]}`);
        lastSeq[i] = seq;
      }
      counts[i]++;
      if (delivered < expected) latencies[delivered] = (t - sentUs) / 1000; // ms
      delivered++;
      lastDeliveryUs = t;
      if (delivered === expected) done();
    };
  });

  const pad = 'x'.repeat(textBytes);
  const makeText = (s, k) => {
    const head = `${nowUs()} ${s} ${k} `;
    return head + pad.slice(0, Math.max(1, textBytes - head.length));
  };

  // Start of the measured window.
  const cpu0 = serverCpuMs(cfg.pid, cfg.clkTck);
  const own0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = nowUs();

  let sending;
  if (paced) {
    // Sender s's k-th message is due at t0 + (k + s/senders) / rate: the senders
    // are spread evenly over each interval, and the average rate stays exact
    // whatever the timer jitter (a late tick sends what fell due meanwhile).
    sending = new Promise((resolve) => {
      const sent = new Int32Array(senders);
      const tick = () => {
        const elapsed = (nowUs() - t0) / 1e6;
        let finished = true;
        for (let s = 0; s < senders; s++) {
          const due = Math.min(perSender, Math.floor(elapsed * rate - s / senders) + 1);
          while (sent[s] < due) { clients[s].send(room, makeText(s, sent[s])); sent[s]++; }
          if (sent[s] < perSender) finished = false;
        }
        if (finished) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
  } else {
    // As fast as possible: each sender writes its burst, yielding to the event
    // loop every 50 messages so that reading goes on meanwhile.
    sending = Promise.all(clients.slice(0, senders).map(async (c, s) => {
      for (let k = 0; k < perSender; k++) {
        c.send(room, makeText(s, k));
        if (k % 50 === 49) await new Promise((r) => setImmediate(r));
      }
    }));
  }
  await sending;
  const sendEndUs = nowUs();
  // Wait for every delivery and (confab, Socket.IO) every acknowledgement.
  const limitMs = (paced ? 30 : 60) * 1000;
  let lastAckUs = 0;
  const acked = (async () => {
    if (!echo) return;
    const deadline = Date.now() + limitMs;
    while (!lost && clients.slice(0, senders).some((c) => c.acks < perSender) && Date.now() < deadline) await sleep(1);
    lastAckUs = nowUs();
  })();
  try {
    await withTimeout(Promise.race([allDelivered, aborted]), limitMs, `all ${expected} deliveries (got ${delivered})`);
  } catch (e) {
    fail(e.message);
  }
  await acked;
  // End of the measured window: the last delivery (or now, if some never came).
  const endUs = delivered >= expected ? lastDeliveryUs : nowUs();
  const cpu1 = serverCpuMs(cfg.pid, cfg.clkTck);
  const own = process.cpuUsage(own0);
  const elu = performance.eventLoopUtilization(elu0);
  const mem = serverMem(cfg.pid);

  // Checks.
  for (let i = 0; i < members; i++) {
    if (counts[i] !== expectedPerMember(i)) fail(`member ${i}: got ${counts[i]} of ${expectedPerMember(i)} messages`);
  }
  if (echo) {
    for (let s = 0; s < senders; s++) {
      if (clients[s].acks !== perSender) fail(`sender ${s}: ${clients[s].acks} of ${perSender} messages acknowledged`);
    }
  }
  for (const c of clients) c.close();

  const n = Math.min(delivered, expected);
  const sorted = latencies.subarray(0, n).sort();
  const wallS = (endUs - t0) / 1e6;
  return {
    members, senders, perSender, textBytes, rate: paced ? rate : null, duration: paced ? duration : null,
    messages: total,
    deliveriesExpected: expected,
    delivered,
    wallS,
    sendS: (sendEndUs - t0) / 1e6,
    deliveriesPerS: delivered / wallS,
    // As loadgen-rs records them: the rate offered, and whether it was kept up.
    complete: delivered >= expected,
    offeredDeliveriesPerS: paced ? expected / (perSender / rate) : null,
    keptUp: paced ? delivered >= expected && delivered / wallS >= 0.95 * (expected / (perSender / rate)) : null,
    acceptedPerS: echo && lastAckUs ? total / ((lastAckUs - t0) / 1e6) : null,
    latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[n - 1] },
    serverCpuMsPerS: (cpu1 - cpu0) / wallS,
    serverCpuMs: cpu1 - cpu0,
    serverRssKiB: mem.rssKiB,
    serverHwmKiB: mem.hwmKiB,
    loadgenCpuMsPerS: (own.user + own.system) / 1000 / wallS,
    loadgenEventLoopUtil: elu.utilization,
    failures,
  };
}

/** idle: many registered connections spread over rooms, doing nothing. */
async function idle(cfg) {
  const n = num('idle', 2000);
  const rooms = num('rooms', 50);
  const settle = num('settle', 2);
  const failures = [];
  const fail = (why) => { if (failures.length < 20) failures.push(why); };

  await sleep(500);
  const before = serverMem(cfg.pid);
  const t0 = performance.now();
  const clients = await connectAll(cfg, n, 'i', (i) => `idle${i % rooms}`, fail);
  const connectS = (performance.now() - t0) / 1000;
  await sleep(settle * 1000);
  const after = serverMem(cfg.pid);
  for (const c of clients) c.close();
  return {
    connections: n,
    rooms,
    connectS,
    rssBeforeKiB: before.rssKiB,
    rssAfterKiB: after.rssKiB,
    kibPerConnection: (after.rssKiB - before.rssKiB) / n,
    failures,
  };
}

// ---------------------------------------------------------------------------
// Results as Markdown tables (--table FILE)

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(x, digits = 0) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median (min–max)" over the runs, or one value for one run. */
function spread(xs, digits) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return 'n/a';
  if (v.length === 1) return fmt(v[0], digits);
  return `${fmt(median(v), digits)} (${fmt(Math.min(...v), digits)}–${fmt(Math.max(...v), digits)})`;
}

function printTables(file) {
  const rows = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const servers = [...new Set(rows.map((r) => r.label))];
  const names = [...new Set(rows.map((r) => r.name))]; // in the order they were run
  const of = (name, label) => rows.filter((r) => r.name === name && r.label === label);
  const checks = (rs) => {
    const bad = rs.filter((r) => r.failures.length > 0).length;
    return bad === 0 ? `passed ×${rs.length}` : `FAILED in ${bad} of ${rs.length}`;
  };
  const out = [];
  out.push('Each cell: median over the runs (lowest–highest in brackets).', '');

  for (const name of names) {
    const r0 = rows.find((r) => r.name === name);
    if (r0.scenario === 'idle') {
      out.push(`### ${name}: idle memory`, '');
      out.push(`${fmt(r0.connections)} registered idle connections, each in one of ${r0.rooms} rooms. ` +
        'Growth of the server\'s VmRSS from before the first connection to after the last join.', '');
      out.push('| server | KiB per connection | RSS before, MiB | RSS after, MiB | checks |');
      out.push('|---|---|---|---|---|');
      for (const label of servers) {
        const rs = of(name, label);
        if (rs.length === 0) continue;
        const g = (f) => rs.map(f);
        out.push(`| ${label} | ${spread(g((r) => r.kibPerConnection), 1)} | ` +
          `${spread(g((r) => r.rssBeforeKiB / 1024), 1)} | ${spread(g((r) => r.rssAfterKiB / 1024), 1)} | ${checks(rs)} |`);
      }
      out.push('');
      continue;
    }
    const sat = r0.scenario === 'saturate';
    if (sat) {
      out.push(`### ${name}: saturation (as fast as possible)`, '');
      out.push(`${r0.members} members in one room; ${r0.senders} of them each write ${r0.perSender} messages ` +
        `(${r0.textBytes} bytes of text) as fast as they can: ${fmt(r0.messages)} messages. "accepted/s" counts ` +
        'acknowledgements (IRC has none). When the load generator\'s event-loop use is near 1.00, the ' +
        'single-threaded client, not the server, set the pace.', '');
    } else {
      out.push(`### ${name}: paced fan-out`, '');
      out.push(`${r0.members} members in one room; ${r0.senders} of them send ${r0.rate} messages/s each for ` +
        `${r0.duration} s (${fmt(r0.messages)} messages of ${r0.textBytes} bytes of text, ` +
        `${fmt(r0.senders * r0.rate)} messages/s in, ${fmt(r0.senders * r0.rate * r0.members)} deliveries/s out). ` +
        'IRC sends no copy back to the sender, so it makes 1 delivery in ' +
        `${r0.members} fewer for the same messages.`, '');
    }
    out.push('| server | deliveries/s | ' + (sat ? 'accepted/s | ' : '') +
      'latency p50, ms | p99, ms | max, ms | server CPU, ms/s | server CPU, µs per delivery | server peak RSS, MiB | ' +
      'loadgen CPU, ms/s | loadgen event-loop use | checks |');
    out.push('|---|---|' + (sat ? '---|' : '') + '---|---|---|---|---|---|---|---|---|');
    for (const label of servers) {
      const rs = of(name, label);
      if (rs.length === 0) continue;
      const g = (f) => rs.map(f);
      out.push(`| ${label} | ${spread(g((r) => r.deliveriesPerS), 0)} | ` +
        (sat ? `${spread(g((r) => r.acceptedPerS ?? NaN), 0)} | ` : '') +
        `${spread(g((r) => r.latencyMs?.p50), 2)} | ${spread(g((r) => r.latencyMs?.p99), 1)} | ` +
        `${spread(g((r) => r.latencyMs?.max), 1)} | ${spread(g((r) => r.serverCpuMsPerS), 0)} | ` +
        `${spread(g((r) => (r.serverCpuMs * 1000) / r.delivered), 2)} | ${spread(g((r) => r.serverHwmKiB / 1024), 1)} | ` +
        `${spread(g((r) => r.loadgenCpuMsPerS), 0)} | ${spread(g((r) => r.loadgenEventLoopUtil), 2)} | ${checks(rs)} |`);
    }
    out.push('');
  }
  const failed = rows.filter((r) => r.failures.length > 0);
  if (failed.length) {
    out.push('Failed checks:');
    for (const r of failed) out.push(`- ${r.label}, ${r.name}, run ${r.run}: ${r.failures.slice(0, 3).join('; ')}`);
    out.push('');
  }
  console.log(out.join('\n'));
}

// ---------------------------------------------------------------------------
// TLS and plaintext side by side, and issue 13's targets (--summary FILE)

const DISPLAY = { confab: 'confab', inspircd: 'InspIRCd', irc: 'InspIRCd', ngircd: 'ngIRCd', socketio: 'Socket.IO' };
const display = (label) => DISPLAY[label] ?? label;

function printSummary(file) {
  const rows = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const r of rows) r.transport ??= 'plain';
  const servers = [...new Set(rows.map((r) => r.label))];
  const transports = ['plain', 'tls'].filter((t) => rows.some((r) => r.transport === t));
  const names = [...new Set(rows.map((r) => r.name))];
  const of = (name, label, transport) =>
    rows.filter((r) => r.name === name && r.label === label && r.transport === transport);
  const checks = (rs) => {
    const bad = rs.filter((r) => r.failures.length > 0).length;
    return bad === 0 ? `passed ×${rs.length}` : `FAILED in ${bad} of ${rs.length}`;
  };
  const med = (rs, f) => median(rs.map(f));
  const cpuPerMillion = (r) => r.serverCpuSPerMillion ?? (r.serverCpuMs / r.delivered) * 1000;
  const T = { plain: 'plaintext', tls: 'TLS' };
  const runs = Math.max(...rows.map((r) => r.run));
  const out = [];
  out.push(`Each cell: median over the runs (${runs} here; lowest–highest in brackets when more than one). ` +
    'Server CPU is utime+stime of the server process alone, from /proc/PID/stat, over the measured window.', '');

  for (const name of names) {
    // The first record that measured something (a failed set-up has no sizes).
    const r0 = rows.find((r) => r.name === name && (r.members ?? r.connections) !== undefined) ??
      rows.find((r) => r.name === name);
    if (r0.scenario === 'idle') {
      out.push(`### ${name}: memory per idle connection`, '');
      out.push(`${fmt(r0.connections)} registered idle connections, each in one of ${r0.rooms} rooms: growth of the ` +
        'server\'s VmRSS from before the first connection to after the last join (and a settling pause), ' +
        'over the count; and how fast they connected (TCP, TLS handshake, register, join; 200 at a time, ngIRCd 8: ' +
        'its listen backlog is 10) at ' +
        'what server CPU per connection.', '');
      out.push('| server | ' + transports.map((t) => `${T[t]}: KiB per connection`).join(' | ') + ' | ' +
        transports.map((t) => `${T[t]}: connects/s, server CPU ms each`).join(' | ') + ' | others, ms/s (' + transports.map((t) => T[t]).join(' / ') + ') | checks |');
      out.push('|---|' + transports.map(() => '---|---|').join('') + '---|---|');
      for (const label of servers) {
        const cells = transports.map((t) => spread(of(name, label, t).map((r) => r.kibPerConnection), 1));
        const conn = transports.map((t) => {
          const rs = of(name, label, t);
          return rs.length ? `${spread(rs.map((r) => r.connectsPerS), 0)}, ${spread(rs.map((r) => r.serverCpuMsPerConnect), 2)}` : 'n/a';
        });
        const all = transports.flatMap((t) => of(name, label, t));
        if (all.length === 0) continue;
        const others = transports.map((t) => spread(of(name, label, t).map((r) => r.othersCpuMsPerS), 0)).join(' / ');
        out.push(`| ${display(label)} | ${cells.join(' | ')} | ${conn.join(' | ')} | ${others} | ${checks(all)} |`);
      }
      out.push('');
      continue;
    }
    const paced = r0.scenario === 'fanout';
    const msgsIn = paced ? r0.senders * r0.rate : null;
    out.push(paced
      ? `### ${name}: ${fmt(r0.members)} members, ${fmt(msgsIn)} messages/s in (${fmt(msgsIn * r0.members)} deliveries/s offered)`
      : `### ${name}: ${fmt(r0.members)} members, ${r0.senders} × ${r0.perSender} messages as fast as possible`, '');
    if (paced) {
      out.push(`${r0.senders} of the ${r0.members} members send ${r0.rate} messages/s each for ${r0.duration} s, ` +
        `spread evenly (${r0.textBytes} bytes of text). IRC sends no copy back to the sender, so it makes 1 delivery ` +
        `in ${r0.members} fewer. "kept up": every delivery made, at ≥ 95% of the offered rate. Loadgen busy: the ` +
        'share of its one core the load generator used. Others: CPU time every other process on the machine ' +
        'took during the measurement (a build sharing the cores shows here).', '');
    }
    out.push('| server | transport | deliveries/s | ' + (paced ? 'kept up | ' : '') + 'latency p50, ms | p99, ms | max, ms | ' +
      'server CPU-s per million deliveries | server CPU, ms/s | loadgen busy | others, ms/s | checks |');
    out.push('|---|---|---|' + (paced ? '---|' : '') + '---|---|---|---|---|---|---|---|');
    for (const label of servers) {
      for (const t of transports) {
        const rs = of(name, label, t);
        if (rs.length === 0) continue;
        const g = (f) => rs.map(f);
        const kept = rs.filter((r) => r.keptUp).length;
        const keptCell = kept === rs.length ? 'yes' : kept === 0 ? 'no' : `${kept} of ${rs.length}`;
        const incomplete = rs.filter((r) => r.complete === false);
        const delivered = incomplete.length
          ? ` (${fmt(100 * median(incomplete.map((r) => r.delivered / r.deliveriesExpected)), 0)}% delivered in time)` : '';
        out.push(`| ${display(label)} | ${T[t]} | ${spread(g((r) => r.deliveriesPerS), 0)} | ` +
          (paced ? `${keptCell}${delivered} | ` : '') +
          `${spread(g((r) => r.latencyMs?.p50), 2)} | ${spread(g((r) => r.latencyMs?.p99), 1)} | ` +
          `${spread(g((r) => r.latencyMs?.max), 1)} | ${spread(g(cpuPerMillion), 2)} | ` +
          `${spread(g((r) => r.serverCpuMsPerS), 0)} | ${spread(g((r) => r.loadgenEventLoopUtil), 2)} | ` +
          `${spread(g((r) => r.othersCpuMsPerS), 0)} | ${checks(rs)} |`);
      }
    }
    out.push('');
  }

  // Issue 13's targets, from the medians above.
  if (servers.includes('confab')) {
    const peers = servers.filter((l) => l !== 'confab');
    const lines = [];
    const idleName = names.find((n) => n === 'idle5k');
    for (const [t, limit] of [['tls', 8], ['plain', 2]]) {
      if (!idleName) break;
      const c = med(of(idleName, 'confab', t), (r) => r.kibPerConnection);
      if (!Number.isFinite(c)) continue;
      const best = peers.map((l) => [l, med(of(idleName, l, t), (r) => r.kibPerConnection)]).filter(([, v]) => Number.isFinite(v))
        .sort((a, b) => a[1] - b[1])[0];
      lines.push(`| idle memory, ${T[t]} (5,000 in 50 rooms) | ≤ ${limit} KiB per connection | ${fmt(c, 1)} KiB | ` +
        `${best ? `${display(best[0])} ${fmt(best[1], 1)} KiB` : 'n/a'} | ${c <= limit ? 'met' : '**not met**'} |`);
    }
    for (const name of ['room100', 'room500'].filter((n) => names.includes(n))) {
      for (const t of transports) {
        const c = med(of(name, 'confab', t), cpuPerMillion);
        if (!Number.isFinite(c)) continue;
        const best = peers.map((l) => [l, med(of(name, l, t), cpuPerMillion)]).filter(([, v]) => Number.isFinite(v))
          .sort((a, b) => a[1] - b[1])[0];
        const ratio = best ? c / best[1] : NaN;
        lines.push(`| ${name}, ${T[t]}: CPU per delivery | ≤ ⅔ of the best peer's | ${fmt(c, 2)} CPU-s per million | ` +
          `${best ? `${display(best[0])} ${fmt(best[1], 2)}` : 'n/a'} | ${fmt(ratio, 2)} × the best peer: ` +
          `${ratio <= 2 / 3 ? 'met' : '**not met**'} |`);
      }
    }
    if (names.includes('room500')) {
      for (const t of transports) {
        const rs = of('room500', 'confab', t);
        if (rs.length === 0) continue;
        const p99 = med(rs, (r) => r.latencyMs?.p99);
        const kept = rs.every((r) => r.keptUp);
        const best = peers.map((l) => [l, med(of('room500', l, t), (r) => r.latencyMs?.p99)]).filter(([, v]) => Number.isFinite(v))
          .sort((a, b) => a[1] - b[1])[0];
        lines.push(`| room500, ${T[t]}: p99 latency, keeping up | < 10 ms | ${fmt(p99, 1)} ms, ${kept ? 'kept up' : 'did not keep up'} | ` +
          `${best ? `${display(best[0])} ${fmt(best[1], 1)} ms` : 'n/a'} | ${p99 < 10 && kept ? 'met' : '**not met**'} |`);
      }
    }
    if (names.includes('room10')) {
      for (const t of transports) {
        const small = med(of('room10', 'confab', t), cpuPerMillion);
        const large = ['room100', 'room500'].filter((n) => names.includes(n))
          .map((n) => [n, med(of(n, 'confab', t), cpuPerMillion)]).filter(([, v]) => Number.isFinite(v));
        if (!Number.isFinite(small) || large.length === 0) continue;
        const worst = Math.max(...large.map(([, v]) => small / v));
        lines.push(`| room10, ${T[t]}: CPU per delivery | ≤ 2 × the large rooms' | ${fmt(small, 2)} CPU-s per million | ` +
          `${large.map(([n, v]) => `confab ${n} ${fmt(v, 2)}`).join(', ')} | ` +
          `${large.map(([n, v]) => `${fmt(small / v, 1)} × ${n}`).join(', ')}: ${worst <= 2 ? 'met' : '**not met**'} |`);
      }
    }
    if (lines.length) {
      out.push('### Issue 13\'s targets', '');
      out.push('| target | bound | confab | best peer | status |', '|---|---|---|---|---|', ...lines, '');
    }
  }
  const failed = rows.filter((r) => r.failures.length > 0);
  if (failed.length) {
    out.push('Failed checks:');
    for (const r of failed) out.push(`- ${display(r.label)}, ${r.name}, ${r.transport}, run ${r.run}: ${r.failures.slice(0, 3).join('; ')}`);
    out.push('');
  }
  console.log(out.join('\n'));
}

// ---------------------------------------------------------------------------
// Main

async function main() {
  if (args.table) return printTables(args.table);
  if (args.summary) return printSummary(args.summary);

  const cfg = {
    proto: String(args.proto),
    port: num('port', NaN),
    pid: num('pid', NaN),
    clkTck: num('clk-tck', 100),
  };
  const scenario = String(args.scenario ?? 'fanout');
  if (!['confab', 'irc', 'socketio'].includes(cfg.proto)) throw new Error('--proto must be confab, irc or socketio');
  if (!Number.isInteger(cfg.port) || cfg.port <= 0 || cfg.port > 65535) throw new Error('--port N is required');
  if (!Number.isInteger(cfg.pid) || !fs.existsSync(`/proc/${cfg.pid}/stat`)) throw new Error('--pid N (a running server) is required');

  // Hard limit for the whole run, whatever happens.
  const timeoutS = num('timeout', 180);
  setTimeout(() => {
    console.error(`loadgen: gave up after ${timeoutS} s`);
    process.exit(3);
  }, timeoutS * 1000).unref();

  let result;
  if (scenario === 'fanout') result = await fanout(cfg, true);
  else if (scenario === 'saturate') result = await fanout(cfg, false);
  else if (scenario === 'idle') result = await idle(cfg);
  else throw new Error(`unknown --scenario ${scenario}`);

  const record = {
    label: String(args.label ?? cfg.proto), proto: cfg.proto, transport: TLS ? 'tls' : 'plain', scenario,
    name: String(args.name ?? scenario), run: num('run', 1), loadgen: 'node', note: args.note ?? null, ...result,
  };
  if (args.out) fs.appendFileSync(args.out, JSON.stringify(record) + '\n');
  // One line for people watching the run.
  if (scenario === 'idle') {
    console.error(`  ${record.label}: ${fmt(result.kibPerConnection, 1)} KiB per connection ` +
      `(RSS ${fmt(result.rssBeforeKiB / 1024, 1)} → ${fmt(result.rssAfterKiB / 1024, 1)} MiB)`);
  } else {
    console.error(`  ${record.label}: ${fmt(result.deliveriesPerS)} deliveries/s, latency p50 ` +
      `${fmt(result.latencyMs.p50, 2)} ms, p99 ${fmt(result.latencyMs.p99, 1)} ms, max ${fmt(result.latencyMs.max, 1)} ms; ` +
      `server CPU ${fmt(result.serverCpuMsPerS)} ms/s; loadgen event-loop use ${fmt(result.loadgenEventLoopUtil, 2)}`);
  }
  console.log(JSON.stringify(record));
  if (result.failures.length) {
    console.error(`loadgen: FAILED checks: ${result.failures.join('; ')}`);
    process.exit(1);
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(`loadgen: ${e.stack ?? e}`);
  process.exit(2);
});
