//! Generate blk.elf's table and setvar symbols from the system file.
fn main() {
    selfheal_sel4_build::main("blk.elf");
}
