"""Python websockets peer for adapters/tests/deflate_interop.rs: one
permessage-deflate setting per connection.

  deflate_peer.py server NAME=TOKENS ...
      one echo server per NAME on 127.0.0.1, configured by TOKENS; prints
      "listening NAME PORT" for each, then "ready".
  deflate_peer.py client NAME URL TOKENS [NAME URL TOKENS ...]
      for each case: connect with the offer TOKENS describe, print
      "case NAME negotiated HEADER" (or "case NAME refused ERROR"), run the
      conversation, print "case NAME ok" (or "case NAME FAILED WHY").
      Exit 1 if a conversation failed.

TOKENS is a comma-separated list ("-" for none) of snct, cnct, smwb=N,
cmwb, cmwb=N, nocmwb (server_/client_no_context_takeover,
server_/client_max_window_bits; nocmwb: a client that does not offer
client_max_window_bits). Servers set the same-named factory parameters.

Server connections first send "negotiated HEADER\\nDETAIL" (the
Sec-WebSocket-Extensions response and the peer's own reading of it), then
echo every message; a text starting with "FRAG:" is echoed in four
fragments.
"""
import asyncio
import os
import random
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

HEADER = "Sec-WebSocket-Extensions"


def parse_tokens(spec):
    opts = {}
    for tok in spec.split(","):
        tok = tok.strip()
        if tok in ("", "-"):
            continue
        if tok == "snct":
            opts["server_no_context_takeover"] = True
        elif tok == "cnct":
            opts["client_no_context_takeover"] = True
        elif tok.startswith("smwb="):
            opts["server_max_window_bits"] = int(tok[5:])
        elif tok == "cmwb":
            opts["client_max_window_bits"] = True
        elif tok.startswith("cmwb="):
            opts["client_max_window_bits"] = int(tok[5:])
        elif tok == "nocmwb":
            opts["client_max_window_bits"] = None
        else:
            raise SystemExit(f"unknown token {tok!r}")
    return opts


def detail(ws):
    return "; ".join(repr(e) for e in ws.protocol.extensions) or "no extension"


def fragments(text, n=4):
    step = max(1, len(text) // n)
    parts = [text[i : i + step] for i in range(0, len(text), step)]
    return parts


async def echo(ws):
    header = ws.response.headers.get(HEADER, "")
    await ws.send(f"negotiated {header}\n{detail(ws)}")
    async for msg in ws:
        if isinstance(msg, str) and msg.startswith("FRAG:"):
            await ws.send(fragments(msg))
        else:
            await ws.send(msg)


async def server(specs):
    servers = []
    for spec in specs:
        name, _, tokens = spec.partition("=")
        factory = ServerPerMessageDeflateFactory(**parse_tokens(tokens))
        s = await serve(
            echo, "127.0.0.1", 0, compression=None, extensions=[factory], max_size=None
        )
        servers.append(s)
        print(f"listening {name} {s.sockets[0].getsockname()[1]}", flush=True)
    print("ready", flush=True)
    await asyncio.Future()


WORDS = (
    "the quick brown fox jumps over lazy dog websocket frame deflate window "
    "context takeover server client message payload compress inflate zlib "
    "python node rust loopback extension negotiate header offer response bits"
).split()


def words(n):
    out = []
    size = 0
    while size < n:
        w = random.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n]


def messages():
    block = os.urandom(4096)
    short = os.urandom(300)
    first = words(1024)
    return [
        first,
        block * 16,
        words(200 * 1024),
        first,
        short * 34,
        os.urandom(1500),
        words(150 * 1024),
    ]


async def conversation(ws):
    for i, msg in enumerate(messages()):
        await ws.send(msg)
        got = await asyncio.wait_for(ws.recv(), 20)
        if got != msg:
            raise RuntimeError(f"message {i} ({len(msg)} bytes) came back different")
    frag = words(40 * 1024)
    await ws.send(fragments(frag))
    got = await asyncio.wait_for(ws.recv(), 20)
    if got != frag:
        raise RuntimeError("fragmented message came back different")
    await ws.close(1000, "done")
    if ws.close_code != 1000:
        raise RuntimeError(f"close code {ws.close_code}")


async def one_case(name, url, tokens):
    factory = ClientPerMessageDeflateFactory(**parse_tokens(tokens))
    try:
        ws = await asyncio.wait_for(
            connect(url, compression=None, extensions=[factory], max_size=None), 10
        )
    except Exception as e:  # the handshake failed on our side
        print(f"case {name} refused {type(e).__name__}: {e}", flush=True)
        return True
    async with ws:
        header = ws.response.headers.get(HEADER, "")
        print(f"case {name} negotiated {header}", flush=True)
        print(f"case {name} detail {detail(ws)}", flush=True)
        try:
            await asyncio.wait_for(conversation(ws), 40)
        except Exception as e:
            print(f"case {name} FAILED {type(e).__name__}: {e}", flush=True)
            return False
    print(f"case {name} ok", flush=True)
    return True


async def client(args):
    ok = True
    for i in range(0, len(args), 3):
        ok &= await one_case(*args[i : i + 3])
    return ok


def main():
    if sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2:]))
    else:
        sys.exit(0 if asyncio.run(client(sys.argv[2:])) else 1)


main()
