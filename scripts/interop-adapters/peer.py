"""Python websockets peer for adapters/tests/peers.rs.

  peer.py server [compress]      echo server on 127.0.0.1, prints "listening PORT"
  peer.py client URL [compress]  runs the conversation against URL, exit 0 on success

The echo server closes with 4000 when it receives the text "close-me".
TLS (wss://): the server takes PEER_TLS_CERT and PEER_TLS_KEY (PEM files),
the client trusts PEER_TLS_CA (a PEM file).
"""
import asyncio
import os
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve


def compression(args):
    return "deflate" if "compress" in args else None


async def echo(ws):
    async for msg in ws:
        if msg == "close-me":
            await ws.close(4000, "server-close")
            return
        await ws.send(msg)


def server_tls():
    cert = os.environ.get("PEER_TLS_CERT")
    if not cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, os.environ["PEER_TLS_KEY"])
    return ctx


def client_tls(url):
    if not url.startswith("wss:"):
        return None
    return ssl.create_default_context(cafile=os.environ["PEER_TLS_CA"])


async def server(args):
    tls = server_tls()
    async with serve(echo, "127.0.0.1", 0, compression=compression(args), max_size=None, ssl=tls) as s:
        port = s.sockets[0].getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")


async def client(url, args):
    comp = compression(args)
    tls = client_tls(url)
    async with connect(url, compression=comp, max_size=None, ssl=tls) as ws:
        exts = [e.name for e in ws.protocol.extensions]
        check(exts == (["permessage-deflate"] if comp else []), f"extensions {exts}")
        await ws.send("hello")
        check(await ws.recv() == "hello", "text")
        await ws.send(bytes([0, 1, 2, 255]))
        check(await ws.recv() == bytes([0, 1, 2, 255]), "binary")
        big = bytes((i * 31 % 251) for i in range(1 << 20))
        await ws.send(big)
        check(await ws.recv() == big, "1 MiB")
        await ws.send(["frag", "mented ", "mess", "age \u2713"])
        check(await ws.recv() == "fragmented message \u2713", "fragmented")
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        await ws.close(1000, "client-close")
        check(ws.close_code == 1000, f"close echo {ws.close_code}")
    async with connect(url, compression=comp, ssl=tls) as ws:
        await ws.send("close-me")
        try:
            await ws.recv()
        except Exception:
            pass
        check(ws.close_code == 4000, f"server close {ws.close_code}")
    print("conversation ok", flush=True)


def main():
    if sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2:]))
    else:
        asyncio.run(asyncio.wait_for(client(sys.argv[2], sys.argv[3:]), 60))


main()
