//! End to end: a ws-proto client Connection and server Connection with the
//! compression extensions in their chains, RFC 7692 examples on the wire.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use deflate_ext::frame::{DeflateFrameClientConfig, DeflateFrameServerPolicy};
use deflate_ext::pmd::codec::IdleState;
use deflate_ext::{
    DeflateFrame, DeflateStream, Level, PerMessageDeflate, PmdClientConfig, PmdConfig,
    PmdServerPolicy, Role,
};
use ws_proto::{Config, Connection, Dialect, Event, Extension, Instant, MessageKind, Negotiated};

struct Key;
impl rand_core::TryRng for Key {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0x3712_abcd)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0x3712_abcd)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = [0x37, 0x12, 0xab, 0xcd][i & 3]);
        Ok(())
    }
}

fn pair(
    config: Config,
    client_ext: Vec<Box<dyn Extension>>,
    server_ext: Vec<Box<dyn Extension>>,
) -> (Connection, Connection) {
    pair_in(Dialect::Rfc6455, config, client_ext, server_ext)
}

fn pair_in(
    d: Dialect,
    config: Config,
    client_ext: Vec<Box<dyn Extension>>,
    server_ext: Vec<Box<dyn Extension>>,
) -> (Connection, Connection) {
    let now = Instant::ZERO;
    let with = |exts| Negotiated::new(d).with_extensions(exts);
    let key: Option<ws_proto::MaskRng> = Some(Box::new(Key));
    let c = Connection::new(Role::Client, config.clone(), with(client_ext), key, now).unwrap();
    let s = Connection::new(Role::Server, config, with(server_ext), None, now).unwrap();
    (c, s)
}

fn wire(from: &mut Connection) -> Vec<u8> {
    let mut w = Vec::new();
    from.poll_transmit(&mut w);
    w
}

fn events(to: &mut Connection, bytes: &[u8]) -> Vec<Event> {
    to.receive(Instant::ZERO, bytes).unwrap();
    let mut v = Vec::new();
    while let Some(e) = to.poll_event().unwrap() {
        v.push(e);
    }
    v
}

/// Negotiates through the real offer/response path, then builds both ends.
fn pmd_pair(config: Config, pmd: PmdConfig) -> (Connection, Connection) {
    pmd_pair_with(config, pmd, PmdServerPolicy::default())
}

/// [`pmd_pair`] with the server answering by `policy`.
fn pmd_pair_with(
    config: Config,
    pmd: PmdConfig,
    policy: PmdServerPolicy,
) -> (Connection, Connection) {
    let offers = PmdClientConfig::default().offer_elements();
    let (_, agreed) = policy.accept(&offers).unwrap();
    let client_agreed = PmdClientConfig::default()
        .validate(&agreed.to_element())
        .unwrap();
    pair(
        config,
        vec![Box::new(PerMessageDeflate::new(
            Role::Client,
            client_agreed,
            pmd,
        ))],
        vec![Box::new(PerMessageDeflate::new(Role::Server, agreed, pmd))],
    )
}

#[test]
fn permessage_deflate_rfc_7692_bytes_on_the_wire() {
    let pmd = PmdConfig::default()
        .with_level(Level::DEFAULT)
        .with_threshold(0)
        .with_idle(IdleState::Reset);
    let (mut client, mut server) = pmd_pair(Config::default(), pmd);
    server.send_text("Hello").unwrap();
    let first = wire(&mut server);
    assert_eq!(
        first,
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    server.send_text("Hello").unwrap();
    let second = wire(&mut server);
    // §7.2.3.2: context takeover shortens the second message.
    assert_eq!(second, [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    let got = events(&mut client, &[first, second].concat());
    assert_eq!(
        got,
        vec![Event::Text("Hello".into()), Event::Text("Hello".into())]
    );
    // §7.2.3.1 fragmented (3 + 4 octets) and §7.2.3.3 stored block, as a
    // server would send them.
    let frags = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let (mut client, _) = pmd_pair(Config::default(), pmd);
    assert_eq!(
        events(&mut client, &frags),
        vec![Event::Text("Hello".into())]
    );
    let stored = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    assert_eq!(
        events(&mut client, &stored),
        vec![Event::Text("Hello".into())]
    );
}

#[test]
fn permessage_deflate_conversation_with_fragments_and_pings() {
    let (mut client, mut server) = pmd_pair(Config::default(), PmdConfig::default());
    let json: String = (0..2000)
        .map(|i| format!("{{\"id\":{i},\"ok\":true}},"))
        .collect();
    client
        .send_fragment(MessageKind::Text, json[..5000].to_owned(), false)
        .unwrap();
    client.send_ping(&b"p"[..]).unwrap();
    client
        .send_fragment(MessageKind::Text, json[5000..].to_owned(), true)
        .unwrap();
    client.send_binary(vec![1u8, 2, 3]).unwrap(); // below the threshold: RSV1 clear
    let w = wire(&mut client);
    assert!(
        w.len() < json.len() / 3,
        "compressed: {} of {}",
        w.len(),
        json.len()
    );
    let got = events(&mut server, &w);
    assert!(matches!(&got[0], Event::Ping(_)));
    assert_eq!(got[1], Event::Text(json.clone().into()));
    assert_eq!(got[2], Event::Binary(vec![1u8, 2, 3].into()));
    // And back.
    server.send_text(json.clone()).unwrap();
    let got = events(&mut client, &wire(&mut server));
    // The server's automatic pong comes first.
    assert!(matches!(&got[0], Event::Pong(p) if p == "p"));
    assert!(got[1] == Event::Text(json.into()) && got.len() == 2);
}

#[test]
fn permessage_deflate_bomb_closes_with_1009() {
    let config = Config::default().with_max_message_size(64 << 10);
    let (_, mut server) = pmd_pair(config, PmdConfig::default());
    let mut bomb = Vec::new();
    deflate_ext::Compressor::new(deflate_ext::WindowBits::MAX, Level::BEST)
        .compress(&vec![0u8; 8 << 20], &mut bomb, deflate_ext::Flush::End)
        .unwrap();
    // A masked client frame (key 0 leaves the payload as is), RSV1 set.
    let mut frame = vec![0xc2, 0x80 | 126];
    frame.extend_from_slice(&(bomb.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(&bomb);
    let r = server
        .receive(Instant::ZERO, &frame)
        .and_then(|_| server.poll_event().map(|_| ()));
    let err = r.unwrap_err();
    assert_eq!(err.close_code().map(|c| c.0), Some(1009), "{err:?}");
}

#[test]
fn deflate_frame_conversation() {
    let client_cfg = DeflateFrameClientConfig::default();
    let (_, agreed) = DeflateFrameServerPolicy::default()
        .accept(&[client_cfg.offer_element()])
        .unwrap();
    let client_agreed = client_cfg.validate(&agreed.response_element()).unwrap();
    let config = Config::default().with_fragment_size(Some(1000));
    let (mut client, mut server) = pair(
        config,
        vec![Box::new(DeflateFrame::new(
            Role::Client,
            client_agreed,
            Level::FAST,
            0,
        ))],
        vec![Box::new(DeflateFrame::new(
            Role::Server,
            agreed,
            Level::FAST,
            0,
        ))],
    );
    let text = "deflate-frame compresses each frame. ".repeat(200);
    client.send_text(text.clone()).unwrap();
    let w = wire(&mut client);
    assert!(w.len() < text.len() / 4);
    assert_eq!(
        events(&mut server, &w),
        vec![Event::Text(text.clone().into())]
    );
    server.send_text("Hello").unwrap();
    let w = wire(&mut server);
    assert_eq!(w, [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(events(&mut client, &w), vec![Event::Text("Hello".into())]);
}

#[test]
fn deflate_stream_conversation_hybi08() {
    let (mut client, mut server) = pair_in(
        Dialect::Hybi08,
        Config::default(),
        vec![Box::new(DeflateStream::new(Level::FAST))],
        vec![Box::new(DeflateStream::new(Level::FAST))],
    );
    for i in 0..3 {
        let msg = format!("message {i}: {}", "abc".repeat(100));
        client.send_text(msg.clone()).unwrap();
        let w = wire(&mut client);
        assert!(w.len() < msg.len() / 2);
        // Delivered in small pieces.
        let mut got = Vec::new();
        for piece in w.chunks(7) {
            got.extend(events(&mut server, piece));
        }
        assert_eq!(got, vec![Event::Text(msg.into())]);
    }
}

/// Found by the inflate fuzz target: a frame an extension passes through
/// unchanged is held to `max_output` like an inflated one (the trait's
/// bound), not only by the connection's own header check.
#[test]
fn pass_through_frames_respect_max_output() {
    use ws_proto::extension::FrameMeta;
    use ws_proto::{Bytes, ExtensionError};

    let offers = PmdClientConfig::default().offer_elements();
    let (_, agreed) = PmdServerPolicy::default().accept(&offers).unwrap();
    let mut server = PerMessageDeflate::new(Role::Server, agreed, PmdConfig::default());
    let meta = FrameMeta {
        kind: MessageKind::Binary,
        first: true,
        fin: true,
        rsv: 0,
    };
    let big = Bytes::from(vec![7u8; 100]);
    assert_eq!(server.decode(&meta, big.clone(), 100).unwrap(), big);
    assert!(matches!(
        server.decode(&meta, big, 99),
        Err(ExtensionError::TooBig { size: 100, max: 99 })
    ));
}

/// A server and client pair whose server compresses without context
/// takeover (`server_no_context_takeover`) when `nct`.
fn broadcast_pair(nct: bool) -> (Connection, Connection) {
    let policy = PmdServerPolicy::default().with_server_no_context_takeover(nct);
    pmd_pair_with(Config::default(), PmdConfig::default(), policy)
}

#[test]
fn a_broadcast_is_compressed_once_per_parameter_set() {
    let text = "all of you, all of you, all of you: the mirror moved. ".repeat(40);
    let mut msg = ws_proto::Prepared::text(text.clone());
    // Three peers without server context takeover share one encoding.
    let mut wires = Vec::new();
    for _ in 0..3 {
        let (mut client, mut server) = broadcast_pair(true);
        server.send_prepared(&mut msg).unwrap();
        let w = wire(&mut server);
        assert!(w.len() < text.len() / 4, "compressed: {} bytes", w.len());
        assert_eq!(w[0] & 0x40, 0x40, "RSV1 set");
        assert_eq!(
            events(&mut client, &w),
            vec![Event::Text(text.clone().into())]
        );
        // And the connection goes on compressing on its own afterwards.
        server.send_text("after").unwrap();
        assert_eq!(
            events(&mut client, &wire(&mut server)),
            vec![Event::Text("after".into())]
        );
        wires.push(w);
    }
    assert_eq!(msg.encodings(), 1, "compressed once for three peers");
    assert!(wires.windows(2).all(|w| w[0] == w[1]));
    // A peer with context takeover compresses with its own history: the
    // shared encoding is not used, and nothing more is stored.
    let (mut client, mut server) = broadcast_pair(false);
    server.send_text("history first").unwrap();
    events(&mut client, &wire(&mut server));
    server.send_prepared(&mut msg).unwrap();
    assert_eq!(
        events(&mut client, &wire(&mut server)),
        vec![Event::Text(text.clone().into())]
    );
    assert_eq!(msg.encodings(), 1);
    // Without extensions the payload is sent as it is.
    let (mut client, mut server) = pair(Config::default(), Vec::new(), Vec::new());
    server.send_prepared(&mut msg).unwrap();
    assert_eq!(
        events(&mut client, &wire(&mut server)),
        vec![Event::Text(text.into())]
    );
}
