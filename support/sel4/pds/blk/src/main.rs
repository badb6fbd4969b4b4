//! blk.elf: the block driver (`pd_blk::init`) on seL4.
#![no_std]
#![no_main]

selfheal_sel4::protection_domain!(pd_blk::init, stack_size = 0x10000);
