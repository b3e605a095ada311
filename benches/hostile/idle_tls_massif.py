#!/usr/bin/env python3
"""Where an idle TLS connection's bytes go: starts `confab server` under a
wrapper (valgrind's massif), opens COUNT registered TLS connections (each
`hello`, then a `join` of one of 50 rooms), leaves them idle for 3 s, then stops
the server with SIGINT so massif writes its profile.

    python3 benches/hostile/idle_tls_massif.py target/release/confab 500 CONFIG \
        valgrind --tool=massif --massif-out-file=massif.out --depth=30
    ms_print massif.out

CONFIG: a config file with one TLS listener on 127.0.0.1:0 and the per-address
and pending limits raised above COUNT.
"""
import socket, ssl, json, sys, time, re, subprocess, os, signal, threading
binary, count, cfg = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cmd = sys.argv[4:]  # wrapper (valgrind ...) then binary
server = subprocess.Popen(cmd + [binary, "server", "--config", cfg], stderr=subprocess.PIPE, text=True)
port = None
for line in server.stderr:
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if m:
        port = int(m.group(1)); break
threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
socks = []
for i in range(count):
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall((json.dumps({"type":"hello","nick":f"u{i}","id":1}) + "\n" + json.dumps({"type":"join","room":f"r{i%50}","history":0,"id":2}) + "\n").encode())
    buf = b""
    while b'"id":2' not in buf:
        buf += s.recv(4096)
    socks.append(s)
time.sleep(3)
print("connected", count, flush=True)
server.send_signal(signal.SIGINT)
server.wait()
