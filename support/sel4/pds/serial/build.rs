//! Generate serial.elf's table and setvar symbols from system.xml.
fn main() {
    selfheal_sel4_build::main("serial.elf");
}
