"""An independent RFC 9220 server: aioquic's QUIC, HTTP/3 and QPACK
(its H3Connection advertises SETTINGS_ENABLE_CONNECT_PROTOCOL) accept
WebSockets with the extended CONNECT; the WebSocket framing (RFC 6455
section 5: client frames masked, ours not, fragments reassembled) and
permessage-deflate (RFC 7692, no context takeover either way, Python's
zlib) are written out here. Echoes every message, answers pings and the
close, then ends the stream.

    python aioquic-server.py CERT KEY

Prints "listening PORT", then "ws N open ext=..", "ws N got KIND LEN in
PARTS", "ws N close CODE" and "ws N end" lines.
"""

import asyncio
import struct
import sys
import zlib

from aioquic.asyncio import serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration

TAIL = b"\x00\x00\xff\xff"
PMD = b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"
COUNTER = [0]


def frame(opcode, payload, rsv1=False):
    b0 = 0x80 | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", b0, n) + payload
    if n < 65536:
        return struct.pack("!BBH", b0, 126, n) + payload
    return struct.pack("!BBQ", b0, 127, n) + payload


class WebSocket:
    def __init__(self, h3, sid, pmd, transmit):
        self.h3, self.sid, self.pmd, self.transmit = h3, sid, pmd, transmit
        self.id = COUNTER[0]
        COUNTER[0] += 1
        self.buf = b""
        self.msg = None  # (opcode, rsv1, [parts])
        self.closed = False

    def send(self, data, end=False):
        self.h3.send_data(self.sid, data, end_stream=end)
        self.transmit()

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            if not b1 & 0x80:
                print(f"ws {self.id} error an unmasked client frame", flush=True)
            if len(self.buf) < off + 4 + n:
                return
            key = self.buf[off : off + 4]
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(self.buf[off + 4 : off + 4 + n]))
            self.buf = self.buf[off + 4 + n :]
            self.frame(b0 & 0x0F, bool(b0 & 0x40), bool(b0 & 0x80), payload)

    def frame(self, op, rsv1, fin, payload):
        if op == 8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
            print(f"ws {self.id} close {code}", flush=True)
            self.send(frame(8, payload[:2]), end=True)
            self.closed = True
            return
        if op == 9:
            self.send(frame(10, payload))
            return
        if op in (1, 2):
            self.msg = (op, rsv1, [payload])
        elif op == 0 and self.msg:
            self.msg[2].append(payload)
        if not fin or not self.msg:
            return
        op, rsv1, parts = self.msg
        self.msg = None
        data = b"".join(parts)
        if rsv1:
            data = zlib.decompressobj(wbits=-15).decompress(data + TAIL)
        kind = "text" if op == 1 else "binary"
        print(f"ws {self.id} got {kind} {len(data)} in {len(parts)}", flush=True)
        if self.pmd:
            c = zlib.compressobj(wbits=-15)
            out = (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
            self.send(frame(op, out, rsv1=True))
        else:
            self.send(frame(op, data))


class Server(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.sockets = {}

    def quic_event_received(self, event):
        for e in self.h3.handle_event(event):
            if isinstance(e, HeadersReceived) and e.stream_id not in self.sockets:
                h = dict(e.headers)
                if h.get(b":method") != b"CONNECT" or h.get(b":protocol") != b"websocket":
                    self.h3.send_headers(e.stream_id, [(b":status", b"404")], end_stream=True)
                    self.transmit()
                    continue
                pmd = b"permessage-deflate" in h.get(b"sec-websocket-extensions", b"")
                headers = [(b":status", b"200")]
                if pmd:
                    headers.append((b"sec-websocket-extensions", PMD))
                self.h3.send_headers(e.stream_id, headers, end_stream=False)
                self.transmit()
                ws = WebSocket(self.h3, e.stream_id, pmd, self.transmit)
                self.sockets[e.stream_id] = ws
                key = "yes" if b"sec-websocket-key" in h else "no"
                print(f"ws {ws.id} open ext={'permessage-deflate' if pmd else '-'} key={key}", flush=True)
            elif isinstance(e, DataReceived) and e.stream_id in self.sockets:
                ws = self.sockets[e.stream_id]
                if e.data:
                    ws.feed(e.data)
                if e.stream_ended:
                    print(f"ws {ws.id} end", flush=True)


async def main(cert, key):
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    config.load_cert_chain(cert, key)
    server = await serve("127.0.0.1", 0, configuration=config, create_protocol=Server)
    port = server._transport.get_extra_info("sockname")[1]
    print(f"listening {port}", flush=True)
    await asyncio.sleep(120)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
