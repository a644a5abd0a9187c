// A websocket-driver (faye) client for adapters/tests/legacy_interop.rs:
//   node client.js ws://127.0.0.1:<port>/ <version>
// websocket-driver's client always asks for Sec-WebSocket-Version 13; for
// hybi-07/08 (same framing) this wrapper rewrites that one header line of
// its request. It sends text (ASCII, multi-byte, 100 kB) and binary,
// expects each echoed back exactly, pings, closes with 1000, and exits 0
// only if all of that happened. One line per event on stdout.
'use strict';
var net = require('net');
var url = require('url');
var websocket = require('websocket-driver');

var target = process.argv[2];
var version = process.argv[3] || '13';

function fail(why) {
  console.log('FAIL ' + why);
  process.exit(1);
}
setTimeout(function () { fail('timeout'); }, 20000);

var big = '';
for (var i = 0; i < 10000; i++) big += 'abcdéfghi';
var bin = Buffer.alloc(70000);
for (var j = 0; j < bin.length; j++) bin[j] = j % 256;
var sent = ['hello', 'h\u00e9llo \ud83d\ude00', big, bin];
var got = 0;

var uri = url.parse(target);
var socket = net.connect(+uri.port, uri.hostname);
var driver = websocket.client(target);
var rewritten = false;
driver.io.on('data', function (chunk) {
  if (!rewritten) {
    rewritten = true;
    var head = chunk.toString('latin1');
    if (head.indexOf('Sec-WebSocket-Version: 13\r\n') < 0) fail('no version header');
    chunk = Buffer.from(head.replace('Sec-WebSocket-Version: 13\r\n',
      'Sec-WebSocket-Version: ' + version + '\r\n'), 'latin1');
  }
  socket.write(chunk);
});
socket.on('data', function (d) { driver.io.write(d); });
socket.on('error', function (e) { fail('socket ' + e.message); });

driver.on('open', function () {
  console.log('OPEN ' + version);
  sent.forEach(function (m) {
    if (typeof m === 'string') driver.text(m); else driver.binary(m);
  });
});
driver.on('message', function (event) {
  var want = sent[got++];
  var same = typeof want === 'string' ? event.data === want
    : Buffer.isBuffer(event.data) && event.data.equals(want);
  if (!same) fail('echo ' + got + ' differs');
  console.log('ECHO ' + got);
  if (got === sent.length) {
    driver.ping('are you there', function () {
      console.log('PONG');
      driver.close('bye', 1000);
    });
  }
});
driver.on('error', function (e) { fail('driver ' + e.message); });
driver.on('close', function (event) {
  console.log('CLOSE ' + event.code);
  if (got !== sent.length) fail('closed after ' + got + ' echoes');
  socket.end();
  process.exit(event.code === 1000 ? 0 : 1);
});
driver.start();
