//! The conformance suite: every engine behind the `Engine` trait runs the
//! same cases (DESIGN.md section 8). Each case is a generic function over a
//! [`Harness`]; the `conformance!` macro instantiates them per engine.

mod support;

use std::ops::Bound;

use support::{v, val, Harness, MemoryHarness, SledHarness, ZeroDirHarness, ZeroFaultHarness};
use zerodb_storage::{Direction, Engine, Record, ScanRange, Space, StorageError, WriteBatch};

fn put<E: Engine>(e: &mut E, space: Space, key: &[u8], record: Record) {
    let mut b = WriteBatch::new();
    b.put(space, key.to_vec(), record);
    e.write(b).expect("write");
}

fn keys(rows: &[(Vec<u8>, Record)]) -> Vec<Vec<u8>> {
    rows.iter().map(|(k, _)| k.clone()).collect()
}

fn scan<E: Engine>(
    e: &mut E,
    space: Space,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
    dir: Direction,
    limit: usize,
) -> Vec<Vec<u8>> {
    let range = ScanRange {
        space,
        start: start.map(<[u8]>::to_vec),
        end: end.map(<[u8]>::to_vec),
    };
    keys(&e.scan(&range, dir, limit).expect("scan"))
}

fn bytes(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|s| s.as_bytes().to_vec()).collect()
}

pub fn get_put_remove<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    assert_eq!(e.get(Space::Data, b"k").unwrap(), None);
    put(e, Space::Data, b"k", val(1, b"one"));
    assert_eq!(e.get(Space::Data, b"k").unwrap(), Some(val(1, b"one")));
    put(e, Space::Data, b"k", val(2, b"two"));
    assert_eq!(e.get(Space::Data, b"k").unwrap(), Some(val(2, b"two")));
    let mut b = WriteBatch::new();
    b.remove(Space::Data, b"k".to_vec());
    e.write(b).unwrap();
    assert_eq!(e.get(Space::Data, b"k").unwrap(), None);
    // Removing an absent key is not an error.
    let mut b = WriteBatch::new();
    b.remove(Space::Data, b"never".to_vec());
    e.write(b).unwrap();
    // An empty value is a value, not a tombstone.
    put(e, Space::Data, b"empty", val(3, b""));
    let got = e.get_visible(Space::Data, b"empty", 0).unwrap().unwrap();
    assert_eq!(got.value, Some(Vec::new()));
}

pub fn tombstones_are_stored_but_not_visible<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    put(e, Space::Data, b"k", val(1, b"one"));
    put(e, Space::Data, b"k", Record::tombstone(v(2)));
    let got = e.get(Space::Data, b"k").unwrap().unwrap();
    assert!(got.is_tombstone());
    assert_eq!(got.version, v(2));
    assert_eq!(e.get_visible(Space::Data, b"k", 0).unwrap(), None);
    let rows = e
        .scan(&ScanRange::all(Space::Data), Direction::Forward, 10)
        .unwrap();
    assert_eq!(rows, vec![(b"k".to_vec(), Record::tombstone(v(2)))]);
}

pub fn expiry_and_sweep<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    let expiring = |n: u64, at: u64| Record {
        version: v(n),
        value: Some(format!("value {n}").into_bytes()),
        expires_at_ms: Some(at),
    };
    put(e, Space::Data, b"a", expiring(1, 100));
    put(e, Space::Data, b"b", expiring(2, 200));
    put(e, Space::Data, b"c", val(3, b"forever"));
    put(e, Space::System, b"lock", expiring(4, 100));
    assert!(e.get_visible(Space::Data, b"a", 99).unwrap().is_some());
    assert_eq!(e.get_visible(Space::Data, b"a", 100).unwrap(), None);
    // `get` still returns the expired record with its expiry.
    assert_eq!(e.get(Space::Data, b"a").unwrap(), Some(expiring(1, 100)));

    assert_eq!(e.sweep_expired(150, 10).unwrap(), 1);
    assert_eq!(
        e.get(Space::Data, b"a").unwrap(),
        Some(Record::tombstone(v(1)))
    );
    assert_eq!(e.get(Space::Data, b"b").unwrap(), Some(expiring(2, 200)));
    // A second sweep at the same time finds nothing new; tombstones stay.
    assert_eq!(e.sweep_expired(150, 10).unwrap(), 0);
    assert_eq!(e.sweep_expired(1_000, 10).unwrap(), 1);
    assert!(e.get(Space::Data, b"b").unwrap().unwrap().is_tombstone());
    assert_eq!(e.get(Space::Data, b"c").unwrap(), Some(val(3, b"forever")));
    // The system space is never swept.
    assert_eq!(
        e.get(Space::System, b"lock").unwrap(),
        Some(expiring(4, 100))
    );
}

pub fn sweep_respects_its_limit_across_pages<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    let mut b = WriteBatch::new();
    for i in 0..2_500u64 {
        let expires_at_ms = (i % 2 == 0).then_some(10);
        let record = Record {
            version: v(i + 1),
            value: Some(vec![1]),
            expires_at_ms,
        };
        b.put(Space::Data, format!("k{i:05}").into_bytes(), record);
    }
    e.write(b).unwrap();
    assert_eq!(e.sweep_expired(20, 1_000).unwrap(), 1_000);
    assert_eq!(e.sweep_expired(20, 1_000).unwrap(), 250);
    assert_eq!(e.sweep_expired(20, 1_000).unwrap(), 0);
    let rows = e
        .scan(&ScanRange::all(Space::Data), Direction::Forward, usize::MAX)
        .unwrap();
    assert_eq!(rows.len(), 2_500);
    let tombstones = rows.iter().filter(|(_, r)| r.is_tombstone()).count();
    assert_eq!(tombstones, 1_250);
}

pub fn scans_honour_bounds_direction_and_limit<H: Harness>() {
    use Bound::{Excluded as Ex, Included as In, Unbounded as Un};
    use Direction::{Forward as Fw, Reverse as Rv};
    let mut h = H::fresh();
    let e = h.engine();
    let mut b = WriteBatch::new();
    for k in ["a", "b", "c", "d", "e"] {
        b.put(Space::Data, k.as_bytes().to_vec(), val(1, k.as_bytes()));
    }
    e.write(b).unwrap();
    let d = Space::Data;
    assert_eq!(
        scan(e, d, Un, Un, Fw, 10),
        bytes(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        scan(e, d, Un, Un, Rv, 10),
        bytes(&["e", "d", "c", "b", "a"])
    );
    assert_eq!(
        scan(e, d, In(b"b"), In(b"d"), Fw, 10),
        bytes(&["b", "c", "d"])
    );
    assert_eq!(scan(e, d, Ex(b"b"), Ex(b"d"), Fw, 10), bytes(&["c"]));
    assert_eq!(scan(e, d, In(b"b"), Ex(b"d"), Rv, 10), bytes(&["c", "b"]));
    assert_eq!(scan(e, d, Ex(b"b"), Un, Rv, 2), bytes(&["e", "d"]));
    assert_eq!(scan(e, d, In(b"bb"), In(b"dd"), Fw, 10), bytes(&["c", "d"]));
    assert_eq!(scan(e, d, Un, In(b"c"), Rv, 10), bytes(&["c", "b", "a"]));
    assert_eq!(scan(e, d, Un, Un, Fw, 2), bytes(&["a", "b"]));
    assert_eq!(scan(e, d, Un, Un, Fw, 0), Vec::<Vec<u8>>::new());
    // Empty and inverted ranges return nothing rather than failing.
    assert!(scan(e, d, In(b"c"), Ex(b"c"), Fw, 10).is_empty());
    assert!(scan(e, d, In(b"d"), In(b"b"), Fw, 10).is_empty());
    assert!(scan(e, d, Ex(b"d"), Ex(b"b"), Rv, 10).is_empty());
    assert!(scan(e, d, In(b"f"), Un, Fw, 10).is_empty());
}

pub fn prefix_scans<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    let all: [&[u8]; 8] = [
        b"ab",
        b"abc",
        b"abd",
        b"ac",
        b"b",
        b"\xff",
        b"\xff\xff",
        b"\xff\xff\x00",
    ];
    let mut b = WriteBatch::new();
    for k in all {
        b.put(Space::Data, k.to_vec(), val(1, b"x"));
    }
    e.write(b).unwrap();
    let rows = |e: &mut H::E, prefix: &[u8], dir| {
        keys(
            &e.scan(&ScanRange::prefix(Space::Data, prefix), dir, 100)
                .unwrap(),
        )
    };
    let want: Vec<Vec<u8>> = vec![b"ab".to_vec(), b"abc".to_vec(), b"abd".to_vec()];
    assert_eq!(rows(e, b"ab", Direction::Forward), want);
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(rows(e, b"ab", Direction::Reverse), rev);
    // A prefix of 0xff bytes has no successor: the scan runs to the end of
    // the space and must not spill into the next one.
    put(e, Space::System, b"\xff\xff\xff", val(1, b"sys"));
    let want: Vec<Vec<u8>> = vec![b"\xff\xff".to_vec(), b"\xff\xff\x00".to_vec()];
    assert_eq!(rows(e, b"\xff\xff", Direction::Forward), want);
    assert_eq!(rows(e, b"", Direction::Forward).len(), all.len());
    assert!(rows(e, b"zz", Direction::Forward).is_empty());
}

pub fn spaces_are_isolated<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    put(e, Space::Data, b"k", val(1, b"data"));
    put(e, Space::System, b"k", val(2, b"system"));
    put(e, Space::System, b"lock/1", val(3, b"held"));
    assert_eq!(e.get(Space::Data, b"k").unwrap(), Some(val(1, b"data")));
    assert_eq!(e.get(Space::System, b"k").unwrap(), Some(val(2, b"system")));
    assert_eq!(e.get(Space::Data, b"lock/1").unwrap(), None);
    for dir in [Direction::Forward, Direction::Reverse] {
        let data = e.scan(&ScanRange::all(Space::Data), dir, 10).unwrap();
        assert_eq!(keys(&data), bytes(&["k"]));
        let system = e.scan(&ScanRange::all(Space::System), dir, 10).unwrap();
        assert_eq!(system.len(), 2);
    }
    let mut b = WriteBatch::new();
    b.remove(Space::System, b"k".to_vec());
    e.write(b).unwrap();
    assert_eq!(e.get(Space::System, b"k").unwrap(), None);
    assert_eq!(e.get(Space::Data, b"k").unwrap(), Some(val(1, b"data")));
}

pub fn batches_apply_in_order_and_at_once<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    let mut b = WriteBatch::new();
    b.put(Space::Data, b"x".to_vec(), val(1, b"first"))
        .remove(Space::Data, b"x".to_vec())
        .remove(Space::Data, b"y".to_vec())
        .put(Space::Data, b"y".to_vec(), val(2, b"second"))
        .put(Space::Data, b"z".to_vec(), val(3, b"a"))
        .put(Space::Data, b"z".to_vec(), val(4, b"b"))
        .put(Space::System, b"decision".to_vec(), val(5, b"commit"));
    e.write(b).unwrap();
    assert_eq!(e.get(Space::Data, b"x").unwrap(), None);
    assert_eq!(e.get(Space::Data, b"y").unwrap(), Some(val(2, b"second")));
    assert_eq!(e.get(Space::Data, b"z").unwrap(), Some(val(4, b"b")));
    assert!(e.get(Space::System, b"decision").unwrap().is_some());
    e.write(WriteBatch::new()).unwrap();
    e.sync().unwrap();
    h.reopen();
    let e = h.engine();
    assert_eq!(e.get(Space::Data, b"x").unwrap(), None);
    assert_eq!(e.get(Space::Data, b"z").unwrap(), Some(val(4, b"b")));
    assert!(e.get(Space::System, b"decision").unwrap().is_some());
}

pub fn reopen_keeps_synced_data_and_incarnation<H: Harness>() {
    let mut h = H::fresh();
    let incarnation = h.engine().incarnation();
    let e = h.engine();
    let mut b = WriteBatch::new();
    for i in 0..200u32 {
        b.put(
            Space::Data,
            i.to_be_bytes().to_vec(),
            val(u64::from(i), b"v"),
        );
    }
    e.write(b).unwrap();
    put(e, Space::Data, b"tomb", Record::tombstone(v(9)));
    let expiring = Record {
        version: v(10),
        value: Some(b"ttl".to_vec()),
        expires_at_ms: Some(12_345),
    };
    put(e, Space::System, b"ttl", expiring.clone());
    e.sync().unwrap();
    e.close().unwrap();
    assert!(matches!(
        e.get(Space::Data, b"tomb"),
        Err(StorageError::Closed)
    ));
    assert!(matches!(
        e.write(WriteBatch::new()),
        Err(StorageError::Closed)
    ));
    h.reopen();
    let e = h.engine();
    assert_eq!(e.incarnation(), incarnation);
    assert_eq!(
        e.get(Space::Data, b"tomb").unwrap(),
        Some(Record::tombstone(v(9)))
    );
    assert_eq!(e.get(Space::System, b"ttl").unwrap(), Some(expiring));
    let rows = e
        .scan(&ScanRange::all(Space::Data), Direction::Forward, 1_000)
        .unwrap();
    assert_eq!(rows.len(), 201);
    for (i, (k, r)) in rows.iter().take(200).enumerate() {
        assert_eq!(k, &(i as u32).to_be_bytes().to_vec());
        assert_eq!(r, &val(i as u64, b"v"));
    }
    // Checkpoint, write more, reopen again.
    e.checkpoint().unwrap();
    put(e, Space::Data, b"after", val(11, b"checkpoint"));
    e.close().unwrap();
    h.reopen();
    let e = h.engine();
    assert_eq!(
        e.get(Space::Data, b"after").unwrap(),
        Some(val(11, b"checkpoint"))
    );
    assert_eq!(e.incarnation(), incarnation);
}

pub fn large_values_and_long_keys<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    let big: Vec<u8> = (0..(1 << 20) + 12_345)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let huge: Vec<u8> = (0..3 << 20).map(|i| (i % 253) as u8).collect();
    put(e, Space::Data, b"big", Record::value(v(1), big.clone()));
    put(e, Space::Data, b"huge", Record::value(v(2), huge.clone()));
    let long_keys: Vec<Vec<u8>> = (0..20u8)
        .map(|i| {
            let mut k = vec![b'L'; 4096];
            k[4000] = i;
            k
        })
        .collect();
    let mut b = WriteBatch::new();
    for (i, k) in long_keys.iter().enumerate() {
        b.put(Space::Data, k.clone(), val(i as u64, &k[..8]));
    }
    e.write(b).unwrap();
    e.sync().unwrap();
    h.reopen();
    let e = h.engine();
    assert_eq!(
        e.get(Space::Data, b"big").unwrap().unwrap().value,
        Some(big)
    );
    assert_eq!(
        e.get(Space::Data, b"huge").unwrap().unwrap().value,
        Some(huge)
    );
    for k in &long_keys {
        assert!(e.get(Space::Data, k).unwrap().is_some());
    }
    let range = ScanRange {
        space: Space::Data,
        start: Bound::Excluded(long_keys[4].clone()),
        end: Bound::Included(long_keys[15].clone()),
    };
    let rows = e.scan(&range, Direction::Reverse, 100).unwrap();
    assert_eq!(
        keys(&rows),
        long_keys[5..=15].iter().rev().cloned().collect::<Vec<_>>()
    );
    // Overwrite a large value with a small one and remove the other.
    put(e, Space::Data, b"big", val(3, b"small"));
    let mut b = WriteBatch::new();
    b.remove(Space::Data, b"huge".to_vec());
    e.write(b).unwrap();
    e.sync().unwrap();
    h.reopen();
    let e = h.engine();
    assert_eq!(e.get(Space::Data, b"big").unwrap(), Some(val(3, b"small")));
    assert_eq!(e.get(Space::Data, b"huge").unwrap(), None);
}

pub fn stats_are_sane<H: Harness>() {
    let mut h = H::fresh();
    let e = h.engine();
    let before = e.stats();
    let mut b = WriteBatch::new();
    for i in 0..100u32 {
        b.put(Space::Data, i.to_be_bytes().to_vec(), val(1, &[7u8; 100]));
    }
    b.put(Space::System, b"s".to_vec(), val(1, b"x"));
    e.write(b).unwrap();
    e.sync().unwrap();
    let after = e.stats();
    assert!(after.syncs > before.syncs, "{before:?} -> {after:?}");
    if H::COUNTS_RECORDS {
        assert_eq!(after.records, 101);
    }
    if H::ON_DISK {
        assert!(after.disk_bytes > 0, "{after:?}");
    }
    let mut b = WriteBatch::new();
    b.remove(Space::Data, 0u32.to_be_bytes().to_vec());
    e.write(b).unwrap();
    if H::COUNTS_RECORDS {
        assert_eq!(e.stats().records, 100);
    }
    // After a checkpoint every engine that counts at all counts exactly.
    e.checkpoint().unwrap();
    let records = e.stats().records;
    assert!(
        records == 100 || (records == 0 && !H::COUNTS_RECORDS),
        "{:?}",
        e.stats()
    );
}

macro_rules! conformance {
    ($module:ident, $harness:ty) => {
        mod $module {
            use super::*;

            #[test]
            fn get_put_remove() {
                super::get_put_remove::<$harness>();
            }
            #[test]
            fn tombstones_are_stored_but_not_visible() {
                super::tombstones_are_stored_but_not_visible::<$harness>();
            }
            #[test]
            fn expiry_and_sweep() {
                super::expiry_and_sweep::<$harness>();
            }
            #[test]
            fn sweep_respects_its_limit_across_pages() {
                super::sweep_respects_its_limit_across_pages::<$harness>();
            }
            #[test]
            fn scans_honour_bounds_direction_and_limit() {
                super::scans_honour_bounds_direction_and_limit::<$harness>();
            }
            #[test]
            fn prefix_scans() {
                super::prefix_scans::<$harness>();
            }
            #[test]
            fn spaces_are_isolated() {
                super::spaces_are_isolated::<$harness>();
            }
            #[test]
            fn batches_apply_in_order_and_at_once() {
                super::batches_apply_in_order_and_at_once::<$harness>();
            }
            #[test]
            fn reopen_keeps_synced_data_and_incarnation() {
                super::reopen_keeps_synced_data_and_incarnation::<$harness>();
            }
            #[test]
            fn large_values_and_long_keys() {
                super::large_values_and_long_keys::<$harness>();
            }
            #[test]
            fn stats_are_sane() {
                super::stats_are_sane::<$harness>();
            }
        }
    };
}

conformance!(memory, MemoryHarness);
conformance!(sled, SledHarness);
conformance!(zero, ZeroDirHarness);
conformance!(zero_fault_vfs, ZeroFaultHarness);
