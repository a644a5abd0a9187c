// An independent RFC 8441 peer on Node's built-in http2 module, in both
// roles, with permessage-deflate (RFC 7692, no context takeover either
// way: Node's zlib compresses and inflates each message on its own) and
// fragmented messages. The WebSocket framing (RFC 6455 §5) is written out
// here; the HTTP/2 layer, the extended CONNECT and SETTINGS are Node's.
//
//   node node-h2-peer.mjs server [--tls CERT KEY]
//       prints "listening PORT"; echoes every message of every WebSocket
//       (compressed when negotiated, each in two fragments when it is
//       larger than 64 KiB), answers pings, answers the close and ends the
//       stream; logs "ws N open ext=..." and "ws N end" lines.
//   node node-h2-peer.mjs client URL
//       one HTTP/2 connection to URL (https: certificate not checked, or
//       http: prior knowledge), two WebSockets on it, each sending a text,
//       a binary, a text in three fragments and a 1 MiB binary, all
//       compressed; checks the echoes, closes with 1000, then a plain GET
//       on the same connection; prints one line per check ("ok ..." or
//       "error ...") and "done".
import http2 from 'node:http2';
import crypto from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const PMD_RESPONSE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

function deflate(data) {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  // RFC 7692 §7.2.1: remove the 4 octets 0x00 0x00 0xff 0xff at the end.
  return out.subarray(0, out.length - 4);
}

function inflate(data) {
  return zlib.inflateRawSync(Buffer.concat([data, TAIL]), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
    maxOutputLength: 64 << 20,
  });
}

function header(first, fin, opcode, rsv1, masked, len) {
  const b0 = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (first ? opcode : 0);
  const m = masked ? 0x80 : 0;
  if (len < 126) return Buffer.from([b0, m | len]);
  if (len < 65536) {
    const h = Buffer.alloc(4);
    h[0] = b0; h[1] = m | 126; h.writeUInt16BE(len, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = b0; h[1] = m | 127; h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

// The frames of one message: compressed if `pmd` (RSV1 on the first
// frame only, RFC 7692 §6.1), split into `parts` frames, masked if
// `masked` (a client).
function message(opcode, data, { pmd, parts = 1, masked }) {
  const payload = pmd ? deflate(data) : Buffer.from(data);
  const frames = [];
  const size = Math.ceil(payload.length / parts) || 0;
  for (let i = 0; i < parts; i++) {
    const chunk = Buffer.from(payload.subarray(i * size, i === parts - 1 ? payload.length : (i + 1) * size));
    const h = header(i === 0, i === parts - 1, opcode, pmd && i === 0, masked, chunk.length);
    if (masked) {
      const key = crypto.randomBytes(4);
      for (let j = 0; j < chunk.length; j++) chunk[j] ^= key[j % 4];
      frames.push(h, key, chunk);
    } else {
      frames.push(h, chunk);
    }
  }
  return Buffer.concat(frames);
}

function control(opcode, payload, masked) {
  return message(opcode, payload, { pmd: false, masked });
}

// Reads frames from a stream and reassembles messages; calls
// on(kind, data) for each message and control frame.
function reader(expectMasked, on) {
  let buf = Buffer.alloc(0);
  let msg = null; // { op, rsv1, parts: [] }
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0, rsv1 = (buf[0] & 0x40) !== 0, op = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const keyLen = masked ? 4 : 0;
      if (buf.length < off + keyLen + len) return;
      if (masked !== expectMasked) on('error', Buffer.from(`masked=${masked}`));
      const payload = Buffer.from(buf.subarray(off + keyLen, off + keyLen + len));
      if (masked) {
        const key = buf.subarray(off, off + 4);
        for (let j = 0; j < payload.length; j++) payload[j] ^= key[j % 4];
      }
      buf = buf.subarray(off + keyLen + len);
      if (op >= 8) { on(op === 8 ? 'close' : op === 9 ? 'ping' : 'pong', payload); continue; }
      if (op !== 0) msg = { op, rsv1, parts: [] };
      if (!msg) { on('error', Buffer.from('continuation without a message')); continue; }
      msg.parts.push(payload);
      if (fin) {
        let data = Buffer.concat(msg.parts);
        if (msg.rsv1) data = inflate(data);
        on(msg.op === 1 ? 'text' : 'binary', data, msg.parts.length, msg.rsv1);
        msg = null;
      }
    }
  };
}

const [mode, ...rest] = process.argv.slice(2);
setTimeout(() => { console.log('error timeout'); process.exit(3); }, 60000).unref();

if (mode === 'server') {
  const tls = rest[0] === '--tls' ? { cert: fs.readFileSync(rest[1]), key: fs.readFileSync(rest[2]) } : null;
  const settings = { enableConnectProtocol: true };
  const server = tls
    ? http2.createSecureServer({ ...tls, settings, allowHTTP1: false })
    : http2.createServer({ settings });
  let next = 0;
  server.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
      stream.respond({ ':status': 404 });
      stream.end('not a websocket');
      return;
    }
    if (headers['sec-websocket-version'] !== '13') {
      stream.respond({ ':status': 426, 'sec-websocket-version': '13' });
      stream.end();
      return;
    }
    const id = next++;
    const offered = headers['sec-websocket-extensions'] ?? '';
    const pmd = /(^|,)\s*permessage-deflate\b/.test(offered);
    const response = { ':status': 200 };
    if (pmd) response['sec-websocket-extensions'] = PMD_RESPONSE;
    const protocol = headers['sec-websocket-protocol'];
    if (protocol) response['sec-websocket-protocol'] = protocol.split(',')[0].trim();
    stream.respond(response);
    console.log(`ws ${id} open ext=${pmd ? 'permessage-deflate' : '-'} key=${'sec-websocket-key' in headers ? 'yes' : 'no'}`);
    stream.on('data', reader(true, (kind, data, parts) => {
      if (kind === 'text' || kind === 'binary') {
        console.log(`ws ${id} got ${kind} ${data.length} in ${parts}`);
        const n = data.length > 65536 ? 2 : 1;
        stream.write(message(kind === 'text' ? 1 : 2, data, { pmd, parts: n, masked: false }));
      } else if (kind === 'ping') {
        stream.write(control(10, data, false));
      } else if (kind === 'close') {
        console.log(`ws ${id} close ${data.length >= 2 ? data.readUInt16BE(0) : 'none'}`);
        stream.end(control(8, data.subarray(0, 2), false));
      } else if (kind === 'error') {
        console.log(`ws ${id} error ${data}`);
      }
    }));
    stream.on('end', () => console.log(`ws ${id} end`));
    stream.on('error', (e) => console.log(`ws ${id} stream error ${e.code}`));
  });
  server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
} else if (mode === 'client') {
  const u = new URL(rest[0]);
  const session = http2.connect(u.origin, { rejectUnauthorized: false });
  session.on('error', (e) => { console.log(`error session ${e.message}`); process.exit(2); });
  const open = (i) => new Promise((resolve) => {
    const req = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': u.protocol.slice(0, -1),
      ':path': u.pathname, ':authority': u.host, 'sec-websocket-version': '13',
      'sec-websocket-extensions': 'permessage-deflate; client_no_context_takeover; server_no_context_takeover',
    });
    const big = crypto.randomBytes(1 << 20);
    const fragmented = 'fragmented '.repeat(500) + i;
    const expected = [
      ['text', Buffer.from(`hello ${i}`)],
      ['binary', crypto.randomBytes(3000)],
      ['text', Buffer.from(fragmented)],
      ['binary', big],
    ];
    const got = [];
    req.on('response', (h) => {
      const ext = h['sec-websocket-extensions'] ?? '';
      const pmd = ext.startsWith('permessage-deflate');
      console.log(`${h[':status'] === 200 ? 'ok' : 'error'} ${i} status ${h[':status']} ext=${pmd ? 'permessage-deflate' : '-'} accept=${'sec-websocket-accept' in h ? 'yes' : 'no'}`);
      const parts = [1, 1, 3, 4];
      expected.forEach(([kind, data], k) => {
        req.write(message(kind === 'text' ? 1 : 2, data, { pmd, parts: parts[k], masked: true }));
      });
      req.on('data', reader(false, (kind, data, _parts, rsv1) => {
        if (kind === 'text' || kind === 'binary') {
          const [ek, ed] = expected[got.length] ?? [];
          got.push(kind);
          const same = ek === kind && ed.equals(data);
          console.log(`${same ? 'ok' : 'error'} ${i} echo ${kind} ${data.length} compressed=${rsv1}`);
          if (got.length === expected.length) {
            req.write(control(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('done')]), true));
          }
        } else if (kind === 'close') {
          console.log(`ok ${i} close ${data.length >= 2 ? data.readUInt16BE(0) : 'none'}`);
          req.end();
        } else if (kind === 'error') {
          console.log(`error ${i} ${data}`);
        }
      }));
      req.on('end', () => { console.log(`ok ${i} end`); resolve(); });
    });
    req.on('error', (e) => { console.log(`error ${i} ${e.message}`); resolve(); });
  });
  session.once('remoteSettings', async (s) => {
    if (!s.enableConnectProtocol) { console.log('error no enableConnectProtocol'); process.exit(4); }
    console.log('ok settings enableConnectProtocol');
    await Promise.all([open(0), open(1)]);
    // A plain request on the same connection.
    const get = session.request({ ':method': 'GET', ':path': '/plain' });
    get.on('response', (h) => console.log(`ok get ${h[':status']}`));
    get.resume();
    get.on('end', () => { session.close(); console.log('done'); });
  });
} else {
  console.log('usage: node-h2-peer.mjs server [--tls CERT KEY] | client URL');
  process.exit(1);
}
