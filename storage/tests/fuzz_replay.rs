//! Stable-toolchain replay of the fuzz targets in `storage/fuzz`: every
//! file of each target's corpus (and any saved crash in `artifacts/`), every
//! truncation and single-bit flip of the small ones, and a fixed set of
//! seeded random inputs. Not coverage-guided, so it is a regression net,
//! not a substitute for `cargo fuzz run` (see storage/README.md).

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::PathBuf;

/// Random inputs tried per target, on top of the corpus.
const RANDOM_INPUTS: u64 = 2_000;
/// Seeds at most this long also get every single-bit flip.
const FLIP_MAX_BYTES: usize = 512;

fn files(target: &str) -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in [
        root.join("corpus").join(target),
        root.join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            out.push(std::fs::read(&path).expect("read a corpus file"));
        }
    }
    out
}

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Runs `body` on the corpus, its mutations and random inputs; returns how
/// many inputs it ran.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let seeds = files(target);
    assert!(!seeds.is_empty(), "target {target} has no corpus");
    let mut runs = 0;
    for seed in &seeds {
        body(seed);
        for len in 0..seed.len() {
            body(&seed[..len]);
        }
        runs += 1 + seed.len();
        if seed.len() <= FLIP_MAX_BYTES {
            for bit in 0..seed.len() * 8 {
                let mut flipped = seed.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                body(&flipped);
            }
            runs += seed.len() * 8;
        }
    }
    for n in 0..RANDOM_INPUTS {
        let r = mix(n);
        let len = (r % 96) as usize;
        // Half the inputs start from a seed so they get past format checks.
        let mut data = if r & 1 == 0 {
            seeds[(r >> 8) as usize % seeds.len()].clone()
        } else {
            Vec::new()
        };
        data.extend((0..len).map(|i| mix(r ^ i as u64) as u8));
        let at = (r >> 16) as usize % data.len().max(1);
        if let Some(byte) = data.get_mut(at) {
            *byte ^= (r >> 24) as u8;
        }
        body(&data);
        runs += 1;
    }
    runs
}

#[test]
fn sled_record_corpus_replays_cleanly() {
    let runs = replay("sled_record", targets::sled_record);
    assert!(runs > RANDOM_INPUTS as usize);
}
