//! Opening-handshake throughput: server parse + accept, client build +
//! validate, and a full in-memory round trip, for RFC 6455 and hixie-76.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http_upgrade::{
    Accept, ClientEvent, ClientHandshake, ClientRequest, Dialect, ExtensionOffer, Instant,
    ServerConfig, ServerEvent, ServerHandshake,
};

/// SplitMix64: deterministic, cheap.
struct Rng(u64);

impl http_upgrade::rand_core::TryRng for Rng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

fn request(dialect: Dialect) -> ClientRequest {
    ClientRequest::new("ws://example.com/chat")
        .expect("valid URL")
        .dialect(dialect)
        .origin("http://example.com")
        .protocol("chat")
        .extension(
            ExtensionOffer::new("permessage-deflate").with_param("client_max_window_bits", None),
        )
}

fn drain_client(c: &mut ClientHandshake) -> Vec<u8> {
    std::iter::from_fn(|| c.poll_transmit())
        .flat_map(|b| b.to_vec())
        .collect()
}

fn drain_server(s: &mut ServerHandshake) -> Vec<u8> {
    std::iter::from_fn(|| s.poll_transmit())
        .flat_map(|b| b.to_vec())
        .collect()
}

/// One full handshake; returns the bytes exchanged (to keep the work alive).
fn round_trip(dialect: Dialect, config: &Arc<ServerConfig>, rng: &mut Rng) -> usize {
    let mut client = ClientHandshake::new(request(dialect), rng, Instant::ZERO).expect("request");
    let mut server = ServerHandshake::new(config.clone(), Instant::ZERO);
    let req = drain_client(&mut client);
    let Ok(ServerEvent::Upgrade(up)) = server.receive_data(&req) else {
        unreachable!("valid request")
    };
    server
        .accept(Accept::for_request(&up), rng)
        .expect("accept");
    let res = drain_server(&mut server);
    let Ok(ClientEvent::Connected(_)) = client.receive_data(&res) else {
        unreachable!("valid response")
    };
    req.len() + res.len()
}

fn bench(c: &mut Criterion) {
    let config = Arc::new(ServerConfig::default().with_protocols(["chat"]));
    let mut rng = Rng(1);
    let mut client =
        ClientHandshake::new(request(Dialect::Rfc6455), &mut rng, Instant::ZERO).expect("request");
    let req = drain_client(&mut client);

    c.bench_function("server parse+validate rfc6455 request", |b| {
        b.iter(|| {
            let mut s = ServerHandshake::new(config.clone(), Instant::ZERO);
            black_box(s.receive_data(black_box(&req)).is_ok())
        })
    });
    for dialect in [Dialect::Rfc6455, Dialect::Hybi04, Dialect::Hixie76] {
        c.bench_function(&format!("round trip {dialect:?}"), |b| {
            b.iter(|| black_box(round_trip(dialect, &config, &mut rng)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
