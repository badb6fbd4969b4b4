//! client.elf: the stream client (`pd_client::init`) on seL4; with feature
//! `unchecked` (measuring only), without its protocol observer.
#![no_std]
#![no_main]

#[cfg(not(feature = "unchecked"))]
selfheal_sel4::protection_domain!(pd_client::init, stack_size = 0x10000);
#[cfg(feature = "unchecked")]
selfheal_sel4::protection_domain!(pd_client::init_unchecked, stack_size = 0x10000);
