//! Compile `serial.tingu` (and what it imports) into the protocol observers
//! and message types of every component that speaks it.

fn main() {
    if let Err(e) = tingu::build::compile("serial.tingu")
        .rust_out("serial_protocol.rs")
        .compile()
    {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
