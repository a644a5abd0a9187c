//! The seed corpora, built from the test vectors of the crates (RFC 6455
//! §5.7 frames, RFC 7692 §7.2.3 compressed messages, real handshakes of
//! every dialect between our own client and server). `tests/seeds.rs`
//! writes them to `fuzz/corpus/<target>/` (with `WS_FUZZ_WRITE_SEEDS=1`)
//! and checks that each passes its harness.
//!
//! Inputs with a fixed-size settings prefix (see
//! [`split_input`](crate::util::split_input)) get a zero prefix, which
//! reads as the default settings, with single bytes set where a seed needs
//! another role, dialect or codec.

use std::sync::Arc;

use deflate_ext::{Compressor, Flush, Level, WindowBits};
use http_upgrade::{
    Accept, ClientHandshake, ClientRequest, Dialect, ExtensionOffer, ServerConfig, ServerEvent,
    ServerHandshake,
};
use ws_proto::session::{Session, SessionConfig, SessionEvent};
use ws_proto::{CloseCode, Config};

use crate::dialects::DialectInput;
use crate::frames::FrameInput;
use crate::grammar::GrammarInput;
use crate::http::{RequestInput, ResponseInput};
use crate::inflate::InflateInput;
use crate::oracle::{OracleFrameInput, OracleHandshakeInput, OracleInflateInput};
use crate::primitives::PrimInput;
use crate::session::{ClientInput, ServerInput};
use crate::util::{T0, XorShift, mask_rng, prefix_len};

/// One seed file.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The target.
    pub target: &'static str,
    /// The file name.
    pub name: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A zero prefix for `T` with `set` bytes changed, followed by `body`.
fn with_prefix<'a, T: arbitrary::Arbitrary<'a>>(set: &[(usize, u8)], body: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; prefix_len::<T>()];
    for &(i, b) in set {
        v[i] = b;
    }
    v.extend_from_slice(body);
    v
}

/// RFC 6455 §5.7: "Hello" masked, with key 37 fa 21 3d.
const HELLO_MASKED: &[u8] = &[
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
/// RFC 6455 §5.7: "Hello" unmasked.
const HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// RFC 6455 §5.7: "Hel" + "lo" fragmented, unmasked.
const HEL_LO: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
/// RFC 6455 §5.7: ping "Hello", unmasked.
const PING: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// RFC 6455 §5.7: pong "Hello", masked.
const PONG_MASKED: &[u8] = &[
    0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
/// RFC 7692 §7.2.3.1: "Hello" compressed.
const HELLO_DEFLATED: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fn masked(frame_hdr: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut v = vec![frame_hdr];
    let n = payload.len();
    if n < 126 {
        v.push(0x80 | n as u8);
    } else {
        v.push(0x80 | 126);
        v.extend_from_slice(&(n as u16).to_be_bytes());
    }
    v.extend_from_slice(&key);
    let mut p = payload.to_vec();
    ws_proto::apply_mask(&mut p, key, 0);
    v.extend_from_slice(&p);
    v
}

fn unmask_all(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut s = Vec::new();
    let mut add = |target: &'static str, name: &str, data: Vec<u8>| {
        s.push(Seed {
            target,
            name: name.to_owned(),
            data,
        })
    };
    // frame_decode: server role reads masked frames, client role unmasked.
    let server_frames: Vec<(&str, Vec<u8>)> = vec![
        ("hello-masked", HELLO_MASKED.to_vec()),
        ("pong-masked", PONG_MASKED.to_vec()),
        (
            "close-1000-masked",
            masked(0x88, &[0x03, 0xe8, b'b', b'y', b'e']),
        ),
        (
            "frag-ping-masked",
            unmask_all(&[
                masked(0x01, b"Hel"),
                masked(0x89, b"p"),
                masked(0x80, b"lo"),
            ]),
        ),
        (
            "binary-256-masked",
            masked(0x82, &(0..=255).collect::<Vec<u8>>()),
        ),
    ];
    for (name, w) in &server_frames {
        add(
            "oracle_frames",
            &format!("server-{name}"),
            with_prefix::<OracleFrameInput>(&[], w),
        );
        add(
            "frame_decode",
            &format!("server-{name}"),
            with_prefix::<FrameInput>(&[], w),
        );
        add(
            "dialects",
            &format!("rfc6455-server-{name}"),
            with_prefix::<DialectInput>(&[], w),
        );
        for i in 1..Dialect::ALL.len() as u8 {
            add(
                "dialects",
                &format!("d{i}-server-{name}"),
                with_prefix::<DialectInput>(&[(0, i)], w),
            );
        }
    }
    let client_frames: Vec<(&str, Vec<u8>)> = vec![
        ("hello", HELLO.to_vec()),
        ("hel-lo", HEL_LO.to_vec()),
        ("ping", PING.to_vec()),
        (
            "binary-64k-header",
            vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0],
        ),
        ("close-empty", vec![0x88, 0x00]),
    ];
    for (name, w) in &client_frames {
        add(
            "oracle_frames",
            &format!("client-{name}"),
            with_prefix::<OracleFrameInput>(&[(0, 1)], w),
        );
        add(
            "frame_decode",
            &format!("client-{name}"),
            with_prefix::<FrameInput>(&[(0, 1)], w),
        );
        add(
            "dialects",
            &format!("rfc6455-client-{name}"),
            with_prefix::<DialectInput>(&[(1, 1)], w),
        );
    }
    // primitives
    for (name, body) in [
        ("hello", &b"Hello"[..]),
        ("euro", "€uro ✓ 𝄞".as_bytes()),
        ("surrogate", &[0xed, 0xa0, 0x80][..]),
        ("overlong", &[0xc0, 0xaf][..]),
        ("close-body", &[0x03, 0xe8, b'o', b'k'][..]),
        ("long", &[0x5a; 70][..]),
    ] {
        add(
            "primitives",
            name,
            with_prefix::<PrimInput>(&[(0, 0x37), (1, 0xfa), (2, 0x21), (3, 0x3d)], body),
        );
    }
    // session_server / http_request: our client's requests in every dialect.
    for (i, d) in Dialect::ALL.iter().enumerate() {
        let wire = client_conversation(*d);
        add(
            "session_server",
            &format!("conversation-d{i}"),
            with_prefix::<ServerInput>(&[], &wire),
        );
        let req = client_request_bytes(*d);
        add(
            "oracle_handshake",
            &format!("upgrade-d{i}"),
            with_prefix::<OracleHandshakeInput>(&[], &req),
        );
        add(
            "http_request",
            &format!("upgrade-d{i}"),
            with_prefix::<RequestInput>(&[], &req),
        );
    }
    let plain = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec();
    let pipelined = [
        &b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"[..],
        &b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        &b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"[..],
    ]
    .concat();
    for (name, w) in [("plain", &plain), ("pipelined", &pipelined)] {
        add("http_request", name, with_prefix::<RequestInput>(&[], w));
        add(
            "oracle_handshake",
            name,
            with_prefix::<OracleHandshakeInput>(&[], w),
        );
        add("session_server", name, with_prefix::<ServerInput>(&[], w));
    }
    // session_client / http_response: our server's answers in every dialect.
    for (i, _) in Dialect::ALL.iter().enumerate() {
        let input = ClientInput {
            dialect: i as u8,
            ..ClientInput::default()
        };
        let wire = server_conversation(&input);
        add(
            "session_client",
            &format!("conversation-d{i}"),
            with_prefix::<ClientInput>(&[(0, i as u8)], &wire),
        );
        let resp_input = ResponseInput {
            dialect: i as u8,
            ..ResponseInput::default()
        };
        let resp = server_response_bytes(&resp_input);
        add(
            "http_response",
            &format!("accept-d{i}"),
            with_prefix::<ResponseInput>(&[(0, i as u8)], &resp),
        );
    }
    let redirect = b"HTTP/1.1 302 Found\r\nLocation: ws://other/\r\n\r\n".to_vec();
    let refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope".to_vec();
    for (name, w) in [("redirect", &redirect), ("refused", &refused)] {
        add("http_response", name, with_prefix::<ResponseInput>(&[], w));
        add("session_client", name, with_prefix::<ClientInput>(&[], w));
    }
    add(
        "http_response",
        "proxy-200",
        with_prefix::<ResponseInput>(
            &[(2, 1)],
            b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01",
        ),
    );
    add(
        "http_response",
        "proxy-407",
        with_prefix::<ResponseInput>(
            &[(2, 1)],
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
        ),
    );
    // ext_grammar
    for (name, h) in [
        ("pmd-offers", &b"permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate"[..]),
        ("pmd-response", b"permessage-deflate; server_no_context_takeover; client_max_window_bits=9"),
        ("deflate-frame", b"x-webkit-deflate-frame; max_window_bits=10; no_context_takeover\ndeflate-frame"),
        ("deflate-stream", b"deflate-stream"),
        ("quoted", b"foo; bar=\"baz\", mux; max-channels=4; flow-control"),
        ("protocols", b"chat, superchat\nv2.bookings.example.net"),
    ] {
        add("ext_grammar", name, with_prefix::<GrammarInput>(&[], h));
        add("ext_grammar", &format!("{name}-hybi04"), with_prefix::<GrammarInput>(&[(0, 5)], h));
    }
    // inflate: RFC 7692 vectors and a compressible payload, per codec.
    let mut big = Vec::new();
    Compressor::new(WindowBits::MAX, Level::BEST)
        .compress(&[b'a'; 20_000], &mut big, Flush::End)
        .expect("compress");
    let mut stream = HELLO_DEFLATED.to_vec();
    stream.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    for (name, m) in [("hello", HELLO_DEFLATED), ("aaaa", &big[..])] {
        add(
            "oracle_inflate",
            name,
            with_prefix::<OracleInflateInput>(&[], m),
        );
    }
    for codec in 0..4u8 {
        add(
            "inflate",
            &format!("hello-c{codec}"),
            with_prefix::<InflateInput>(&[(0, codec)], HELLO_DEFLATED),
        );
        add(
            "inflate",
            &format!("hello-sync-c{codec}"),
            with_prefix::<InflateInput>(&[(0, codec)], &stream),
        );
        add(
            "inflate",
            &format!("aaaa-c{codec}"),
            with_prefix::<InflateInput>(&[(0, codec)], &big),
        );
    }
    // template_messages: `arbitrary` turns any bytes into a config and
    // messages; two byte strings to start from.
    for (name, n) in [("counting", 256usize), ("long", 2048)] {
        add(
            "template_messages",
            name,
            (0..n).map(|i| (i * 37 % 251) as u8).collect(),
        );
    }
    // template_sim: `arbitrary` turns any bytes into faults and a script.
    for (name, n) in [("counting", 512usize), ("long", 4096)] {
        add(
            "template_sim",
            name,
            (0..n).map(|i| (i * 53 % 241) as u8).collect(),
        );
    }
    // template_protocols: `arbitrary` turns any bytes into a read size and
    // a script.
    for (name, n) in [("counting", 512usize), ("long", 4096)] {
        add(
            "template_protocols",
            name,
            (0..n).map(|i| (i * 29 % 239) as u8).collect(),
        );
    }
    // roundtrip: arbitrary-structured; a few byte strings to start from.
    for (name, b) in [
        ("text", &b"\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00Hello, world"[..]),
        ("mixed", b"\x02\x05\x00\x00\x00\x10\x00\x00\x00\x01\x00\x07\x00\x03\x01\x03\x00\x02binary\xff\xfe\x00parts\x01\x02\x03"),
    ] {
        add("roundtrip", name, b.to_vec());
    }
    // replay: a recorded conversation, each side (the committed
    // Chromium and test-client transcripts are seeds too).
    let (server, client) = recorded_pair();
    add("replay", "pair-server.wsrt", server);
    add("replay", "pair-client.wsrt", client);
    // connect_handshake: RFC 8441 §5.1's request and answer, and rows of
    // the rejection table.
    let example = ":method\tCONNECT\n:protocol\twebsocket\n:scheme\thttps\n:path\t/chat\n\
                   :authority\tserver.example.com\nsec-websocket-protocol\tchat, superchat\n\
                   sec-websocket-extensions\tpermessage-deflate\nsec-websocket-version\t13\n\
                   origin\thttp://www.example.com\n";
    let answer =
        "200\nsec-websocket-protocol\tchat\nsec-websocket-extensions\tpermessage-deflate\n";
    for (name, settings, request) in [
        ("rfc8441-example", 3u8, example.to_owned()),
        ("rfc8441-example-small", 12, example.to_owned()),
        (
            "with-key",
            0,
            format!("{example}sec-websocket-key\tdGhlIHNhbXBsZSBub25jZQ==\n"),
        ),
        (
            "with-upgrade",
            0,
            format!("{example}connection\tupgrade\nupgrade\twebsocket\n"),
        ),
        ("version-8", 0, example.replace("version\t13", "version\t8")),
        (
            "no-protocol",
            0,
            example.replace(":protocol\twebsocket\n", ""),
        ),
        (
            "webtransport",
            0,
            example.replace("\twebsocket", "\twebtransport"),
        ),
        (
            "pseudo-last",
            0,
            format!("sec-websocket-version\t13\n{example}"),
        ),
    ] {
        let mut data = vec![settings];
        data.extend_from_slice(request.as_bytes());
        data.push(0);
        data.extend_from_slice(answer.as_bytes());
        add("connect_handshake", name, data);
    }
    // qpack_decode: our encoding of the RFC 8441 example's fields, static
    // references (:method GET, :status 200, :path /chat), a Huffman string
    // (RFC 7541 C.4.1), and a dynamic reference.
    let ours = http_upgrade::qpack::encode([
        (":method", &b"CONNECT"[..]),
        (":protocol", b"websocket"),
        (":scheme", b"https"),
        (":path", b"/chat"),
        (":authority", b"server.example.com"),
        ("sec-websocket-version", b"13"),
    ]);
    add("qpack_decode", "connect-literals", ours);
    add(
        "qpack_decode",
        "static-refs",
        vec![
            0,
            0,
            0xc0 | 17,
            0xc0 | 25,
            0x50 | 1,
            5,
            b'/',
            b'c',
            b'h',
            b'a',
            b't',
        ],
    );
    let mut huff = vec![0, 0, 0x50, 0x8c];
    huff.extend_from_slice(&[
        0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
    ]);
    add("qpack_decode", "huffman-authority", huff);
    add("qpack_decode", "dynamic-ref", vec![2, 0, 0x80]);
    s
}

/// A client (recording, `ws://fuzz.test/`) and a server (recording)
/// with permessage-deflate: text, binary, a ping, fragments, the close.
fn recorded_pair() -> (Vec<u8>, Vec<u8>) {
    use ws_proto::record::RecordOptions;
    let mut config = SessionConfig::new(Config::default());
    config.negotiators = deflate_ext::default_negotiators();
    let config = Arc::new(config);
    let t = ws_proto::Instant::from_millis(7);
    let mut client = Session::client_recorded(
        ClientRequest::new("ws://fuzz.test/").unwrap(),
        config.clone(),
        Box::new(crate::util::XorShift(5)),
        t,
        RecordOptions::default(),
    )
    .unwrap();
    let mut server = Session::server(Arc::new(ServerConfig::default()), config, t);
    server.record(RecordOptions::default()).unwrap();
    let pump = |from: &mut Session, to: &mut Session| {
        let mut wire = Vec::new();
        let _ = from.poll_transmit(&mut wire);
        for chunk in wire.chunks(7) {
            to.receive(t, chunk).unwrap();
        }
    };
    pump(&mut client, &mut server);
    let Ok(Some(SessionEvent::Upgrade(req))) = server.poll_event() else {
        panic!("no upgrade")
    };
    server
        .accept(
            t,
            http_upgrade::Accept::for_request(&req),
            &mut crate::util::XorShift(9),
        )
        .unwrap();
    while let Ok(Some(_)) = server.poll_event() {}
    pump(&mut server, &mut client);
    while let Ok(Some(_)) = client.poll_event() {}
    let c = client.connection_mut().unwrap();
    c.send_text("hello, recorded world").unwrap();
    c.send_binary(vec![5u8; 300]).unwrap();
    c.send_ping(&b"p"[..]).unwrap();
    c.send_fragment(ws_proto::MessageKind::Text, &b"frag"[..], false)
        .unwrap();
    c.send_fragment(ws_proto::MessageKind::Text, &b"ments"[..], true)
        .unwrap();
    pump(&mut client, &mut server);
    while let Ok(Some(SessionEvent::Ws(ev))) = server.poll_event() {
        if let Some(m) = ev.into_message() {
            let _ = server.connection_mut().unwrap().send(t, m);
        }
    }
    pump(&mut server, &mut client);
    while let Ok(Some(_)) = client.poll_event() {}
    client
        .connection_mut()
        .unwrap()
        .close(t, CloseCode::NORMAL, "done")
        .unwrap();
    pump(&mut client, &mut server);
    while let Ok(Some(_)) = server.poll_event() {}
    pump(&mut server, &mut client);
    while let Ok(Some(_)) = client.poll_event() {}
    (
        server.take_transcript().unwrap().as_bytes().to_vec(),
        client.take_transcript().unwrap().as_bytes().to_vec(),
    )
}

fn client_request(d: Dialect) -> ClientRequest {
    ClientRequest::new("ws://example.com/chat")
        .expect("url")
        .dialect(d)
        .origin("http://example.com")
        .protocol("chat")
}

fn client_request_bytes(d: Dialect) -> Vec<u8> {
    let r = client_request(d).extension(
        ExtensionOffer::new("permessage-deflate").with_param("client_max_window_bits", None),
    );
    let mut c = ClientHandshake::new(r, &mut XorShift(42), T0).expect("client");
    let mut v = Vec::new();
    let _ = c.poll_transmit(&mut v);
    v
}

fn negotiated_server(cfg: Config) -> (Arc<ServerConfig>, Arc<SessionConfig>) {
    let http = Arc::new(ServerConfig::default().with_protocols(["chat", "superchat"]));
    let mut scfg = SessionConfig::new(cfg);
    scfg.negotiators = deflate_ext::default_negotiators();
    (http, Arc::new(scfg))
}

/// Opens `client` against `server` in memory; returns the client's bytes
/// (request first) and the server's (response first), each followed by a
/// few messages and a close when the dialect's framing exists.
fn converse(mut client: Session, mut server: Session) -> (Vec<u8>, Vec<u8>) {
    let mut c_out = Vec::new();
    let mut s_out = Vec::new();
    let mut buf = Vec::new();
    let _ = client.poll_transmit(&mut buf);
    c_out.extend_from_slice(&buf);
    let _ = server.receive(T0, &buf);
    if let Ok(Some(SessionEvent::Upgrade(req))) = server.poll_event() {
        let _ = server.accept(T0, Accept::for_request(&req), &mut XorShift(9));
    }
    while let Ok(Some(_)) = server.poll_event() {}
    buf.clear();
    let _ = server.poll_transmit(&mut buf);
    s_out.extend_from_slice(&buf);
    let _ = client.receive(T0, &buf);
    while let Ok(Some(_)) = client.poll_event() {}
    for s in [&mut client, &mut server] {
        if let Some(c) = s.connection_mut() {
            let _ = c.send_text("Hello");
            let _ = c.send_binary((0..=255u8).collect::<Vec<u8>>());
            let _ = c.send_ping(&b"ping"[..]);
            let _ = c.send_text("Hello again, Hello again, Hello again");
            let _ = c.close(T0, CloseCode::NORMAL, "bye");
        }
    }
    let _ = client.poll_transmit(&mut c_out);
    let _ = server.poll_transmit(&mut s_out);
    (c_out, s_out)
}

/// What our client sends to a server accepting everything, in dialect `d`.
fn client_conversation(d: Dialect) -> Vec<u8> {
    let (http, scfg) = negotiated_server(ServerInput::default().settings.config());
    let mut ccfg = SessionConfig::new(Config::default());
    ccfg.negotiators = deflate_ext::default_negotiators();
    let client =
        Session::client(client_request(d), Arc::new(ccfg), mask_rng(99), T0).expect("client");
    let server = Session::server(http, scfg, T0);
    converse(client, server).0
}

/// What a server sends to the `session_client` harness's client.
fn server_conversation(input: &ClientInput) -> Vec<u8> {
    let (http, scfg) = negotiated_server(Config::default());
    let client = crate::session::client_session(input);
    let server = Session::server(http, scfg, T0);
    converse(client, server).1
}

/// Our server's answer to the `http_response` harness's request.
fn server_response_bytes(input: &ResponseInput) -> Vec<u8> {
    let request = crate::http::client_request(input);
    let mut c = ClientHandshake::new(request, &mut XorShift(crate::http::RESPONSE_SEED), T0)
        .expect("client");
    let mut s = ServerHandshake::new(
        Arc::new(ServerConfig::default().with_protocols(["chat"])),
        T0,
    );
    let mut wire = Vec::new();
    let _ = c.poll_transmit(&mut wire);
    s.receive(T0, &wire).expect("valid request");
    let ev = s.poll_event().expect("valid request");
    let Some(ServerEvent::Upgrade(req)) = ev else {
        panic!("no upgrade: {ev:?}")
    };
    let mut accept = Accept::for_request(&req);
    if req.dialect.has_extensions() {
        accept = accept.extension(ExtensionOffer::new("permessage-deflate"));
    }
    s.accept(accept, &mut XorShift(9)).expect("accept");
    let mut v = Vec::new();
    let _ = s.poll_transmit(&mut v);
    v.extend_from_slice(HELLO);
    v
}
