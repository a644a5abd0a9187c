// An echo server on websocket-driver (faye) for adapters/tests/legacy_interop.rs.
// Serves ONE connection on 127.0.0.1 (random port), printing one line per
// event: "PORT <n>", "OPEN <driver.version>", "TEXT <length>", "BINARY
// <length>", "CLOSE <code>". websocket-driver's server speaks hixie-75/76
// and hybi (any Sec-WebSocket-Version in 0.6.x).
'use strict';
var net = require('net');
var websocket = require('websocket-driver');

var deadline = setTimeout(function () {
  console.log('TIMEOUT');
  process.exit(2);
}, 20000);

var server = net.createServer(function (socket) {
  server.close();
  var driver = websocket.server();
  driver.on('connect', function () {
    if (websocket.isWebSocket(driver)) driver.start();
    else socket.destroy();
  });
  driver.on('open', function () { console.log('OPEN ' + driver.version); });
  driver.on('message', function (event) {
    if (typeof event.data === 'string') {
      console.log('TEXT ' + Buffer.byteLength(event.data, 'utf8'));
      driver.text(event.data);
    } else {
      console.log('BINARY ' + event.data.length);
      driver.binary(event.data);
    }
  });
  driver.on('error', function (e) { console.log('ERROR ' + e.message); });
  driver.on('close', function (event) {
    console.log('CLOSE ' + event.code);
    socket.end();
    clearTimeout(deadline);
  });
  socket.on('error', function () {});
  socket.pipe(driver.io).pipe(socket);
});

server.listen(0, '127.0.0.1', function () {
  console.log('PORT ' + server.address().port);
});
