//! fsclient.elf: the filesystem client (`pd_fsclient::init`) on seL4. Its
//! stack holds the FAT volume manager and the block cache.
#![no_std]
#![no_main]

selfheal_sel4::protection_domain!(pd_fsclient::init, stack_size = 0x40000);
