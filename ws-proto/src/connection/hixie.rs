//! hixie-76 (draft-ietf-hybi-thewebsocketprotocol-00) receive path, both
//! roles: -00 §4.2 (client) and §5.3 (server).
//!
//! * `0x00` … `0xFF`: a text message, UTF-8 checked as it arrives (the
//!   draft leaves bad UTF-8 to the server's discretion and has clients
//!   substitute U+FFFD; we fail the connection in both roles, as RFC 6455
//!   does), delivered whole or streamed like any message. The frame is
//!   bounded by `max_frame_size` and `max_message_size` while it is still
//!   unterminated: a peer that never sends `0xFF` fails with 1009's error
//!   once it passes the limit.
//! * another type byte without the high bit: read to `0xFF` and discarded
//!   (the client rule, "discard the data"; the server "may" disconnect
//!   instead), within the same limit;
//! * a type byte with the high bit: a length in 7-bit groups; `0xFF 0x00`
//!   is the closing handshake, any other such frame is skipped (§4.2 step
//!   6-7, §5.3 step 9), refused as soon as its length passes
//!   `max_frame_size`.

use super::codec::{Codec, Hixie};
use super::recv::Step;
use super::{Connection, RecvFrame};
use crate::error::{CapacityError, Error, PeerError};
use crate::event::{Event, Utf8Bytes};
use crate::frame::{FrameHeader, OpCode, Status};
use crate::legacy::{HixieFrame, parse_hixie_start};

impl Connection {
    pub(super) fn next_hixie_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            if self.close_received {
                return Ok(None);
            }
            if let Some(ev) = self.pending_stream_event() {
                return Ok(Some(ev));
            }
            let step = if !self.rf.active {
                self.start_hixie_frame()?
            } else if self.hixie().sentinel {
                self.advance_sentinel()?
            } else {
                self.skip_length_frame()
            };
            match step {
                Step::Event(ev) => return Ok(Some(ev)),
                Step::Continue => {}
                Step::NeedMore => return self.end_of_input(),
            }
        }
    }

    /// The kind of frame being received (hixie-76 state, kept by the codec).
    fn hixie(&self) -> Hixie {
        match self.shared.codec {
            Codec::Hixie76(h) => h,
            _ => Hixie::default(),
        }
    }

    fn set_hixie(&mut self, h: Hixie) {
        if let Codec::Hixie76(state) = &mut self.shared.codec {
            *state = h;
        }
    }

    fn hixie_limit(&self) -> u64 {
        let c = &self.shared.config;
        c.max_frame_size.min(c.max_message_size)
    }

    fn start_hixie_frame(&mut self) -> Result<Step, Error> {
        let max = self.hixie_limit();
        let data = self.rx.get(..self.data_len()).unwrap_or_default();
        let (frame, n) = match parse_hixie_start(data, max)? {
            Status::Complete(v) => v,
            Status::Partial => return Ok(Step::NeedMore),
        };
        self.rx_advance(n);
        if frame.is_close() {
            return Ok(Step::Event(self.on_hixie_close()));
        }
        self.rf = match frame {
            HixieFrame::Sentinel { frame_type } => {
                let text = frame_type == 0x00;
                if text {
                    self.begin_data_frame(&FrameHeader {
                        fin: true,
                        rsv: 0,
                        opcode: OpCode::Text,
                        mask: None,
                        payload_len: 0,
                    });
                }
                self.set_hixie(Hixie {
                    sentinel: true,
                    discard: !text,
                });
                RecvFrame {
                    active: true,
                    fin: true,
                    opcode: OpCode::Text,
                    ..RecvFrame::IDLE
                }
            }
            HixieFrame::Length { len, .. } => {
                self.set_hixie(Hixie {
                    sentinel: false,
                    discard: true,
                });
                RecvFrame {
                    active: true,
                    remaining: len,
                    ..RecvFrame::IDLE
                }
            }
        };
        Ok(Step::Continue)
    }

    /// Scans the new bytes of a sentinel frame for its `0xFF`.
    fn advance_sentinel(&mut self) -> Result<Step, Error> {
        let rf = self.rf;
        let discard = self.hixie().discard;
        let end = self.data_len();
        let fresh = self.rx.get(rf.held..end).unwrap_or_default();
        let found = fresh.iter().position(|&b| b == 0xFF);
        let n = found.unwrap_or(fresh.len());
        // `remaining` counts what a discarded frame has used so far.
        let seen = if discard {
            rf.remaining
        } else {
            self.rm.size + rf.held as u64
        };
        let size = seen.saturating_add(n as u64);
        let max = self.hixie_limit();
        if size > max {
            return Err(CapacityError::MessageTooLarge { size, max }.into());
        }
        if discard {
            self.rx_advance(n + usize::from(found.is_some()));
            self.rf.remaining = size;
            if found.is_none() {
                return Ok(Step::NeedMore);
            }
            self.rf = RecvFrame::IDLE;
            return Ok(Step::Continue);
        }
        if let Some(new) = fresh.get(..n) {
            self.rm.utf8.feed(new).map_err(|_| PeerError::InvalidUtf8)?;
        }
        self.rf.held += n;
        if found.is_none() {
            return self.partial_frame();
        }
        let payload = self.take_rx(self.rf.held);
        self.rx_advance(1);
        self.rf = RecvFrame::IDLE;
        self.complete_data(payload, true)
    }

    fn skip_length_frame(&mut self) -> Step {
        let n = (self.data_len() as u64).min(self.rf.remaining);
        self.rx_advance(n as usize);
        self.rf.remaining -= n;
        if self.rf.remaining > 0 {
            return Step::NeedMore;
        }
        self.rf = RecvFrame::IDLE;
        Step::Continue
    }

    /// `0xFF 0x00`: answer it unless we started the close, and stop reading
    /// ("Any data on the connection after the 0xFF frame is discarded").
    fn on_hixie_close(&mut self) -> Event {
        self.close_received = true;
        self.ending = true;
        if !self.close_sent {
            self.close_sent = true;
            self.queue_close(None, &[]);
        }
        self.on_handshake_complete();
        self.drop_input();
        Event::Close {
            code: None,
            reason: Utf8Bytes::new(),
        }
    }
}
