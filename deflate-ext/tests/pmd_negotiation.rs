//! permessage-deflate negotiation tables (RFC 7692 §5, §7.1): offers as the
//! server parses them, answers under several policies, responses as the
//! client checks them, and every parameter combination end to end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use deflate_ext::pmd::ClientWindowOffer;
use deflate_ext::{
    ExtensionOffer, NegotiationError as E, PmdAgreed, PmdClientConfig, PmdOffer, PmdServerPolicy,
    WindowBits,
};

/// A minimal `name; p; q=v` reader for the tables (quotes stripped).
fn el(s: &str) -> ExtensionOffer {
    let mut parts = s.split(';').map(str::trim);
    let mut e = ExtensionOffer::new(parts.next().unwrap());
    for p in parts {
        e = match p.split_once('=') {
            Some((n, v)) => e.with_param(n.trim(), Some(v.trim().trim_matches('"'))),
            None => e.with_param(p, None),
        };
    }
    e
}

fn wb(n: u8) -> WindowBits {
    WindowBits::new(n).unwrap()
}

fn unknown(p: &str) -> E {
    E::UnknownParam(p.to_owned())
}
fn dup(p: &str) -> E {
    E::DuplicateParam(p.to_owned())
}
fn invalid(p: &str) -> E {
    E::InvalidValue(p.to_owned())
}
fn not_offered(p: &str) -> E {
    E::NotOffered(p.to_owned())
}

const PMD: &str = "permessage-deflate";

#[test]
fn offers_as_parsed_by_a_server() {
    let o = PmdOffer::default();
    let table: Vec<(&str, Result<PmdOffer, E>)> = vec![
        ("permessage-deflate", Ok(o)),
        ("PerMessage-Deflate", Ok(o)),
        ("permessage-foo", Err(E::WrongName)),
        (
            "permessage-deflate; server_no_context_takeover",
            Ok(PmdOffer {
                server_no_context_takeover: true,
                ..o
            }),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            Ok(PmdOffer {
                client_no_context_takeover: true,
                ..o
            }),
        ),
        (
            "permessage-deflate; server_no_context_takeover=1",
            Err(invalid("server_no_context_takeover")),
        ),
        (
            "permessage-deflate; client_no_context_takeover=\"\"",
            Err(invalid("client_no_context_takeover")),
        ),
        (
            "permessage-deflate; server_max_window_bits=10",
            Ok(PmdOffer {
                server_max_window_bits: Some(wb(10)),
                ..o
            }),
        ),
        (
            "permessage-deflate; server_max_window_bits=\"10\"",
            Ok(PmdOffer {
                server_max_window_bits: Some(wb(10)),
                ..o
            }),
        ),
        (
            "permessage-deflate; server_max_window_bits",
            Err(invalid("server_max_window_bits")),
        ),
        (
            "permessage-deflate; server_max_window_bits=7",
            Err(invalid("server_max_window_bits")),
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            Err(invalid("server_max_window_bits")),
        ),
        (
            "permessage-deflate; server_max_window_bits=09",
            Err(invalid("server_max_window_bits")),
        ),
        (
            "permessage-deflate; server_max_window_bits=1.5",
            Err(invalid("server_max_window_bits")),
        ),
        (
            "permessage-deflate; client_max_window_bits",
            Ok(PmdOffer {
                client_max_window_bits: ClientWindowOffer::Supported,
                ..o
            }),
        ),
        (
            "permessage-deflate; client_max_window_bits=8",
            Ok(PmdOffer {
                client_max_window_bits: ClientWindowOffer::Hint(wb(8)),
                ..o
            }),
        ),
        (
            "permessage-deflate; client_max_window_bits=0",
            Err(invalid("client_max_window_bits")),
        ),
        (
            "permessage-deflate; client_max_window_bits=100",
            Err(invalid("client_max_window_bits")),
        ),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            Err(dup("server_no_context_takeover")),
        ),
        (
            "permessage-deflate; client_no_context_takeover; CLIENT_NO_CONTEXT_TAKEOVER",
            Err(dup("CLIENT_NO_CONTEXT_TAKEOVER")),
        ),
        (
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            Err(dup("server_max_window_bits")),
        ),
        (
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
            Err(dup("client_max_window_bits")),
        ),
        (
            "permessage-deflate; max_window_bits=10",
            Err(unknown("max_window_bits")),
        ),
        (
            "permessage-deflate; no_context_takeover",
            Err(unknown("no_context_takeover")),
        ),
        ("permessage-deflate; x", Err(unknown("x"))),
        (
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10; client_no_context_takeover; server_no_context_takeover",
            Ok(PmdOffer {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(wb(10)),
                client_max_window_bits: ClientWindowOffer::Supported,
            }),
        ),
    ];
    for (text, want) in table {
        assert_eq!(PmdOffer::parse(&el(text)), want, "{text}");
    }
}

#[test]
fn responses_as_parsed_by_a_client() {
    let a = PmdAgreed::default();
    let table: Vec<(&str, Result<PmdAgreed, E>)> = vec![
        ("permessage-deflate", Ok(a)),
        (
            "permessage-deflate; server_max_window_bits",
            Err(invalid("server_max_window_bits")),
        ),
        // Unlike an offer, a response needs a value here (§7.1.2.2).
        (
            "permessage-deflate; client_max_window_bits",
            Err(invalid("client_max_window_bits")),
        ),
        (
            "permessage-deflate; client_max_window_bits=15",
            Ok(PmdAgreed {
                client_max_window_bits: Some(wb(15)),
                ..a
            }),
        ),
        (
            "permessage-deflate; server_max_window_bits=8",
            Ok(PmdAgreed {
                server_max_window_bits: Some(wb(8)),
                ..a
            }),
        ),
        (
            "permessage-deflate; server_no_context_takeover=x",
            Err(invalid("server_no_context_takeover")),
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            Ok(PmdAgreed {
                client_no_context_takeover: true,
                ..a
            }),
        ),
        (
            "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
            Err(dup("server_max_window_bits")),
        ),
        (
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
            Err(dup("client_max_window_bits")),
        ),
        ("permessage-deflate; snct", Err(unknown("snct"))),
        ("x-webkit-deflate-frame", Err(E::WrongName)),
    ];
    for (text, want) in table {
        assert_eq!(PmdAgreed::parse(&el(text)), want, "{text}");
    }
}

#[test]
fn server_answers_under_policies() {
    let default = PmdServerPolicy::default();
    let frugal = PmdServerPolicy::default()
        .with_server_no_context_takeover(true)
        .with_client_no_context_takeover(true)
        .with_server_max_window_bits(wb(10))
        .with_client_max_window_bits(wb(11));
    let strict = default
        .with_client_max_window_bits(wb(12))
        .with_require_client_max_window_bits(true);
    let no_smwb = default.with_accept_server_max_window_bits(false);
    let min9 = default.with_min_server_max_window_bits(wb(9));
    let table: Vec<(&PmdServerPolicy, &str, Result<&str, E>)> = vec![
        (&default, "permessage-deflate", Ok("permessage-deflate")),
        (
            &default,
            "permessage-deflate; client_max_window_bits",
            Ok("permessage-deflate"),
        ),
        (
            &default,
            "permessage-deflate; client_max_window_bits=10",
            Ok("permessage-deflate; client_max_window_bits=10"),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=10",
            Ok("permessage-deflate; server_max_window_bits=10"),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=15",
            Ok("permessage-deflate; server_max_window_bits=15"),
        ),
        (
            &default,
            "permessage-deflate; server_no_context_takeover",
            Ok("permessage-deflate; server_no_context_takeover"),
        ),
        (
            &default,
            "permessage-deflate; client_no_context_takeover",
            Ok("permessage-deflate; client_no_context_takeover"),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=8",
            Ok("permessage-deflate; server_max_window_bits=8"),
        ),
        (
            &frugal,
            "permessage-deflate",
            Ok(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
            ),
        ),
        (
            &frugal,
            "permessage-deflate; client_max_window_bits",
            Ok(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11",
            ),
        ),
        (
            &frugal,
            "permessage-deflate; client_max_window_bits=9; server_max_window_bits=12",
            Ok(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
            ),
        ),
        (
            &frugal,
            "permessage-deflate; server_max_window_bits=9",
            Ok(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
            ),
        ),
        (
            &strict,
            "permessage-deflate",
            Err(E::Unsupported("client_max_window_bits".into())),
        ),
        (
            &strict,
            "permessage-deflate; client_max_window_bits",
            Ok("permessage-deflate; client_max_window_bits=12"),
        ),
        (
            &strict,
            "permessage-deflate; client_max_window_bits=14",
            Ok("permessage-deflate; client_max_window_bits=12"),
        ),
        (
            &no_smwb,
            "permessage-deflate; server_max_window_bits=15",
            Err(E::Unsupported("server_max_window_bits".into())),
        ),
        (
            &min9,
            "permessage-deflate; server_max_window_bits=8",
            Err(E::Unsupported("server_max_window_bits".into())),
        ),
        (
            &min9,
            "permessage-deflate; server_max_window_bits=9",
            Ok("permessage-deflate; server_max_window_bits=9"),
        ),
    ];
    for (policy, offer, want) in table {
        let got = policy
            .respond(&PmdOffer::parse(&el(offer)).unwrap())
            .map(|a| a.to_element().to_string());
        assert_eq!(got, want.map(str::to_owned), "{offer} under {policy:?}");
    }
}

#[test]
fn server_picks_the_first_acceptable_offer() {
    let offers = [
        el("x-webkit-deflate-frame"),
        el("permessage-deflate; server_max_window_bits=7"),
        el("permessage-deflate; bogus"),
        el("permessage-deflate; server_max_window_bits=10; client_max_window_bits"),
        el("permessage-deflate; client_max_window_bits"),
    ];
    let (i, agreed) = PmdServerPolicy::default().accept(&offers).unwrap();
    assert_eq!(i, 3);
    assert_eq!(
        agreed.to_element().to_string(),
        "permessage-deflate; server_max_window_bits=10"
    );
    let no_smwb = PmdServerPolicy::default().with_accept_server_max_window_bits(false);
    assert_eq!(no_smwb.accept(&offers).map(|(i, _)| i), Some(4));
    // A custom choice: skip offers that limit the server's window.
    let pick = PmdServerPolicy::default().accept_with(&offers, |_, offer, _| {
        offer.server_max_window_bits.is_none()
    });
    assert_eq!(pick.map(|(i, _)| i), Some(4));
    // Nothing acceptable: declined.
    assert_eq!(PmdServerPolicy::default().accept(&offers[..3]), None);
}

#[test]
fn client_checks_the_answer() {
    let offers = |list: &[&str]| {
        PmdClientConfig::default().with_offers(
            list.iter()
                .map(|s| PmdOffer::parse(&el(s)).unwrap())
                .collect(),
        )
    };
    let default = PmdClientConfig::default();
    let bare = offers(&[PMD]);
    let smwb10 = offers(&["permessage-deflate; server_max_window_bits=10"]);
    let snct = offers(&["permessage-deflate; server_no_context_takeover"]);
    let fallback = offers(&[
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits",
    ]);
    let min10 = PmdClientConfig::default().with_min_client_max_window_bits(wb(10));
    let table: Vec<(&PmdClientConfig, &str, Result<(), E>)> = vec![
        (&default, "permessage-deflate", Ok(())),
        (
            &default,
            "permessage-deflate; client_max_window_bits=8",
            Ok(()),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=12",
            Ok(()),
        ),
        (
            &default,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Ok(()),
        ),
        (
            &default,
            "permessage-deflate; client_max_window_bits",
            Err(invalid("client_max_window_bits")),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits",
            Err(invalid("server_max_window_bits")),
        ),
        (&default, "permessage-deflate; foo=1", Err(unknown("foo"))),
        (&bare, "permessage-deflate", Ok(())),
        (
            &bare,
            "permessage-deflate; client_max_window_bits=15",
            Err(not_offered("client_max_window_bits")),
        ),
        (
            &smwb10,
            "permessage-deflate",
            Err(not_offered("server_max_window_bits")),
        ),
        (
            &smwb10,
            "permessage-deflate; server_max_window_bits=11",
            Err(not_offered("server_max_window_bits")),
        ),
        (
            &smwb10,
            "permessage-deflate; server_max_window_bits=10",
            Ok(()),
        ),
        (
            &smwb10,
            "permessage-deflate; server_max_window_bits=8",
            Ok(()),
        ),
        (
            &snct,
            "permessage-deflate",
            Err(not_offered("server_no_context_takeover")),
        ),
        (
            &snct,
            "permessage-deflate; server_no_context_takeover",
            Ok(()),
        ),
        // §7.1.3: either option of the fallback offer is a valid answer.
        (
            &fallback,
            "permessage-deflate; server_max_window_bits=10",
            Ok(()),
        ),
        (&fallback, "permessage-deflate", Ok(())),
        (
            &fallback,
            "permessage-deflate; client_max_window_bits=9",
            Ok(()),
        ),
        (
            &min10,
            "permessage-deflate; client_max_window_bits=9",
            Err(E::Unsupported("client_max_window_bits".into())),
        ),
        (
            &min10,
            "permessage-deflate; client_max_window_bits=10",
            Ok(()),
        ),
    ];
    for (cfg, response, want) in table {
        assert_eq!(
            cfg.validate(&el(response)).map(|_| ()),
            want,
            "{response} for {:?}",
            cfg.offers
        );
    }
    assert_eq!(
        super_header(&fallback),
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate; client_max_window_bits"
    );
}

fn super_header(cfg: &PmdClientConfig) -> String {
    http_upgrade::serialize_extensions(&cfg.offer_elements())
}

/// Every offer (2 × 2 × 9 × 10 = 360 combinations) against several server
/// policies: whatever the server answers, a client that sent that offer
/// accepts it, the answer honours the offer, and both parse back the same.
#[test]
fn every_parameter_combination_end_to_end() {
    let windows = || core::iter::once(None).chain((8..=15).map(|b| Some(wb(b))));
    let mut offers = Vec::new();
    for snct in [false, true] {
        for cnct in [false, true] {
            for smwb in windows() {
                for cmwb in [ClientWindowOffer::Absent, ClientWindowOffer::Supported]
                    .into_iter()
                    .chain((8..=15).map(|b| ClientWindowOffer::Hint(wb(b))))
                {
                    offers.push(PmdOffer {
                        server_no_context_takeover: snct,
                        client_no_context_takeover: cnct,
                        server_max_window_bits: smwb,
                        client_max_window_bits: cmwb,
                    });
                }
            }
        }
    }
    assert_eq!(offers.len(), 360);
    let mut policies = vec![PmdServerPolicy::default()];
    for s in [8, 11, 15] {
        for c in [8, 12, 15] {
            for flags in 0..4u8 {
                policies.push(
                    PmdServerPolicy::default()
                        .with_server_no_context_takeover(flags & 1 != 0)
                        .with_client_no_context_takeover(flags & 2 != 0)
                        .with_server_max_window_bits(wb(s))
                        .with_client_max_window_bits(wb(c)),
                );
            }
        }
    }
    let (mut accepted, mut declined) = (0, 0);
    for offer in &offers {
        let element = offer.to_element();
        assert_eq!(PmdOffer::parse(&element).as_ref(), Ok(offer), "{element}");
        let client = PmdClientConfig::default().with_offers(vec![*offer]);
        for policy in &policies {
            let Ok(agreed) = policy.respond(offer) else {
                declined += 1;
                continue;
            };
            accepted += 1;
            let response = agreed.to_element();
            assert_eq!(
                client.validate(&response),
                Ok(agreed),
                "{element} -> {response}"
            );
            assert!(agreed.server_window() <= policy.server_max_window_bits);
            if let Some(w) = offer.server_max_window_bits {
                assert!(agreed.server_window() <= w);
            }
            if offer.client_max_window_bits == ClientWindowOffer::Absent {
                assert_eq!(agreed.client_max_window_bits, None);
            } else {
                assert!(agreed.client_window() <= policy.client_max_window_bits);
            }
            assert_eq!(
                agreed.server_no_context_takeover,
                offer.server_no_context_takeover || policy.server_no_context_takeover
            );
        }
    }
    assert_eq!(declined, 0, "the default policies decline nothing valid");
    assert_eq!(accepted, 360 * policies.len());
}

/// The server reads http-upgrade's parse of a real header (quoted value
/// included, RFC 7692 §5.2), answers, and the client reads the answer back.
#[test]
fn negotiates_through_http_upgrade_parsing() {
    let header = b"permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\", permessage-deflate";
    let mut offers = Vec::new();
    http_upgrade::parse_extensions([&header[..]], &mut offers).unwrap();
    let (i, agreed) = PmdServerPolicy::default().accept(&offers).unwrap();
    assert_eq!(i, 0);
    let line = http_upgrade::serialize_extensions(&[agreed.to_element()]);
    assert_eq!(line, "permessage-deflate; server_max_window_bits=10");
    let mut parsed = Vec::new();
    http_upgrade::parse_extensions([line.as_bytes()], &mut parsed).unwrap();
    // The default client did not offer server_max_window_bits, so any
    // server limit is fine for it.
    assert_eq!(PmdClientConfig::default().validate(&parsed[0]), Ok(agreed));
    assert_eq!(parsed[0], agreed.to_element());
}
