use super::*;
use crate::layout::{ReqCode, RespStatus};

/// An 8-byte aligned buffer standing in for a shared region.
fn region(bytes: usize) -> Vec<u64> {
    vec![0u64; bytes.div_ceil(8)]
}

#[test]
fn fills_to_capacity_minus_one_and_keeps_order_across_wrap() {
    let mut mem = region(16 + 32 * 32);
    let base = mem.as_mut_ptr() as *mut u8;
    // SAFETY: `mem` outlives both handles; they are the ring's two sides.
    let (client, driver) = unsafe {
        (
            Ring::requests(base, 16 + 32 * 32, 32).expect("fits"),
            Ring::requests(base, 16 + 32 * 32, 32).expect("fits"),
        )
    };
    let mut next_id = 0u32;
    let mut expect = 0u32;
    for round in 0..10 {
        while client
            .push(BlkReq::new(ReqCode::Read, 0, next_id, 1, next_id))
            .is_ok()
        {
            next_id += 1;
        }
        assert_eq!(client.len(), Ok(31), "round {round}");
        assert_eq!(client.push(BlkReq::default()), Err(Full::Full));
        for _ in 0..(7 + round) {
            let r = driver.pop().expect("sane").expect("non-empty");
            assert_eq!(r.id, expect);
            expect += 1;
        }
    }
    while let Some(r) = driver.pop().expect("sane") {
        assert_eq!(r.id, expect);
        expect += 1;
    }
    assert_eq!(expect, next_id);
}

#[test]
fn indices_that_wrap_u32_still_work() {
    let mut mem = region(8 + 12 * 4);
    let base = mem.as_mut_ptr() as *mut u8;
    // SAFETY: as above.
    let r = unsafe { Ring::responses(base, 8 + 12 * 4, 4).expect("fits") };
    r.head.store(u32::MAX - 1, Ordering::Relaxed);
    r.tail.store(u32::MAX - 1, Ordering::Relaxed);
    for id in 0..3 {
        r.push(BlkResp::new(RespStatus::Ok, 1, id)).expect("room");
    }
    assert_eq!(r.tail(), 1);
    for id in 0..3 {
        assert_eq!(r.pop().expect("sane").map(|e| e.id), Some(id));
    }
}

#[test]
fn scribbled_indices_are_reported_naming_the_ring() {
    let mut mem = region(16 + 32 * 8);
    let base = mem.as_mut_ptr() as *mut u8;
    // SAFETY: as above.
    let r = unsafe { Ring::requests(base, 16 + 32 * 8, 8).expect("fits") };
    r.tail.store(1000, Ordering::Relaxed);
    let e = r.pop().expect_err("corrupt");
    assert_eq!(e.ring, "request");
    assert_eq!((e.head, e.tail, e.capacity), (0, 1000, 8));
    assert!(format!("{e}").contains("request ring corrupt"));
    assert_eq!(r.push(BlkReq::default()), Err(Full::Corrupt(e)));
}

#[test]
fn a_region_too_small_or_misaligned_is_refused() {
    let mut mem = region(1024);
    let base = mem.as_mut_ptr() as *mut u8;
    // SAFETY: refused before any access.
    unsafe {
        assert!(Ring::requests(base, 16 + 32 * 31, 32).is_err());
        assert!(Ring::requests(base.add(4), 512, 8).is_err());
        assert!(Ring::responses(base, 1024, 1).is_err());
        assert!(Ring::responses(base, 8 + 12 * 32, 32).is_ok());
    }
}

#[test]
fn two_threads_pass_every_entry_once_in_order() {
    const N: u32 = 200_000;
    let mut mem = region(16 + 32 * 64);
    let base = mem.as_mut_ptr() as usize;
    let producer = std::thread::spawn(move || {
        // SAFETY: `mem` outlives both threads (joined below).
        let r = unsafe { Ring::requests(base as *mut u8, 16 + 32 * 64, 64).expect("fits") };
        let mut id = 0;
        while id < N {
            match r.push(BlkReq::new(ReqCode::Write, u64::from(id) * 4096, id, 1, id)) {
                Ok(()) => id += 1,
                Err(Full::Full) => std::hint::spin_loop(),
                Err(Full::Corrupt(c)) => panic!("{c}"),
            }
        }
    });
    // SAFETY: as above.
    let r = unsafe { Ring::requests(base as *mut u8, 16 + 32 * 64, 64).expect("fits") };
    let mut expect = 0;
    while expect < N {
        match r.pop() {
            Ok(Some(e)) => {
                assert_eq!(
                    (e.id, e.block_number, e.io_or_offset),
                    (expect, expect, u64::from(expect) * 4096)
                );
                expect += 1;
            }
            Ok(None) => std::hint::spin_loop(),
            Err(c) => panic!("{c}"),
        }
    }
    producer.join().expect("producer");
    assert_eq!(r.pop(), Ok(None));
    drop(mem);
}
