#!/usr/bin/env python3
"""Idle memory of browsers against line clients (issue 15): starts `confab server`
(the binary named on the command line) on 127.0.0.1 with two plaintext listeners,
one for the line protocol and one with `websocket = true`, opens N registered
connections of one kind (each `hello`, then a `join` of one of 50 rooms), leaves
them idle, and prints the server's resident memory per connection; then the same
for the other kind, on a fresh server.

    python3 benches/web/idle_memory.py target/release/confab 1000

Standard library only: the WebSocket handshake and the client's masked frames
are a few lines here.
"""
import base64, json, os, re, resource, socket, struct, subprocess, sys, tempfile, threading, time

binary, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000
resource.setrlimit(resource.RLIMIT_NOFILE, (count * 2 + 100, count * 2 + 100))


def start():
    d = tempfile.mkdtemp()
    cfg = os.path.join(d, "c.toml")
    open(cfg, "w").write(
        f'state_dir = "{d}/state"\n[limits]\nmax_connections = {count * 2}\n'
        f"max_pending_connections = {count * 2}\nmax_connections_per_address = {count * 2}\n"
        '[[listen]]\naddr = "127.0.0.1:0"\ntls = false\n'
        '[[listen]]\naddr = "127.0.0.1:0"\ntls = false\nwebsocket = true\n'
    )
    server = subprocess.Popen([binary, "server", "--config", cfg], stderr=subprocess.PIPE, text=True)
    ports = []
    for line in server.stderr:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            ports.append(int(m.group(1)))
        if len(ports) == 2:
            break
    # The server logs every connection: keep reading, or it blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    return server, ports


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])


def frame(text):
    data, mask = text.encode(), os.urandom(4)
    size = bytes([0x80 | len(data)]) if len(data) < 126 else bytes([0x80 | 126]) + struct.pack(">H", len(data))
    return bytes([0x81]) + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def read_until(sock, needle):
    seen = b""
    while needle not in seen:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("the server closed a connection")
        seen += chunk


def connect(kind, port, i):
    hello = json.dumps({"type": "hello", "nick": f"u{i}", "id": 1})
    join = json.dumps({"type": "join", "room": f"r{i % 50}", "history": 0, "id": 2})
    sock = socket.create_connection(("127.0.0.1", port))
    if kind == "websocket":
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: confab.v1\r\n\r\n").encode())
        read_until(sock, b"\r\n\r\n")
        sock.sendall(frame(hello) + frame(join))
    else:
        sock.sendall((hello + "\n" + join + "\n").encode())
    read_until(sock, b'"id":2')
    return sock


for kind in ("line", "websocket"):
    server, (line_port, web_port) = start()
    port = web_port if kind == "websocket" else line_port
    time.sleep(0.5)
    before = rss_kib(server.pid)
    socks = [connect(kind, port, i) for i in range(count)]
    time.sleep(2)
    after = rss_kib(server.pid)
    print(f"{kind}: {count} idle registered connections: server RSS {before} -> {after} KiB, "
          f"{(after - before) / count:.1f} KiB each")
    for sock in socks:
        sock.close()
    server.terminate()
    server.wait()
