//! Replays every committed crash input (`fuzz/regressions/<target>/*`) and
//! every committed seed (`fuzz/corpus/<target>/*`) through the harness the
//! fuzz target runs (`ws_fuzz::TARGETS`), so a crash once found stays fixed.

use std::path::Path;

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut n = 0;
    for (target, run) in ws_fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            eprintln!("{target}: {}", f.display());
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn crash_inputs_stay_fixed() {
    replay("regressions");
}

#[test]
fn committed_corpora_pass() {
    assert!(replay("corpus") > 0, "no seeds found");
}
