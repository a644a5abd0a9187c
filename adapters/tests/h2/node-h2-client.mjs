// An independent HTTP/2 peer: Node's built-in http2 module opens
// WebSockets on one HTTP/2 connection with the extended CONNECT of RFC
// 8441, frames by hand (RFC 6455 §5: masked, as a client must), and
// prints one line per check for the Rust test to read.
//
// usage: node node-h2-client.mjs URL COUNT
//   URL    https://127.0.0.1:PORT/path (TLS, certificate not checked) or
//          http://127.0.0.1:PORT/path (prior knowledge)
//   COUNT  WebSockets to open at once on the connection
import http2 from 'node:http2';
import crypto from 'node:crypto';

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg ?? '3');
const u = new URL(url);
const session = http2.connect(u.origin, { rejectUnauthorized: false });
session.on('error', (e) => { console.log(`error session ${e.message}`); process.exit(2); });
setTimeout(() => { console.log('error timeout'); process.exit(3); }, 20000).unref();

function frame(opcode, payload) {
  const mask = crypto.randomBytes(4);
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([0x80 | opcode, 0x80 | len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode; head[1] = 0x80 | 126; head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(len), 2);
  }
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

// Parses unmasked server frames from `buf`; returns [frames, rest].
function parse(buf) {
  const out = [];
  for (;;) {
    if (buf.length < 2) break;
    const fin = (buf[0] & 0x80) !== 0, op = buf[0] & 0x0f, masked = (buf[1] & 0x80) !== 0;
    let len = buf[1] & 0x7f, off = 2;
    if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
    else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
    if (buf.length < off + len) break;
    out.push({ fin, op, masked, rsv: buf[0] & 0x70, payload: buf.subarray(off, off + len) });
    buf = buf.subarray(off + len);
  }
  return [out, buf];
}

function open(i) {
  return new Promise((resolve) => {
    const req = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': u.protocol.slice(0, -1),
      ':path': u.pathname, ':authority': u.host,
      'sec-websocket-version': '13', 'origin': u.origin,
    });
    let buf = Buffer.alloc(0);
    const got = [];
    req.on('response', (h) => {
      console.log(`status ${i} ${h[':status']} key=${'sec-websocket-accept' in h ? 'yes' : 'no'}`);
      const big = crypto.randomBytes(100000);
      req.write(frame(1, Buffer.from(`hello ${i} from node`)));
      req.write(frame(2, big));
      req.write(frame(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')])));
      req.on('data', (d) => {
        const [frames, rest] = parse(Buffer.concat([buf, d]));
        buf = rest;
        for (const f of frames) {
          if (f.masked) console.log(`error ${i} a server frame is masked`);
          if (f.op === 1) got.push(`text:${f.payload.toString()}`);
          else if (f.op === 2) got.push(`binary:${f.payload.length}:${f.payload.equals(big) ? 'same' : 'different'}`);
          else if (f.op === 8) {
            got.push(`close:${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 'none'}`);
            req.end(); // our END_STREAM, after the close handshake
          }
        }
      });
      req.on('end', () => { console.log(`ws ${i} ${got.join(' ')} end`); resolve(); });
    });
    req.on('error', (e) => { console.log(`error ${i} ${e.message}`); resolve(); });
  });
}

session.on('remoteSettings', async (s) => {
  if (!s.enableConnectProtocol) { console.log('error no enableConnectProtocol'); process.exit(4); }
  console.log('settings enableConnectProtocol');
  await Promise.all([...Array(count).keys()].map(open));
  // A plain request on the same connection.
  const get = session.request({ ':method': 'GET', ':path': '/plain' });
  get.on('response', (h) => { console.log(`get ${h[':status']}`); });
  get.resume();
  get.on('end', () => { session.close(); console.log('done'); });
});
