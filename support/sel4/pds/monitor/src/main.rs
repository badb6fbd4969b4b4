//! monitor.elf: the recovery monitor (`pd_monitor::init`) on seL4. Built after
//! its children: their reset entries are read from their final ELFs. With
//! feature `unchecked` (measuring only), without its protocol observer.
#![no_std]
#![no_main]

#[cfg(not(feature = "unchecked"))]
selfheal_sel4::protection_domain!(pd_monitor::init, stack_size = 0x10000);
#[cfg(feature = "unchecked")]
selfheal_sel4::protection_domain!(pd_monitor::init_unchecked, stack_size = 0x10000);
