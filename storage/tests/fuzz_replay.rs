//! Stable-toolchain replay of the fuzz targets in `storage/fuzz`: every
//! file of each target's corpus (and any saved crash in `artifacts/`), every
//! truncation and single-bit flip of the small ones, and a fixed set of
//! seeded random inputs. Not coverage-guided, so it is a regression net,
//! not a substitute for `cargo fuzz run` (see storage/README.md).

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::PathBuf;

/// Random inputs tried per cheap target, on top of the corpus.
const RANDOM_INPUTS: u64 = 2_000;
/// Random inputs tried per target that opens a whole store.
const RANDOM_STORE_INPUTS: u64 = 200;
/// Truncations tried per seed.
const CUTS_PER_SEED: usize = 16;
/// Single-bit flips tried per seed.
const FLIPS_PER_SEED: usize = 64;

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
/// many inputs it ran. `mutate_seeds` adds truncations and bit flips of
/// each seed: worth it
/// for inputs the decoder reads directly, not for edit lists.
fn replay(
    target: &str,
    extra_seeds: Vec<Vec<u8>>,
    mutate_seeds: bool,
    random: u64,
    body: impl Fn(&[u8]),
) -> usize {
    let mut seeds = files(target);
    seeds.extend(extra_seeds);
    assert!(!seeds.is_empty(), "target {target} has no corpus");
    let mut runs = 0;
    for seed in &seeds {
        body(seed);
        runs += 1;
        if !mutate_seeds {
            continue;
        }
        // Spread a fixed number of truncations and bit flips over each seed
        // so a large corpus still replays in seconds.
        let cut_step = seed.len().div_ceil(CUTS_PER_SEED).max(1);
        for len in (0..seed.len()).step_by(cut_step) {
            body(&seed[..len]);
            runs += 1;
        }
        let flip_step = (seed.len() * 8).div_ceil(FLIPS_PER_SEED).max(1);
        for bit in (0..seed.len() * 8).step_by(flip_step) {
            let mut flipped = seed.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            body(&flipped);
            runs += 1;
        }
    }
    for n in 0..random {
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
    let runs = replay(
        "sled_record",
        Vec::new(),
        true,
        RANDOM_INPUTS,
        targets::sled_record,
    );
    assert!(runs > RANDOM_INPUTS as usize);
}

#[test]
fn zero_wal_corpus_replays_cleanly() {
    let seeds = targets::zero_wal_seeds();
    // The harness must really reach the decoder: the engine's own payloads,
    // reframed, replay in full.
    // (Two non-empty batches; an empty one need not be logged.)
    assert_eq!(targets::zero_wal(&seeds[0]), 2, "seed replays both batches");
    assert_eq!(targets::zero_wal(&seeds[1]), 1);
    let runs = replay("zero_wal", seeds, true, RANDOM_STORE_INPUTS, |data| {
        targets::zero_wal(data);
    });
    assert!(runs > RANDOM_STORE_INPUTS as usize);
}

#[test]
fn zero_pages_corpus_replays_cleanly() {
    assert!(targets::zero_pages(&[]), "the unedited store opens");
    // Both superblocks edited without a new CRC: nothing valid to open.
    let both_superblocks = [0x80, 40, 0, 1, 0xaa, 0x81, 40, 0, 1, 0xaa];
    assert!(!targets::zero_pages(&both_superblocks));
    let seeds = targets::zero_pages_seeds();
    let runs = replay("zero_pages", seeds, false, RANDOM_STORE_INPUTS, |data| {
        targets::zero_pages(data);
    });
    assert!(runs > RANDOM_STORE_INPUTS as usize);
}
