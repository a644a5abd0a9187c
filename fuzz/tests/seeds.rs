//! The seed corpora: every seed passes its harness; with
//! `WS_FUZZ_WRITE_SEEDS=1` they are (re)written to `fuzz/corpus/<target>/`.

use std::path::Path;

#[test]
fn seeds_pass_their_harness() {
    let write = std::env::var_os("WS_FUZZ_WRITE_SEEDS").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for seed in ws_fuzz::seeds::all() {
        let (_, run) = ws_fuzz::TARGETS
            .iter()
            .find(|(t, _)| *t == seed.target)
            .expect("known target");
        run(&seed.data);
        if write {
            let dir = root.join(seed.target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&seed.name), &seed.data).unwrap();
        }
    }
}
