//! The DEFLATE backend: raw-deflate compressor and decompressor with window
//! bits, level, sync flush with the `00 00 ff ff` tail removed on send and
//! restored on receive (RFC 7692 §7.2.1, §7.2.2), reset for no context
//! takeover, lazy creation, and a bounded inflate.
//!
//! The backend is zlib-rs, driven through flate2 (see `docs/deflate.md` for
//! the measurements behind that choice).
//!
//! # Window bits 8
//!
//! RFC 7692 §7.1.2 allows windows of 2^8..2^15 bytes. zlib (and zlib-rs,
//! which follows it) refuses `windowBits = 8` for a raw deflate compressor,
//! and before zlib 1.2.9 silently used 9. [`Compressor`] asked for 8 uses 9,
//! the same as Node.js does, and this stays inside the negotiated window: a
//! zlib compressor with a 2^w byte buffer never emits a distance larger than
//! 2^w - 262 (`MAX_DIST`, the buffer less `MIN_LOOKAHEAD`), which for w = 9 is
//! 250 < 256. The test `window_bits_8_stays_within_256_bytes` checks it.
//! [`Decompressor`] accepts 8 and inflates with at least 9, which costs nothing
//! (zlib-rs always reserves a 32 KiB inflate window) and tolerates peers that
//! use zlib's old 8-to-9 upgrade without its distance limit.

use crate::error::CodecError;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The four octets an RFC 1979 sync flush ends with: the LEN/NLEN of an empty
/// stored block. Removed from the tail of every compressed message on send
/// and appended before inflating on receive (RFC 7692 §7.2.1 step 3, §7.2.2
/// step 1).
pub const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The base-2 logarithm of an LZ77 sliding window size, 8..=15
/// (RFC 7692 §7.1.2.1, §7.1.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowBits(u8);

impl WindowBits {
    /// The smallest window RFC 7692 allows: 256 bytes.
    pub const MIN: WindowBits = WindowBits(8);
    /// The largest window, 32,768 bytes, and the default when a parameter is
    /// absent (RFC 7692 §7.1.2.1, §7.2.2).
    pub const MAX: WindowBits = WindowBits(15);

    /// `Some` when `bits` is in 8..=15.
    pub const fn new(bits: u8) -> Option<WindowBits> {
        if bits >= 8 && bits <= 15 {
            Some(WindowBits(bits))
        } else {
            None
        }
    }

    /// The number of bits, 8..=15.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The window size in bytes, 2^bits.
    pub const fn size(self) -> usize {
        1 << self.0
    }

    /// Parses a parameter value by the ABNF `1*DIGIT` of RFC 7692 §7.1.2.1 and
    /// §7.1.2.2: decimal, no leading zero, 8..=15. Anything else is `None`.
    pub fn parse(value: &str) -> Option<WindowBits> {
        let bytes = value.as_bytes();
        if bytes.is_empty() || bytes.len() > 2 || bytes[0] == b'0' {
            return None;
        }
        if !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = bytes.iter().fold(0u8, |acc, d| acc * 10 + (d - b'0'));
        WindowBits::new(n)
    }

    /// The window bits given to zlib for a raw deflate compressor: zlib cannot
    /// compress with 8 and 9 stays within 256 bytes (see the module docs).
    const fn zlib_compress_bits(self) -> u8 {
        if self.0 < 9 { 9 } else { self.0 }
    }
}

impl Default for WindowBits {
    fn default() -> WindowBits {
        WindowBits::MAX
    }
}

impl core::fmt::Display for WindowBits {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A DEFLATE compression level, 0 (stored blocks only) to 9 (best). The
/// default is [`Level::FAST`]: for WebSocket traffic the CPU cost per message
/// matters more than the last percent of ratio (RFC 7692 leaves the level to
/// the implementation, §7.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    /// Stored blocks only: RSV1 set, no compression (RFC 7692 §7.2.3.3).
    pub const NONE: Level = Level(0);
    /// Fastest compression, the default.
    pub const FAST: Level = Level(1);
    /// zlib's default trade-off.
    pub const DEFAULT: Level = Level(6);
    /// Best compression, slowest.
    pub const BEST: Level = Level(9);

    /// `Some` when `level` is in 0..=9.
    pub const fn new(level: u8) -> Option<Level> {
        if level <= 9 { Some(Level(level)) } else { None }
    }

    /// The level, 0..=9.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Level {
    fn default() -> Level {
        Level::FAST
    }
}

/// How far [`Compressor::compress`] flushes after consuming its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// No flush: output what the compressor has ready; the rest stays
    /// buffered. Good for a non-final chunk of a streamed message when
    /// latency does not matter.
    None,
    /// Sync flush and keep the `00 00 ff ff` tail: the output is byte aligned
    /// and decodable now, as RFC 7692 §7.2.1 describes for non-final fragments
    /// ("the removal of 0x00 0x00 0xff 0xff MUST NOT be done").
    Sync,
    /// Sync flush and remove the tail: the end of a message (RFC 7692 §7.2.1
    /// step 3) or of a deflate-frame frame.
    End,
}

/// A raw DEFLATE compressor with a window limit and a level, created lazily
/// on first use (RFC 7692 §7.2.1).
///
/// Memory: nothing until the first [`compress`](Compressor::compress); then
/// the zlib-rs deflate state (see `docs/deflate.md` for measured sizes),
/// kept until [`release`](Compressor::release) or drop.
pub struct Compressor {
    window: WindowBits,
    level: Level,
    inner: Option<Compress>,
    scratch: Scratch,
}

impl core::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Compressor")
            .field("window", &self.window)
            .field("level", &self.level)
            .field("allocated", &self.inner.is_some())
            .finish()
    }
}

impl Compressor {
    /// A compressor that will use at most a 2^`window` byte LZ77 window.
    /// Allocates nothing yet.
    pub const fn new(window: WindowBits, level: Level) -> Compressor {
        Compressor {
            window,
            level,
            inner: None,
            scratch: Scratch::new(),
        }
    }

    /// The negotiated window limit.
    pub const fn window(&self) -> WindowBits {
        self.window
    }

    /// The compression level.
    pub const fn level(&self) -> Level {
        self.level
    }

    /// Whether the backend state is currently allocated.
    pub const fn is_allocated(&self) -> bool {
        self.inner.is_some()
    }

    /// Starts the next message with an empty LZ77 window (no context
    /// takeover, RFC 7692 §7.1.1), keeping the allocation.
    pub fn reset(&mut self) {
        if let Some(c) = self.inner.as_mut() {
            c.reset();
        }
    }

    /// Frees the backend state; the next use allocates it anew with an empty
    /// window.
    pub fn release(&mut self) {
        self.inner = None;
        self.scratch = Scratch::new();
    }

    /// Compresses `input` and appends the output to `out`, flushed as `flush`
    /// says. With [`Flush::End`] the output ends byte aligned with the
    /// `00 00 ff ff` tail removed (RFC 7692 §7.2.1).
    ///
    /// An empty `out` gets exactly the capacity of the output when it fits
    /// the internal buffer (up to 32 KiB); otherwise `out` grows by doubling.
    pub fn compress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        flush: Flush,
    ) -> Result<(), CodecError> {
        let c = match &mut self.inner {
            Some(c) => c,
            None => self.inner.insert(new_compress(self.window, self.level)),
        };
        let mode = match flush {
            Flush::None => FlushCompress::None,
            Flush::Sync | Flush::End => FlushCompress::Sync,
        };
        let start = out.len();
        let mut consumed = 0usize;
        loop {
            // Compressed data rarely exceeds its input by more than a few
            // bytes per block: room for the rest of the input and slack.
            let buf = self
                .scratch
                .room((input.len() - consumed).saturating_add(64));
            let room = buf.len();
            let before_in = c.total_in();
            let before_out = c.total_out();
            c.compress(&input[consumed..], buf, mode)
                .map_err(|_| CodecError::Backend)?;
            let read =
                usize::try_from(c.total_in() - before_in).map_err(|_| CodecError::Backend)?;
            consumed += read;
            let wrote = written(before_out, c.total_out(), room)?;
            let chunk = &buf[..wrote];
            if consumed >= input.len() && wrote < room {
                // Done. Usually the tail is in this last chunk: leave it out
                // instead of truncating `out` afterwards.
                if flush == Flush::End {
                    if let Some(body) = chunk.strip_suffix(&DEFLATE_TAIL) {
                        append(out, body, usize::MAX);
                        return Ok(());
                    }
                }
                append(out, chunk, usize::MAX);
                break;
            }
            append(out, chunk, usize::MAX);
            if read == 0 && wrote == 0 {
                // No progress although there is room: the backend is stuck.
                return Err(CodecError::Backend);
            }
        }
        if flush == Flush::End {
            strip_tail(out, start);
        }
        Ok(())
    }
}

/// A raw deflate compressor for `window` and `level` (cold: once per state).
#[cold]
fn new_compress(window: WindowBits, level: Level) -> Compress {
    Compress::new_with_window_bits(
        Compression::new(u32::from(level.get())),
        false,
        window.zlib_compress_bits(),
    )
}

/// The largest last piece [`Decompressor::decompress_end`] copies to join it
/// with the tail. Copying a small piece costs less than the second backend
/// call it saves (about 470 instructions, a sixth of a 128-byte message);
/// for larger pieces the call is a small share and the copy would not be.
const JOIN_MAX: usize = 2048;

/// The bounds of [`Scratch`].
const SCRATCH_MIN: usize = 1024;
const SCRATCH_MAX: usize = 32 * 1024;

/// The buffer the backend writes into before the output is appended to the
/// caller's `Vec`, kept with the backend state.
///
/// flate2's `*_vec` methods zero-fill all spare capacity of the `Vec` on
/// every call (its zlib-rs binding has no uninitialised-output path), and
/// the output size is unknown beforehand. Writing into an initialised buffer
/// that lives as long as the state, then appending, costs one copy of the
/// output instead, and lets an empty output `Vec` be allocated once at its
/// exact size, which `Bytes::from(Vec)` then takes without another
/// allocation. It grows (zero-filled once) from 1 KiB with the data to at
/// most 32 KiB, so a 16 KiB message inflates in one call with room to spare
/// (zlib decodes the last 258 bytes of an output buffer symbol by symbol).
struct Scratch(Vec<u8>);

impl Scratch {
    const fn new() -> Scratch {
        Scratch(Vec::new())
    }

    /// The whole buffer, grown first to `want` bytes within the bounds.
    #[inline]
    fn room(&mut self, want: usize) -> &mut [u8] {
        let want = want.clamp(SCRATCH_MIN, SCRATCH_MAX);
        if self.0.len() < want {
            self.0.resize(want, 0);
        }
        &mut self.0
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Bytes the backend wrote in one call, which cannot exceed the room it had.
#[inline]
fn written(before: u64, after: u64, room: usize) -> Result<usize, CodecError> {
    usize::try_from(after - before)
        .ok()
        .filter(|&n| n <= room)
        .ok_or(CodecError::Backend)
}

/// Appends `data` to `out`, never letting `out` hold more than `cap` bytes
/// of capacity (`out.len() + data.len() <= cap`): an empty `out` is
/// allocated at exactly `data.len()`, a full one doubles.
#[inline]
fn append(out: &mut Vec<u8>, data: &[u8], cap: usize) {
    if out.capacity() == 0 {
        *out = data.to_vec();
        return;
    }
    if out.capacity() - out.len() < data.len() {
        let grow = data.len().max(out.capacity()).min(cap - out.len());
        out.reserve_exact(grow);
    }
    out.extend_from_slice(data);
}

/// Removes the `00 00 ff ff` tail after a sync flush (RFC 7692 §7.2.1 step 3).
/// If the output did not end with an empty stored block, steps 2 and 3
/// together amount to appending the three header bits of one, padded: `00`.
fn strip_tail(out: &mut Vec<u8>, start: usize) {
    if out.len() >= start + 4 && out.ends_with(&DEFLATE_TAIL) {
        out.truncate(out.len() - 4);
    } else {
        out.push(0x00);
    }
}

/// A raw DEFLATE decompressor, created lazily on first use, whose output is
/// bounded (RFC 7692 §7.2.2).
///
/// Memory: nothing until the first [`decompress`](Decompressor::decompress);
/// then the zlib-rs inflate state and its 32 KiB window (zlib-rs reserves the
/// full window whatever the window bits).
pub struct Decompressor {
    window: WindowBits,
    inner: Option<Decompress>,
    scratch: Scratch,
    /// The last piece of a message with the tail appended, for
    /// [`decompress_end`](Decompressor::decompress_end).
    joined: Vec<u8>,
}

impl core::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decompressor")
            .field("window", &self.window)
            .field("allocated", &self.inner.is_some())
            .finish()
    }
}

impl Decompressor {
    /// A decompressor for data compressed with at most a 2^`window` window.
    /// Allocates nothing yet.
    pub const fn new(window: WindowBits) -> Decompressor {
        Decompressor {
            window,
            inner: None,
            scratch: Scratch::new(),
            joined: Vec::new(),
        }
    }

    /// The negotiated window limit of the peer's compressor.
    pub const fn window(&self) -> WindowBits {
        self.window
    }

    /// Whether the backend state is currently allocated.
    pub const fn is_allocated(&self) -> bool {
        self.inner.is_some()
    }

    /// Forgets the LZ77 window (the peer does not take over its context,
    /// RFC 7692 §7.2.2), keeping the allocation.
    pub fn reset(&mut self) {
        if let Some(d) = self.inner.as_mut() {
            d.reset(false);
        }
    }

    /// Frees the backend state.
    pub fn release(&mut self) {
        self.inner = None;
        self.scratch = Scratch::new();
        self.joined = Vec::new();
    }

    /// Inflates the last piece of a message followed by the `00 00 ff ff`
    /// tail (RFC 7692 §7.2.2 step 1), with the same result and bounds as
    /// [`decompress`](Decompressor::decompress) of `input` and then of
    /// [`DEFLATE_TAIL`]. A piece of up to 2 KiB is copied next to the tail and
    /// inflated in one backend call instead of two, which is most of the cost
    /// of a small message.
    pub fn decompress_end(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), CodecError> {
        if input.len() > JOIN_MAX {
            self.decompress(input, out, limit)?;
            return self.decompress(&DEFLATE_TAIL, out, limit);
        }
        let mut joined = core::mem::take(&mut self.joined);
        joined.clear();
        joined.extend_from_slice(input);
        joined.extend_from_slice(&DEFLATE_TAIL);
        let r = self.decompress(&joined, out, limit);
        // Kept with the state, freed with it.
        self.joined = joined;
        r
    }

    /// Inflates `input` and appends the output to `out`, which may grow to at
    /// most `limit` bytes in total (its current length included).
    ///
    /// The output is inflated in pieces of at most 32 KiB (an internal
    /// buffer) and `out` grows by each piece, doubling, never past
    /// `limit + 1` bytes; an empty `out` that receives one piece is allocated
    /// at exactly its size. So a decompression bomb costs at most the limit
    /// in memory: when the output would pass `limit`, the call stops with
    /// [`CodecError::TooBig`] and the decompressor must not be used again.
    /// A block with BFINAL set ends the zlib stream; any input after it is
    /// inflated by a fresh stream primed with the output so far as its
    /// dictionary (RFC 7692 §7.2.1 allows BFINAL blocks inside a message).
    pub fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), CodecError> {
        self.inflate(input, out, limit, false).map(|_| ())
    }

    /// Inflates `input` into `out` until the input is used up or `out`
    /// holds `limit` bytes (its current length included), and returns how
    /// many input bytes were consumed. Reaching the limit is not an error:
    /// the rest of the input waits, compressed, for the caller to make room
    /// and call again. This is how a stream extension inflates on demand
    /// (deflate-stream: the connection inflates no further ahead than its
    /// parser needs), so its output is bounded at every moment whatever the
    /// compression ratio.
    pub fn decompress_some(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<usize, CodecError> {
        self.inflate(input, out, limit, true)
    }

    /// [`decompress`](Self::decompress) (`pause` false: past `limit` is
    /// `TooBig`) and [`decompress_some`](Self::decompress_some) (`pause`
    /// true: at `limit` it returns the input consumed so far).
    fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        pause: bool,
    ) -> Result<usize, CodecError> {
        // A paused call may have left output inside the inflater: drain it
        // even without new input.
        if input.is_empty() && !pause {
            return Ok(0);
        }
        let bits = self.window.get().max(9);
        let d = match &mut self.inner {
            Some(d) => d,
            None => self.inner.insert(new_decompress(bits)),
        };
        // Pausing stops at the limit; otherwise one byte past it proves the
        // output too big.
        let hard_cap = if pause {
            limit
        } else {
            limit.saturating_add(1)
        };
        // A first guess of the output: four times the input, with room for
        // zlib's fast loop (it needs 258 free bytes) and rounded up to a
        // power of two. The buffer doubles whenever a call fills it.
        let mut want = input
            .len()
            .saturating_mul(4)
            .saturating_add(512)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX);
        let mut consumed = 0usize;
        loop {
            if pause && out.len() >= hard_cap {
                return Ok(consumed);
            }
            if out.len() >= hard_cap {
                return Err(CodecError::TooBig {
                    size: out.len(),
                    max: limit,
                });
            }
            let buf = self.scratch.room(want);
            let room = buf.len().min(hard_cap - out.len());
            let buf = &mut buf[..room];
            let before_in = d.total_in();
            let before_out = d.total_out();
            let result = d.decompress(&input[consumed..], buf, FlushDecompress::Sync);
            let wrote = written(before_out, d.total_out(), room)?;
            // Output before a corrupt byte is kept, as flate2's `_vec`
            // methods keep it: deflate-stream delivers the frames it holds.
            append(out, &buf[..wrote], hard_cap);
            let status = result.map_err(|_| CodecError::Corrupt)?;
            let read =
                usize::try_from(d.total_in() - before_in).map_err(|_| CodecError::Backend)?;
            consumed += read;
            if out.len() > limit {
                return Err(CodecError::TooBig {
                    size: out.len(),
                    max: limit,
                });
            }
            let room_left = wrote < room;
            if status == Status::StreamEnd {
                if consumed < input.len() {
                    restart_after_final_block(d, out, bits)?;
                    continue;
                }
                // Everything after the final block was consumed: start a
                // fresh stream so the next input is not refused.
                restart_after_final_block(d, out, bits)?;
                return Ok(consumed);
            }
            if consumed >= input.len() && room_left {
                return Ok(consumed);
            }
            if read == 0 && wrote == 0 && room_left {
                // No progress with input left and room to write: zlib wants
                // nothing more from this input, which is a corrupt stream.
                return Err(CodecError::Corrupt);
            }
            if !room_left {
                want = self.scratch.len().saturating_mul(2);
            }
        }
    }
}

/// A raw inflater for `bits` (cold: once per state).
#[cold]
fn new_decompress(bits: u8) -> Decompress {
    Decompress::new_with_window_bits(false, bits)
}

/// After a block with BFINAL set, zlib's stream has ended. RFC 7692 lets more
/// blocks follow in the same message and later messages refer back into it, so
/// continue with a fresh raw stream whose dictionary is the most recent output.
/// Only output of the current call is known here; a later back-reference past
/// it fails cleanly as [`CodecError::Corrupt`].
fn restart_after_final_block(d: &mut Decompress, out: &[u8], bits: u8) -> Result<(), CodecError> {
    d.reset(false);
    let window = 1usize << bits;
    let dict = &out[out.len().saturating_sub(window)..];
    if !dict.is_empty() {
        d.set_dictionary(dict).map_err(|_| CodecError::Backend)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
