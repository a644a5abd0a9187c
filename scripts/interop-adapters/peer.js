// Node ws peer for adapters/tests/peers.rs.
//
//   node peer.js server [compress]      echo server on 127.0.0.1, prints "listening PORT"
//   node peer.js client URL [compress]  runs the conversation against URL, exit 0 on success
//
// The echo server closes with 4000 when it receives the text "close-me".
// TLS (wss://): the server takes PEER_TLS_CERT and PEER_TLS_KEY (PEM
// files), the client trusts PEER_TLS_CA (a PEM file).
'use strict';
const fs = require('fs');
const https = require('https');
const WebSocket = require('ws');

const [mode, ...rest] = process.argv.slice(2);
const compress = rest.includes('compress');

if (mode === 'server') {
  const options = { perMessageDeflate: compress, maxPayload: 64 << 20 };
  let wss;
  if (process.env.PEER_TLS_CERT) {
    const server = https.createServer({
      cert: fs.readFileSync(process.env.PEER_TLS_CERT),
      key: fs.readFileSync(process.env.PEER_TLS_KEY),
    });
    wss = new WebSocket.WebSocketServer({ server, ...options });
    server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
  } else {
    wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
    wss.on('listening', () => console.log(`listening ${wss.address().port}`));
  }
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'close-me') return ws.close(4000, 'server-close');
      ws.send(data, { binary: isBinary });
    });
  });
} else {
  client(rest[0]).then(
    () => { console.log('conversation ok'); process.exit(0); },
    (e) => { console.error('FAILED:', e.message || e); process.exit(1); },
  );
}

function open(url) {
  const options = { perMessageDeflate: compress, maxPayload: 64 << 20 };
  if (url.startsWith('wss:')) options.ca = fs.readFileSync(process.env.PEER_TLS_CA);
  const ws = new WebSocket(url, options);
  const queue = [];
  const waiters = [];
  const push = (ev) => (waiters.length ? waiters.shift()(ev) : queue.push(ev));
  ws.on('message', (data, isBinary) => push({ kind: isBinary ? 'binary' : 'text', data }));
  ws.on('pong', (data) => push({ kind: 'pong', data }));
  ws.on('close', (code) => push({ kind: 'close', code }));
  ws.on('error', (e) => push({ kind: 'error', e }));
  ws.next = () => new Promise((res) => (queue.length ? res(queue.shift()) : waiters.push(res)));
  return new Promise((res, rej) => { ws.on('open', () => res(ws)); ws.on('error', rej); });
}

function check(cond, what) { if (!cond) throw new Error(what); }

async function client(url) {
  setTimeout(() => { console.error('FAILED: timeout'); process.exit(1); }, 60000);
  let ws = await open(url);
  // ws.extensions is the server's Sec-WebSocket-Extensions answer.
  const ext = ws.extensions || '';
  check(compress ? ext.startsWith('permessage-deflate') : ext === '', `extensions ${ext}`);
  ws.send('hello');
  let ev = await ws.next();
  check(ev.kind === 'text' && ev.data.toString() === 'hello', 'text');
  ws.send(Buffer.from([0, 1, 2, 255]));
  ev = await ws.next();
  check(ev.kind === 'binary' && ev.data.equals(Buffer.from([0, 1, 2, 255])), 'binary');
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
  ws.send(big);
  ev = await ws.next();
  check(ev.kind === 'binary' && ev.data.equals(big), '1 MiB');
  const parts = ['frag', 'mented ', 'mess', 'age \u2713'];
  parts.forEach((p, i) => ws.send(p, { fin: i === parts.length - 1, binary: false }));
  ev = await ws.next();
  check(ev.kind === 'text' && ev.data.toString() === 'fragmented message \u2713', 'fragmented');
  ws.ping(Buffer.from('are you there'));
  ev = await ws.next();
  check(ev.kind === 'pong' && ev.data.toString() === 'are you there', 'pong');
  ws.close(1000, 'client-close');
  ev = await ws.next();
  check(ev.kind === 'close' && ev.code === 1000, `close echo ${ev.code}`);
  ws = await open(url);
  ws.send('close-me');
  ev = await ws.next();
  check(ev.kind === 'close' && ev.code === 4000, `server close ${ev.kind} ${ev.code}`);
}
