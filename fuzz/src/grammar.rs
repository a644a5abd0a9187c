//! `ext_grammar`: the `Sec-WebSocket-Extensions` / `Sec-WebSocket-Protocol`
//! grammar and the compression parameters read from it.
//!
//! The input is split at `\n` into header values (a list continues across
//! header lines, RFC 7230 §3.2.2). Asserts: `parse_extensions` and
//! `parse_token_list` never panic, every parsed element is valid and
//! serializing then parsing gives it back exactly; grammar errors map to
//! status 400; each element's permessage-deflate / deflate-frame /
//! deflate-stream reading round-trips through `to_element`; every
//! negotiator's server answer to the offers is a valid element that parses
//! back, names the extension it built, whose RSV bits are RSV1-3 only; and
//! a client negotiator's verdict on any element is `None`, an extension, or
//! an error with a close code.

use arbitrary::Arbitrary;
use deflate_ext::{
    DeflateFrameNegotiator, DeflateFrameParams, DeflateStreamNegotiator, PmdAgreed, PmdNegotiator,
    PmdOffer,
};
use http_upgrade::{
    Error, ExtensionOffer, HttpPeerError, is_token, parse_extensions, parse_token_list,
    serialize_extensions,
};
use ws_proto::session::Negotiator;

use crate::util::{dialect, split_input};

/// The fixed-size prefix of an `ext_grammar` input; the rest is the header.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct GrammarInput {
    /// Index into `Dialect::ALL`, for the negotiators.
    pub dialect: u8,
}

/// The harness.
pub fn run(data: &[u8]) {
    let (input, rest): (GrammarInput, _) = split_input(data);
    let values: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    tokens(&values);
    let mut exts = Vec::new();
    match parse_extensions(values.iter().copied(), &mut exts) {
        Ok(()) => {
            assert!(exts.iter().all(ExtensionOffer::is_valid), "{exts:?}");
            let text = serialize_extensions(&exts);
            let mut again = Vec::new();
            parse_extensions([text.as_bytes()], &mut again).expect("serialized form parses");
            assert_eq!(again, exts, "round trip of {text:?}");
            for e in &exts {
                params(e);
            }
            negotiate(input.dialect, &exts);
        }
        Err(g) => {
            assert_eq!(Error::from(HttpPeerError::BadExtensions(g)).status(), 400);
            // Whatever was parsed before the error is still well formed.
            assert!(exts.iter().all(ExtensionOffer::is_valid));
            for e in &exts {
                params(e);
            }
        }
    }
}

fn tokens(values: &[&[u8]]) {
    let mut list = Vec::new();
    match parse_token_list(values.iter().copied(), &mut list) {
        Ok(()) => {
            assert!(list.iter().all(|t| is_token(t)), "{list:?}");
            let joined = list.join(", ");
            let mut again = Vec::new();
            parse_token_list([joined.as_bytes()], &mut again).expect("joined list parses");
            assert_eq!(again, list);
        }
        Err(g) => assert_eq!(Error::from(HttpPeerError::BadProtocols(g)).status(), 400),
    }
}

fn params(e: &ExtensionOffer) {
    if let Ok(o) = PmdOffer::parse(e) {
        assert_eq!(PmdOffer::parse(&o.to_element()).as_ref(), Ok(&o), "{e}");
    }
    if let Ok(a) = PmdAgreed::parse(e) {
        assert_eq!(PmdAgreed::parse(&a.to_element()).as_ref(), Ok(&a), "{e}");
    }
    if let Ok((name, p)) = DeflateFrameParams::parse(e) {
        assert_eq!(
            DeflateFrameParams::parse(&p.to_element(name)).as_ref(),
            Ok(&(name, p)),
            "{e}"
        );
    }
    let _ = deflate_ext::stream::validate(e);
}

fn negotiate(d: u8, offers: &[ExtensionOffer]) {
    let d = dialect(d);
    let mut ns: Vec<Box<dyn Negotiator>> = deflate_ext::default_negotiators();
    ns.push(Box::new(DeflateStreamNegotiator::default()));
    ns.push(Box::new(PmdNegotiator::default().with_threshold(0)));
    ns.push(Box::new(DeflateFrameNegotiator::default()));
    for n in &ns {
        if let Some((resp, ext)) = n.accept(d, offers) {
            assert!(resp.is_valid(), "answer {resp:?}");
            let text = resp.to_string();
            let mut again = Vec::new();
            parse_extensions([text.as_bytes()], &mut again).expect("answer parses");
            assert_eq!(again, vec![resp.clone()]);
            assert!(
                ext.name().eq_ignore_ascii_case(&resp.name),
                "{} vs {}",
                ext.name(),
                resp.name
            );
            assert_eq!(ext.rsv_mask() & !0x70, 0, "RSV mask {:#x}", ext.rsv_mask());
        }
        for e in offers {
            if let Err(err) = n.confirm(d, e) {
                let code = ws_proto::Error::from(err).close_code();
                assert!(code.is_some());
            }
        }
    }
}
