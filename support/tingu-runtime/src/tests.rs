extern crate std;

use super::*;

#[test]
fn arg_types_accept_only_their_encodings() {
    assert!(ArgTy::U8.accepts(255) && !ArgTy::U8.accepts(256));
    assert!(ArgTy::U32.accepts(u32::MAX as u64) && !ArgTy::U32.accepts(1 << 32));
    assert!(ArgTy::I8.accepts(-128i64 as u64) && !ArgTy::I8.accepts(128));
    assert!(!ArgTy::I8.accepts(-129i64 as u64));
    assert!(ArgTy::Bool.accepts(1) && !ArgTy::Bool.accepts(2));
    assert!(ArgTy::U64.accepts(u64::MAX) && ArgTy::I64.accepts(u64::MAX));
    assert_eq!(ArgTy::I32.value(-5i64 as u64), -5);
    assert_eq!(ArgTy::U64.value(u64::MAX), u64::MAX as i128);
}

#[test]
fn ring_keeps_the_last_n_in_order() {
    let mut r: Ring<3> = Ring::new();
    assert!(r.is_empty() && r.last().is_none());
    for t in 1..=5 {
        r.push(Record { t, ..Record::EMPTY });
    }
    let ts: std::vec::Vec<u64> = r.iter().map(|x| x.t).collect();
    assert_eq!(ts, [3, 4, 5]);
    assert_eq!(r.last().map(|x| x.t), Some(5));
    let mut z: Ring<0> = Ring::new();
    z.push(Record::EMPTY);
    assert_eq!(z.len(), 0);
}

#[test]
fn time_is_printed_in_seconds() {
    let mut s = std::string::String::new();
    write_time(&mut s, 5_000_000_001).expect("fmt");
    assert_eq!(s, "5.000000001s");
}

#[test]
fn port_info_numbering_counts_instances() {
    static INFOS: &[PortInfo] = &[
        PortInfo {
            name: "a",
            protocol: "A",
            states: &[],
            messages: &[],
            instances: 1,
        },
        PortInfo {
            name: "b.sub",
            protocol: "B",
            states: &[],
            messages: &[],
            instances: 3,
        },
    ];
    assert_eq!(
        port_info(INFOS, 0).map(|(i, n)| (i.name, n)),
        Some(("a", 0))
    );
    assert_eq!(
        port_info(INFOS, 3).map(|(i, n)| (i.name, n)),
        Some(("b.sub", 2))
    );
    assert!(port_info(INFOS, 4).is_none());
}

#[test]
fn checked_ops_fail_instead_of_wrapping() {
    assert_eq!(ops::div(1, 0), None);
    assert_eq!(ops::mul(i128::MAX, 2), None);
    assert_eq!(ops::add(2, 3), Some(5));
    assert_eq!(in_range(4, 0, 3), None);
    assert_eq!(in_range(3, 0, 3), Some(3));
}
