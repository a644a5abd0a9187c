# -*- coding: utf-8 -*-
"""Runs Autobahn's wstest with every listening socket bound to 127.0.0.1.

wstest (Python 2) binds its fuzzing server and its web page to all
interfaces. This launcher wraps Twisted's listenTCP so that whatever the
caller asks for, the socket is bound to the loopback interface only, then
hands over to wstest's own command line:

    python2 wstest_local.py -m fuzzingserver -s spec.json -u 0
"""
import sys

from twisted.internet import posixbase

LOOPBACK = '127.0.0.1'
_listen_tcp = posixbase.PosixReactorBase.listenTCP


def _listen_tcp_loopback(self, port, factory, backlog=50, interface=''):
    if interface not in ('', LOOPBACK, 'localhost'):
        raise ValueError('refusing to listen on %r: loopback only' % interface)
    return _listen_tcp(self, port, factory, backlog, LOOPBACK)


posixbase.PosixReactorBase.listenTCP = _listen_tcp_loopback

from autobahntestsuite.wstest import run  # noqa: E402 (after the patch)

if __name__ == '__main__':
    sys.argv[0] = 'wstest'
    sys.exit(run())
