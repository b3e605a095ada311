#!/usr/bin/env bash
# run.sh: side-by-side benchmark of confab vs InspIRCd (IRC) vs a Socket.IO chat
# server, on this machine, over loopback only. One command does everything:
#
#   bash benches/compare/run.sh [--runs N] [--servers "confab irc socketio"]
#        [--scenarios "fanout fanout-light idle saturate"] [--light-rate N]
#        [--no-install] [any loadgen.mjs flag, e.g. --members 50 --idle 1000]
#
# 1. Installs what it needs: InspIRCd from Debian's packages (apt-get), socket.io
#    and socket.io-client (npm ci, into benches/compare/node_modules, pinned by
#    package-lock.json), and builds confab with `cargo build --release`.
#    --no-install skips the apt-get and npm steps (cargo still builds).
# 2. For every run, scenario and server: starts that server afresh on 127.0.0.1 (a
#    free high port, its config and state in a temporary directory), runs
#    loadgen.mjs against it, and stops it. Each scenario runs against a fresh
#    server so that one scenario's leftovers do not count in the next one's
#    figures. The order of the servers rotates from one run to the next.
# 3. Prints the results as Markdown tables (median and range over the runs) and
#    keeps the raw results (one JSON object per line) and the tables in files
#    whose names it prints at the end.
#
# Scenarios (loadgen.mjs describes them in full):
#   fanout        100 members in one room, 10 senders × 100 messages/s for 5 s
#   fanout-light  the same at --light-rate (20) messages/s per sender, a load that
#                 saturates nobody: the cleanest CPU-per-delivery comparison
#   idle          2,000 idle registered connections in 50 rooms: RSS per connection
#   saturate      10 senders × 500 messages each, as fast as possible (as in
#                 benches/load.rs; bigger bursts trip a one-second stall in
#                 InspIRCd, see the netbuffersize note in start_irc)
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
SERVERS="confab irc socketio"
SCENARIOS="fanout fanout-light idle saturate"
LIGHT_RATE=20
INSTALL=1
LOADGEN_FLAGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --servers) SERVERS="$2"; shift 2 ;;
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    --light-rate) LIGHT_RATE="$2"; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --*) LOADGEN_FLAGS+=("$1" "$2"); shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$RUNS" in ''|*[!0-9]*) echo "run.sh: --runs needs a number" >&2; exit 2 ;; esac

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---------------------------------------------------------------------------
# Installation

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "$INSTALL" -eq 1 ]; then
  if ! command -v inspircd >/dev/null 2>&1; then
    log "installing InspIRCd from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq inspircd >/dev/null
  fi
  command -v node >/dev/null 2>&1 || { echo "run.sh: Node.js 20 or newer is needed (node)" >&2; exit 2; }
  if [ ! -f "$HERE/node_modules/socket.io/package.json" ] ||
     [ ! -f "$HERE/node_modules/socket.io-client/package.json" ] ||
     [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
    log "installing socket.io and socket.io-client with npm (npm ci)"
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
fi
command -v inspircd >/dev/null 2>&1 || { echo "run.sh: inspircd is not installed" >&2; exit 2; }
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 20 ] || { echo "run.sh: Node.js 20 or newer is needed, found $(node --version)" >&2; exit 2; }

log "building confab (cargo build --release)"
(cd "$ROOT" && cargo build --release --quiet)
CONFAB="$ROOT/target/release/confab"

# ---------------------------------------------------------------------------
# Limits of this shell, inherited by the servers and the load generator: each
# idle connection takes a descriptor on both sides.

WANT_FDS=65536
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$WANT_FDS" ]; then
  ulimit -n "$WANT_FDS" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
log "open-file limit: $(ulimit -n)"
CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------------------
# Servers

TMP="$(mktemp -d "${TMPDIR:-/tmp}/confab-compare.XXXXXX")"
RESULTS="$TMP/results.jsonl"
SERVER_PID=""

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
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_server
  if [ -n "${KEEP_TMP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
  local port="$1" dir="$TMP/confab"
  rm -rf "$dir"; mkdir -p "$dir/state"
  # Plaintext loopback listener; rate limits lifted and a 16 MiB outbound queue
  # (64 MiB hard bound), as in benches/load.rs; room for every connection.
  cat >"$dir/confab.toml" <<EOF
state_dir = "$dir/state"
log_level = "warn"
shutdown_timeout = "2s"

[[listen]]
addr = "127.0.0.1:$port"
tls = false

[limits]
max_connections = 60000
rate_burst = 1000000
rate_per_second = 1000000.0
outbound_queue_bytes = 16777216
outbound_queue_max_bytes = 67108864
EOF
  "$CONFAB" server --config "$dir/confab.toml" </dev/null >"$TMP/confab.log" 2>&1 &
  SERVER_PID=$!
}

start_irc() {
  local port="$1" dir="$TMP/irc"
  rm -rf "$dir"; mkdir -p "$dir"
  # InspIRCd 3 configuration: one plaintext client port on 127.0.0.1, and one
  # connect class for everybody with every flood and size limit lifted, so the
  # test measures the server and not its throttling:
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
  # No modules beyond the core ones are loaded.
  cat >"$dir/inspircd.conf" <<EOF
<server name="bench.local" description="confab comparison benchmark" network="Bench">
<admin name="bench" nick="bench" email="bench@localhost">
<path configdir="$dir" datadir="$dir" logdir="$dir" runtimedir="$dir">
<bind address="127.0.0.1" port="$port" type="clients">
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
  inspircd --config "$dir/inspircd.conf" --nofork --nopid "${asroot[@]}" </dev/null >"$TMP/irc.log" 2>&1 &
  SERVER_PID=$!
}

start_socketio() {
  local port="$1"
  node "$HERE/socketio-server.mjs" --port "$port" </dev/null >"$TMP/socketio.log" 2>&1 &
  SERVER_PID=$!
}

# ---------------------------------------------------------------------------
# Versions

SIO_VERSION="$(node -p "require('$HERE/node_modules/socket.io/package.json').version")"
SIOC_VERSION="$(node -p "require('$HERE/node_modules/socket.io-client/package.json').version")"
{
  echo "confab:    $("$CONFAB" --version)"
  echo "InspIRCd:  $(inspircd --version 2>&1 | tail -n 1)"
  echo "Node.js:   $(node --version); socket.io $SIO_VERSION, socket.io-client $SIOC_VERSION"
  echo "machine:   $(nproc) cores, $(uname -sr)"
} | tee "$TMP/versions.txt" >&2

# ---------------------------------------------------------------------------
# The runs

scenario_flags() {
  case "$1" in
    fanout) echo "--scenario fanout" ;;
    fanout-light) echo "--scenario fanout --rate $LIGHT_RATE" ;;
    idle) echo "--scenario idle" ;;
    saturate) echo "--scenario saturate --burst 500" ;;
    *) echo "run.sh: unknown scenario $1" >&2; return 1 ;;
  esac
}

read -r -a SERVER_LIST <<<"$SERVERS"
for server in "${SERVER_LIST[@]}"; do
  case "$server" in confab|irc|socketio) ;; *) echo "run.sh: unknown server $server" >&2; exit 2 ;; esac
done
for scenario in $SCENARIOS; do scenario_flags "$scenario" >/dev/null || exit 2; done
FAILED=0
for run in $(seq "$RUNS"); do
  # Rotate the order of the servers from one run to the next.
  n=${#SERVER_LIST[@]}
  order=()
  for i in $(seq 0 $((n - 1))); do order+=("${SERVER_LIST[$(((i + run - 1) % n))]}"); done
  for scenario in $SCENARIOS; do
    read -r -a sflags <<<"$(scenario_flags "$scenario")"
    for server in "${order[@]}"; do
      port="$(free_port)"
      case "$server" in
        confab) start_confab "$port"; proto=confab ;;
        irc) start_irc "$port"; proto=irc ;;
        socketio) start_socketio "$port"; proto=socketio ;;
        *) echo "run.sh: unknown server $server" >&2; exit 2 ;;
      esac
      wait_ready "$port" "$SERVER_PID" "$server"
      sleep 1 # let the server settle before its baseline memory and CPU readings
      log "run $run/$RUNS, $scenario, $server (127.0.0.1:$port, pid $SERVER_PID)"
      rc=0
      timeout 300 node "$HERE/loadgen.mjs" --proto "$proto" --port "$port" --pid "$SERVER_PID" \
        --clk-tck "$CLK_TCK" --label "$server" --name "$scenario" --run "$run" --out "$RESULTS" \
        "${sflags[@]}" ${LOADGEN_FLAGS[@]+"${LOADGEN_FLAGS[@]}"} >"$TMP/last.json" || rc=$?
      if [ "$rc" -ne 0 ]; then
        FAILED=1
        log "  loadgen exited with status $rc (see above)"
      fi
      stop_server
    done
  done
done

# ---------------------------------------------------------------------------
# Results

STAMP="$(date +%Y%m%d-%H%M%S)"
OUT_BASE="${TMPDIR:-/tmp}/confab-compare-$STAMP"
cp "$RESULTS" "$OUT_BASE.jsonl"
{
  echo "## confab vs InspIRCd vs Socket.IO, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo '```'
  cat "$TMP/versions.txt"
  echo '```'
  echo
  node "$HERE/loadgen.mjs" --table "$RESULTS"
} | tee "$OUT_BASE.md"
log "raw results: $OUT_BASE.jsonl; tables: $OUT_BASE.md"
exit "$FAILED"
