//! The three codecs as ws-proto [`Extension`]s: permessage-deflate at message
//! granularity (RFC 7692 §6), deflate-frame at frame granularity and
//! deflate-stream below the framing.

use crate::codec::{Budget, FrameKind, Transform};
use crate::error::CodecError;
use crate::frame::DeflateFrame;
use crate::pmd::{PERMESSAGE_DEFLATE, PerMessageDeflate};
use crate::stream::{DEFLATE_STREAM, DeflateStream};
use ws_proto::{Bytes, BytesMut, Encoded, Extension, ExtensionError, FrameMeta, Granularity};

/// RSV1, the "Per-Message Compressed" bit (RFC 7692 §6, §9.2), as it sits in
/// the first header octet.
pub const RSV1: u8 = 0x40;

impl From<CodecError> for ExtensionError {
    /// The one mapping of codec errors to close codes (RFC 6455 §7.4.1),
    /// through the `ExtensionError` ws-proto closes with: TooBig 1009 (1004
    /// on hybi-06/07), Corrupt 1007, RSV1 misplaced and out of sequence
    /// 1002, Backend 1011. ws-proto refuses misplaced RSV bits and broken
    /// sequences before an extension sees them, so the 1002 cases are a
    /// second line of defence. A test sends every variant through a
    /// connection and reads the code off its close frame.
    fn from(e: CodecError) -> ExtensionError {
        match e {
            CodecError::TooBig { size, max } => ExtensionError::TooBig {
                size: size as u64,
                max: max as u64,
            },
            CodecError::Corrupt => ExtensionError::InvalidData("invalid DEFLATE data".into()),
            CodecError::Rsv1Misplaced => ExtensionError::Protocol("RSV1 misplaced".into()),
            CodecError::OutOfSequence => ExtensionError::Protocol("frame out of sequence".into()),
            CodecError::Backend => ExtensionError::Internal("deflate backend failure".into()),
        }
    }
}

#[inline]
fn kind(meta: &FrameMeta) -> FrameKind {
    if meta.first {
        FrameKind::First
    } else {
        FrameKind::Continuation
    }
}

/// A decoded payload, held to the trait's bound: a frame passed through
/// unchanged may not exceed `max_output` either.
#[inline]
fn decoded(
    t: Transform,
    original: Bytes,
    out: Vec<u8>,
    max_output: usize,
) -> Result<Bytes, ExtensionError> {
    let (payload, _) = output(t, original, out);
    if payload.len() > max_output {
        return Err(ExtensionError::TooBig {
            size: payload.len() as u64,
            max: max_output as u64,
        });
    }
    Ok(payload)
}

#[inline]
fn output(t: Transform, original: Bytes, out: Vec<u8>) -> (Bytes, bool) {
    match t {
        Transform::Unchanged => (original, false),
        Transform::Replaced { rsv1 } => (Bytes::from(out), rsv1),
    }
}

impl Extension for PerMessageDeflate {
    fn name(&self) -> &str {
        PERMESSAGE_DEFLATE
    }

    fn rsv_mask(&self) -> u8 {
        RSV1
    }

    fn granularity(&self) -> Granularity {
        Granularity::Message
    }

    /// Shared when we compress without context takeover (the server's
    /// `server_no_context_takeover`, a client's `client_no_context_takeover`).
    fn shared_encoding(&self) -> Option<u64> {
        // The tag keeps permessage-deflate's keys apart from any other
        // extension's.
        self.encoder_key().map(|k| k ^ 0x706d_6400_0000_0000)
    }

    fn encode(&mut self, meta: &FrameMeta, payload: Bytes) -> Result<Encoded, ExtensionError> {
        let mut out = Vec::new();
        let t = self.encode_frame(kind(meta), meta.fin, &payload, &mut out)?;
        let (payload, rsv1) = output(t, payload, out);
        Ok(Encoded {
            payload,
            rsv: if rsv1 { RSV1 } else { 0 },
        })
    }

    fn decode(
        &mut self,
        meta: &FrameMeta,
        payload: Bytes,
        max_output: usize,
    ) -> Result<Bytes, ExtensionError> {
        let rsv1 = meta.first && meta.rsv & RSV1 != 0;
        let mut out = Vec::new();
        let t = self.decode_frame(
            kind(meta),
            rsv1,
            meta.fin,
            &payload,
            Budget::Call(max_output),
            &mut out,
        )?;
        decoded(t, payload, out, max_output)
    }
}

impl Extension for DeflateFrame {
    fn name(&self) -> &str {
        self.agreed().name.as_str()
    }

    fn rsv_mask(&self) -> u8 {
        RSV1
    }

    fn granularity(&self) -> Granularity {
        Granularity::Frame
    }

    fn encode(&mut self, meta: &FrameMeta, payload: Bytes) -> Result<Encoded, ExtensionError> {
        let mut out = Vec::new();
        let t = self.encode_frame(kind(meta), &payload, &mut out)?;
        let (payload, rsv1) = output(t, payload, out);
        Ok(Encoded {
            payload,
            rsv: if rsv1 { RSV1 } else { 0 },
        })
    }

    fn decode(
        &mut self,
        meta: &FrameMeta,
        payload: Bytes,
        max_output: usize,
    ) -> Result<Bytes, ExtensionError> {
        let mut out = Vec::new();
        let t = self.decode_frame(
            kind(meta),
            meta.rsv & RSV1 != 0,
            &payload,
            max_output,
            &mut out,
        )?;
        decoded(t, payload, out, max_output)
    }
}

impl Extension for DeflateStream {
    fn name(&self) -> &str {
        DEFLATE_STREAM
    }

    fn rsv_mask(&self) -> u8 {
        0
    }

    fn granularity(&self) -> Granularity {
        Granularity::Stream
    }

    fn encode_stream(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ExtensionError> {
        let mut z = Vec::new();
        self.encode(input, &mut z)?;
        out.extend_from_slice(&z);
        Ok(())
    }

    fn decode_stream(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        max_output: usize,
    ) -> Result<usize, ExtensionError> {
        let mut plain = Vec::new();
        let r = self.decode_some(input, &mut plain, max_output);
        // On failure, what was inflated before the corrupt byte is still
        // handed over (at most `max_output`): the connection delivers the
        // frames it completes, then the error.
        out.extend_from_slice(&plain);
        r.map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use ws_proto::{Config, Connection, Instant, Negotiated, Role};

    /// An extension whose every decode fails with the codec error it holds.
    struct Failing(CodecError);

    impl Extension for Failing {
        fn name(&self) -> &str {
            "failing"
        }

        fn rsv_mask(&self) -> u8 {
            RSV1
        }

        fn decode(&mut self, _: &FrameMeta, _: Bytes, _: usize) -> Result<Bytes, ExtensionError> {
            Err(self.0.clone().into())
        }
    }

    /// The close code RFC 6455 §7.4.1 asks for. The match has no wildcard:
    /// a new variant does not compile until it is given its code here (and
    /// added to the list below).
    fn expected(e: &CodecError) -> u16 {
        match e {
            CodecError::TooBig { .. } => 1009,
            CodecError::Corrupt => 1007,
            CodecError::Rsv1Misplaced | CodecError::OutOfSequence => 1002,
            CodecError::Backend => 1011,
        }
    }

    /// The close code on the wire when a server's extension fails with `e`
    /// on a client's compressed text frame.
    fn code_sent(e: CodecError) -> u16 {
        let ext: Vec<Box<dyn Extension>> = vec![Box::new(Failing(e))];
        let negotiated = Negotiated::default().with_extensions(ext);
        let mut server = Connection::new(
            Role::Server,
            Config::default(),
            negotiated,
            None,
            Instant::ZERO,
        )
        .unwrap();
        // FIN, RSV1, text; masked (key 0), one byte.
        let frame = [0xc1, 0x81, 0, 0, 0, 0, b'x'];
        let r = server
            .receive(Instant::ZERO, &frame)
            .and_then(|()| server.poll_event().map(|_| ()));
        assert!(r.is_err(), "the extension's error fails the connection");
        let mut wire = Vec::new();
        while server.poll_transmit(&mut wire) > 0 {}
        match wire[..] {
            [0x88, len, hi, lo, ..] if len >= 2 => u16::from_be_bytes([hi, lo]),
            _ => panic!("no close frame: {wire:02x?}"),
        }
    }

    #[test]
    fn every_codec_error_closes_the_connection_with_its_code() {
        let all = [
            CodecError::TooBig { size: 2, max: 1 },
            CodecError::Corrupt,
            CodecError::Rsv1Misplaced,
            CodecError::OutOfSequence,
            CodecError::Backend,
        ];
        for e in all {
            let want = expected(&e);
            let ext = ExtensionError::from(e.clone());
            let code = ws_proto::Error::from(ext).close_code().map(|c| c.0);
            assert_eq!(code, Some(want), "{e:?}: the error's code");
            assert_eq!(code_sent(e.clone()), want, "{e:?}: the code on the wire");
        }
    }
}
