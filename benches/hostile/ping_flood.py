#!/usr/bin/env python3
"""Ping flood (issue 11): starts `confab server` (the binary named on the command
line) on 127.0.0.1 with its default limits, opens 4 TLS connections that write
`ping` lines as fast as they can for 5 s while reading every answer, and prints,
per connection, the `ok` answers, the `rate_limited` answers and the `bye` (if
any), and the server's CPU time (user + system) over the run.

    python3 benches/hostile/ping_flood.py target/release/confab
"""
import socket, ssl, subprocess, sys, time, threading, re, tempfile, os
binary = sys.argv[1]
d = tempfile.mkdtemp()
cfg = os.path.join(d, "c.toml")
open(cfg, "w").write(f'state_dir = "{d}/state"\n[[listen]]\naddr = "127.0.0.1:0"\n')
p = subprocess.Popen([binary, "server", "--config", cfg], stderr=subprocess.PIPE, text=True)
port = None
for line in p.stderr:
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if m:
        port = int(m.group(1)); break
threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
results = []
def flood():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    s.settimeout(5)
    batch = b'{"type":"ping"}\n' * 200
    pongs = limited = 0; bye = None; buf = b""
    end = time.time() + 5
    def writer():
        try:
            while time.time() < end:
                s.sendall(batch)
        except Exception:
            pass
    threading.Thread(target=writer, daemon=True).start()
    try:
        while time.time() < end:
            chunk = s.recv(65536)
            if not chunk: break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for l in lines:
                if b'"ok"' in l: pongs += 1
                elif b'rate_limited' in l: limited += 1
                elif b'"bye"' in l: bye = l.decode()
    except Exception:
        pass
    results.append((pongs, limited, bye))
t0 = os.times()
ts = [threading.Thread(target=flood) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
stat = open(f"/proc/{p.pid}/stat").read().split(")")[1].split()
cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
print(binary, "per connection (pongs, rate_limited, bye):", results, f"server CPU {cpu:.2f}s in 5 s")
p.kill()
