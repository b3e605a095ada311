// socketio-server.mjs: a minimal Socket.IO chat server, written the way a typical
// Socket.IO chat backend is, for the side-by-side benchmark in benches/compare/.
//
//   node benches/compare/socketio-server.mjs --port 7700 [--tls-cert cert.pem --tls-key key.pem]
//
// It listens on 127.0.0.1 only: plain HTTP/WebSocket, or HTTPS/WSS (node's https
// module) with --tls-cert and --tls-key, as the other servers in the comparison
// speak plaintext or TLS; and prints "listening on 127.0.0.1:PORT" once ready
// (with --port 0 it picks a free port and prints that).
//
// Events, each answered through the client's ack callback:
//   hello   {nick}              → ack {ok:true, nick}
//   join    {room}              → socket.join(room); ack {ok:true, room}
//   message {room, text}        → io.to(room).emit('message', {room, seq, ts, from, text})
//                                 to every member of the room, the sender included;
//                                 then ack {ok:true, seq, ts}
// A per-room sequence number and a server timestamp are added so the server does
// the same per-message work as confab (which numbers and timestamps every message),
// and so receivers can check that nothing was lost or reordered.
// No limits are set beyond Socket.IO's defaults, and none of its defaults throttle
// messages: maxHttpBufferSize (1 MB) only caps the size of one packet.

import fs from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { Server } from 'socket.io';

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(flag('port', '0'));
const tlsCert = flag('tls-cert', null);
const tlsKey = flag('tls-key', null);
const httpServer = tlsCert
  ? createTlsServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) })
  : createServer();
const io = new Server(httpServer, {
  // A typical deployment leaves CORS open to its web origin; loopback only here.
  cors: { origin: '*' },
});

// Per-room message counters: room name → last seq handed out. Like confab, a room
// that empties is forgotten, and numbering starts again at 1 if it comes back.
const seqs = new Map();
io.of('/').adapter.on('delete-room', (room) => seqs.delete(room));

io.on('connection', (socket) => {
  socket.on('hello', (req, ack) => {
    if (typeof req?.nick !== 'string' || req.nick.length === 0) {
      return ack?.({ ok: false, error: 'bad_nick' });
    }
    socket.data.nick = req.nick;
    ack?.({ ok: true, nick: req.nick });
  });

  socket.on('join', (req, ack) => {
    if (!socket.data.nick) return ack?.({ ok: false, error: 'not_registered' });
    const room = String(req?.room ?? '');
    if (!room) return ack?.({ ok: false, error: 'bad_room' });
    socket.join(room);
    if (!seqs.has(room)) seqs.set(room, 0);
    ack?.({ ok: true, room });
  });

  socket.on('message', (req, ack) => {
    if (!socket.data.nick) return ack?.({ ok: false, error: 'not_registered' });
    const room = req?.room;
    const text = req?.text;
    if (typeof room !== 'string' || !socket.rooms.has(room)) {
      return ack?.({ ok: false, error: 'not_in_room' });
    }
    if (typeof text !== 'string' || text.length === 0) {
      return ack?.({ ok: false, error: 'bad_text' });
    }
    const seq = seqs.get(room) + 1;
    seqs.set(room, seq);
    const ts = new Date().toISOString();
    // Broadcast to the whole room, the sender included (io.to, not socket.to).
    io.to(room).emit('message', { room, seq, ts, from: socket.data.nick, text });
    ack?.({ ok: true, seq, ts });
  });
});

httpServer.listen(port, '127.0.0.1', () => {
  const { port: bound } = httpServer.address();
  console.log(`listening on 127.0.0.1:${bound}`);
});

// Stop cleanly on SIGTERM/SIGINT (run.sh stops its servers with SIGTERM).
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
