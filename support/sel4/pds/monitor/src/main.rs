//! monitor.elf: the recovery monitor (`pd_monitor::init`) on seL4. Built after
//! its children: their reset entries are read from their final ELFs.
#![no_std]
#![no_main]

selfheal_sel4::protection_domain!(pd_monitor::init, stack_size = 0x10000);
