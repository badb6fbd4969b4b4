//! A driver written from the datasheets talks to the board's UART model:
//! output reaches the console, injected input raises its interrupt.

mod common;
use common::*;
use hosted::{Board, Console};

#[test]
fn a_datasheet_driver_prints_and_echoes_through_each_boards_uart() {
    for (board, name) in [
        (Board::QemuVirtAarch64, "pl011"),
        (Board::X86_64Generic, "16550"),
    ] {
        let sys = launch(config("uart.xml", board));
        expect(&sys, &format!("hello through the {name}\n"));
        expect(&sys, "uart: ready");
        if let Err(e) = sys.inject_rx(b"abc") {
            panic!("{e}");
        }
        expect(&sys, "rx:ABC\n");
        // More than a FIFO's worth: flow controlled, nothing lost.
        let long: Vec<u8> = (0..100).map(|i| b'a' + (i % 26) as u8).collect();
        if let Err(e) = sys.inject_rx(&long) {
            panic!("{e}");
        }
        let want: String = long
            .iter()
            .map(|b| b.to_ascii_uppercase() as char)
            .collect();
        // The echo comes in as many lines as the driver got interrupts.
        let echoed = |c: &[u8]| -> String {
            uart_stream(c)
                .lines()
                .filter_map(|l| l.strip_prefix("rx:"))
                .collect::<Vec<_>>()
                .concat()
        };
        let c = sys.wait_console("all of the echo", T, |c| echoed(c).len() >= 3 + want.len());
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{board}: {e}"),
        };
        assert_eq!(echoed(&c), format!("ABC{want}"), "{board}");
    }
}

#[test]
fn a_mebibyte_written_byte_by_byte_arrives_intact() {
    for board in Board::ALL {
        let dir =
            std::env::temp_dir().join(format!("hosted-uart-{}-{}", std::process::id(), board));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("console.log");
        let mut cfg = config("uart.xml", board);
        cfg.console = Console::File(file.clone());
        let n: u64 = 1 << 20;
        cfg.prefill.push(("plan".into(), plan(&[n])));
        let sys = launch(cfg);
        let c = expect(&sys, "uart: ready");
        let timing = lines(&sys)
            .into_iter()
            .find(|l| l.starts_with("uart: wrote"))
            .unwrap_or_default();
        println!("{board}: {timing}");
        drop(sys);
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert_eq!(bytes.len(), c.len(), "the console file is the console");
        let name = if board == Board::QemuVirtAarch64 {
            "pl011"
        } else {
            "16550"
        };
        let head = format!("hello through the {name}\n");
        assert!(bytes.starts_with(head.as_bytes()));
        let body = &bytes[head.len()..head.len() + n as usize];
        assert!(
            body.iter()
                .enumerate()
                .all(|(i, b)| *b == b'a' + (i % 26) as u8),
            "{board}: corrupted"
        );
        assert!(bytes[head.len() + n as usize..].starts_with(b"\nbulk done\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
