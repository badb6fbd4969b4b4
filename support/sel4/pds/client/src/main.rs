//! client.elf: the stream client (`pd_client::init`) on seL4.
#![no_std]
#![no_main]

selfheal_sel4::protection_domain!(pd_client::init, stack_size = 0x10000);
