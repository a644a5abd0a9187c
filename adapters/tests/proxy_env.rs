//! Clients honour `http_proxy` / `https_proxy` / `no_proxy` (and the
//! upper-case forms). The only test in its binary: it changes the
//! process environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use ws_adapters::proxy::ProxySetting;
use ws_adapters::tls::{ClientTls, ServerTls};

fn set(name: &str, value: &str) {
    // SAFETY: this binary runs this one test; no other thread reads or
    // writes the environment while it runs.
    unsafe { std::env::set_var(name, value) }
}

#[test]
fn environment_selects_the_proxy() {
    bounded(Duration::from_secs(120), "proxy env", || {
        let (proxy, tunnels) = start_proxy();
        let plain = start_server(Kind::Std, server_options(false));
        let pki = Pki::new();
        let (chain, key) = pki.issue(&["localhost"]);
        let tls = ServerTls::new(chain, key).unwrap();
        let secure = start_server(Kind::Mio, server_options(false).with_tls(tls));
        let env_options = || client_options(false).with_proxy(ProxySetting::FromEnv);
        let ws_url = format!("ws://localhost:{}/", plain.port());
        let wss_url = format!("wss://localhost:{}/", secure.port());
        let trust = ClientTls::trusting(std::slice::from_ref(&pki.ca)).unwrap();

        set("http_proxy", &format!("http://{proxy}"));
        set("HTTPS_PROXY", &format!("http://{proxy}"));
        set("no_proxy", "");
        for client in KINDS {
            let before = tunnels.load(Ordering::SeqCst);
            connect(client, &ws_url, &env_options()).text("via http_proxy");
            connect(client, &wss_url, &env_options().with_tls(trust.clone()));
            assert_eq!(tunnels.load(Ordering::SeqCst), before + 2, "{client:?}");
        }
        set("no_proxy", "example.com, localhost");
        for client in KINDS {
            let before = tunnels.load(Ordering::SeqCst);
            let mut c = connect(client, &ws_url, &env_options());
            c.text("direct");
            assert_eq!(c.recv(), Some(ws_adapters::Event::Text("direct".into())));
            assert_eq!(
                tunnels.load(Ordering::SeqCst),
                before,
                "{client:?} ignored no_proxy"
            );
        }
    });
}
