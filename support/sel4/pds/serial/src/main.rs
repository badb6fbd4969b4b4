//! serial.elf: the serial driver (`pd_serial::init`) on seL4.
#![no_std]
#![no_main]

selfheal_sel4::protection_domain!(pd_serial::init, stack_size = 0x10000);
