#!/usr/bin/env bash
# run.sh: side-by-side benchmark of confab vs InspIRCd and ngIRCd (IRC) vs a
# Socket.IO chat server, over TLS and over plaintext, on this machine, over loopback
# only. One command does everything:
#
#   bash benches/compare/run.sh [--runs N] [--servers "confab inspircd ngircd socketio"]
#        [--transport "plain tls"] [--scenarios "idle5k room10 room100 room500"]
#        [--duration S] [--drain S] [--quiet-wait S] [--light-rate N] [--cpus "SERVER LOADGEN"]
#        [--loadgen rust|node] [--no-install] [any load generator flag, e.g. --text-bytes 200]
#
# 1. Installs what it needs: InspIRCd and ngIRCd from Debian's packages (apt-get,
#    when missing), socket.io and socket.io-client (npm ci, into
#    benches/compare/node_modules, pinned by package-lock.json); builds the load
#    generator (loadgen-rs/, pinned by its Cargo.lock, into target/compare-loadgen)
#    and confab (`cargo build --release`; CONFAB_BENCH_BINARY=/path/to/confab
#    measures that build instead). --no-install skips the apt-get and npm steps.
# 2. For every run, scenario, transport and server: starts that server afresh on
#    127.0.0.1 (a free high port, its configuration, certificate and state in a
#    temporary directory), runs the load generator against it, and stops it. The
#    order of the servers rotates from one run to the next. The server is pinned
#    to one core and the load generator to the other (taskset; --cpus "0 1" is
#    the default, --cpus none pins nothing), so each has a core of its own.
# 3. Prints the results as Markdown tables (median and range over the runs) and
#    keeps the raw results (one JSON object per line) and the tables in files
#    whose names it prints at the end.
#
# Transports (--transport, default both):
#   plain  confab's loopback plaintext listener, the IRC daemons' plain ports,
#          Socket.IO over HTTP.
#   tls    confab's TLS listener with its own self-signed certificate (made on
#          first start); InspIRCd (ssl_gnutls) and ngIRCd (GnuTLS) with a
#          self-signed ECDSA P-256 certificate made here by openssl, the key type
#          confab makes; the Socket.IO server over HTTPS (node's https module),
#          with the same certificate. The client checks no certificate (all are
#          self-signed) and resumes no session: a full handshake per connection.
#
# Scenarios (loadgen-rs/src/main.rs describes them in full):
#   idle5k        5,000 idle registered connections in 50 rooms: server RSS per
#                 connection, and its CPU time per connection made
#   room10        10 members in one room, every one sending, 1,000 messages/s in
#                 all for --duration (5) s: 10,000 deliveries/s offered
#   room100       100 members, the same 1,000 messages/s: 100,000 deliveries/s
#   room500       500 members, the same 1,000 messages/s: 500,000 deliveries/s
#   fanout        (older) 100 members, 10 senders × 100 messages/s for 5 s
#   fanout-light  (older) the same at --light-rate (20) messages/s per sender
#   idle          (older) 2,000 idle registered connections in 50 rooms
#   saturate      (older) 10 senders × 500 messages each, as fast as possible
# In the paced scenarios a server that has not delivered everything --drain (10)
# seconds after the last message was sent is reported as not keeping up.
#
# The machine may be shared (another build on the same two cores takes CPU time
# from the pinned server and makes it look cheaper per delivery and slower).
# Before each measurement the script waits, at most --quiet-wait (120) seconds,
# until the whole machine was under 10% busy for a second; each result records
# that, the load average, the compilers running, and the CPU time other processes
# took during the measurement itself (the tables' "others" column).
#
# --loadgen node runs the older Node.js load generator (loadgen.mjs) instead: one
# event loop, which saturates near 100,000 deliveries/s and so cannot measure the
# room500 scenario (docs/BENCHMARKS.md).
#
# CONFAB_BENCH_LIMITS='write_coalesce = "20ms"' adds lines to the [limits] table of
# confab's configuration (to measure a setting other than the default).
#
# Every server it starts is stopped on exit (trap). It never talks to anything but
# 127.0.0.1, and every wait is bounded. Exit status: 0 when every run passed its
# checks, 1 otherwise.

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

# ---------------------------------------------------------------------------
# Options

RUNS=3
SERVERS="confab inspircd ngircd socketio"
TRANSPORTS="plain tls"
SCENARIOS="idle5k room10 room100 room500"
DURATION=5
DRAIN=10
QUIET_WAIT=120
LIGHT_RATE=20
CPUS="0 1"
LOADGEN=rust
INSTALL=1
LOADGEN_FLAGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --servers) SERVERS="$2"; shift 2 ;;
    --transport|--transports) TRANSPORTS="$2"; shift 2 ;;
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --drain) DRAIN="$2"; shift 2 ;;
    --quiet-wait) QUIET_WAIT="$2"; shift 2 ;;
    --light-rate) LIGHT_RATE="$2"; shift 2 ;;
    --cpus) CPUS="$2"; shift 2 ;;
    --loadgen) LOADGEN="$2"; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --*) LOADGEN_FLAGS+=("$1" "$2"); shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$RUNS" in ''|*[!0-9]*) echo "run.sh: --runs needs a number" >&2; exit 2 ;; esac
case "$LOADGEN" in rust|node) ;; *) echo "run.sh: --loadgen is rust or node" >&2; exit 2 ;; esac
SERVER_LIST=()
for server in $SERVERS; do
  case "$server" in
    confab|inspircd|ngircd|socketio) SERVER_LIST+=("$server") ;;
    irc) SERVER_LIST+=(inspircd) ;; # InspIRCd's name here before ngIRCd came
    *) echo "run.sh: unknown server $server" >&2; exit 2 ;;
  esac
done
for transport in $TRANSPORTS; do
  case "$transport" in plain|tls) ;; *) echo "run.sh: unknown transport $transport" >&2; exit 2 ;; esac
done
SERVER_CPU=""; LOADGEN_CPU=""
if [ "$CPUS" != none ]; then
  read -r SERVER_CPU LOADGEN_CPU <<<"$CPUS"
  [ -n "$LOADGEN_CPU" ] || { echo "run.sh: --cpus needs two CPU numbers, or none" >&2; exit 2; }
fi

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---------------------------------------------------------------------------
# Installation

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
wants() { [[ " ${SERVER_LIST[*]} " == *" $1 "* ]]; }

if [ "$INSTALL" -eq 1 ]; then
  missing=()
  wants inspircd && ! command -v inspircd >/dev/null 2>&1 && missing+=(inspircd)
  wants ngircd && ! command -v ngircd >/dev/null 2>&1 && missing+=(ngircd)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian's packages"
    as_root apt-get update -qq
    # Debian's packages enable and try to start their own daemons; nothing here
    # uses those (policy-rc.d may refuse the start, which is fine).
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v node >/dev/null 2>&1 || { echo "run.sh: Node.js 20 or newer is needed (node)" >&2; exit 2; }
  if [ ! -f "$HERE/node_modules/socket.io/package.json" ] ||
     [ ! -f "$HERE/node_modules/socket.io-client/package.json" ] ||
     [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
    log "installing socket.io and socket.io-client with npm (npm ci)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
fi
for server in "${SERVER_LIST[@]}"; do
  case "$server" in
    inspircd|ngircd) command -v "$server" >/dev/null 2>&1 || { echo "run.sh: $server is not installed" >&2; exit 2; } ;;
  esac
done
[[ " $TRANSPORTS " == *" tls "* ]] && ! command -v openssl >/dev/null 2>&1 && { echo "run.sh: openssl is needed for TLS" >&2; exit 2; }
[ -n "$SERVER_CPU" ] && ! command -v taskset >/dev/null 2>&1 && { echo "run.sh: taskset (util-linux) is needed, or --cpus none" >&2; exit 2; }
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 20 ] || { echo "run.sh: Node.js 20 or newer is needed, found $(node --version)" >&2; exit 2; }

if [ -n "${CONFAB_BENCH_BINARY:-}" ]; then
  CONFAB="$(realpath "$CONFAB_BENCH_BINARY")"
  [ -x "$CONFAB" ] || { echo "run.sh: CONFAB_BENCH_BINARY=$CONFAB is not an executable" >&2; exit 2; }
else
  log "building confab (cargo build --release)"
  (cd "$ROOT" && cargo build --release --quiet --bin confab)
  CONFAB="$ROOT/target/release/confab"
fi
if [ "$LOADGEN" = rust ]; then
  log "building the load generator (benches/compare/loadgen-rs)"
  cargo build --release --quiet --locked --manifest-path "$HERE/loadgen-rs/Cargo.toml" \
    --target-dir "$ROOT/target/compare-loadgen"
  LOADGEN_CMD=("$ROOT/target/compare-loadgen/release/loadgen")
else
  LOADGEN_CMD=(node "$HERE/loadgen.mjs")
fi

# ---------------------------------------------------------------------------
# Limits of this shell, inherited by the servers and the load generator: each
# idle connection takes a descriptor on both sides.

WANT_FDS=65536
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$WANT_FDS" ]; then
  ulimit -n "$WANT_FDS" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
log "open-file limit: $(ulimit -n)"
ulimit -c 0 # no core files (InspIRCd with ssl_gnutls crashes when stopped, see below)
CLK_TCK="$(getconf CLK_TCK)"

# Pinning: "taskset -c N" before a command, or nothing.
PIN_SERVER=(); PIN_LOADGEN=()
if [ -n "$SERVER_CPU" ]; then
  PIN_SERVER=(taskset -c "$SERVER_CPU"); PIN_LOADGEN=(taskset -c "$LOADGEN_CPU")
fi

# ---------------------------------------------------------------------------
# Servers

TMP="$(mktemp -d "${TMPDIR:-/tmp}/confab-compare.XXXXXX")"
chmod 755 "$TMP" # ngIRCd drops root for "nobody" after reading its files
RESULTS="$TMP/results.jsonl"
SERVER_PID=""
cd "$TMP" # whatever a server leaves in its working directory stays in here

stop_server() {
  # Stops the one server started last (by its process id), within 5 seconds.
  local pid="$SERVER_PID"
  [ -n "$pid" ] || return 0
  SERVER_PID=""
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  local status=0
  wait "$pid" 2>/dev/null || status=$?
  # InspIRCd exits with 10 on SIGTERM, the others with 0 or 143. InspIRCd 3.15
  # with ssl_gnutls loaded dies of a segmentation fault (139) when stopped, and
  # ngIRCd, closing thousands of connections, can outlast the 5 s (137): both
  # after every measurement is taken.
  case "$status" in
    137) log "  the server did not stop within 5 s of SIGTERM: killed" ;;
    139) log "  the server died of a segmentation fault when stopped" ;;
  esac
}

cleanup() {
  stop_server
  if [ -n "${KEEP_TMP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ " $TRANSPORTS " == *" tls "* ]]; then
  # One self-signed certificate for the peers (confab makes its own, of the same
  # kind), and finite-field DH parameters (RFC 7919's ffdhe2048, nothing to
  # generate) for the GnuTLS daemons, which would otherwise make their own.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
  openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out "$TMP/dh.pem" 2>/dev/null
  chmod 644 "$TMP"/*.pem
fi

free_port() {
  # A port the kernel considers free on 127.0.0.1 right now.
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_ready() {
  # Waits (at most 15 s) until the server accepts a TCP connection on its port.
  local port="$1" pid="$2" name="$3"
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: $name exited during start-up; its log:" >&2; cat "$TMP/$name.log" >&2; return 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "run.sh: $name did not listen on 127.0.0.1:$port within 15 s" >&2
  return 1
}

start_confab() {
  local port="$1" transport="$2" dir="$TMP/confab" tls=false
  [ "$transport" = tls ] && tls=true
  rm -rf "$dir"; mkdir -p "$dir/state"
  # One loopback listener, plaintext or TLS (with the self-signed certificate
  # confab makes in its state directory on first start); rate limits lifted and a
  # 16 MiB outbound queue (64 MiB hard bound), as in benches/load.rs; room for
  # every connection, all from 127.0.0.1.
  cat >"$dir/confab.toml" <<EOF
state_dir = "$dir/state"
log_level = "warn"
shutdown_timeout = "2s"

[[listen]]
addr = "127.0.0.1:$port"
tls = $tls

[limits]
max_connections = 60000
max_connections_per_address = 100000
rate_burst = 1000000
rate_per_second = 1000000.0
outbound_queue_bytes = 16777216
outbound_queue_max_bytes = 67108864
${CONFAB_BENCH_LIMITS:-}
EOF
  ${PIN_SERVER[@]+"${PIN_SERVER[@]}"} "$CONFAB" server --config "$dir/confab.toml" </dev/null >"$TMP/confab.log" 2>&1 &
  SERVER_PID=$!
}

start_inspircd() {
  local port="$1" transport="$2" dir="$TMP/inspircd" tls_module="" bind_tls=""
  rm -rf "$dir"; mkdir -p "$dir"
  # InspIRCd 3 configuration: one client port on 127.0.0.1, plain or TLS
  # (ssl_gnutls, Debian's only TLS module, with the certificate made above and
  # no request for a client certificate), and one connect class for everybody
  # with every flood and size limit lifted, so the test measures the server and
  # not its throttling:
  # - threshold/commandrate: command-rate penalty never reached (commandrate is in
  #   thousandths of a command per second); fakelag="no";
  # - hardsendq/softsendq/recvq: 16 MiB, like confab's outbound queue (softsendq
  #   is the queue size past which InspIRCd stops reading a client's commands);
  # - localmax/globalmax/limit: no cap on connections from 127.0.0.1;
  # - resolvehostnames/useident="no": no DNS or ident look-ups on connect (and the
  #   resolver is pointed at 127.0.0.1 so nothing could ever leave the machine);
  # - netbuffersize at its maximum (65534): InspIRCd reads at most this many bytes
  #   per readiness event on an edge-triggered epoll, and when a read fills the
  #   buffer the rest waits for its next one-second timer tick; the default
  #   (10240) makes bursts stall for a second in the saturation scenario.
  # No modules beyond the core ones (and ssl_gnutls for TLS) are loaded.
  if [ "$transport" = tls ]; then
    tls_module="<module name=\"ssl_gnutls\">
<sslprofile name=\"bench\" provider=\"gnutls\" certfile=\"$TMP/cert.pem\" keyfile=\"$TMP/key.pem\" dhfile=\"$TMP/dh.pem\" requestclientcert=\"no\">"
    bind_tls=' sslprofile="bench"'
  fi
  cat >"$dir/inspircd.conf" <<EOF
<server name="bench.local" description="confab comparison benchmark" network="Bench">
<admin name="bench" nick="bench" email="bench@localhost">
<path configdir="$dir" datadir="$dir" logdir="$dir" runtimedir="$dir">
$tls_module
<bind address="127.0.0.1" port="$port" type="clients"$bind_tls>
<connect name="bench" allow="*" maxchans="64" timeout="60" pingfreq="120"
         hardsendq="16777216" softsendq="16777216" recvq="16777216"
         threshold="1000000" commandrate="1000000000" fakelag="no"
         localmax="100000" globalmax="100000" limit="100000" maxconnwarn="no"
         resolvehostnames="no" useident="no">
<cidr ipv4clone="32" ipv6clone="128">
<dns server="127.0.0.1" timeout="1">
<options syntaxhints="no" announcets="no" hostintopic="no" defaultmodes="nt">
<performance netbuffersize="65534" somaxconn="4096" softlimit="100000" clonesonconnect="no" quietbursts="yes">
<security hideserver="" userstats="Pu" maxtargets="20">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$dir/ircd.log">
EOF
  local asroot=()
  [ "$(id -u)" -eq 0 ] && asroot=(--runasroot) # InspIRCd refuses root without it
  ${PIN_SERVER[@]+"${PIN_SERVER[@]}"} inspircd --config "$dir/inspircd.conf" --nofork --nopid ${asroot[@]+"${asroot[@]}"} \
    </dev/null >"$TMP/inspircd.log" 2>&1 &
  SERVER_PID=$!
}

start_ngircd() {
  local port="$1" transport="$2" dir="$TMP/ngircd" plain_ports="$1" tls_section=""
  rm -rf "$dir"; mkdir -p "$dir/conf.d"
  # ngIRCd 26 configuration: one client port on 127.0.0.1, plain or TLS (GnuTLS,
  # the certificate and DH parameters made above), with its flood protection
  # lifted, as for InspIRCd:
  # - DefaultUserModes = F: every client gets user mode F, "relaxed flood
  #   protection" (no command-rate or bytes-per-second throttling);
  # - MaxPenaltyTime = 0: no penalty time for any command;
  # - MaxConnections/MaxConnectionsIP = 0, MaxJoins = 0: no caps;
  # - DNS/Ident/PAM = no: no look-ups on connect; IncludeDir: an empty folder,
  #   so /etc/ngircd's snippets are not read.
  # Started as root, it reads its files, then runs as "nobody".
  if [ "$transport" = tls ]; then
    plain_ports="" # no plaintext port at all
    tls_section="[SSL]
	CertFile = $TMP/cert.pem
	KeyFile = $TMP/key.pem
	DHFile = $TMP/dh.pem
	Ports = $port"
  fi
  cat >"$dir/ngircd.conf" <<EOF
[Global]
	Name = bench.local
	Info = confab comparison benchmark
	AdminInfo1 = bench
	AdminInfo2 = loopback
	AdminEMail = bench@localhost
	Listen = 127.0.0.1
	Ports = $plain_ports
	MotdPhrase = "bench"
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 31
	MaxPenaltyTime = 0
	PingTimeout = 120
	PongTimeout = 60
[Options]
	DNS = no
	Ident = no
	PAM = no
	DefaultUserModes = F
	IncludeDir = $dir/conf.d
$tls_section
EOF
  ${PIN_SERVER[@]+"${PIN_SERVER[@]}"} ngircd --nodaemon --config "$dir/ngircd.conf" </dev/null >"$TMP/ngircd.log" 2>&1 &
  SERVER_PID=$!
}

start_socketio() {
  local port="$1" transport="$2" tls=()
  [ "$transport" = tls ] && tls=(--tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem")
  ${PIN_SERVER[@]+"${PIN_SERVER[@]}"} node "$HERE/socketio-server.mjs" --port "$port" ${tls[@]+"${tls[@]}"} \
    </dev/null >"$TMP/socketio.log" 2>&1 &
  SERVER_PID=$!
}

# ---------------------------------------------------------------------------
# Versions and the machine's state

SIO_VERSION="$(node -p "require('$HERE/node_modules/socket.io/package.json').version")"
SIOC_VERSION="$(node -p "require('$HERE/node_modules/socket.io-client/package.json').version")"
{
  echo "confab:    $("$CONFAB" --version) ($CONFAB)"
  wants inspircd && echo "InspIRCd:  $(inspircd --version 2>&1 | tail -n 1)"
  wants ngircd && echo "ngIRCd:    $(ngircd --version 2>&1 | head -n 1)"
  echo "Node.js:   $(node --version); socket.io $SIO_VERSION, socket.io-client $SIOC_VERSION"
  echo "TLS:       $(openssl version 2>/dev/null | cut -d' ' -f1-2) (certificates); GnuTLS $(dpkg-query -W -f '${Version}' libgnutls30 2>/dev/null || echo '?') (InspIRCd, ngIRCd); rustls (confab, load generator); node's OpenSSL $(node -p process.versions.openssl) (Socket.IO)"
  echo "loadgen:   $LOADGEN; server on CPU ${SERVER_CPU:-any}, load generator on CPU ${LOADGEN_CPU:-any}"
  echo "machine:   $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -sr)"
  echo "at start:  load average $(cut -d' ' -f1-3 /proc/loadavg); $(pgrep -c -x rustc || true) rustc and $(pgrep -c -x cargo || true) cargo processes running"
} | tee "$TMP/versions.txt" >&2

machine_busy() {
  # Per cent of the machine's CPU time (all cores) in use over the next second.
  local u1 n1 s1 i1 w1 q1 sq1 st1 u2 n2 s2 i2 w2 q2 sq2 st2 busy idle
  read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
  sleep 1
  read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
  busy=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1)))
  idle=$(((i2 + w2) - (i1 + w1)))
  echo $((100 * busy / (busy + idle > 0 ? busy + idle : 1)))
}

machine_note() {
  # Waits (at most --quiet-wait seconds) for a quiet machine, then says what it
  # was doing as a measurement started: busy share, load average, and compilers
  # running (another build on the same two cores).
  local waited=0 busy
  busy="$(machine_busy)"
  while [ "$busy" -ge 10 ] && [ "$waited" -lt "$QUIET_WAIT" ]; do
    busy="$(machine_busy)"; waited=$((waited + 1))
  done
  echo "machine ${busy}% busy at the start (after waiting ${waited} s); load $(cut -d' ' -f1-3 /proc/loadavg); rustc $(pgrep -c -x rustc || true)"
}

# ---------------------------------------------------------------------------
# The runs

scenario_flags() {
  local members rate
  case "$1" in
    idle5k) echo "--scenario idle --idle 5000 --rooms 50 --settle 3" ;;
    room10|room100|room500)
      # 1,000 messages/s into the room in all, every member a sender.
      members="${1#room}"; rate=$((1000 / members))
      echo "--scenario fanout --members $members --senders $members --rate $rate --duration $DURATION --drain $DRAIN" ;;
    fanout) echo "--scenario fanout --drain $DRAIN" ;;
    fanout-light) echo "--scenario fanout --rate $LIGHT_RATE --drain $DRAIN" ;;
    idle) echo "--scenario idle" ;;
    saturate) echo "--scenario saturate --burst 500" ;;
    *) echo "run.sh: unknown scenario $1" >&2; return 1 ;;
  esac
}

proto_of() { case "$1" in inspircd|ngircd) echo irc ;; *) echo "$1" ;; esac; }

server_flags() {
  # ngIRCd listens with a backlog of 10 (hard-coded in 26.1): when more clients
  # connect at once, the kernel drops their handshakes' last packets, and the
  # retransmissions take tens of seconds. It gets its clients 8 at a time; every
  # other server 200 at a time. Only the connects/s figure depends on this.
  case "$1" in ngircd) echo "--parallel 8" ;; *) echo "--parallel 200" ;; esac
}

for scenario in $SCENARIOS; do scenario_flags "$scenario" >/dev/null || exit 2; done
FAILED=0
for run in $(seq "$RUNS"); do
  # Rotate the order of the servers from one run to the next.
  n=${#SERVER_LIST[@]}
  order=()
  for i in $(seq 0 $((n - 1))); do order+=("${SERVER_LIST[$(((i + run - 1) % n))]}"); done
  for scenario in $SCENARIOS; do
    read -r -a sflags <<<"$(scenario_flags "$scenario")"
    for transport in $TRANSPORTS; do
      tflags=()
      [ "$transport" = tls ] && tflags=(--tls)
      for server in "${order[@]}"; do
        port="$(free_port)"
        "start_$server" "$port" "$transport"
        wait_ready "$port" "$SERVER_PID" "$server"
        # Let the server settle before its baseline memory and CPU readings (at
        # least the second machine_note takes), and the machine quieten.
        note="$(machine_note)"
        log "run $run/$RUNS, $scenario, $transport, $server (127.0.0.1:$port, pid $SERVER_PID; $note)"
        rc=0
        timeout 300 ${PIN_LOADGEN[@]+"${PIN_LOADGEN[@]}"} "${LOADGEN_CMD[@]}" --proto "$(proto_of "$server")" \
          --port "$port" --pid "$SERVER_PID" --clk-tck "$CLK_TCK" --label "$server" --name "$scenario" \
          --run "$run" --note "$note" --out "$RESULTS" "${tflags[@]+"${tflags[@]}"}" \
          "${sflags[@]}" $(server_flags "$server") ${LOADGEN_FLAGS[@]+"${LOADGEN_FLAGS[@]}"} >"$TMP/last.json" || rc=$?
        if [ "$rc" -ne 0 ]; then
          FAILED=1
          log "  load generator exited with status $rc (see above)"
        fi
        stop_server
      done
    done
  done
done

# ---------------------------------------------------------------------------
# Results

STAMP="$(date +%Y%m%d-%H%M%S)"
OUT_BASE="${TMPDIR:-/tmp}/confab-compare-$STAMP"
cp "$RESULTS" "$OUT_BASE.jsonl"
echo "at end:    load average $(cut -d' ' -f1-3 /proc/loadavg)" >>"$TMP/versions.txt"
{
  echo "## confab vs InspIRCd vs ngIRCd vs Socket.IO, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo '```'
  cat "$TMP/versions.txt"
  echo '```'
  echo
  node "$HERE/loadgen.mjs" --summary "$RESULTS"
} | tee "$OUT_BASE.md"
log "raw results: $OUT_BASE.jsonl; tables: $OUT_BASE.md"
exit "$FAILED"
