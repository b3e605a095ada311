'use strict';
// confab-web: the browser client of confab. It speaks docs/PROTOCOL.md over the
// server's WebSocket (one JSON object per text frame, both ways) and keeps the same
// promises as the terminal client (docs/CLIENT.md): own messages shown once, catch-up
// by seq and epoch after a drop or a reload, rate-limit retries, keepalive. Every piece
// of text that came from the server reaches the page through textContent or text
// nodes only, so nothing a user sends can run script or pass for the page itself.
//
// The file has three parts: constants, pure helpers (no DOM, no state, so they can be
// checked on their own), and the App, which owns the connection and the page.

/* ------------------------------------------------------------------ constants */

const CLIENT_NAME = 'confab-web/0.1';
const SUBPROTOCOL = 'confab.v1';
const NICK_KEY = 'confab.nick';          // localStorage: the nick, for next time
const SESSION_KEY = 'confab.session';    // sessionStorage: rooms, epochs, last seqs
const TYPING_EVERY_MS = 3000;            // send `typing` at most this often
const TYPING_SHOWN_MS = 6000;            // an `active: true` older than this is stale
const SILENCE_PING_MS = 75000;           // ping when the server has been quiet this long
const ANSWER_TIMEOUT_MS = 30000;         // a request unanswered this long: connection dead
const CONNECT_TIMEOUT_MS = 15000;
const RATE_RETRIES = 6;                  // waits of 0.25, 0.5, 1, 2, 4, 8 s
const OLDER_PAGE = 50;                   // the server's default `history` limit
const BACKFILL_PAGE = 20;                // the server's default `history_on_join`
const MAX_ENTRIES = 3000;                // lines a conversation keeps when not read back
const TRIM_TO = 2500;
const DEFAULT_MAX_TEXT = 4096;
const TOPIC_MAX_BYTES = 512;
const RESTART_NOTICE = "the server's numbering of this room restarted; showing what it holds";

const ALIASES = {
  j: 'join', part: 'leave', sw: 'switch', names: 'who', list: 'rooms', exit: 'quit', '?': 'help',
};

const HELP = [
  ['/join ROOM', 'join ROOM (the server creates it if it is new) and go to it'],
  ['/leave [ROOM] [REASON]', 'leave ROOM (default: this room)'],
  ['/switch ROOM', 'go to ROOM, a room you are in'],
  ['/msg NICK TEXT', 'send TEXT privately to NICK'],
  ['/query NICK [TEXT]', 'open the private conversation with NICK (and send TEXT)'],
  ['/close', 'close this private conversation, or leave this room'],
  ['/me TEXT', 'an action here, shown as "* you TEXT"'],
  ['/nick NEW', 'change your nick'],
  ['/topic [ROOM] [TEXT]', 'show the topic, or set it (/topic - clears it)'],
  ['/who [ROOM]', 'list the members of ROOM (default: this room), with their roles'],
  ['/rooms', 'list the rooms on the server'],
  ['/quit [REASON]', 'leave every room and sign out'],
  ['/help', 'this list'],
  ['//TEXT', 'say a line that starts with /'],
  ['Accounts', ''],
  ['/register PASSWORD', 'make your nick an account and log in to it; next time, sign in with the password'],
  ['Rooms', 'these take an optional #ROOM first (default: this room); account:NAME names an account'],
  ['/claim [ROOM]', 'become the owner of a room nobody owns'],
  ['/op NICK, /voice NICK', "give NICK's account a role"],
  ['/deop NICK, /devoice NICK', "take NICK's role away"],
  ['/kick NICK [REASON]', 'put NICK out of the room'],
  ['/ban NICK [DURATION] [REASON]', 'keep NICK out (DURATION like 90s, 10m, 2h, 1d; default: until lifted)'],
  ['/unban NICK', 'lift a ban'],
  ['/mute NICK [DURATION] [REASON]', 'keep NICK from talking and setting the topic'],
  ['/unmute NICK', 'lift a mute'],
  ['/invite NICK', 'let NICK into an invite-only room, once'],
  ['/flags [+i -m +t +a …]', "show the room's flags, or set (+) and clear (-) them: "
    + 'i invite-only, m moderated, t topic lock, a accounts only'],
];

/** The room events of moderation (protocol 1.2): each has the room's next seq. */
const MODERATION_TYPES = new Set(['claim', 'role', 'kick', 'ban', 'unban', 'mute', 'unmute', 'flags']);

/** The four room flags: wire name, the name shown, and the names /flags takes. */
const FLAGS = [
  { key: 'invite_only', shown: 'invite-only', names: ['i', 'invite', 'invite_only'] },
  { key: 'moderated', shown: 'moderated', names: ['m', 'moderated'] },
  { key: 'topic_lock', shown: 'topic lock', names: ['t', 'topic', 'topic_lock'] },
  { key: 'accounts_only', shown: 'accounts only', names: ['a', 'accounts', 'accounts_only'] },
];

const FLAGS_USAGE = '/flags [#ROOM] [+FLAG|-FLAG …], FLAG one of i (invite_only), m (moderated), '
  + 't (topic_lock), a (accounts_only)';

const ROLE_COMMANDS = { op: 'op', voice: 'voice', deop: 'none', devoice: 'none' };

const PASSWORD_MIN_BYTES = 8;
const PASSWORD_MAX_BYTES = 1024;

/* ------------------------------------------------------------- pure helpers */

/** Lower-cases ASCII letters only, as the server does for nicks and rooms. */
function asciiLower(s) {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** The nick rules of PROTOCOL.md: 1 to 32 of [A-Za-z0-9_-], a letter first. */
function validNick(nick) {
  return typeof nick === 'string' && /^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(nick);
}

/** A room name as the server normalizes it (one `#` off, lower case), or null. */
function normalizeRoom(name) {
  if (typeof name !== 'string') return null;
  const lower = asciiLower(name.startsWith('#') ? name.slice(1) : name);
  return /^[a-z0-9][a-z0-9._-]{0,63}$/.test(lower) ? lower : null;
}

/** Nicks are unique regardless of case. */
function sameNick(a, b) {
  return typeof a === 'string' && typeof b === 'string' && asciiLower(a) === asciiLower(b);
}

/** Sorts nicks the way the server does: by the ASCII-lowercased nick. */
function sortNicks(nicks) {
  return nicks.slice().sort((a, b) => {
    const x = asciiLower(a);
    const y = asciiLower(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** A hue (0..359) from a stable hash (FNV-1a) of the lower-case nick, so a nick has the
 * same colour in every session and every browser. */
function nickHue(nick) {
  const s = asciiLower(nick);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i += 1) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 360;
}

function isNickChar(c) {
  return c !== '' && /[A-Za-z0-9_-]/.test(c);
}

/** Whether TEXT names NICK as a word, in any case: `bob` is named in `@Bob:`, not in
 * `bobby`. A word ends where a character a nick cannot hold begins. */
function mentionsNick(text, nick) {
  if (!nick || typeof text !== 'string') return false;
  const hay = asciiLower(text);        // same length as text: indexes line up
  const needle = asciiLower(nick);
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) {
    const before = at === 0 ? '' : hay[at - 1];
    const after = hay.charAt(at + needle.length);
    if (!isNickChar(before) && !isNickChar(after)) return true;
  }
  return false;
}

/** Splits an input line into plain text or a command with the rest of its line.
 * `//TEXT` is the text `/TEXT`. */
function parseLine(line) {
  if (line.startsWith('//')) return { kind: 'text', text: line.slice(1) };
  if (!line.startsWith('/')) return { kind: 'text', text: line };
  const m = /^\/(\S*)\s*([\s\S]*)$/.exec(line);
  return { kind: 'command', name: asciiLower(m[1]), rest: m[2] };
}

/** The first word of REST and what follows it (leading blanks removed). */
function splitWord(rest) {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(rest.replace(/^\s+/, ''));
  return m ? [m[1], m[2]] : ['', ''];
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

/** Why the server would refuse TEXT as a message (PROTOCOL.md, Message text), or null. */
function textProblem(text, maxBytes) {
  if (!/\S/u.test(text)) return 'nothing to send';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(text)) {
    return 'the text holds control characters, which the server refuses';
  }
  const n = utf8Length(text);
  if (n > maxBytes) return `the text is too long: ${n} bytes, at most ${maxBytes}`;
  return null;
}

/** Why the server would refuse TEXT as a topic, or null ("" clears the topic). */
function topicProblem(text) {
  if (text === '') return null;
  if (/\n/.test(text)) return 'a topic is one line';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(text)) {
    return 'the topic holds control characters, which the server refuses';
  }
  const n = utf8Length(text);
  if (n > TOPIC_MAX_BYTES) return `the topic is too long: ${n} bytes, at most ${TOPIC_MAX_BYTES}`;
  return null;
}

/** Why the server would refuse TEXT as a moderation reason (one line, like a topic). */
function reasonProblem(reason) {
  const problem = topicProblem(reason);
  return problem && problem.replace(/topic/g, 'reason');
}

/** Why the server would refuse PASSWORD as a new account password, or null. Never
 * quotes it. */
function passwordProblem(password) {
  const n = utf8Length(password);
  if (n < PASSWORD_MIN_BYTES || n > PASSWORD_MAX_BYTES) {
    return `a password must be ${PASSWORD_MIN_BYTES} to ${PASSWORD_MAX_BYTES} bytes long (weak_password)`;
  }
  return null;
}

/** A ban's or mute's DURATION word (`90s`, `10m`, `2h`, `1d`, `1w`, or several, as
 * `1h30m`) in seconds; null for a word that is not one (it then starts the reason);
 * { error } for a duration of nothing. */
function parseDuration(word) {
  if (typeof word !== 'string' || !/^(\d+[smhdw])+$/i.test(word)) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let seconds = 0;
  for (const [, n, u] of word.matchAll(/(\d+)([smhdw])/gi)) seconds += Number(n) * unit[u.toLowerCase()];
  if (!Number.isSafeInteger(seconds)) return null;
  if (seconds === 0) {
    return { error: `a duration is at least 1s (${word}); leave it out for a ban or mute until lifted` };
  }
  return { seconds };
}

/** `account:NAME` without its prefix (in any case), or null for a plain word. */
function stripAccount(word) {
  const m = /^account:(.*)$/i.exec(word);
  return m ? m[1] : null;
}

/** A ban's or mute's target as request fields: { account } for `account:NAME`, else
 * { nick }; null when the name is no nick. */
function subjectFields(word) {
  const account = stripAccount(word);
  const name = account !== null ? account : word;
  if (!validNick(name)) return null;
  return account !== null ? { account: name } : { nick: name };
}

/** `+i -moderated …` as flag fields ({ invite_only: true, moderated: false }), or null
 * when a word is not a change of a known flag. */
function parseFlagChanges(rest) {
  const changes = {};
  for (const word of rest.split(/\s+/).filter(Boolean)) {
    const m = /^([+-])(.+)$/.exec(word);
    if (!m) return null;
    const name = asciiLower(m[2]).replace(/-/g, '_');
    const flag = FLAGS.find((f) => f.names.includes(name));
    if (!flag) return null;
    changes[flag.key] = m[1] === '+';
  }
  return changes;
}

/** The names of the flags that are on in F (an event, or an ok's `flags`). */
function flagNames(f) {
  return FLAGS.filter((flag) => f && f[flag.key] === true).map((flag) => flag.shown);
}

/** Whether the server's `protocol` (as hello's ok says it) is at least MAJOR.MINOR. */
function protocolAtLeast(protocol, major, minor) {
  const m = typeof protocol === 'string' ? /^(\d+)\.(\d+)/.exec(protocol) : null;
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

/** A time a moderation event names (a ban's `until`): HH:MM today, else with its day. */
function formatWhen(ts) {
  const d = parseTs(ts);
  if (!d) return typeof ts === 'string' ? ts : '?';
  return dayKey(d) === dayKey(new Date()) ? formatTime(d) : `${dayKey(d)} ${formatTime(d)}`;
}

/** A string field of an event, or `?` when it is missing. */
function field(value) {
  return typeof value === 'string' ? value : '?';
}

/** Who a ban or mute names: its account, or a nick (a nick ban, for guests). */
function sanctionSubject(f) {
  if (typeof f.account === 'string') return f.account;
  if (typeof f.nick === 'string') return `${f.nick} (nick)`;
  return '?';
}

/** What a moderation room event says, in the terminal client's words: "alice banned
 * bob until 12:30: spam". Null for any other event. */
function moderationText(f) {
  if (!f || !MODERATION_TYPES.has(f.type)) return null;
  const why = typeof f.reason === 'string' && f.reason ? `: ${f.reason}` : '';
  const until = typeof f.until === 'string' ? ` until ${formatWhen(f.until)}` : '';
  let what;
  switch (f.type) {
    case 'claim': what = 'claimed the room'; break;
    case 'role':
      what = f.role === 'none' ? `took ${field(f.account)}'s role away` : `made ${field(f.account)} ${field(f.role)}`;
      break;
    case 'kick': what = `kicked ${field(f.nick)}${why}`; break;
    case 'ban': what = `banned ${sanctionSubject(f)}${until}${why}`; break;
    case 'unban': what = `unbanned ${sanctionSubject(f)}`; break;
    case 'mute': what = `muted ${sanctionSubject(f)}${until}${why}`; break;
    case 'unmute': what = `unmuted ${sanctionSubject(f)}`; break;
    default: {
      const on = flagNames(f);
      what = on.length ? `set the room's flags: ${on.join(', ')}` : "cleared the room's flags";
    }
  }
  return `${field(f.by)} ${what}`;
}

/** What a kick or a ban that puts YOU (NICK, logged in to ACCOUNT or not) out of its
 * room says to you; null when F does not. A nick ban of a logged-in user's nick is an
 * account ban by the time it is an event. */
function removalText(f, nick, account) {
  const me = (name) => sameNick(name, nick) || (account ? sameNick(name, account) : false);
  const room = field(f.room);
  const why = typeof f.reason === 'string' && f.reason ? `: ${f.reason}` : '';
  if (f.type === 'kick' && me(f.nick)) return `you were kicked from #${room} by ${field(f.by)}${why}`;
  if (f.type === 'ban' && (me(f.account) || me(f.nick))) {
    const until = typeof f.until === 'string' ? ` until ${formatWhen(f.until)}` : '';
    return `you were banned from #${room} by ${field(f.by)}${until}${why}`;
  }
  return null;
}

/** `/who`'s members, plain nicks (v1) or objects with account and role (1.2), as
 * { nick, account, role } with the valid nicks only. */
function whoMembers(members) {
  if (!Array.isArray(members)) return [];
  const out = [];
  for (const m of members) {
    if (validNick(m)) out.push({ nick: m, account: null, role: null });
    else if (m && typeof m === 'object' && validNick(m.nick)) {
      out.push({
        nick: m.nick,
        account: typeof m.account === 'string' ? m.account : null,
        role: typeof m.role === 'string' ? m.role : null,
      });
    }
  }
  return out.sort((a, b) => {
    const x = asciiLower(a.nick);
    const y = asciiLower(b.nick);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** `/who`'s answer: "#ops: 4 members: alice (owner), bob (op), carol (logged in), dave". */
function whoLine(room, members) {
  const list = members.map((m) => {
    if (m.role) return `${m.nick} (${m.role})`;
    if (m.account) return sameNick(m.account, m.nick) ? `${m.nick} (logged in)` : `${m.nick} (logged in as ${m.account})`;
    return m.nick;
  });
  const s = members.length === 1 ? '' : 's';
  return `#${room}: ${members.length} member${s}${list.length ? `: ${list.join(', ')}` : ''}`;
}

/** The wait before reconnect attempt ATTEMPT (0, 1, …): 1 s doubling to 30 s, ±20 %,
 * so the clients of a restarted server do not all come back in the same instant. */
function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(30000, 1000 * 2 ** Math.min(attempt, 15));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The wait before the retry TRIES (0, 1, …) of a request answered `rate_limited`. */
function retryDelay(tries) {
  return 250 * 2 ** tries;
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

/** HH:MM in local time. */
function formatTime(date) {
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

/** The local calendar day of DATE, to tell when the day changes between two lines. */
function dayKey(date) {
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
}

function dayLabel(date) {
  return date.toLocaleDateString(undefined, {
    weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
  });
}

/** A server `ts` as a Date, or null when it is missing or unreadable. */
function parseTs(ts) {
  if (typeof ts !== 'string') return null;
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The line under the messages saying who is typing. */
function typingLine(nicks) {
  if (nicks.length === 0) return '';
  if (nicks.length === 1) return `${nicks[0]} is typing…`;
  if (nicks.length <= 3) return `${nicks.join(', ')} are typing…`;
  return `${nicks.slice(0, 3).join(', ')} and ${nicks.length - 3} more are typing…`;
}

/** Whether a history item is a message: `type` "message", or no `type` and a text
 * (servers before 1.2 did not always name it). */
function isMessageItem(m) {
  return m.type === 'message' || (m.type === undefined && typeof m.text === 'string');
}

/** A room event of a kind this page does not know: its type and its other fields. */
function unknownEventText(f) {
  const parts = [`[${field(f.type)}]`];
  for (const [k, v] of Object.entries(f)) {
    if (['type', 'room', 'seq', 'ts'].includes(k)) continue;
    parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return parts.join(' ');
}

function caughtUpLine(count) {
  return `caught up: ${count} new ${count === 1 ? 'message' : 'messages'}`;
}

/** The WebSocket address: path `ws` beside the page, wss: when the page came over https. */
function wsUrl(href) {
  const url = new URL('ws', href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = '';
  url.hash = '';
  return url.href;
}

/** A server error as people read it: `no such user: zed (no_such_user)`. */
function describeError(frame) {
  const code = typeof frame.code === 'string' ? frame.code : 'error';
  const message = typeof frame.message === 'string' && frame.message ? frame.message : code;
  return `${message} (${code})`;
}

/** Why a WebSocket closed, from its close code and reason, when no `bye` said why. */
function describeClose(code, reason) {
  const why = {
    1000: 'closed by the server',
    1001: 'the server is going away',
    1003: 'the server refused a binary frame',
    1006: 'the connection failed or broke',
    1008: 'the server refused the connection',
    1009: 'a frame was too big for the server',
    1011: 'the server hit an error',
  }[code] || `closed (code ${code})`;
  return reason ? `${why}: ${reason}` : why;
}

/** Where a room message with SEQ goes among ENTRIES (kept in seq order; notices, which
 * have no seq, stay where they are; pending own messages stay last). */
function insertIndex(entries, seq) {
  let idx = entries.length;
  for (let i = entries.length - 1; i >= 0; i -= 1) {
    const e = entries[i];
    if (e.pending) idx = i;
    else if (e.seq === null || e.seq === undefined) continue;
    else if (e.seq > seq) idx = i;
    else break;
  }
  return idx;
}

/** Code points that draw nothing or reorder text: shown as a visible mark, so
 * `al<U+200B>ice` cannot pass for `alice` and a message cannot look empty or flip the
 * text after it. Joiners and variation selectors stay, for emoji. */
function isHiddenCodePoint(cp) {
  return cp === 0x00ad || cp === 0x034f || cp === 0x061c || cp === 0x115f || cp === 0x1160
    || cp === 0x17b4 || cp === 0x17b5 || cp === 0x180e || cp === 0x200b
    || cp === 0x200e || cp === 0x200f || (cp >= 0x202a && cp <= 0x202e)
    || (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206f)
    || cp === 0x2800 || cp === 0x3164 || cp === 0xfeff || cp === 0xffa0
    || (cp >= 0xfff9 && cp <= 0xfffb);
}

/** Splits TEXT into runs of plain text and marks for characters that must not be drawn
 * as they are: controls (other than newline and tab) in caret notation or as U+FFFD,
 * hidden characters as `<U+XXXX>`. */
function safeSegments(text) {
  const out = [];
  let plain = '';
  const mark = (label) => {
    if (plain) out.push({ text: plain, mark: false });
    plain = '';
    out.push({ text: label, mark: true });
  };
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (cp < 0x20 && ch !== '\n' && ch !== '\t') mark(`^${String.fromCharCode(cp + 64)}`);
    else if (cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)) mark('\ufffd');
    else if (isHiddenCodePoint(cp)) mark(`<U+${cp.toString(16).toUpperCase().padStart(4, '0')}>`);
    else plain += ch;
  }
  if (plain) out.push({ text: plain, mark: false });
  return out;
}

/* ---------------------------------------------------------------- DOM bits */

function h(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** TEXT as DOM: text nodes and marked spans, never parsed as HTML. */
function safeText(tag, className, text) {
  const e = h(tag, className);
  for (const seg of safeSegments(text)) {
    if (seg.mark) e.append(h('span', 'mark', seg.text));
    else e.append(document.createTextNode(seg.text));
  }
  return e;
}

function nickElement(tag, nick) {
  const e = h(tag, 'nick', nick);
  e.style.setProperty('--hue', String(nickHue(nick)));
  return e;
}

function daySeparator(date) {
  return h('div', 'day', dayLabel(date));
}

function keyOf(kind, name) {
  if (kind === 'server') return 'server';
  return `${kind}:${asciiLower(name)}`;
}

/** One conversation: the server's own, a room, or a private one. */
class Conversation {
  constructor(kind, name) {
    this.kind = kind;            // 'server' | 'room' | 'private'
    this.name = name;            // the room's normalized name, or the other's nick
    this.topic = '';
    this.members = [];
    this.joined = kind !== 'room';
    this.epoch = null;           // the room's numbering its seqs belong to
    this.lastSeq = 0;            // the highest seq shown, in that epoch
    this.cursor = null;          // while catching up: the seq up to which nothing is missing
    this.catchingUp = false;
    this.seqs = new Set();       // the seqs shown, to show each message once
    this.entries = [];           // lines: { seq, ts, el, pending, text, action }
    this.unconfirmed = [];       // own room messages in flight when the connection dropped
    this.unread = 0;
    this.mentions = 0;
    this.olderExhausted = kind !== 'room';
    this.fetchingOlder = false;
    this.batching = false;
    this.typing = new Map();     // lower-case nick -> { nick, timer }
    this.roles = new Map();      // lower-case account -> role, as /who and role events said
    this.scrollTop = null;       // null: at the bottom
    this.logEl = h('div', 'log');
    this.topEl = h('div', 'top');
    this.logEl.append(this.topEl);
    this.li = null;
  }

  get key() {
    return keyOf(this.kind, this.name);
  }

  /** The seq the next catch-up starts after: nothing at or below it is missing. */
  get resumeSeq() {
    return this.cursor !== null ? this.cursor : this.lastSeq;
  }

  oldestSeq() {
    const first = this.entries.find((e) => e.seq !== null && !e.pending);
    return first ? first.seq : null;
  }
}

/* --------------------------------------------------------------------- App */

class App {
  constructor() {
    const $ = (id) => document.getElementById(id);
    this.dom = {
      signin: $('signin'), nick: $('nick'), password: $('password'), accountPassword: $('account-password'),
      signinButton: $('signin-button'), signinError: $('signin-error'), signinNote: $('signin-note'),
      app: $('app'), rooms: $('rooms'), joinForm: $('join-form'), joinRoom: $('join-room'),
      title: $('title'), topic: $('topic'), messages: $('messages'), typing: $('typing'),
      error: $('error'), composer: $('composer'), input: $('input'), members: $('members'),
      memberCount: $('member-count'), status: $('status'), menuButton: $('menu-button'),
      membersButton: $('members-button'), signoutButton: $('signout-button'), scrim: $('scrim'),
    };
    this.nick = '';
    this.password = null;        // the server's; in memory only, for reconnects; never stored
    this.accountPassword = null; // the account's; the same: in memory only, never stored
    this.account = null;         // the account the connection is logged in to (1.2)
    this.protocol = null;        // the protocol version hello's ok named
    this.ws = null;
    this.gen = 0;                // counts connections: answers to an old one are dropped
    this.state = 'signed-out';   // 'signed-out' | 'connecting' | 'online' | 'waiting'
    this.registered = false;
    this.everRegistered = false;
    this.resuming = false;       // started from a saved session (a reload)
    this.bye = null;
    this.nextId = 1;
    this.inflight = [];          // sent, unanswered, in the order sent
    this.outbox = [];            // waiting for a registered connection
    this.lane = [];              // own messages waiting for the one before them
    this.laneCurrent = null;     // the own message being sent
    this.attempt = 0;
    this.reconnectAt = 0;
    this.reconnectTimer = null;
    this.connectTimer = null;
    this.helloRetries = 0;
    this.lastHeard = 0;
    this.pingOutstanding = false;
    this.authMessage = null;     // the auth_throttled text, for the `bye` that follows
    this.serverName = '';
    this.limits = {};
    this.convs = new Map();
    this.order = [];
    this.current = null;
    this.typingSent = new Map();
    this.persistTimer = null;
    this.lastScrollTop = 0;
    this.stuck = true;           // the reader is at the bottom of the log
    this.sent = [];              // lines sent, for Up and Down
    this.sentAt = -1;
    this.server = this.addConversation('server', 'server');
  }

  /* ----- start and sign-in */

  start() {
    const d = this.dom;
    d.signin.addEventListener('submit', (e) => { e.preventDefault(); this.signIn(); });
    d.joinForm.addEventListener('submit', (e) => { e.preventDefault(); this.joinFromField(); });
    d.composer.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    d.input.addEventListener('keydown', (e) => this.inputKey(e));
    d.input.addEventListener('input', () => { this.autosize(); this.typingNotice(); });
    d.messages.addEventListener('scroll', () => {
      // Only a move up asks for older messages; the page's own scrolling (to the bottom,
      // or keeping the place after a page came in) never does.
      const top = d.messages.scrollTop;
      if (top < this.lastScrollTop && top < 60) this.fetchOlder(this.current);
      this.lastScrollTop = top;
      this.stuck = this.atBottom();
    });
    // A narrower window, or a phone's keyboard coming up, must not leave the reader
    // above the newest line.
    new ResizeObserver(() => {
      if (this.stuck) this.scrollToBottom();
    }).observe(d.messages);
    d.messages.addEventListener('wheel', (e) => {
      // A short log cannot scroll, so no scroll event would ever ask for older messages.
      if (e.deltaY < 0 && d.messages.scrollTop === 0) this.fetchOlder(this.current);
    }, { passive: true });
    d.menuButton.addEventListener('click', () => this.togglePanel('sidebar-open'));
    d.membersButton.addEventListener('click', () => this.togglePanel('members-open'));
    d.scrim.addEventListener('click', () => this.closePanels());
    d.signoutButton.addEventListener('click', () => this.signOut());
    d.members.addEventListener('click', (e) => {
      const li = e.target.closest('li');
      if (li && li.dataset.nick && !sameNick(li.dataset.nick, this.nick)) {
        this.focus(this.privateConversation(li.dataset.nick, true));
      }
    });
    window.addEventListener('pagehide', () => this.persistNow());
    window.addEventListener('online', () => {
      if (this.state === 'waiting') this.reconnectNow();
    });
    setInterval(() => this.tick(), 1000);

    try {
      const saved = localStorage.getItem(NICK_KEY);
      if (validNick(saved)) d.nick.value = saved;
    } catch (_) { /* storage may be off; the nick is only a convenience */ }

    const session = this.restoreSession();
    this.focus(this.current || this.server);
    if (session && !session.usedPassword) {
      this.nick = session.nick;
      this.resuming = true;
      this.showApp();
      this.connect();
    } else {
      if (session) {
        d.nick.value = session.nick;
        const rooms = this.roomConversations().map((c) => `#${c.name}`);
        if (rooms.length) d.signinNote.textContent = `Sign in again to rejoin ${rooms.join(', ')}.`;
      }
      this.showSignin();
    }
    this.renderStatus();
  }

  showSignin(field) {
    this.dom.app.hidden = true;
    this.dom.signin.hidden = false;
    this.dom.signinButton.disabled = false;
    (field || (this.dom.nick.value ? this.dom.accountPassword : this.dom.nick)).focus();
  }

  showApp() {
    this.dom.signin.hidden = true;
    this.dom.app.hidden = false;
  }

  signIn() {
    const nick = this.dom.nick.value.trim();
    if (!validNick(nick)) {
      this.signinError('A nick is 1 to 32 letters, digits, _ or -, and starts with a letter.');
      this.dom.nick.focus();
      return;
    }
    this.nick = nick;
    this.password = this.dom.password.value || null;
    this.accountPassword = this.dom.accountPassword.value || null;
    this.account = null;
    this.signinError('');
    this.dom.signinButton.disabled = true;
    this.helloRetries = 0;
    this.connect();
  }

  signinError(text) {
    this.dom.signinError.textContent = text;
  }

  /** Back to the sign-in form, keeping the conversations so that signing in again
   * rejoins them. */
  signInFailed(message, field) {
    this.detach();
    this.state = 'signed-out';
    this.account = null;
    this.signinError(message);
    this.showSignin(field);
    this.renderStatus();
  }

  signOut(reason) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      const quit = { type: 'quit' };
      if (reason) quit.reason = reason;
      this.ws.send(JSON.stringify(quit));
    }
    this.detach();
    this.state = 'signed-out';
    this.everRegistered = false;
    this.resuming = false;
    this.password = null;
    this.accountPassword = null;
    this.account = null;
    this.outbox = [];
    this.lane = [];
    this.laneCurrent = null;
    for (const c of this.order.slice()) if (c !== this.server) this.removeConversation(c);
    this.server.entries = [];
    this.server.seqs.clear();
    this.renderLog(this.server);
    try { sessionStorage.removeItem(SESSION_KEY); } catch (_) { /* nothing to forget */ }
    this.dom.signinNote.textContent = '';
    this.signinError('');
    this.showSignin();
    this.renderStatus();
  }

  /* ----- the connection */

  connect() {
    this.detach();
    const gen = this.gen;
    this.state = 'connecting';
    this.bye = null;
    this.authMessage = null;
    this.renderStatus();
    let ws;
    try {
      ws = new WebSocket(wsUrl(window.location.href), SUBPROTOCOL);
    } catch (err) {
      this.connectionLost(`cannot open the connection: ${err.message}`);
      return;
    }
    this.ws = ws;
    this.connectTimer = setTimeout(() => {
      if (gen === this.gen) this.drop('the server did not answer in time');
    }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      if (gen !== this.gen) return;
      clearTimeout(this.connectTimer);
      this.lastHeard = Date.now();
      this.sendHello();
    };
    ws.onmessage = (ev) => {
      if (gen === this.gen) this.receive(ev.data);
    };
    ws.onclose = (ev) => {
      if (gen === this.gen) this.closed(ev);
    };
  }

  reconnectNow() {
    clearTimeout(this.reconnectTimer);
    this.connect();
  }

  /** Forgets the current socket: whatever it still says is ignored. */
  detach() {
    clearTimeout(this.connectTimer);
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.gen += 1;
    this.ws = null;
    this.registered = false;
    this.inflight = [];
    this.pingOutstanding = false;
    if (ws) {
      try { ws.close(1000); } catch (_) { /* already closing */ }
    }
  }

  /** Ends a connection that is alive on paper but not in fact, and reconnects. */
  drop(reason) {
    const lost = this.inflight;
    this.detach();
    this.connectionLost(reason, lost);
  }

  closed(ev) {
    const lost = this.inflight;
    const bye = this.bye;
    this.ws = null;
    this.detach();
    if (bye === 'auth failed') {
      let why;
      if (this.accountPassword && this.password) {
        why = 'The server refused a password, the account\'s or the server\'s (auth_failed).';
      } else if (this.accountPassword) {
        why = 'Wrong account password (auth_failed): the password is not this nick\'s, '
          + 'or the nick is not registered.';
      } else if (this.password) {
        why = 'The server refused the password (auth_failed).';
      } else {
        why = 'This server needs a password (auth_failed): enter it and sign in again.';
      }
      this.signInFailed(why, this.accountPassword && !this.password ? this.dom.accountPassword : this.dom.password);
      return;
    }
    if (bye === 'auth throttled') {
      this.signInFailed(this.authMessage || 'Too many failed passwords from your address: wait and try again (auth_throttled).');
      return;
    }
    if (bye === 'quit') {
      this.signOut();
      return;
    }
    this.connectionLost(bye || describeClose(ev.code, ev.reason), lost);
  }

  /** The connection is gone: settle what was in flight, and try again after a wait. */
  connectionLost(reason, lost = []) {
    this.registered = false;
    this.settle(lost);
    for (const c of this.order) {
      c.catchingUp = false;
      c.fetchingOlder = false;
      this.clearAllTyping(c);
      this.updateTop(c);
    }
    this.renderTyping();
    if (!this.everRegistered && !this.resuming) {
      this.signInFailed(`Could not sign in: ${reason}.`);
      return;
    }
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.state = 'waiting';
    this.reconnectAt = Date.now() + delay;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.notice(this.server, `connection lost (${reason}); reconnecting in ${(delay / 1000).toFixed(1)}s`);
    this.renderStatus();
  }

  /** What to do with each request that was in flight on a lost connection: each decides
   * (onLost); one bound to that connection is dropped; any other goes out again. */
  settle(lost) {
    const again = [];
    for (const r of lost) {
      if (r.onLost) r.onLost();
      else if (r.gen === undefined) again.push(r);
    }
    for (const r of again) {
      delete r.req.id;
      r.tries = 0;
    }
    this.outbox = again.concat(this.outbox);
  }

  sendHello() {
    const req = { type: 'hello', nick: this.nick, client: CLIENT_NAME };
    if (this.password) req.password = this.password;
    if (this.accountPassword) req.account_password = this.accountPassword;
    this.request(req, {
      gen: this.gen,
      pre: true,
      onOk: (ok) => this.registeredOk(ok),
      onError: (err) => this.helloRefused(err),
    });
  }

  registeredOk(ok) {
    const again = this.everRegistered;
    this.registered = true;
    this.everRegistered = true;
    this.attempt = 0;
    this.helloRetries = 0;
    if (validNick(ok.nick)) this.nick = ok.nick;
    this.serverName = typeof ok.server === 'string' ? ok.server : this.serverName;
    this.limits = ok.limits && typeof ok.limits === 'object' ? ok.limits : {};
    this.protocol = typeof ok.protocol === 'string' ? ok.protocol : null;
    this.account = typeof ok.account === 'string' && ok.account ? ok.account : null;
    this.state = 'online';
    this.dom.password.value = '';
    this.dom.accountPassword.value = '';
    this.dom.signinNote.textContent = '';
    try { localStorage.setItem(NICK_KEY, this.nick); } catch (_) { /* a convenience only */ }
    this.server.name = this.serverName || 'server';
    this.updateLi(this.server);
    const account = this.account ? `, logged in as ${this.account}` : '';
    if (again) {
      this.notice(this.server, `reconnected as ${this.nick}${account}`);
    } else {
      const version = typeof ok.version === 'string' ? ` (confab ${ok.version})` : '';
      this.notice(this.server, `connected to ${this.server.name}${version} as ${this.nick}${account}`);
      if (typeof ok.motd === 'string' && ok.motd) this.notice(this.server, ok.motd, 'motd');
    }
    this.showApp();
    for (const c of this.roomConversations()) this.rejoin(c, this.gen);
    const queued = this.outbox;
    this.outbox = [];
    for (const r of queued) this.transmit(r);
    this.renderHeader();
    this.renderStatus();
    this.persistNow();
    this.dom.input.focus();
  }

  helloRefused(err) {
    if (err.code === 'nick_in_use' && (this.everRegistered || (this.resuming && this.helloRetries < 3))) {
      // Most likely our own connection that just dropped, which the server has not let
      // go yet: wait for it rather than take another nick.
      const wait = Math.min(30000, 2000 * 2 ** this.helloRetries);
      this.helloRetries += 1;
      this.notice(this.server, `${this.nick} is still held on the server; trying again in ${wait / 1000}s`);
      const gen = this.gen;
      setTimeout(() => {
        if (gen === this.gen && this.ws && this.ws.readyState === WebSocket.OPEN) this.sendHello();
      }, wait);
      return;
    }
    if (err.code === 'nick_registered') {
      this.signInFailed('This nick is registered: enter its password or choose another nick (nick_registered).',
        this.dom.accountPassword);
      return;
    }
    if (err.code === 'auth_failed') return;   // `bye` follows; closed() says what to do
    if (err.code === 'auth_throttled') {
      this.authMessage = `${describeError(err)}`;
      return;
    }
    this.signInFailed(describeError(err));
  }

  /* ----- requests and responses */

  /** Sends REQ now, or when a registered connection is there. OPTS: onOk, onError,
   * onLost, gen (bound to this connection: dropped with it), pre (may go before hello),
   * noRetry (no retries on rate_limited). */
  request(req, opts = {}) {
    const r = Object.assign({ req, tries: 0 }, opts);
    this.transmit(r);
    return r;
  }

  transmit(r) {
    if (r.gen !== undefined && r.gen !== this.gen) {
      if (r.onLost) r.onLost();
      return;
    }
    const open = this.ws && this.ws.readyState === WebSocket.OPEN;
    if (open && (this.registered || r.pre)) {
      r.req.id = this.nextId;
      this.nextId += 1;
      r.sentAt = Date.now();
      this.inflight.push(r);
      this.ws.send(JSON.stringify(r.req));
    } else if (r.gen === undefined) {
      this.outbox.push(r);
      this.renderStatus();
    } else if (r.onLost) {
      r.onLost();
    }
  }

  receive(data) {
    if (typeof data !== 'string') return;
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (!frame || typeof frame !== 'object' || Array.isArray(frame)) return;
    this.lastHeard = Date.now();
    if (frame.type === 'ok' || frame.type === 'error') this.response(frame);
    else this.event(frame);
  }

  response(frame) {
    let r;
    if (frame.id !== undefined) {
      const i = this.inflight.findIndex((x) => x.req.id === frame.id);
      if (i < 0) return;
      r = this.inflight.splice(i, 1)[0];
    } else if (frame.code === 'too_many_connections') {
      this.notice(this.server, `error: ${describeError(frame)}`, 'error');
      return;
    } else {
      // Answers come in request order; one without an id answers the oldest request.
      r = this.inflight.shift();
      if (!r) return;
    }
    if (frame.type === 'ok') {
      if (r.onOk) r.onOk(frame);
    } else if (frame.code === 'rate_limited' && !r.noRetry && r.tries < RATE_RETRIES) {
      const wait = retryDelay(r.tries);
      r.tries += 1;
      delete r.req.id;
      setTimeout(() => this.transmit(r), wait);
    } else if (r.onError) {
      r.onError(frame);
    } else {
      this.showError(describeError(frame));
    }
  }

  event(f) {
    switch (f.type) {
      case 'message': this.onMessage(f); break;
      case 'join': this.onJoin(f); break;
      case 'leave': this.onLeave(f); break;
      case 'nick': this.onNick(f); break;
      case 'topic': this.onTopic(f); break;
      case 'typing': this.onTyping(f); break;
      case 'claim': case 'role': case 'kick': case 'ban': case 'unban': case 'mute': case 'unmute': case 'flags':
        this.onModeration(f);
        break;
      case 'invite': this.onInvite(f); break;
      case 'ping': this.sendPing(); break;
      case 'bye':
        this.bye = typeof f.reason === 'string' ? f.reason : 'bye';
        this.notice(this.server, `the server closed the connection: ${this.bye}`);
        break;
      default: {
        const room = typeof f.room === 'string' ? this.convs.get(keyOf('room', f.room)) : null;
        const type = typeof f.type === 'string' ? f.type : '?';
        this.notice(room || this.server, `[${type}] ${JSON.stringify(f)}`);
      }
    }
  }

  sendPing() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.pingOutstanding) return;
    this.pingOutstanding = true;
    const done = () => { this.pingOutstanding = false; };
    this.request({ type: 'ping' }, {
      gen: this.gen, pre: true, noRetry: true, onOk: done, onError: done, onLost: done,
    });
  }

  tick() {
    const now = Date.now();
    if (this.state === 'waiting') this.renderStatus();
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      if (this.registered && now - this.lastHeard >= SILENCE_PING_MS) this.sendPing();
      const oldest = this.inflight[0];
      if (oldest && now - oldest.sentAt > ANSWER_TIMEOUT_MS) this.drop('the server stopped answering');
    }
  }

  /* ----- rooms: joining, catching up, leaving */

  roomConversations() {
    return this.order.filter((c) => c.kind === 'room' && c.joined);
  }

  roomConversation(name, create) {
    const key = keyOf('room', name);
    return this.convs.get(key) || (create ? this.addConversation('room', name) : null);
  }

  privateConversation(nick, create) {
    const key = keyOf('private', nick);
    return this.convs.get(key) || (create ? this.addConversation('private', nick) : null);
  }

  userJoin(arg) {
    const name = normalizeRoom(arg);
    if (!name) {
      this.showError(`not a room name: ${arg} (letters, digits, - _ and ., up to 64)`);
      return false;
    }
    const known = this.roomConversation(name, false);
    if (known && known.joined) {
      this.focus(known);
      return true;
    }
    if (known) {
      // A room left or lost before: catch up from where it stopped. Offline, marking it
      // joined is enough: every joined room is rejoined once the connection is back.
      known.joined = true;
      if (this.registered) this.rejoin(known, this.gen);
      this.updateLi(known);
      this.focus(known);
      return true;
    }
    this.request({ type: 'join', room: name }, {
      onOk: (ok) => this.joinedFresh(ok),
      onError: (err) => this.showError(describeError(err)),
    });
    return true;
  }

  joinFromField() {
    const value = this.dom.joinRoom.value.trim();
    if (!value) return;
    if (this.userJoin(value)) {
      this.dom.joinRoom.value = '';
      this.clearError();
    }
  }

  joinedFresh(ok) {
    const name = normalizeRoom(ok.room);
    if (!name) return;
    const c = this.roomConversation(name, true);
    if (c.joined) {
      this.focus(c);   // a second /join answered: the first one showed it all
      return;
    }
    if (c.epoch && ok.epoch !== c.epoch) this.resetNumbering(c);
    c.joined = true;
    c.epoch = typeof ok.epoch === 'string' ? ok.epoch : null;
    c.topic = typeof ok.topic === 'string' ? ok.topic : '';
    c.members = Array.isArray(ok.members) ? sortNicks(ok.members.filter(validNick)) : [];
    const history = Array.isArray(ok.history) ? ok.history : [];
    this.bulk(c, () => {
      for (const m of history) this.addItem(c, m, 'history');
    });
    c.olderExhausted = !ok.more;
    this.updateTop(c);
    const here = c.members.length <= 10 ? `: ${c.members.join(', ')}` : '';
    this.notice(c, `you joined #${c.name}; ${c.members.length} here${here}`);
    this.focus(c);
    this.persistNow();
  }

  /** Joins C again after a drop or a reload, asking for what came after the last seq
   * shown, in the epoch it was shown in (PROTOCOL.md, Room epochs). GEN binds the
   * request to a connection (a reconnect's rejoins start again with the next one). */
  rejoin(c, gen) {
    const since = c.resumeSeq;
    const epoch = c.epoch;
    const hadMessages = c.seqs.size > 0;
    c.catchingUp = true;
    c.cursor = since;
    const req = { type: 'join', room: c.name, since };
    if (epoch) req.epoch = epoch;
    this.request(req, {
      gen,
      onOk: (ok) => this.rejoined(c, ok, since, epoch, hadMessages),
      onError: (err) => this.rejoinFailed(c, err),
    });
  }

  rejoined(c, ok, since, epoch, hadMessages) {
    if (!this.convs.has(c.key)) return;
    const history = Array.isArray(ok.history) ? ok.history : [];
    const newEpoch = typeof ok.epoch === 'string' ? ok.epoch : null;
    // A server older than protocol 1.1 names no epochs; a numbering that starts over at
    // or below our last seq still tells.
    const restarted = (epoch !== null && newEpoch !== null && newEpoch !== epoch)
      || (history.length > 0 && Number.isSafeInteger(history[0].seq) && history[0].seq <= since);
    if (restarted) {
      this.resetNumbering(c);
      c.cursor = 0;
      this.notice(c, RESTART_NOTICE);
    }
    c.joined = true;
    c.epoch = newEpoch;
    c.topic = typeof ok.topic === 'string' ? ok.topic : c.topic;
    c.members = Array.isArray(ok.members) ? sortNicks(ok.members.filter(validNick)) : c.members;
    if (c === this.current) {
      this.renderHeader();
      this.renderMembers();
    }
    const count = this.catchUpMessages(c, history);
    const finish = (total) => {
      c.catchingUp = false;
      c.cursor = null;
      if (!restarted) this.notice(c, caughtUpLine(total));
      this.resendUnconfirmed(c);
      this.updateLi(c);
      this.updateTop(c);
      // After a reload nothing is on screen: show what came before, as a join does.
      if (!hadMessages && !restarted) this.fetchOlder(c, BACKFILL_PAGE);
      this.persistNow();
    };
    if (restarted) c.olderExhausted = true;
    if (ok.more && history.length) this.catchUpPage(c, count, finish);
    else finish(count);
  }

  /** Adds a catch-up page to C and moves its cursor; returns how many messages were
   * new (room events, such as a ban, are shown and move the cursor, but are not
   * counted as messages). */
  catchUpMessages(c, messages) {
    let added = 0;
    this.bulk(c, () => {
      for (const m of messages) {
        if (this.addItem(c, m, 'catchup') && isMessageItem(m)) added += 1;
        if (m && Number.isSafeInteger(m.seq) && m.seq > c.cursor) c.cursor = m.seq;
      }
    });
    return added;
  }

  catchUpPage(c, count, finish) {
    const req = { type: 'history', room: c.name, after: c.cursor };
    if (c.epoch) req.epoch = c.epoch;
    this.request(req, {
      gen: this.gen,
      onOk: (ok) => {
        const messages = Array.isArray(ok.messages) ? ok.messages : [];
        const total = count + this.catchUpMessages(c, messages);
        if (ok.more && messages.length) this.catchUpPage(c, total, finish);
        else finish(total);
      },
      onError: (err) => {
        if (err.code === 'epoch_changed') {
          this.rejoin(c, this.gen);  // the numbering changed under us: start over
          return;
        }
        this.notice(c, `error: could not catch up: ${describeError(err)}`, 'error');
        finish(count);
      },
    });
  }

  rejoinFailed(c, err) {
    c.catchingUp = false;
    c.cursor = null;
    c.joined = false;
    this.notice(c, `error: could not rejoin #${c.name}: ${describeError(err)}`, 'error');
    for (const r of c.unconfirmed) this.failOwn(c, r.pendingEntry, 'the room could not be rejoined');
    c.unconfirmed = [];
    this.updateLi(c);
    this.updateTop(c);
    if (c === this.current) this.renderMembers();
    this.persistNow();
  }

  /** The room's numbering started again: what is shown stays, but its seqs mean nothing
   * in the new numbering. */
  resetNumbering(c) {
    for (const e of c.entries) {
      if (e.seq !== null) {
        e.seq = null;
        e.el.removeAttribute('data-seq');
        e.el.classList.add('old-numbering');
      }
    }
    c.seqs.clear();
    c.lastSeq = 0;
  }

  resendUnconfirmed(c) {
    const list = c.unconfirmed;
    c.unconfirmed = [];
    for (const r of list) {
      if (!r.pendingEntry.pending) continue;   // the catch-up showed it was stored
      this.notice(c, 'resending a message the server never stored');
      delete r.req.id;
      r.tries = 0;
      this.transmit(r);
    }
  }

  fetchOlder(c, limit = OLDER_PAGE) {
    if (!c || c.kind !== 'room' || !c.joined || c.fetchingOlder || c.olderExhausted
      || c.catchingUp || !this.registered) return;
    const oldest = c.oldestSeq();
    const before = oldest !== null ? oldest : c.lastSeq + 1;
    if (before <= 1) {
      c.olderExhausted = true;
      this.updateTop(c);
      return;
    }
    c.fetchingOlder = true;
    this.updateTop(c);
    const req = { type: 'history', room: c.name, before, limit };
    if (c.epoch) req.epoch = c.epoch;
    this.request(req, {
      gen: this.gen,
      onOk: (ok) => this.olderPage(c, ok),
      onError: (err) => {
        c.fetchingOlder = false;
        c.olderExhausted = true;
        this.updateTop(c);
        this.notice(c, `error: could not fetch older messages: ${describeError(err)}`, 'error');
      },
      onLost: () => {
        c.fetchingOlder = false;
        this.updateTop(c);
      },
    });
  }

  olderPage(c, ok) {
    c.fetchingOlder = false;
    const messages = Array.isArray(ok.messages) ? ok.messages : [];
    if (typeof ok.epoch === 'string' && c.epoch && ok.epoch !== c.epoch) {
      c.olderExhausted = true;   // never splice two numberings together
      this.updateTop(c);
      return;
    }
    if (!ok.more || messages.length === 0) c.olderExhausted = true;
    this.updateTop(c);
    const box = this.dom.messages;
    const fromBottom = box.scrollHeight - box.scrollTop;
    this.bulk(c, () => {
      for (const m of messages) this.addItem(c, m, 'older');
    }, false);
    // Keep what the reader was looking at where it was.
    if (c === this.current) this.setScroll(box.scrollHeight - fromBottom);
  }

  userLeave(c, reason) {
    const req = { type: 'leave', room: c.name };
    if (reason) req.reason = reason;
    this.request(req, {
      onOk: () => this.removeConversation(c),
      onError: (err) => {
        if (err.code === 'not_in_room') this.removeConversation(c);
        else this.showError(describeError(err));
      },
    });
    return true;
  }

  /* ----- events */

  onMessage(f) {
    if (typeof f.room === 'string') {
      const c = this.roomConversation(f.room, false);
      if (c) this.addMessage(c, f, 'live');
      return;
    }
    if (typeof f.to !== 'string' || !validNick(f.from)) return;
    const partner = sameNick(f.from, this.nick) ? f.to : f.from;
    if (!validNick(partner)) return;
    const c = this.privateConversation(partner, true);
    if (c.name !== partner) this.renameConversation(c, partner);
    this.addMessage(c, f, 'live');
  }

  /** Shows a room's history item (a `join`'s, a `history` page's) in C once: a message,
   * or a room event with its seq (1.2: moderation). Every item with a seq takes its
   * place in the numbering, so none of them reads as a gap. */
  addItem(c, m, mode) {
    if (!m || typeof m !== 'object') return false;
    if (isMessageItem(m)) return this.addMessage(c, m, mode);
    return this.addRoomEvent(c, m, mode);
  }

  /** Shows room event F (moderation, or a kind this page does not know, from a newer
   * server) in C once, dimmed, at its seq among the messages. A live one also acts:
   * a kick or a ban takes its target off the member list, or takes YOU out of the
   * room. Returns whether it was new. */
  addRoomEvent(c, f, mode) {
    if (c.kind !== 'room' || !Number.isSafeInteger(f.seq) || c.seqs.has(f.seq)) return false;
    c.seqs.add(f.seq);
    if (f.seq > c.lastSeq) c.lastSeq = f.seq;
    const ts = parseTs(f.ts) || new Date();
    const el = h('div', 'notice');
    el.classList.add('room-event');
    if (MODERATION_TYPES.has(f.type)) el.classList.add('notice-moderation');
    el.dataset.seq = String(f.seq);
    el.dataset.type = typeof f.type === 'string' ? f.type : '';
    const time = h('span', 'time', formatTime(ts));
    time.title = ts.toLocaleString();
    el.append(time, safeText('span', 'text', moderationText(f) || unknownEventText(f)));
    this.place(c, { seq: f.seq, ts, el, pending: false });
    if (mode === 'live') this.moderationEffects(c, f);
    this.schedulePersist();
    return true;
  }

  /** What a live moderation event changes in C: the member list, the roles shown, and
   * whether you are still in the room. */
  moderationEffects(c, f) {
    const gone = f.type === 'kick' ? f.nick : f.type === 'ban' ? (f.account || f.nick) : null;
    if (validNick(gone)) {
      c.members = c.members.filter((n) => !sameNick(n, gone));
      c.roles.delete(asciiLower(gone));
      this.clearTyping(c, gone);
    }
    if (f.type === 'role' && validNick(f.account)) {
      if (f.role === 'none') c.roles.delete(asciiLower(f.account));
      else if (typeof f.role === 'string') c.roles.set(asciiLower(f.account), f.role);
    }
    if (f.type === 'claim' && validNick(f.by)) c.roles.set(asciiLower(f.by), 'owner');
    const removed = removalText(f, this.nick, this.account);
    if (removed) this.removedFromRoom(c, removed);
    if (c === this.current) this.renderMembers();
  }

  /** You were kicked or banned from C: the room is left (no rejoin on reconnect; a
   * `/join` tries again), and says so. */
  removedFromRoom(c, text) {
    c.joined = false;
    c.catchingUp = false;
    c.cursor = null;
    c.members = [];
    c.roles.clear();
    this.clearAllTyping(c);
    this.notice(c, `${text} (/join ${c.name} to try again)`, 'removed');
    for (const r of c.unconfirmed) this.failOwn(c, r.pendingEntry, `you are no longer in #${c.name}`);
    c.unconfirmed = [];
    this.updateLi(c);
    this.updateTop(c);
    if (c === this.current) {
      this.renderHeader();
      this.renderMembers();
      this.renderTyping();
    }
    this.persistNow();
  }

  onModeration(f) {
    const c = typeof f.room === 'string' ? this.roomConversation(f.room, false) : null;
    if (c) this.addRoomEvent(c, f, 'live');
  }

  /** An invitation (not a room event, no seq): shown where you are, with the way in. */
  onInvite(f) {
    const room = normalizeRoom(f.room);
    if (!room) return;
    this.notice(this.current || this.server, `${field(f.by)} invited you to #${room} (/join ${room})`,
      'invite', parseTs(f.ts));
  }

  /** Shows message M in C once; MODE says where it came from: 'live' (an event),
   * 'catchup' (missed while away), 'history' (a join's recent messages) or 'older'
   * (a page back in time). Returns whether it was new. */
  addMessage(c, m, mode) {
    if (!m || typeof m !== 'object' || typeof m.text !== 'string' || typeof m.from !== 'string') {
      return false;
    }
    const fresh = mode === 'live' || mode === 'catchup';
    const mine = sameNick(m.from, this.nick);
    if (c.kind === 'room') {
      if (!Number.isSafeInteger(m.seq) || c.seqs.has(m.seq)) return false;
      c.seqs.add(m.seq);
      if (m.seq > c.lastSeq) c.lastSeq = m.seq;
    }
    if (fresh) this.clearTyping(c, m.from);
    const pending = fresh && mine ? this.matchPending(c, m) : null;
    if (pending) {
      this.confirm(c, pending, m);
      return true;
    }
    const entry = this.messageEntry(m, mine);
    this.place(c, entry);
    if (fresh && !mine && c !== this.current) {
      c.unread += 1;
      if (entry.mention) c.mentions += 1;
      this.updateLi(c);
    }
    this.schedulePersist();
    return true;
  }

  messageEntry(m, mine) {
    const ts = parseTs(m.ts);
    const action = m.action === true;
    const mention = !mine && mentionsNick(m.text, this.nick);
    const seq = Number.isSafeInteger(m.seq) ? m.seq : null;
    const el = h('div', 'message');
    if (action) el.classList.add('action');
    if (mine) el.classList.add('own');
    if (mention) el.classList.add('mention');
    if (seq !== null) el.dataset.seq = String(seq);
    const time = h('span', 'time', ts ? formatTime(ts) : '--:--');
    if (ts) time.title = ts.toLocaleString();
    el.append(time, nickElement('span', m.from), safeText('span', 'text', m.text));
    return { seq, ts, el, pending: false, text: m.text, action, mention };
  }

  /** An own message waiting for the server: shown at once, dimmed, without a time. */
  pendingEntry(text, action) {
    const entry = this.messageEntry({ from: this.nick, text, action }, true);
    entry.pending = true;
    entry.el.classList.add('pending');
    return entry;
  }

  /** The oldest own message still waiting in C with M's text: M is its echo. */
  matchPending(c, m) {
    const action = m.action === true;
    return c.entries.find((e) => e.pending && e.text === m.text && e.action === action) || null;
  }

  /** The server stored an own message: it takes the server's time (and seq). */
  confirm(c, entry, data) {
    entry.pending = false;
    entry.el.classList.remove('pending');
    const ts = parseTs(data.ts);
    if (ts) {
      entry.ts = ts;
      const time = entry.el.querySelector('.time');
      time.textContent = formatTime(ts);
      time.title = ts.toLocaleString();
    }
    if (c.kind === 'room' && Number.isSafeInteger(data.seq)) {
      entry.seq = data.seq;
      entry.el.dataset.seq = String(data.seq);
      c.seqs.add(data.seq);
      if (data.seq > c.lastSeq) c.lastSeq = data.seq;
    }
    this.reposition(c, entry);
    this.schedulePersist();
  }

  confirmOwn(c, entry, ok) {
    if (entry.pending) this.confirm(c, entry, ok);
  }

  failOwn(c, entry, reason) {
    if (!entry || !entry.pending) return;
    entry.pending = false;
    entry.el.classList.remove('pending');
    entry.el.classList.add('failed');
    entry.el.append(h('span', 'reason', `(not sent: ${reason})`));
  }

  onJoin(f) {
    const c = this.roomConversation(f.room, false);
    if (!c || !validNick(f.nick)) return;
    if (!c.members.some((n) => sameNick(n, f.nick))) c.members = sortNicks(c.members.concat(f.nick));
    this.notice(c, `${f.nick} joined`, 'join', parseTs(f.ts));
    if (c === this.current) this.renderMembers();
  }

  onLeave(f) {
    const c = this.roomConversation(f.room, false);
    if (!c || !validNick(f.nick)) return;
    c.members = c.members.filter((n) => !sameNick(n, f.nick));
    this.clearTyping(c, f.nick);
    const reason = typeof f.reason === 'string' && f.reason ? ` (${f.reason})` : '';
    this.notice(c, `${f.nick} left${reason}`, 'leave', parseTs(f.ts));
    if (c === this.current) this.renderMembers();
  }

  onNick(f) {
    if (!validNick(f.old) || !validNick(f.new)) return;
    const ts = parseTs(f.ts);
    for (const c of this.order) {
      if (c.kind !== 'room' || !c.members.some((n) => sameNick(n, f.old))) continue;
      c.members = sortNicks(c.members.filter((n) => !sameNick(n, f.old)).concat(f.new));
      this.clearTyping(c, f.old);
      this.notice(c, `${f.old} is now known as ${f.new}`, 'nick', ts);
    }
    const p = this.privateConversation(f.old, false);
    if (p) {
      this.clearTyping(p, f.old);
      this.notice(p, `${f.old} is now known as ${f.new}`, 'nick', ts);
      this.renameConversation(p, f.new);
    }
    this.renderMembers();
  }

  onTopic(f) {
    const c = this.roomConversation(f.room, false);
    if (!c || typeof f.topic !== 'string') return;
    c.topic = f.topic;
    const by = typeof f.by === 'string' ? f.by : 'someone';
    this.notice(c, f.topic ? `${by} set the topic: ${f.topic}` : `${by} cleared the topic`, 'topic', parseTs(f.ts));
    if (c === this.current) this.renderHeader();
  }

  onTyping(f) {
    if (!validNick(f.nick)) return;
    let c = null;
    if (typeof f.room === 'string') c = this.roomConversation(f.room, false);
    else if (typeof f.to === 'string') c = this.privateConversation(f.nick, false);
    if (!c || (c.kind === 'room' && sameNick(f.nick, this.nick))) return;
    const k = asciiLower(f.nick);
    const old = c.typing.get(k);
    if (old) clearTimeout(old.timer);
    if (f.active === false) {
      c.typing.delete(k);
    } else {
      const timer = setTimeout(() => {
        c.typing.delete(k);
        if (c === this.current) this.renderTyping();
      }, TYPING_SHOWN_MS);
      c.typing.set(k, { nick: f.nick, timer });
    }
    if (c === this.current) this.renderTyping();
  }

  clearTyping(c, nick) {
    const k = asciiLower(nick);
    const t = c.typing.get(k);
    if (!t) return;
    clearTimeout(t.timer);
    c.typing.delete(k);
    if (c === this.current) this.renderTyping();
  }

  clearAllTyping(c) {
    for (const t of c.typing.values()) clearTimeout(t.timer);
    c.typing.clear();
  }

  /* ----- input: lines, commands, typing notices */

  inputKey(e) {
    const input = this.dom.input;
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    } else if (e.key === 'ArrowUp' && !input.value.includes('\n') && input.selectionStart === 0
      && this.sent.length) {
      e.preventDefault();
      this.sentAt = this.sentAt < 0 ? this.sent.length - 1 : Math.max(0, this.sentAt - 1);
      input.value = this.sent[this.sentAt];
      this.autosize();
    } else if (e.key === 'ArrowDown' && this.sentAt >= 0 && !input.value.includes('\n')) {
      e.preventDefault();
      this.sentAt += 1;
      if (this.sentAt >= this.sent.length) this.sentAt = -1;
      input.value = this.sentAt < 0 ? '' : this.sent[this.sentAt];
      this.autosize();
    }
  }

  autosize() {
    const input = this.dom.input;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  submit() {
    const input = this.dom.input;
    const line = input.value;
    if (!line.trim()) return;
    this.clearError();
    if (this.handleLine(line)) {
      // A line with a password is never kept for Up and Down.
      if (!/^\/register(\s|$)/i.test(line)) this.sent.push(line);
      if (this.sent.length > 100) this.sent.shift();
      this.sentAt = -1;
      input.value = '';
      this.autosize();
    }
  }

  /** Carries out one input line. Returns false when it was refused before anything was
   * sent, so the line stays in the input to be fixed. */
  handleLine(line) {
    const p = parseLine(line);
    if (p.kind === 'text') return this.say(this.current, p.text, false);
    const name = ALIASES[p.name] || p.name;
    const [word, after] = splitWord(p.rest);
    switch (name) {
      case 'join':
        return word ? this.userJoin(word) : this.usage('/join ROOM');
      case 'leave': {
        const { room, rest } = this.roomArgument(p.rest);
        if (!room) return this.usage('/leave [ROOM] [REASON]');
        const c = this.roomConversation(room, false);
        if (!c || !c.joined) {
          this.showError(`you are not in #${room}`);
          return false;
        }
        return this.userLeave(c, rest.trim());
      }
      case 'switch': {
        const c = word && this.roomConversation(normalizeRoom(word) || '', false);
        if (!c) return this.usage('/switch ROOM (a room you are in)');
        this.focus(c);
        return true;
      }
      case 'msg': {
        if (!word || !after.trim()) return this.usage('/msg NICK TEXT');
        if (!validNick(word)) return this.badNick(word);
        return this.say(this.privateConversation(word, true), after, false);
      }
      case 'query': {
        if (!word) return this.usage('/query NICK [TEXT]');
        if (!validNick(word)) return this.badNick(word);
        const c = this.privateConversation(word, true);
        this.focus(c);
        return after.trim() ? this.say(c, after, false) : true;
      }
      case 'close': {
        const c = this.current;
        if (c.kind === 'private') {
          this.removeConversation(c);
          return true;
        }
        if (c.kind === 'room' && c.joined) return this.userLeave(c, '');
        if (c.kind === 'room') {
          this.removeConversation(c);
          return true;
        }
        this.showError("the server's conversation cannot be closed");
        return false;
      }
      case 'me':
        return p.rest.trim() ? this.say(this.current, p.rest, true) : this.usage('/me TEXT');
      case 'nick':
        if (!word) return this.usage('/nick NEW');
        if (!validNick(word)) return this.badNick(word);
        this.request({ type: 'nick', nick: word }, {
          onOk: (ok) => this.nickChanged(validNick(ok.nick) ? ok.nick : word),
          onError: (err) => this.showError(describeError(err)),
        });
        return true;
      case 'topic':
        return this.topicCommand(p.rest);
      case 'who': {
        const room = word ? normalizeRoom(word) : this.currentRoomName();
        if (!room) return this.usage('/who [ROOM]');
        const req = { type: 'who', room };
        // Each member's account and role (1.2); an older server gets the v1 request.
        if (protocolAtLeast(this.protocol, 1, 2)) req.detail = true;
        this.request(req, {
          onOk: (ok) => this.showWho(ok),
          onError: (err) => this.showError(describeError(err)),
        });
        return true;
      }
      case 'rooms':
        this.listRooms();
        return true;
      case 'quit':
        this.signOut(p.rest.trim() || undefined);
        return true;
      case 'help':
        this.notice(this.current, 'commands:');
        for (const [cmd, what] of HELP) {
          if (!cmd.startsWith('/')) this.notice(this.current, what ? `${cmd} (${what}):` : `${cmd}:`, 'help');
          else this.notice(this.current, `${cmd} — ${what}`, 'help');
        }
        return true;
      case 'register':
        return this.registerCommand(p.rest);
      case 'claim': {
        const room = word ? normalizeRoom(word) : this.currentRoomName();
        if (!room || after.trim()) return this.usage('/claim [ROOM]');
        return this.moderate({ type: 'claim', room }, 'claim');
      }
      case 'op': case 'voice': case 'deop': case 'devoice':
        return this.roleCommand(name, p.rest);
      case 'kick':
        return this.kickCommand(p.rest);
      case 'ban': case 'mute':
        return this.sanctionCommand(name, p.rest);
      case 'unban': case 'unmute':
        return this.liftCommand(name, p.rest);
      case 'invite':
        return this.inviteCommand(p.rest);
      case 'flags':
        return this.flagsCommand(p.rest);
      default:
        this.showError(`unknown command /${p.name}: /help lists the commands (//TEXT sends a line starting with /)`);
        return false;
    }
  }

  usage(text) {
    this.showError(`usage: ${text}`);
    return false;
  }

  /* ----- accounts and moderation commands (protocol 1.2) */

  /** `/register PASSWORD`: makes the nick an account and logs in to it. The password
   * is kept in memory for reconnects, like the one given at sign-in, never stored, and
   * no hint repeats it. `/register NICK PASSWORD` registers another nick (server
   * operators). */
  registerCommand(rest) {
    const words = rest.split(/\s+/).filter(Boolean);
    if (words.length < 1 || words.length > 2) {
      return this.usage('/register PASSWORD (one word), or /register NICK PASSWORD (server operators)');
    }
    const [nick, password] = words.length === 2 ? words : [null, words[0]];
    if (nick !== null && !validNick(nick)) return this.badNick(nick);
    const problem = passwordProblem(password);
    if (problem) {
      this.showError(problem);
      return false;
    }
    const req = { type: 'register', password };
    if (nick !== null) req.nick = nick;
    this.request(req, {
      onOk: (ok) => {
        const account = typeof ok.account === 'string' ? ok.account : (nick || this.nick);
        if (nick === null) {
          this.account = account;
          this.accountPassword = password;
          this.notice(this.current, `registered the account ${account}; you are logged in to it`);
          this.renderStatus();
          this.persistNow();
        } else {
          this.notice(this.current, `registered the account ${account}`);
        }
      },
      onError: (err) => this.showError(describeError(err)),
    });
    return true;
  }

  /** The room a moderation command acts on, and the rest of its line: the first word
   * when written `#room`, or when it names a room you are in and more follows;
   * otherwise this room. Null (with the hint shown) when there is none. */
  moderationRoom(rest, usage) {
    const [first, after] = splitWord(rest);
    if (first.startsWith('#')) {
      const room = normalizeRoom(first);
      if (room) return { room, rest: after };
      this.showError(`not a room name: ${first}`);
      return null;
    }
    if (after) {
      const named = normalizeRoom(first) && this.roomConversation(normalizeRoom(first), false);
      if (named && named.joined) return { room: named.name, rest: after };
    }
    const c = this.current;
    if (c && c.kind === 'room' && c.joined) return { room: c.name, rest: rest.replace(/^\s+/, '') };
    if (c && c.kind === 'room') {
      this.showError(`you are not in #${c.name} any more: /join ${c.name} first`);
    } else {
      this.showError(`you are in no room: usage: ${usage}`);
    }
    return null;
  }

  /** Sends a moderation request. Its room event says what happened (to a member); the
   * `ok` says it only when no event came: nothing changed, or you acted on a room you
   * are not in (a server operator). */
  moderate(req, kind) {
    this.request(req, {
      onOk: (ok) => {
        const room = typeof ok.room === 'string' ? ok.room : req.room;
        if (!Number.isSafeInteger(ok.seq)) {
          this.notice(this.current, `${kind} in #${room}: nothing to change`);
          return;
        }
        const c = this.roomConversation(room, false);
        if (!c || !c.seqs.has(ok.seq)) this.notice(this.current, `${kind} in #${room}: done`);
      },
      onError: (err) => this.showError(describeError(err)),
    });
    return true;
  }

  roleCommand(name, rest) {
    const usage = `/${name} [#ROOM] NICK`;
    const at = this.moderationRoom(rest, usage);
    if (!at) return false;
    const words = at.rest.split(/\s+/).filter(Boolean);
    if (words.length !== 1) return this.usage(usage);
    const stripped = stripAccount(words[0]);
    const account = stripped !== null ? stripped : words[0];
    if (!validNick(account)) return this.badNick(account);
    return this.moderate({ type: 'role', room: at.room, account, role: ROLE_COMMANDS[name] }, 'role');
  }

  kickCommand(rest) {
    const usage = '/kick [#ROOM] NICK [REASON]';
    const at = this.moderationRoom(rest, usage);
    if (!at) return false;
    const [nick, reason] = splitWord(at.rest);
    if (!nick) return this.usage(usage);
    if (stripAccount(nick) !== null) return this.usage(`${usage} (a kick names a nick in the room, not an account)`);
    if (!validNick(nick)) return this.badNick(nick);
    const req = { type: 'kick', room: at.room, nick };
    return this.withReason(req, reason) && this.moderate(req, 'kick');
  }

  /** `/ban` and `/mute`: NICK (or account:NAME), an optional DURATION, a reason. */
  sanctionCommand(name, rest) {
    const usage = `/${name} [#ROOM] NICK [DURATION] [REASON]`;
    const at = this.moderationRoom(rest, usage);
    if (!at) return false;
    const [who, more] = splitWord(at.rest);
    if (!who) return this.usage(usage);
    const subject = subjectFields(who);
    if (!subject) return this.badNick(stripAccount(who) !== null ? stripAccount(who) : who);
    const req = Object.assign({ type: name, room: at.room }, subject);
    const [word, after] = splitWord(more);
    const duration = parseDuration(word);
    if (duration && duration.error) {
      this.showError(duration.error);
      return false;
    }
    let reason = more;
    if (duration) {
      req.duration = duration.seconds;
      reason = after;
    }
    return this.withReason(req, reason) && this.moderate(req, name);
  }

  /** `/unban` and `/unmute`: NICK (or account:NAME). */
  liftCommand(name, rest) {
    const usage = `/${name} [#ROOM] NICK`;
    const at = this.moderationRoom(rest, usage);
    if (!at) return false;
    const words = at.rest.split(/\s+/).filter(Boolean);
    if (words.length !== 1) return this.usage(usage);
    const subject = subjectFields(words[0]);
    if (!subject) return this.badNick(words[0]);
    return this.moderate(Object.assign({ type: name, room: at.room }, subject), name);
  }

  /** Puts REASON (if any) in REQ; false, with the hint shown, when the server would
   * refuse it. */
  withReason(req, reason) {
    const r = reason.trim();
    if (!r) return true;
    const problem = reasonProblem(r);
    if (problem) {
      this.showError(problem);
      return false;
    }
    req.reason = r;
    return true;
  }

  inviteCommand(rest) {
    const usage = '/invite [#ROOM] NICK';
    const at = this.moderationRoom(rest, usage);
    if (!at) return false;
    const words = at.rest.split(/\s+/).filter(Boolean);
    if (words.length !== 1) return this.usage(usage);
    if (!validNick(words[0])) return this.badNick(words[0]);
    this.request({ type: 'invite', room: at.room, nick: words[0] }, {
      onOk: (ok) => {
        const who = typeof ok.nick === 'string' ? ok.nick : words[0];
        const room = typeof ok.room === 'string' ? ok.room : at.room;
        this.notice(this.current, `invited ${who} to #${room}`);
      },
      onError: (err) => this.showError(describeError(err)),
    });
    return true;
  }

  /** `/flags [#ROOM] [+i -m …]`: without changes, shows the room's flags (any room);
   * with, sets them (ops). A first word that is not a change names the room. */
  flagsCommand(rest) {
    const [first, after] = splitWord(rest);
    let room;
    let changesText;
    if (!first || /^[+-]/.test(first)) {
      room = this.currentRoomName();
      if (!room) return this.usage(FLAGS_USAGE);
      const c = this.current;
      if (first && !c.joined) {
        this.showError(`you are not in #${c.name} any more: /join ${c.name} first`);
        return false;
      }
      changesText = rest;
    } else {
      room = normalizeRoom(first);
      if (!room) {
        this.showError(`not a room name: ${first}`);
        return false;
      }
      changesText = after;
    }
    const changes = parseFlagChanges(changesText);
    if (!changes) return this.usage(FLAGS_USAGE);
    const req = Object.assign({ type: 'flags', room }, changes);
    const changing = Object.keys(changes).length > 0;
    this.request(req, {
      onOk: (ok) => {
        const name = typeof ok.room === 'string' ? ok.room : room;
        const c = this.roomConversation(name, false);
        // A change a member made shows as its room event; say it here otherwise.
        if (changing && Number.isSafeInteger(ok.seq) && c && c.seqs.has(ok.seq)) return;
        const on = flagNames(ok.flags);
        const unchanged = changing && !Number.isSafeInteger(ok.seq) ? ' (unchanged)' : '';
        this.notice(this.current, on.length
          ? `#${name} flags: ${on.join(', ')}${unchanged}`
          : `#${name} has no flags set${unchanged}`);
      },
      onError: (err) => this.showError(describeError(err)),
    });
    return true;
  }

  badNick(nick) {
    this.showError(`not a nick: ${nick}`);
    return false;
  }

  currentRoomName() {
    return this.current && this.current.kind === 'room' ? this.current.name : null;
  }

  /** `/leave` and `/topic` take an optional room first: a word written with `#`, or one
   * that names a room you are in; otherwise the current room, and the whole rest. */
  roomArgument(rest) {
    const [word, after] = splitWord(rest);
    if (word) {
      const name = normalizeRoom(word);
      const named = name && this.roomConversation(name, false);
      if (name && (word.startsWith('#') || (named && named.joined))) return { room: name, rest: after };
    }
    return { room: this.currentRoomName(), rest: rest.replace(/^\s+/, '') };
  }

  topicCommand(args) {
    const { room, rest } = this.roomArgument(args);
    if (!room) return this.usage('/topic [ROOM] [TEXT] (in a room)');
    const text = rest.trim();
    const c = this.roomConversation(room, false);
    if (!text) {
      if (!c || !c.joined) this.notice(this.current, `you are not in #${room}`);
      else this.notice(this.current, c.topic ? `#${room} topic: ${c.topic}` : `#${room} has no topic`);
      return true;
    }
    const topic = text === '-' ? '' : text;
    const problem = topicProblem(topic);
    if (problem) {
      this.showError(problem);
      return false;
    }
    this.request({ type: 'topic', room, topic }, { onError: (err) => this.showError(describeError(err)) });
    return true;
  }

  /** Sends TEXT to conversation C (a room or a private one), shown at once as pending. */
  say(c, text, action) {
    if (!c || c.kind === 'server') {
      this.showError('you are in no room here: /join ROOM first, or pick a conversation');
      return false;
    }
    if (c.kind === 'room' && !c.joined) {
      this.showError(`you are not in #${c.name}: /join ${c.name}`);
      return false;
    }
    const max = Number.isSafeInteger(this.limits.max_text_bytes) ? this.limits.max_text_bytes : DEFAULT_MAX_TEXT;
    const problem = textProblem(text, max);
    if (problem) {
      this.showError(problem);
      return false;
    }
    const entry = this.pendingEntry(text, action);
    this.place(c, entry);
    if (c === this.current) this.scrollToBottom();
    const req = c.kind === 'room'
      ? { type: 'message', room: c.name, text }
      : { type: 'message', to: c.name, text };
    if (action) req.action = true;
    const r = this.sendInOrder(req, {
      pendingEntry: entry,
      onOk: (ok) => this.confirmOwn(c, entry, ok),
      onError: (err) => {
        this.failOwn(c, entry, describeError(err));
        this.showError(describeError(err));
      },
      onLost: () => {
        if (c.kind === 'room') c.unconfirmed.push(r);
        else this.failOwn(c, entry, 'may not have been delivered: the connection dropped');
      },
    });
    return true;
  }

  /** Sends an own message after the ones before it are answered. Pipelined messages
   * would be reordered by rate-limit retries (a retried one lands after those sent
   * behind it); one at a time, a retry holds the others back and the order typed is
   * the order stored. */
  sendInOrder(req, opts) {
    const r = Object.assign({ req, tries: 0 }, opts);
    const release = (f) => (x) => {
      if (f) f(x);
      if (this.laneCurrent === r) {
        this.laneCurrent = null;
        this.pumpLane();
      }
    };
    r.onOk = release(r.onOk);
    r.onError = release(r.onError);
    r.onLost = release(r.onLost);
    this.lane.push(r);
    this.pumpLane();
    if (this.state !== 'online') this.renderStatus();
    return r;
  }

  pumpLane() {
    if (this.laneCurrent || this.lane.length === 0) return;
    this.laneCurrent = this.lane.shift();
    this.transmit(this.laneCurrent);
  }

  typingNotice() {
    const c = this.current;
    const text = this.dom.input.value;
    if (!this.registered || !c || c.kind === 'server' || !c.joined) return;
    if (!text.trim() || (text.startsWith('/') && !text.startsWith('//'))) return;
    const now = Date.now();
    if (now - (this.typingSent.get(c.key) || 0) < TYPING_EVERY_MS) return;
    this.typingSent.set(c.key, now);
    const req = c.kind === 'room' ? { type: 'typing', room: c.name } : { type: 'typing', to: c.name };
    this.request(req, { gen: this.gen, noRetry: true, onError: () => {} });
  }

  nickChanged(nick) {
    const old = this.nick;
    this.nick = nick;
    for (const c of this.order) {
      if (c.kind === 'room' && c.members.some((n) => sameNick(n, old))) {
        c.members = sortNicks(c.members.filter((n) => !sameNick(n, old)).concat(nick));
      }
    }
    try { localStorage.setItem(NICK_KEY, nick); } catch (_) { /* a convenience only */ }
    this.notice(this.current, `you are now ${nick}`);
    this.renderMembers();
    this.renderStatus();
    this.persistNow();
  }

  showWho(ok) {
    const members = whoMembers(ok.members);
    const room = typeof ok.room === 'string' ? ok.room : '?';
    this.notice(this.current, whoLine(room, members));
    const c = this.roomConversation(room, false);
    if (c && c.joined) {
      c.members = members.map((m) => m.nick);
      if (Array.isArray(ok.members) && ok.members.some((m) => m && typeof m === 'object')) {
        c.roles.clear();
        for (const m of members) if (m.role && m.account) c.roles.set(asciiLower(m.account), m.role);
      }
      if (c === this.current) this.renderMembers();
    }
  }

  listRooms() {
    const all = [];
    const page = (after) => {
      const req = { type: 'rooms' };
      if (after) req.after = after;
      this.request(req, {
        onOk: (ok) => {
          const rooms = Array.isArray(ok.rooms) ? ok.rooms.filter((r) => r && typeof r.room === 'string') : [];
          all.push(...rooms);
          if (ok.more && rooms.length) {
            page(rooms[rooms.length - 1].room);
            return;
          }
          this.notice(this.current, `${all.length} rooms on the server`);
          for (const r of all) {
            const topic = typeof r.topic === 'string' && r.topic ? ` - ${r.topic}` : '';
            const n = Number.isSafeInteger(r.members) ? r.members : 0;
            this.notice(this.current, `#${r.room} (${n})${topic}`, 'help');
          }
        },
        onError: (err) => this.showError(describeError(err)),
      });
    };
    page(null);
  }

  showError(text) {
    this.dom.error.textContent = `error: ${text}`;
  }

  clearError() {
    this.dom.error.textContent = '';
  }

  /* ----- conversations and the page */

  addConversation(kind, name) {
    const c = new Conversation(kind, name);
    this.convs.set(c.key, c);
    this.order.push(c);
    const li = h('li', kind);
    li.tabIndex = 0;
    li.append(h('span', 'name'), h('span', 'mentions'), h('span', 'unread'));
    li.addEventListener('click', () => this.focus(c));
    li.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.focus(c);
      }
    });
    c.li = li;
    this.dom.rooms.append(li);
    this.updateLi(c);
    this.updateTop(c);
    return c;
  }

  renameConversation(c, nick) {
    this.convs.delete(c.key);
    c.name = nick;
    if (!this.convs.has(c.key)) this.convs.set(c.key, c);
    this.updateLi(c);
    if (c === this.current) this.renderHeader();
    this.schedulePersist();
  }

  removeConversation(c) {
    if (c === this.server) return;
    for (const t of c.typing.values()) clearTimeout(t.timer);
    this.convs.delete(c.key);
    const i = this.order.indexOf(c);
    this.order.splice(i, 1);
    c.li.remove();
    if (this.current === c) this.focus(this.order[Math.max(0, i - 1)] || this.server);
    this.persistNow();
  }

  focus(c) {
    const box = this.dom.messages;
    const prev = this.current;
    if (prev && prev !== c) prev.scrollTop = this.atBottom() ? null : box.scrollTop;
    this.current = c;
    c.unread = 0;
    c.mentions = 0;
    box.replaceChildren(c.logEl);
    if (c.scrollTop === null) this.scrollToBottom();
    else this.setScroll(c.scrollTop);
    for (const x of this.order) this.updateLi(x);
    this.renderHeader();
    this.renderMembers();
    this.renderTyping();
    this.closePanels();
    this.schedulePersist();
  }

  updateLi(c) {
    const li = c.li;
    if (!li) return;
    if (c.kind === 'room') li.dataset.room = c.name;
    if (c.kind === 'private') li.dataset.nick = c.name;
    li.querySelector('.name').textContent = c.kind === 'room' ? `#${c.name}` : c.name;
    li.querySelector('.unread').textContent = c.unread ? String(c.unread) : '';
    li.querySelector('.mentions').textContent = c.mentions ? `@${c.mentions}` : '';
    li.classList.toggle('current', c === this.current);
    li.classList.toggle('has-unread', c.unread > 0);
    li.classList.toggle('has-mention', c.mentions > 0);
    li.classList.toggle('parted', c.kind === 'room' && !c.joined);
    if (c === this.current) li.setAttribute('aria-current', 'true');
    else li.removeAttribute('aria-current');
    let unread = 0;
    for (const x of this.order) unread += x.unread;
    document.title = unread ? `(${unread}) confab` : 'confab';
  }

  renderHeader() {
    const c = this.current;
    if (!c) return;
    const d = this.dom;
    if (c.kind === 'room') {
      d.title.textContent = `#${c.name}`;
      d.topic.textContent = c.topic;
      d.input.placeholder = c.joined ? `Message #${c.name}` : `/join ${c.name} to talk here`;
    } else if (c.kind === 'private') {
      d.title.textContent = c.name;
      d.topic.textContent = `private conversation with ${c.name}`;
      d.input.placeholder = `Message ${c.name}`;
    } else {
      d.title.textContent = this.serverName || 'confab';
      d.topic.textContent = '';
      d.input.placeholder = 'Join a room: /join ROOM (or /help)';
    }
  }

  renderMembers() {
    const c = this.current;
    if (!c) return;
    let nicks = [];
    if (c.kind === 'room' && c.joined) nicks = c.members;
    else if (c.kind === 'private') nicks = sortNicks(sameNick(c.name, this.nick) ? [c.name] : [c.name, this.nick]);
    const items = nicks.map((n) => {
      const li = h('li');
      li.dataset.nick = n;
      li.append(nickElement('span', n));
      const role = c.kind === 'room' ? c.roles.get(asciiLower(n)) : undefined;
      if (role) {
        li.dataset.role = role;
        li.append(h('span', 'role', role));
      }
      if (sameNick(n, this.nick)) li.classList.add('self');
      return li;
    });
    this.dom.members.replaceChildren(...items);
    this.dom.memberCount.textContent = c.kind === 'server' ? '' : String(nicks.length);
  }

  renderTyping() {
    const c = this.current;
    const names = c ? [...c.typing.values()].map((t) => t.nick) : [];
    this.dom.typing.textContent = typingLine(names);
  }

  renderStatus() {
    let text;
    if (this.state === 'online') {
      text = `connected as ${this.nick}`;
      if (this.account) text += ` · logged in as ${this.account}`;
    }
    else if (this.state === 'connecting') text = this.everRegistered || this.resuming ? 'reconnecting…' : 'connecting…';
    else if (this.state === 'waiting') {
      text = `reconnecting in ${Math.max(1, Math.ceil((this.reconnectAt - Date.now()) / 1000))}s`;
    } else text = 'signed out';
    const queued = this.outbox.length + this.lane.length;
    if (this.state !== 'online' && queued) text += ` · ${queued} queued`;
    this.dom.status.textContent = text;
    this.dom.status.dataset.state = this.state;
  }

  togglePanel(cls) {
    const open = !document.body.classList.contains(cls);
    this.closePanels();
    document.body.classList.toggle(cls, open);
    this.dom.scrim.hidden = !open;
    this.dom.menuButton.setAttribute('aria-expanded', String(document.body.classList.contains('sidebar-open')));
  }

  closePanels() {
    document.body.classList.remove('sidebar-open', 'members-open');
    this.dom.scrim.hidden = true;
    this.dom.menuButton.setAttribute('aria-expanded', 'false');
  }

  /* ----- the log of one conversation */

  notice(c, text, cls, ts) {
    const when = ts || new Date();
    const el = h('div', 'notice');
    if (cls) el.classList.add(`notice-${cls}`);
    el.append(h('span', 'time', formatTime(when)), safeText('span', 'text', text));
    this.place(c, { seq: null, ts: when, el, pending: false });
  }

  atBottom() {
    const box = this.dom.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  scrollToBottom() {
    this.setScroll(this.dom.messages.scrollHeight);
  }

  setScroll(top) {
    const box = this.dom.messages;
    box.scrollTop = top;
    this.lastScrollTop = box.scrollTop;
    this.stuck = this.atBottom();
  }

  /** Puts ENTRY in C's log: a room message by seq, anything else at the end. */
  place(c, entry) {
    const idx = entry.seq !== null && !entry.pending ? insertIndex(c.entries, entry.seq) : c.entries.length;
    c.entries.splice(idx, 0, entry);
    if (c.batching) return;
    const stick = c === this.current && this.atBottom();
    if (idx === c.entries.length - 1) this.appendDom(c, entry);
    else this.renderLog(c);
    this.trim(c);
    if (stick) this.scrollToBottom();
  }

  /** Runs FN with C's log drawn once at the end instead of once per line. */
  bulk(c, fn, stick = true) {
    const atBottom = stick && c === this.current && this.atBottom();
    c.batching = true;
    try {
      fn();
    } finally {
      c.batching = false;
    }
    this.renderLog(c);
    if (atBottom) this.scrollToBottom();
  }

  /** Moves a just-confirmed own message to its seq's place, if it is not there. */
  reposition(c, entry) {
    const from = c.entries.indexOf(entry);
    if (from < 0) return;
    c.entries.splice(from, 1);
    const to = entry.seq !== null ? insertIndex(c.entries, entry.seq) : from;
    c.entries.splice(to, 0, entry);
    const prev = this.previousDated(c, to);
    const dayOk = !entry.ts || (prev !== null && dayKey(prev.ts) === dayKey(entry.ts));
    if (to === from && dayOk) return;
    const stick = c === this.current && this.atBottom();
    this.renderLog(c);
    if (stick) this.scrollToBottom();
  }

  previousDated(c, idx) {
    for (let i = idx - 1; i >= 0; i -= 1) if (c.entries[i].ts) return c.entries[i];
    return null;
  }

  appendDom(c, entry) {
    if (entry.ts) {
      const prev = this.previousDated(c, c.entries.length - 1);
      if (!prev || dayKey(prev.ts) !== dayKey(entry.ts)) c.logEl.append(daySeparator(entry.ts));
    }
    c.logEl.append(entry.el);
  }

  renderLog(c) {
    const nodes = [c.topEl];
    let day = null;
    for (const e of c.entries) {
      if (e.ts) {
        const k = dayKey(e.ts);
        if (k !== day) nodes.push(daySeparator(e.ts));
        day = k;
      }
      nodes.push(e.el);
    }
    c.logEl.replaceChildren(...nodes);
  }

  /** Keeps a conversation's lines bounded, but never while it is being read back. */
  trim(c) {
    if (c.entries.length <= MAX_ENTRIES || (c === this.current && !this.atBottom())) return;
    const gone = c.entries.splice(0, c.entries.length - TRIM_TO);
    for (const e of gone) if (e.seq !== null) c.seqs.delete(e.seq);
    if (c.kind === 'room' && gone.some((e) => e.seq !== null)) c.olderExhausted = false;
    this.updateTop(c);
    this.renderLog(c);
  }

  /** The line at the top of a room's log: older messages to fetch, or the start. */
  updateTop(c) {
    const top = c.topEl;
    if (c.kind !== 'room') {
      top.replaceChildren();
      return;
    }
    if (c.fetchingOlder) {
      top.replaceChildren(h('span', 'marker', 'fetching older messages…'));
    } else if (c.olderExhausted || c.oldestSeq() === 1) {
      top.replaceChildren(h('span', 'marker', 'start of the conversation'));
    } else if (c.joined) {
      const b = h('button', 'older', 'load older messages');
      b.type = 'button';
      b.addEventListener('click', () => this.fetchOlder(c));
      top.replaceChildren(b);
    } else {
      top.replaceChildren();
    }
  }

  /* ----- what survives a reload (sessionStorage: this tab only) */

  schedulePersist() {
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => this.persistNow(), 500);
  }

  persistNow() {
    clearTimeout(this.persistTimer);
    this.persistTimer = null;
    if (!this.nick || !(this.everRegistered || this.resuming)) return;
    const session = {
      nick: this.nick,
      // A reload must ask for a password again: neither is ever stored.
      usedPassword: Boolean(this.password || this.accountPassword || this.account),
      rooms: this.roomConversations().map((c) => ({ room: c.name, epoch: c.epoch, lastSeq: c.resumeSeq })),
      privates: this.order.filter((c) => c.kind === 'private').map((c) => c.name),
      current: this.current ? this.current.key : null,
    };
    try {
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    } catch (_) { /* a reload will then start afresh */ }
  }

  restoreSession() {
    let s;
    try {
      s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    } catch (_) {
      return null;
    }
    if (!s || typeof s !== 'object' || !validNick(s.nick) || !Array.isArray(s.rooms)) return null;
    for (const r of s.rooms) {
      const name = r && normalizeRoom(r.room);
      if (!name) continue;
      const c = this.roomConversation(name, true);
      c.joined = true;
      c.epoch = typeof r.epoch === 'string' ? r.epoch : null;
      c.lastSeq = Number.isSafeInteger(r.lastSeq) && r.lastSeq >= 0 ? r.lastSeq : 0;
      c.olderExhausted = false;
      this.updateLi(c);
      this.updateTop(c);
    }
    for (const nick of Array.isArray(s.privates) ? s.privates : []) {
      if (validNick(nick)) this.privateConversation(nick, true);
    }
    const current = typeof s.current === 'string' ? this.convs.get(s.current) : null;
    if (current) this.current = current;
    return { nick: s.nick, usedPassword: s.usedPassword === true };
  }
}

document.addEventListener('DOMContentLoaded', () => new App().start());
