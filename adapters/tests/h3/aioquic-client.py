"""An independent RFC 9220 client: aioquic's QUIC, HTTP/3 and QPACK
(pylsqpack) open WebSockets with the extended CONNECT on one QUIC
connection; the WebSocket framing (RFC 6455 section 5, masked as a client
must) and permessage-deflate (RFC 7692, no context takeover, Python's
zlib) are written out here.

    python aioquic-client.py HOST PORT

Prints one line per check ("ok ..." or "error ...") and "done".
"""

import asyncio
import os
import ssl
import struct
import sys
import zlib

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration

TAIL = b"\x00\x00\xff\xff"


def frame(opcode, payload, rsv1=False):
    mask = os.urandom(4)
    b0 = 0x80 | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def message(opcode, data, pmd):
    if not pmd:
        return frame(opcode, data)
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return frame(opcode, out[:-4], rsv1=True)


def parse(buf):
    """Unmasked server frames from buf: (frames, rest)."""
    frames = []
    while len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, off = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, off = struct.unpack("!Q", buf[2:10])[0], 10
        if b1 & 0x80:
            print("error a server frame is masked")
        if len(buf) < off + n:
            break
        frames.append((b0 & 0x0F, bool(b0 & 0x40), bool(b0 & 0x80), buf[off : off + n]))
        buf = buf[off + n :]
    return frames, buf


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.queues = {}

    def quic_event_received(self, event):
        for e in self.h3.handle_event(event):
            q = self.queues.get(getattr(e, "stream_id", None))
            if q is not None:
                q.put_nowait(e)

    async def websocket(self, i, host, port, pmd):
        sid = self._quic.get_next_available_stream_id()
        q = asyncio.Queue()
        self.queues[sid] = q
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", b"https"),
            (b":path", f"/aioquic/{i}".encode()),
            (b":authority", f"{host}:{port}".encode()),
            (b"sec-websocket-version", b"13"),
        ]
        if pmd:
            headers.append(
                (
                    b"sec-websocket-extensions",
                    b"permessage-deflate; client_no_context_takeover; server_no_context_takeover",
                )
            )
        self.h3.send_headers(sid, headers, end_stream=False)
        self.transmit()
        e = await q.get()
        if not isinstance(e, HeadersReceived):
            print(f"error {i} no response headers")
            return
        h = dict(e.headers)
        ext = h.get(b"sec-websocket-extensions", b"").decode()
        negotiated = ext.startswith("permessage-deflate")
        print(
            f"{'ok' if h.get(b':status') == b'200' else 'error'} {i} status {h.get(b':status').decode()}"
            f" ext={'permessage-deflate' if negotiated else '-'}"
            f" accept={'yes' if b'sec-websocket-accept' in h else 'no'}"
        )
        big = os.urandom(100000)
        sent = [(1, f"hello {i} from aioquic".encode()), (2, big), (1, "κόσμε".encode())]
        for op, data in sent:
            self.h3.send_data(sid, message(op, data, negotiated), end_stream=False)
        self.h3.send_data(sid, frame(8, b"\x03\xe8done"), end_stream=False)
        self.transmit()
        buf, got, ended = b"", 0, False
        while not ended:
            e = await q.get()
            if not isinstance(e, DataReceived):
                continue
            buf += e.data
            frames, buf = parse(buf)
            for op, rsv1, fin, payload in frames:
                if op in (1, 2):
                    data = zlib.decompressobj(wbits=-15).decompress(payload + TAIL) if rsv1 else payload
                    want = sent[got] if got < len(sent) else None
                    same = want is not None and want == (op, data)
                    kind = "text" if op == 1 else "binary"
                    print(f"{'ok' if same else 'error'} {i} echo {kind} {len(data)} compressed={rsv1}")
                    got += 1
                elif op == 8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
                    print(f"ok {i} close {code}")
                    self.h3.send_data(sid, b"", end_stream=True)
                    self.transmit()
            ended = e.stream_ended
        print(f"ok {i} end")


async def main(host, port):
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    config.verify_mode = ssl.CERT_NONE
    async with connect(host, port, configuration=config, create_protocol=Client) as client:
        await asyncio.wait_for(
            asyncio.gather(
                client.websocket(0, host, port, False),
                client.websocket(1, host, port, True),
            ),
            timeout=30,
        )
    print("done")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
