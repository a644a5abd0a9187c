//! The four permessage-deflate parameters in offers and responses
//! (RFC 7692 §7.1), parsed strictly and written back.

use crate::backend::WindowBits;
use crate::element::{flag, for_each_param, is_named, push};
use crate::error::NegotiationError;
use http_upgrade::ExtensionOffer;

/// The registered extension name (RFC 7692 §7, §9.1).
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";
const KNOWN: [&str; 4] = [
    SERVER_NO_CONTEXT_TAKEOVER,
    CLIENT_NO_CONTEXT_TAKEOVER,
    SERVER_MAX_WINDOW_BITS,
    CLIENT_MAX_WINDOW_BITS,
];

/// `client_max_window_bits` in an offer: absent, present without a value, or
/// with one (RFC 7692 §7.1.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ClientWindowOffer {
    /// Not offered: the response must not carry the parameter.
    #[default]
    Absent,
    /// `client_max_window_bits` without value: the client accepts any limit
    /// the server picks.
    Supported,
    /// `client_max_window_bits=w`: supported, and a hint that the client will
    /// not use more than 2^w.
    Hint(WindowBits),
}

/// One permessage-deflate offer of a client (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PmdOffer {
    /// Asks the server to reset its compressor after each message
    /// (§7.1.1.1).
    pub server_no_context_takeover: bool,
    /// Hints that the client will reset its compressor after each message
    /// (§7.1.1.2).
    pub client_no_context_takeover: bool,
    /// Limits the server's compressor window (§7.1.2.1).
    pub server_max_window_bits: Option<WindowBits>,
    /// Support for, and a hint about, a limit on the client's window
    /// (§7.1.2.2).
    pub client_max_window_bits: ClientWindowOffer,
}

/// The agreed parameters: a server's response accepting permessage-deflate
/// (RFC 7692 §5, §7.1). Both endpoints configure their codecs from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PmdAgreed {
    /// The server resets its compressor after each message (§7.1.1.1).
    pub server_no_context_takeover: bool,
    /// The client must reset its compressor after each message (§7.1.1.2).
    pub client_no_context_takeover: bool,
    /// The server compresses with at most 2^w bytes of window (§7.1.2.1);
    /// `None` means 15.
    pub server_max_window_bits: Option<WindowBits>,
    /// The client compresses with at most 2^w bytes of window (§7.1.2.2);
    /// `None` means 15.
    pub client_max_window_bits: Option<WindowBits>,
}

fn window_value(name: &str, value: Option<&str>) -> Result<WindowBits, NegotiationError> {
    value
        .and_then(WindowBits::parse)
        .ok_or_else(|| NegotiationError::InvalidValue(name.to_owned()))
}

impl PmdOffer {
    /// Parses an offer, refusing what RFC 7692 §7 makes a server decline: an
    /// unknown parameter, a duplicate, a value where none is allowed, a
    /// missing or invalid window size.
    pub fn parse(e: &ExtensionOffer) -> Result<PmdOffer, NegotiationError> {
        if !is_named(e, PERMESSAGE_DEFLATE) {
            return Err(NegotiationError::WrongName);
        }
        let mut o = PmdOffer::default();
        for_each_param(e, &KNOWN, |k, v| {
            match k {
                0 => o.server_no_context_takeover = flag(KNOWN[k], v)?,
                1 => o.client_no_context_takeover = flag(KNOWN[k], v)?,
                2 => o.server_max_window_bits = Some(window_value(KNOWN[k], v)?),
                _ => {
                    o.client_max_window_bits = match v {
                        None => ClientWindowOffer::Supported,
                        Some(_) => ClientWindowOffer::Hint(window_value(KNOWN[k], v)?),
                    }
                }
            }
            Ok(())
        })?;
        Ok(o)
    }

    /// The offer as a header element (RFC 7692 §7.1, §5.2).
    pub fn to_element(&self) -> ExtensionOffer {
        let mut e = ExtensionOffer::new(PERMESSAGE_DEFLATE);
        if self.server_no_context_takeover {
            push(&mut e, SERVER_NO_CONTEXT_TAKEOVER, None);
        }
        if self.client_no_context_takeover {
            push(&mut e, CLIENT_NO_CONTEXT_TAKEOVER, None);
        }
        if let Some(w) = self.server_max_window_bits {
            push(&mut e, SERVER_MAX_WINDOW_BITS, Some(w.to_string()));
        }
        match self.client_max_window_bits {
            ClientWindowOffer::Absent => {}
            ClientWindowOffer::Supported => push(&mut e, CLIENT_MAX_WINDOW_BITS, None),
            ClientWindowOffer::Hint(w) => push(&mut e, CLIENT_MAX_WINDOW_BITS, Some(w.to_string())),
        }
        e
    }

    /// Whether `agreed` is a corresponding response to this offer, i.e. meets
    /// its requests (RFC 7692 §7.1.1.1: `server_no_context_takeover` echoed;
    /// §7.1.2.1: `server_max_window_bits` present and not larger; §7.1.2.2:
    /// `client_max_window_bits` only if offered).
    pub fn accepts(&self, agreed: &PmdAgreed) -> Result<(), NegotiationError> {
        if self.server_no_context_takeover && !agreed.server_no_context_takeover {
            return Err(NegotiationError::NotOffered(
                SERVER_NO_CONTEXT_TAKEOVER.to_owned(),
            ));
        }
        if let Some(max) = self.server_max_window_bits {
            match agreed.server_max_window_bits {
                Some(w) if w <= max => {}
                _ => {
                    return Err(NegotiationError::NotOffered(
                        SERVER_MAX_WINDOW_BITS.to_owned(),
                    ));
                }
            }
        }
        if agreed.client_max_window_bits.is_some()
            && self.client_max_window_bits == ClientWindowOffer::Absent
        {
            return Err(NegotiationError::NotOffered(
                CLIENT_MAX_WINDOW_BITS.to_owned(),
            ));
        }
        Ok(())
    }
}

impl PmdAgreed {
    /// Parses a response, refusing what RFC 7692 §7 makes a client fail the
    /// connection for: an unknown parameter, a duplicate, a value on a flag,
    /// a window parameter without a valid value (in a response both window
    /// parameters need one, §7.1.2.1, §7.1.2.2).
    pub fn parse(e: &ExtensionOffer) -> Result<PmdAgreed, NegotiationError> {
        if !is_named(e, PERMESSAGE_DEFLATE) {
            return Err(NegotiationError::WrongName);
        }
        let mut a = PmdAgreed::default();
        for_each_param(e, &KNOWN, |k, v| {
            match k {
                0 => a.server_no_context_takeover = flag(KNOWN[k], v)?,
                1 => a.client_no_context_takeover = flag(KNOWN[k], v)?,
                2 => a.server_max_window_bits = Some(window_value(KNOWN[k], v)?),
                _ => a.client_max_window_bits = Some(window_value(KNOWN[k], v)?),
            }
            Ok(())
        })?;
        Ok(a)
    }

    /// The response element (RFC 7692 §7.1).
    pub fn to_element(&self) -> ExtensionOffer {
        let mut e = ExtensionOffer::new(PERMESSAGE_DEFLATE);
        if self.server_no_context_takeover {
            push(&mut e, SERVER_NO_CONTEXT_TAKEOVER, None);
        }
        if self.client_no_context_takeover {
            push(&mut e, CLIENT_NO_CONTEXT_TAKEOVER, None);
        }
        if let Some(w) = self.server_max_window_bits {
            push(&mut e, SERVER_MAX_WINDOW_BITS, Some(w.to_string()));
        }
        if let Some(w) = self.client_max_window_bits {
            push(&mut e, CLIENT_MAX_WINDOW_BITS, Some(w.to_string()));
        }
        e
    }

    /// The window the server compresses with (and the client inflates).
    pub fn server_window(&self) -> WindowBits {
        self.server_max_window_bits.unwrap_or(WindowBits::MAX)
    }

    /// The window the client compresses with (and the server inflates).
    pub fn client_window(&self) -> WindowBits {
        self.client_max_window_bits.unwrap_or(WindowBits::MAX)
    }
}
