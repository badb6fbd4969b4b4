//! blk.elf: the block driver (`pd_blk::init`) on seL4. Its start builds the
//! driver, the server and the personality's record by value: 256 KiB of
//! stack (64 KiB overflowed).
#![no_std]
#![no_main]

selfheal_sel4::protection_domain!(pd_blk::init, stack_size = 0x40000);
