"""AutobahnPython (asyncio) peer for adapters/tests/interop_matrix.rs.

  autobahn_peer.py server [compress]      echo server on 127.0.0.1, prints
                                          "listening PORT", then one line per
                                          event worth checking (see below)
  autobahn_peer.py client URL [compress]  runs the conversation against URL;
                                          exit 0 on success, "FAILED: ..." else

Server, per message: text "close-me" -> close 4000 "server-close"; text
"fragment-me" -> a text (fragmentSize 5, so UTF-8 sequences are split
across frames) and a 256 KiB binary (fragmentSize 4096); anything else is
echoed unchanged. Printed lines: "open <extensions>", "close <wasClean>
<code> <reason>" (the peer's close as autobahn saw it). Closes from the
client are echoed with their code and reason (echoCloseCodeReason).

"compress": permessage-deflate offered (client) / accepted (server);
without it nothing is offered and every offer is declined.
"""
import asyncio
import sys

from autobahn.asyncio.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateOfferAccept,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)

STEP = 20  # seconds per awaited event
FRAGMENTED_TEXT = "fragmented \u2713 text \u00e9\u00e8 \U0001f600 end"


def pattern(n):
    return bytes((i * 31 % 251) for i in range(n))


def extension_names(proto):
    return [e.EXTENSION_NAME for e in proto.websocket_extensions_in_use]


def accept_deflate(offers):
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


def decline_all(offers):
    return None


# --- server --------------------------------------------------------------------


class EchoServer(WebSocketServerProtocol):
    def onOpen(self):
        print("open", ",".join(extension_names(self)) or "-", flush=True)

    def onMessage(self, payload, isBinary):
        if not isBinary and payload == b"close-me":
            self.sendClose(4000, "server-close")
        elif not isBinary and payload == b"fragment-me":
            self.sendMessage(FRAGMENTED_TEXT.encode(), False, fragmentSize=5)
            self.sendMessage(pattern(256 * 1024), True, fragmentSize=4096)
        else:
            self.sendMessage(payload, isBinary)

    def onClose(self, wasClean, code, reason):
        print("close", wasClean, code, reason or "-", flush=True)


async def server(compress):
    factory = WebSocketServerFactory()
    factory.protocol = EchoServer
    factory.setProtocolOptions(
        perMessageCompressionAccept=accept_deflate if compress else decline_all,
        maxMessagePayloadSize=0,
        maxFramePayloadSize=0,
        # Autobahn answers every close with 1000 by default (RFC 6455
        # §5.5.1 only says "typically echos"); echo code and reason so
        # that our client's code and reason are checked on the way back.
        echoCloseCodeReason=True,
    )
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(factory, "127.0.0.1", 0)
    print("listening", srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()


# --- client --------------------------------------------------------------------


class Recorder(WebSocketClientProtocol):
    """Puts every event on a queue for the conversation to await."""

    def onOpen(self):
        self.factory.events.put_nowait(("open",))

    def onMessage(self, payload, isBinary):
        self.factory.events.put_nowait(("message", payload, isBinary))

    def onPong(self, payload):
        self.factory.events.put_nowait(("pong", payload))

    def onClose(self, wasClean, code, reason):
        self.factory.events.put_nowait(("close", wasClean, code, reason))


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")


class Conversation:
    def __init__(self, url, compress):
        self.url = url
        self.compress = compress

    async def open(self):
        factory = WebSocketClientFactory(self.url)
        factory.protocol = Recorder
        factory.events = asyncio.Queue()
        offers = [PerMessageDeflateOffer(accept_max_window_bits=True)] if self.compress else []

        def accept(response):
            if isinstance(response, PerMessageDeflateResponse):
                return PerMessageDeflateResponseAccept(response)
            return None

        factory.setProtocolOptions(
            perMessageCompressionOffers=offers,
            perMessageCompressionAccept=accept,
            maxMessagePayloadSize=0,
            maxFramePayloadSize=0,
            closeHandshakeTimeout=5,
        )
        host, port = self.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        loop = asyncio.get_running_loop()
        _, self.proto = await loop.create_connection(factory, host, int(port))
        self.events = factory.events
        check(await self.next() == ("open",), "open")
        want = ["permessage-deflate"] if self.compress else []
        got = extension_names(self.proto)
        check(got == want, f"extensions {got}, wanted {want}")

    async def next(self):
        try:
            return await asyncio.wait_for(self.events.get(), STEP)
        except asyncio.TimeoutError:
            raise SystemExit(f"FAILED: no event within {STEP} s")

    async def echo(self, payload, binary, what, **kw):
        self.proto.sendMessage(payload, binary, **kw)
        ev = await self.next()
        check(ev == ("message", payload, binary), f"{what}: got {str(ev)[:120]}")

    async def closed(self, code, reason, what):
        ev = await self.next()
        check(ev[0] == "close", f"{what}: got {str(ev)[:120]}")
        _, clean, got_code, got_reason = ev
        check(clean, f"{what}: not a clean close {ev}")
        check(got_code == code, f"{what}: code {got_code}, wanted {code}")
        check((got_reason or "") == reason, f"{what}: reason {got_reason!r}, wanted {reason!r}")


async def client(url, compress):
    c = Conversation(url, compress)
    await c.open()
    await c.echo("hello \u2713".encode(), False, "text")
    await c.echo(bytes([0, 1, 2, 255]), True, "binary")
    await c.echo(b"", True, "empty binary")
    await c.echo(pattern(1 << 20), True, "1 MiB binary")
    await c.echo(("x\u00e9\u2713" * 100_000).encode(), False, "600 kB text")
    await c.echo(FRAGMENTED_TEXT.encode(), False, "fragmented text", fragmentSize=5)
    await c.echo(pattern(1 << 20), True, "fragmented 1 MiB binary", fragmentSize=65536)
    c.proto.sendPing(b"are you there")
    ev = await c.next()
    check(ev == ("pong", b"are you there"), f"pong: got {ev}")
    # Our servers echo the close code with an empty reason (RFC 6455 §5.5.1).
    c.proto.sendClose(1000, "client-close")
    await c.closed(1000, "", "close 1000")

    c = Conversation(url, compress)
    await c.open()
    c.proto.sendClose(4000, "autobahn says bye")
    await c.closed(4000, "", "close 4000")

    c = Conversation(url, compress)
    await c.open()
    c.proto.sendMessage(b"close-me", False)
    await c.closed(4000, "server-close", "server's close 4000")
    print("ok", flush=True)


def main():
    args = sys.argv[1:]
    compress = "compress" in args
    if args[:1] == ["server"]:
        asyncio.run(server(compress))
    elif args[:1] == ["client"] and len(args) >= 2:
        asyncio.run(client(args[1], compress))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
