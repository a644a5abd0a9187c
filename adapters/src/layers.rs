//! The layers a [`Driver`](crate::Driver) may put between the socket and
//! the session, behind one interface (`receive`, `transmit`, `pending`,
//! `close_notify`): an HTTP proxy's `CONNECT` tunnel (RFC 7231 §4.3.6),
//! outermost and gone once the tunnel is open, and TLS (rustls, itself
//! sans-IO). A plain connection has none and pays nothing for them.

use std::io::{self, IoSlice};
#[cfg(feature = "tls")]
use std::io::{Read, Write};

use http_upgrade::{ProxyConnect, ProxyEvent};
use ws_proto::Instant;
use ws_proto::session::Session;

use crate::driver::{write_session, write_some};
use crate::{Error, ErrorKind};

/// The layers of one connection, used only while needed.
#[derive(Default)]
pub(crate) struct Layers {
    /// The tunnel being opened; nothing else goes in or out until then.
    proxy: Option<ProxyConnect>,
    #[cfg(feature = "tls")]
    tls: Option<rustls::Connection>,
}

impl Layers {
    pub(crate) fn set_proxy(&mut self, proxy: ProxyConnect) {
        self.proxy = Some(proxy);
    }

    #[cfg(feature = "tls")]
    pub(crate) fn set_tls(&mut self, tls: rustls::Connection) {
        self.tls = Some(tls);
    }

    /// Bytes read from the socket, through the layers into `session`.
    /// An error is the layer's (the proxy refused, TLS failed): the
    /// connection is over.
    pub(crate) fn receive(
        &mut self,
        session: &mut Session,
        now: Instant,
        data: &[u8],
    ) -> Result<(), Error> {
        if let Some(proxy) = &mut self.proxy {
            let event = proxy.receive(now, data).and_then(|()| proxy.poll_event());
            return match event {
                Ok(Some(ProxyEvent::Open)) => {
                    let rest = proxy.take_leftover();
                    self.proxy = None;
                    log::debug!("proxy tunnel open");
                    if rest.is_empty() {
                        Ok(())
                    } else {
                        self.receive(session, now, &rest)
                    }
                }
                Ok(_) => Ok(()),
                Err(e) => Err(ErrorKind::Proxy(e).into()),
            };
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return feed_tls(tls, session, now, data);
        }
        // Errors are stored in the session and reported by poll_event.
        let _ = session.receive(now, data);
        Ok(())
    }

    /// Writes with `write` until everything is out (`Ok`) or `write` fails
    /// (`WouldBlock` included): before the tunnel is open only the
    /// `CONNECT`; with TLS, the session's output encrypted.
    pub(crate) fn transmit(
        &mut self,
        session: &mut Session,
        write: &mut impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<()> {
        if let Some(proxy) = &mut self.proxy {
            while proxy.pending_transmit() > 0 {
                let mut slices = [&[][..]; 4];
                let k = proxy.transmit_slices(&mut slices);
                let mut io = [IoSlice::new(&[]); 4];
                for (o, s) in io.iter_mut().zip(&slices[..k]) {
                    *o = IoSlice::new(s);
                }
                let n = write_some(write, io.get(..k).unwrap_or_default())?;
                proxy.advance_transmit(n);
            }
            // Nothing else may go out before the tunnel is open.
            return Ok(());
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return write_tls(tls, session, write);
        }
        write_session(session, write)
    }

    /// Bytes of the layers' own waiting to be written (TLS records count
    /// as one).
    pub(crate) fn pending(&self) -> usize {
        #[allow(unused_mut)]
        let mut n = self
            .proxy
            .as_ref()
            .map_or(0, ProxyConnect::pending_transmit);
        #[cfg(feature = "tls")]
        if self.tls.as_ref().is_some_and(|t| t.wants_write()) {
            n += 1;
        }
        n
    }

    /// Queues TLS's `close_notify`, if TLS is on.
    pub(crate) fn close_notify(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
        }
    }
}

#[cfg(feature = "tls")]
fn feed_tls(
    tls: &mut rustls::Connection,
    session: &mut Session,
    now: Instant,
    mut data: &[u8],
) -> Result<(), Error> {
    while !data.is_empty() {
        tls.read_tls(&mut data)?;
        let state = tls.process_new_packets()?;
        let mut left = state.plaintext_bytes_to_read();
        while left > 0 {
            let n = tls.reader().read(session.recv_buf(left))?;
            // A protocol error is stored and reported by poll_event.
            let _ = session.recv_commit(now, n);
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        if state.peer_has_closed() {
            session.receive_eof(now);
        }
    }
    Ok(())
}

#[cfg(feature = "tls")]
fn write_tls(
    tls: &mut rustls::Connection,
    session: &mut Session,
    write: &mut impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
) -> io::Result<()> {
    struct Sink<'a, F>(&'a mut F);
    impl<F: FnMut(&[IoSlice<'_>]) -> io::Result<usize>> Write for Sink<'_, F> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            (self.0)(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            (self.0)(bufs)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    loop {
        // Encrypt what the session has queued (rustls buffers it until the
        // TLS handshake is done), then write the records out.
        while session.pending_transmit() > 0 {
            let mut slices = [IoSlice::new(&[]); 16];
            let k = session.fill_io_slices(&mut slices);
            let n = tls
                .writer()
                .write_vectored(slices.get(..k).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            session.advance_transmit(n);
        }
        if !tls.wants_write() {
            return Ok(());
        }
        while tls.wants_write() {
            let n = tls.write_tls(&mut Sink(write))?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
    }
}
