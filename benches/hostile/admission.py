"""Before/after figures for attacks 4 and 5 of issue 11 (docs/BENCHMARKS.md,
"Hostile load: admission and password guessing"). Talks to 127.0.0.1 and
127.0.0.2 only (Linux: all of 127.0.0.0/8 is loopback).

    python3 benches/hostile/admission.py BINARY flood 150 [EXTRA_LIMITS_TOML]
    python3 benches/hostile/admission.py BINARY guess

flood: one address (127.0.0.1) keeps STALLED sockets open that connect and send
nothing, reopening each one the server closes; meanwhile a client from 127.0.0.2
tries every 200 ms to connect (TLS) and register, each try bounded by 2 s.
guess: 16 connections from 127.0.0.1 guess passwords for 10 s, one hello per TLS
connection; counts the answers auth_failed (checked) and auth_throttled.
"""
import asyncio, json, ssl, subprocess, sys, tempfile, time, os

def start(binary, extra):
    d = tempfile.mkdtemp()
    cfg = os.path.join(d, "c.toml")
    with open(cfg, "w") as f:
        f.write(f'state_dir = "{d}/state"\nserver_name = "m.test"\nlog_level = "error"\n{extra}\n[[listen]]\naddr = "127.0.0.1:0"\n')
    p = subprocess.Popen([binary, "server", "--config", cfg], stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "RUST_LOG": "info", "NO_COLOR": "1"})
    for line in p.stderr:
        if "listening on" in line:
            addr = line.split("listening on ")[1].split()[0]
            host, port = addr.rsplit(":", 1)
            # keep draining stderr
            import threading
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, host, int(port)
    raise SystemExit("server did not start")

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE

async def legit_try(host, port, n):
    async def go():
        r, w = await asyncio.open_connection(host, port, ssl=CTX, local_addr=("127.0.0.2", 0),
                                             server_hostname="localhost")
        w.write(json.dumps({"type": "hello", "nick": f"legit{n}"}).encode() + b"\n")
        await w.drain()
        line = await r.readline()
        w.close()
        return json.loads(line).get("type") == "ok" if line else False
    try:
        return await asyncio.wait_for(go(), 2.0)
    except Exception:
        return False

async def stalled_socket(host, port, stop):
    opened = 0
    while not stop.is_set():
        try:
            r, w = await asyncio.open_connection(host, port, local_addr=("127.0.0.1", 0))
            opened += 1
            done = asyncio.ensure_future(stop.wait())
            rd = asyncio.ensure_future(r.read(1))
            await asyncio.wait([done, rd], return_when=asyncio.FIRST_COMPLETED)
            done.cancel(); rd.cancel()
            w.close()
        except Exception:
            await asyncio.sleep(0.001)
    return opened

async def flood(host, port, stalled, seconds):
    stop = asyncio.Event()
    attackers = [asyncio.ensure_future(stalled_socket(host, port, stop)) for _ in range(stalled)]
    await asyncio.sleep(1.0)  # let the flood build up first
    ok = tries = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        tries += 1
        ok += await legit_try(host, port, tries)
        await asyncio.sleep(0.2)
    stop.set()
    opened = sum(await asyncio.gather(*attackers))
    return ok, tries, opened

async def guesser(host, port, g, deadline, counts):
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            r, w = await asyncio.open_connection(host, port, ssl=CTX, server_hostname="localhost")
            w.write(json.dumps({"type": "hello", "nick": "mallory", "password": f"g{g}-{n}"}).encode() + b"\n")
            await w.drain()
            line = await r.readline()
            w.close()
            code = json.loads(line).get("code", "?") if line else "closed"
        except Exception as e:
            code = "err:" + type(e).__name__
        counts[code] = counts.get(code, 0) + 1

async def guess(host, port, seconds):
    counts = {}
    deadline = time.monotonic() + seconds
    await asyncio.gather(*[guesser(host, port, g, deadline, counts) for g in range(16)])
    return counts

def main():
    binary, what = sys.argv[1], sys.argv[2]
    if what == "flood":
        extra = "[limits]\nmax_connections = 100\n" + (sys.argv[4] if len(sys.argv) > 4 else "")
        p, host, port = start(binary, extra)
        try:
            ok, tries, opened = asyncio.run(flood(host, port, int(sys.argv[3]), 25))
            print(f"flood {binary}: legit client registered {ok}/{tries} tries in 25 s; attacker opened {opened} sockets")
        finally:
            p.kill()
    else:
        p, host, port = start(binary, 'password = "s3cret"\n')
        try:
            counts = asyncio.run(guess(host, port, 10))
            print(f"guess {binary}: {counts} (auth_failed = passwords checked in 10 s)")
        finally:
            p.kill()

main()
