// Node ws peer for adapters/tests/deflate_interop.rs: one permessage-deflate
// setting per connection. Same command line and output as deflate_peer.py:
//
//   node deflate_peer.js server NAME=TOKENS ...
//       one echo server per NAME; prints "listening NAME PORT" each, then "ready"
//   node deflate_peer.js client NAME URL TOKENS [NAME URL TOKENS ...]
//       per case: "case NAME negotiated HEADER" | "case NAME refused ERROR",
//       then "case NAME ok" | "case NAME FAILED WHY"; exit 1 if one failed
//
// TOKENS ("-" for none): snct, cnct, smwb=N, cmwb, cmwb=N, nocmwb, mapped to
// perMessageDeflate's serverNoContextTakeover, clientNoContextTakeover,
// serverMaxWindowBits, clientMaxWindowBits (true / N / false).
//
// Server connections first send "negotiated HEADER\nDETAIL", then echo; a
// text starting with "FRAG:" is echoed in four fragments.
'use strict';
const crypto = require('crypto');
const WebSocket = require('ws');

const PMD = 'permessage-deflate';

function parseTokens(spec) {
  // threshold 0: compress every message, small ones included.
  const opts = { threshold: 0 };
  for (const raw of spec.split(',')) {
    const tok = raw.trim();
    if (tok === '' || tok === '-') continue;
    if (tok === 'snct') opts.serverNoContextTakeover = true;
    else if (tok === 'cnct') opts.clientNoContextTakeover = true;
    else if (tok.startsWith('smwb=')) opts.serverMaxWindowBits = +tok.slice(5);
    else if (tok === 'cmwb') opts.clientMaxWindowBits = true;
    else if (tok.startsWith('cmwb=')) opts.clientMaxWindowBits = +tok.slice(5);
    else if (tok === 'nocmwb') opts.clientMaxWindowBits = false;
    else throw new Error(`unknown token ${tok}`);
  }
  return opts;
}

function detail(ws) {
  const ext = ws._extensions && ws._extensions[PMD];
  return ext ? `params ${JSON.stringify(ext.params)}` : 'no extension';
}

function fragments(text, n = 4) {
  const step = Math.max(1, Math.floor(text.length / n));
  const parts = [];
  for (let i = 0; i < text.length; i += step) parts.push(text.slice(i, i + step));
  return parts;
}

function sendFragments(ws, parts) {
  parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1, binary: false }));
}

function server(specs) {
  let pending = specs.length;
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, eq);
    const wss = new WebSocket.WebSocketServer({
      host: '127.0.0.1', port: 0, maxPayload: 64 << 20,
      perMessageDeflate: parseTokens(spec.slice(eq + 1)),
    });
    wss.on('headers', (headers, req) => {
      const h = headers.find((l) => /^sec-websocket-extensions:/i.test(l));
      req.pmdHeader = h ? h.slice(h.indexOf(':') + 1).trim() : '';
    });
    wss.on('connection', (ws, req) => {
      ws.send(`negotiated ${req.pmdHeader || ''}\n${detail(ws)}`);
      ws.on('message', (data, isBinary) => {
        const text = !isBinary && data.toString();
        if (text && text.startsWith('FRAG:')) sendFragments(ws, fragments(text));
        else ws.send(data, { binary: isBinary });
      });
    });
    wss.on('listening', () => {
      console.log(`listening ${name} ${wss.address().port}`);
      if (--pending === 0) console.log('ready');
    });
  }
}

const WORDS = ('the quick brown fox jumps over lazy dog websocket frame deflate window ' +
  'context takeover server client message payload compress inflate zlib ' +
  'python node rust loopback extension negotiate header offer response bits').split(' ');

function words(n) {
  let s = '';
  while (s.length < n) s += WORDS[crypto.randomInt(WORDS.length)] + ' ';
  return s.slice(0, n);
}

function messages() {
  const block = crypto.randomBytes(4096);
  const short = crypto.randomBytes(300);
  const first = words(1024);
  return [
    first,
    Buffer.concat(Array(16).fill(block)),
    words(200 * 1024),
    first,
    Buffer.concat(Array(34).fill(short)),
    crypto.randomBytes(1500),
    words(150 * 1024),
  ];
}

function open(url, opts) {
  const ws = new WebSocket(url, { perMessageDeflate: opts, maxPayload: 64 << 20 });
  const queue = [];
  const waiters = [];
  const push = (ev) => (waiters.length ? waiters.shift()(ev) : queue.push(ev));
  ws.on('message', (data, isBinary) => push({ kind: isBinary ? 'binary' : 'text', data }));
  ws.on('close', (code) => push({ kind: 'close', code }));
  ws.on('error', (e) => push({ kind: 'error', e }));
  ws.next = () => new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('no message within 20 s')), 20000);
    const done = (ev) => { clearTimeout(t); res(ev); };
    if (queue.length) done(queue.shift()); else waiters.push(done);
  });
  ws.on('upgrade', (res) => { ws.pmdHeader = res.headers['sec-websocket-extensions'] || ''; });
  return new Promise((res, rej) => {
    ws.on('open', () => res(ws));
    ws.on('error', rej);
  });
}

function same(ev, msg) {
  if (typeof msg === 'string') return ev.kind === 'text' && ev.data.toString() === msg;
  return ev.kind === 'binary' && Buffer.compare(ev.data, msg) === 0;
}

async function conversation(ws) {
  const msgs = messages();
  for (let i = 0; i < msgs.length; i++) {
    ws.send(msgs[i], { binary: typeof msgs[i] !== 'string' });
    const ev = await ws.next();
    if (!same(ev, msgs[i])) throw new Error(`message ${i} (${msgs[i].length} bytes) came back different: ${ev.kind}`);
  }
  const frag = words(40 * 1024);
  sendFragments(ws, fragments(frag));
  let ev = await ws.next();
  if (!same(ev, frag)) throw new Error('fragmented message came back different');
  ws.close(1000, 'done');
  ev = await ws.next();
  if (ev.kind !== 'close' || ev.code !== 1000) throw new Error(`close ${ev.kind} ${ev.code}`);
}

async function oneCase(name, url, tokens) {
  let ws;
  try {
    ws = await open(url, parseTokens(tokens));
  } catch (e) {
    console.log(`case ${name} refused ${e.message || e}`);
    return true;
  }
  console.log(`case ${name} negotiated ${ws.pmdHeader}`);
  console.log(`case ${name} detail ${detail(ws)}`);
  try {
    await conversation(ws);
  } catch (e) {
    console.log(`case ${name} FAILED ${e.message || e}`);
    ws.terminate();
    return false;
  }
  console.log(`case ${name} ok`);
  return true;
}

async function client(args) {
  let ok = true;
  for (let i = 0; i < args.length; i += 3) ok = (await oneCase(args[i], args[i + 1], args[i + 2])) && ok;
  return ok;
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'server') server(rest);
else {
  setTimeout(() => { console.log('FAILED: overall timeout'); process.exit(1); }, 90000).unref();
  client(rest).then((ok) => process.exit(ok ? 0 : 1), (e) => {
    console.log(`FAILED: ${e.stack || e}`);
    process.exit(1);
  });
}
