//! Every malformed input is refused with the element, the reason and the
//! exact line:col. A `¦` in each case marks where the diagnostic must point;
//! it is removed before parsing.

use sdf::{Board, Pos};

/// A PD with a program image, for building cases.
fn pd(name: &str, prio: u8) -> String {
    format!(
        "<protection_domain name=\"{name}\" priority=\"{prio}\"><program_image path=\"{name}.elf\" /></protection_domain>"
    )
}

struct Case {
    name: &'static str,
    xml: String,
    /// Substring the Display must contain (after "file:line:col: ").
    expect: &'static str,
    /// Board suffix expected, if the problem exists in one board's view only.
    board: Option<Board>,
    /// Whether the Microkit 2.3.0 tool also refuses it (checked when the SDK
    /// is present; cases using our extensions are not sent to the tool).
    tool_refuses: bool,
}

fn case(name: &'static str, xml: impl Into<String>, expect: &'static str) -> Case {
    Case {
        name,
        xml: xml.into(),
        expect,
        board: None,
        tool_refuses: true,
    }
}

fn cases() -> Vec<Case> {
    let a = pd("a", 10);
    let b = pd("b", 20);
    let mut v = vec![
        case(
            "malformed xml",
            "<system>\n  <protection_domain name=\"a\">\n¦</system>",
            "malformed XML",
        ),
        case(
            "root is not system",
            "¦<sys>\n</sys>",
            "the root element must be <system>, not <sys>",
        ),
        case(
            "unknown element",
            format!("<system>\n  {a}\n  ¦<bogus />\n</system>"),
            "<bogus>: unknown element <bogus> inside <system>",
        ),
        case(
            "unknown attribute",
            format!("<system>\n  {a}\n  <memory_region name=\"m\" size=\"0x1000\" ¦colour=\"red\" />\n</system>"),
            "<memory_region colour=\"red\">: unknown attribute \"colour\" on <memory_region> (allowed: name, size, page_size, phys_addr, prefill_path, prefill_bootinfo, board)",
        ),
        // The tool only looks for text directly inside <system>.
        Case { tool_refuses: false, ..case(
            "text inside an element",
            "<system>\n  ¦<protection_domain name=\"a\">hello<program_image path=\"a.elf\" /></protection_domain>\n</system>".to_string(),
            "unexpected text \"hello\" in <protection_domain>",
        ) },
        case(
            "missing required attribute",
            format!("<system>\n  {a}\n  ¦<memory_region name=\"m\" />\n</system>"),
            "<memory_region name=\"m\">: missing required attribute \"size\"",
        ),
        case(
            "duplicate PD name",
            format!("<system>\n  {a}\n  <protection_domain ¦name=\"a\" priority=\"3\"><program_image path=\"x.elf\" /></protection_domain>\n</system>"),
            "<protection_domain name=\"a\">: duplicate protection_domain name \"a\" (first declared at 2:3)",
        ),
        case(
            "duplicate MR name",
            format!("<system>\n  {a}\n  <memory_region name=\"m\" size=\"0x1000\" />\n  <memory_region ¦name=\"m\" size=\"0x2000\" />\n</system>"),
            "<memory_region name=\"m\">: duplicate memory_region name \"m\" (first declared at 3:3)",
        ),
        case(
            "PD named monitor",
            "<system>\n  <protection_domain ¦name=\"monitor\"><program_image path=\"m.elf\" /></protection_domain>\n</system>",
            "<protection_domain name=\"monitor\">: the name \"monitor\" is reserved for the Microkit monitor",
        ),
        case(
            "priority out of range",
            "<system>\n  <protection_domain name=\"a\" ¦priority=\"255\"><program_image path=\"a.elf\" /></protection_domain>\n</system>",
            "<protection_domain priority=\"255\">: priority 255 is out of range (0..=254)",
        ),
        case(
            "priority not a number",
            "<system>\n  <protection_domain name=\"a\" ¦priority=\"high\"><program_image path=\"a.elf\" /></protection_domain>\n</system>",
            "<protection_domain priority=\"high\">: \"high\" is not a number (decimal or 0x hex)",
        ),
        case(
            "missing program image",
            "<system>\n  <protection_domain ¦name=\"a\" />\n</system>",
            "<protection_domain name=\"a\">: missing <program_image> (exactly one is required)",
        ),
        case(
            "channel id out of range",
            format!("<system>\n  {a}\n  {b}\n  <channel><end pd=\"a\" ¦id=\"62\" /><end pd=\"b\" id=\"0\" /></channel>\n</system>"),
            "<end id=\"62\">: id 62 is out of range (0..=61)",
        ),
        case(
            "channel id used twice in a PD",
            format!("<system>\n  {a}\n  {b}\n  <channel><end pd=\"a\" id=\"3\" /><end pd=\"b\" id=\"0\" /></channel>\n  <channel><end pd=\"a\" ¦id=\"3\" /><end pd=\"b\" id=\"1\" /></channel>\n</system>"),
            "<end id=\"3\">: duplicate channel id 3 in protection_domain \"a\" (first used at 4:12)",
        ),
        Case {
            board: Some(Board::QemuVirtAarch64),
            ..case(
                "irq and channel share an id",
                format!("<system>\n  <protection_domain name=\"a\" priority=\"10\"><program_image path=\"a.elf\" /><irq irq=\"40\" id=\"5\" board=\"qemu_virt_aarch64\" /></protection_domain>\n  {b}\n  <channel><end pd=\"a\" ¦id=\"5\" /><end pd=\"b\" id=\"0\" /></channel>\n</system>"),
                "<end id=\"5\">: duplicate channel id 5 in protection_domain \"a\"",
            )
        },
        case(
            "end names an unknown PD",
            format!("<system>\n  {a}\n  <channel>\n    <end pd=\"a\" id=\"0\" />\n    <end ¦pd=\"sensor\" id=\"0\" />\n  </channel>\n</system>"),
            "<end pd=\"sensor\">: no protection_domain named \"sensor\"",
        ),
        case(
            "channel with one end",
            format!("<system>\n  {a}\n  ¦<channel><end pd=\"a\" id=\"0\" /></channel>\n</system>"),
            "<channel>: a channel needs exactly two <end> elements, found 1",
        ),
        case(
            "channel with three ends",
            format!("<system>\n  {a}\n  {b}\n  {}\n  ¦<channel><end pd=\"a\" id=\"0\" /><end pd=\"b\" id=\"0\" /><end pd=\"c\" id=\"0\" /></channel>\n</system>", pd("c", 5)),
            "<channel>: a channel needs exactly two <end> elements, found 3",
        ),
        case(
            "pp to an equal priority",
            format!("<system>\n  {a}\n  {}\n  <channel><end pd=\"a\" id=\"0\" ¦pp=\"true\" /><end pd=\"b\" id=\"0\" /></channel>\n</system>", pd("b", 10)),
            "<end pp=\"true\">: pp=\"true\" needs a strictly higher-priority peer: \"a\" (priority 10) calls \"b\" (priority 10)",
        ),
        case(
            "pp to a lower priority",
            format!("<system>\n  {a}\n  {b}\n  <channel><end pd=\"a\" id=\"0\" /><end pd=\"b\" id=\"0\" ¦pp=\"true\" /></channel>\n</system>"),
            "\"b\" (priority 20) calls \"a\" (priority 10)",
        ),
        case(
            "pp both ways on one channel",
            format!("<system>\n  {a}\n  {b}\n  <channel><end pd=\"a\" id=\"0\" pp=\"true\" /><end pd=\"b\" id=\"0\" ¦pp=\"true\" /></channel>\n</system>"),
            "cannot ppc bidirectionally",
        ),
        case(
            "pp cycle over two channels",
            format!("<system>\n  {a}\n  {b}\n  <channel><end pd=\"a\" id=\"0\" pp=\"true\" /><end pd=\"b\" id=\"0\" /></channel>\n  <channel><end pd=\"a\" id=\"1\" /><end pd=\"b\" id=\"1\" ¦pp=\"true\" /></channel>\n</system>"),
            "<end pp=\"true\">: protected calls form a cycle: a -> b -> a",
        ),
        case(
            "map of an unknown MR",
            "<system>\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" /><map ¦mr=\"nope\" vaddr=\"0x1000000\" /></protection_domain>\n</system>",
            "<map mr=\"nope\">: no memory_region named \"nope\"",
        ),
        case(
            "map vaddr not page aligned",
            "<system>\n  <memory_region name=\"m\" size=\"0x1000\" />\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" /><map mr=\"m\" ¦vaddr=\"0x1000100\" /></protection_domain>\n</system>",
            "<map vaddr=\"0x1000100\">: vaddr 0x1000100 is not aligned to the page size 0x1000 of \"m\"",
        ),
        case(
            "overlapping maps",
            "<system>\n  <memory_region name=\"m\" size=\"0x2000\" />\n  <memory_region name=\"n\" size=\"0x1000\" />\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" />\n    <map mr=\"m\" vaddr=\"0x1000000\" />\n    <map mr=\"n\" ¦vaddr=\"0x1001000\" />\n  </protection_domain>\n</system>",
            "mapping of \"n\" [0x1001000..0x1002000) overlaps the mapping of \"m\" [0x1000000..0x1002000) in protection_domain \"a\"",
        ),
        Case { board: Some(Board::QemuVirtAarch64), ..case(
            "map beyond the address space",
            "<system>\n  <memory_region name=\"m\" size=\"0x1000\" />\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" /><map mr=\"m\" ¦vaddr=\"0x10000000000\" /></protection_domain>\n</system>",
            "mapping [0x10000000000..0x10000001000) exceeds the valid address space [0..0xffffffc000) of protection_domain \"a\"",
        ) },
        case(
            "MR size not a page multiple",
            format!("<system>\n  {a}\n  <memory_region name=\"m\" ¦size=\"0x1800\" />\n</system>"),
            "<memory_region size=\"0x1800\">: size 0x1800 is not a non-zero multiple of the page size 0x1000",
        ),
        case(
            "MR phys_addr unaligned",
            format!("<system>\n  {a}\n  <memory_region name=\"m\" size=\"0x1000\" ¦phys_addr=\"0x9000010\" />\n</system>"),
            "phys_addr 0x9000010 is not aligned to the page size 0x1000",
        ),
        case(
            "write-only mapping",
            "<system>\n  <memory_region name=\"m\" size=\"0x1000\" />\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" /><map mr=\"m\" vaddr=\"0x1000000\" ¦perms=\"w\" /></protection_domain>\n</system>",
            "<map perms=\"w\">: perms must not be 'w', write-only mappings are not allowed",
        ),
        case(
            "bad perms letter",
            "<system>\n  <memory_region name=\"m\" size=\"0x1000\" />\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" /><map mr=\"m\" vaddr=\"0x1000000\" ¦perms=\"rq\" /></protection_domain>\n</system>",
            "perms must only be a combination of 'r', 'w', and 'x'",
        ),
        Case { board: Some(Board::QemuVirtAarch64), ..case(
            "same IRQ in two PDs",
            "<system>\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" /><irq irq=\"33\" id=\"1\" board=\"qemu_virt_aarch64\" /></protection_domain>\n  <protection_domain name=\"b\"><program_image path=\"b.elf\" /><irq ¦irq=\"33\" id=\"1\" board=\"qemu_virt_aarch64\" /></protection_domain>\n</system>".to_string(),
            "<irq irq=\"33\">: duplicate irq 33: already given to protection_domain \"a\" at 2:61",
        ) },
        case(
            "duplicate child id",
            "<system>\n  <protection_domain name=\"p\" priority=\"100\"><program_image path=\"p.elf\" />\n    <protection_domain name=\"c1\" id=\"1\"><program_image path=\"c.elf\" /></protection_domain>\n    <protection_domain name=\"c2\" ¦id=\"1\"><program_image path=\"c.elf\" /></protection_domain>\n  </protection_domain>\n</system>",
            "<protection_domain id=\"1\">: duplicate child id 1 in protection_domain \"p\" (also used by \"c1\")",
        ),
        Case { tool_refuses: false, ..case(
            "child id out of range",
            "<system>\n  <protection_domain name=\"p\"><program_image path=\"p.elf\" />\n    <protection_domain name=\"c\" ¦id=\"64\"><program_image path=\"c.elf\" /></protection_domain>\n  </protection_domain>\n</system>",
            "child id 64 is out of range (0..=63)",
        ) },
        case(
            "duplicate setvar symbol",
            "<system>\n  <memory_region name=\"m\" size=\"0x1000\" />\n  <memory_region name=\"n\" size=\"0x1000\" />\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" />\n    <map mr=\"m\" vaddr=\"0x1000000\" setvar_vaddr=\"buf\" />\n    <map mr=\"n\" vaddr=\"0x2000000\" ¦setvar_vaddr=\"buf\" />\n  </protection_domain>\n</system>",
            "setvar on symbol \"buf\" already exists in protection_domain \"a\" (at 5:5)",
        ),
        Case { tool_refuses: false, ..case(
            "unsupported cspace",
            "<system>\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" />¦<cspace /></protection_domain>\n</system>",
            "<cspace>: <cspace> is valid Microkit but not supported by this project",
        ) },
        Case { board: Some(Board::X86_64Generic), ..case(
            "ioport range overlap",
            "<system>\n  <protection_domain name=\"a\" board=\"x86_64_generic\"><program_image path=\"a.elf\" /><ioport id=\"0\" addr=\"0x3f8\" size=\"8\" /></protection_domain>\n  <protection_domain name=\"b\" board=\"x86_64_generic\"><program_image path=\"b.elf\" /><ioport id=\"0\" ¦addr=\"0x3fc\" size=\"8\" /></protection_domain>\n  <protection_domain name=\"c\" board=\"qemu_virt_aarch64\"><program_image path=\"c.elf\" /></protection_domain>\n</system>",
            "<ioport addr=\"0x3fc\">: I/O ports [0x3fc, 0x404) overlap [0x3f8, 0x400) of protection_domain \"a\"",
        ) },
        case(
            "too many PDs",
            format!(
                "¦<system>\n  {}\n</system>",
                (0..64).map(|i| pd(&format!("p{i}"), 1)).collect::<String>()
            ),
            "too many protection domains (64); Microkit allows at most 63",
        ),
    ];
    // Board-specific problems carry the board.
    v.push(Case {
        board: Some(Board::X86_64Generic),
        ..case(
            "Arm irq without board attribute",
            "<system>\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" /><irq ¦irq=\"33\" id=\"1\" /></protection_domain>\n</system>",
            "<irq irq=\"33\">: Arm IRQs (irq=) are not supported on x86",
        )
    });
    v.push(Case {
        board: Some(Board::QemuVirtAarch64),
        ..case(
            "ioport without board attribute",
            "<system>\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" />¦<ioport id=\"0\" addr=\"0x3f8\" size=\"8\" /></protection_domain>\n</system>",
            "I/O ports are only available on x86",
        )
    });
    // Our extensions.
    let ext = |name, xml: String, expect| Case {
        tool_refuses: false,
        ..case(name, xml, expect)
    };
    let parent_child = |policy: &str, parent_map: &str, extra: &str| {
        format!(
            "<system>\n  <memory_region name=\"st\" size=\"0x1000\" />\n  <protection_domain name=\"mon\" priority=\"200\"><program_image path=\"m.elf\" />{parent_map}\n    <protection_domain name=\"drv\" id=\"0\" priority=\"100\"><program_image path=\"d.elf\" /><map mr=\"st\" vaddr=\"0x1000000\" />\n      {policy}\n    </protection_domain>\n  </protection_domain>\n  {}\n  <channel><end pd=\"mon\" id=\"1\" /><end pd=\"drv\" id=\"1\" /></channel>{extra}\n</system>",
            pd("cli", 50)
        )
    };
    let pmap = "<map mr=\"st\" vaddr=\"0x1000000\" setvar_vaddr=\"drv_state\" />";
    v.extend([
        ext(
            "unknown board",
            format!("<system>\n  {a}\n  <memory_region name=\"m\" size=\"0x1000\" ¦board=\"qemu_virt_riscv64\" />\n</system>"),
            "<memory_region board=\"qemu_virt_riscv64\">: unknown board \"qemu_virt_riscv64\" (known: qemu_virt_aarch64, x86_64_generic)",
        ),
        ext(
            "restart_policy in a top-level PD",
            "<system>\n  <protection_domain name=\"a\"><program_image path=\"a.elf\" />\n    ¦<restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"m\" />\n  </protection_domain>\n</system>".to_string(),
            "<restart_policy>: <restart_policy> is only allowed inside a child protection_domain (one with an id)",
        ),
        ext(
            "restart_policy region unknown",
            parent_child("<restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" ¦region=\"nope\" />", pmap, ""),
            "<restart_policy region=\"nope\">: no memory_region named \"nope\"",
        ),
        ext(
            "restart_policy region not mapped in parent",
            parent_child("<restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" ¦region=\"st\" />", "", ""),
            "memory_region \"st\" is not mapped into the parent \"mon\"",
        ),
        ext(
            "restart_policy notify PD without a channel to the parent",
            parent_child("<restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"st\" ¦notify=\"cli\" />", pmap, ""),
            "<restart_policy notify=\"cli\">: notify needs exactly one channel between \"cli\" and the parent \"mon\", found 0",
        ),
        ext(
            "restart_policy missing attribute",
            parent_child("¦<restart_policy max_faults=\"1\" window_ms=\"1\" region=\"st\" />", pmap, ""),
            "<restart_policy>: missing required attribute \"hang_ms\"",
        ),
        ext(
            "restart_policy control page writable by the child",
            "<system>\n  <memory_region name=\"st\" size=\"0x1000\" />\n  <memory_region name=\"ctl\" size=\"0x1000\" />\n  <protection_domain name=\"mon\" priority=\"200\"><program_image path=\"m.elf\" /><map mr=\"st\" vaddr=\"0x1000000\" setvar_vaddr=\"drv_state\" /><map mr=\"ctl\" vaddr=\"0x2000000\" setvar_vaddr=\"drv_control\" />\n    <protection_domain name=\"drv\" id=\"0\" priority=\"100\"><program_image path=\"d.elf\" /><map mr=\"st\" vaddr=\"0x1000000\" /><map mr=\"ctl\" vaddr=\"0x2000000\" ¦perms=\"rw\" setvar_vaddr=\"control\" />\n      <restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"st\" control=\"ctl\" />\n    </protection_domain>\n  </protection_domain>\n  <channel><end pd=\"mon\" id=\"1\" /><end pd=\"drv\" id=\"1\" /></channel>\n</system>".to_string(),
            "\"drv\" must not be able to write \"ctl\": its restart_policy names it as control (map it perms=\"r\")",
        ),
        ext(
            "restart_policy ledger writable by the child",
            "<system>\n  <memory_region name=\"st\" size=\"0x1000\" />\n  <memory_region name=\"led\" size=\"0x1000\" />\n  <protection_domain name=\"mon\" priority=\"200\"><program_image path=\"m.elf\" /><map mr=\"st\" vaddr=\"0x1000000\" setvar_vaddr=\"drv_state\" /><map mr=\"led\" vaddr=\"0x2000000\" perms=\"r\" setvar_vaddr=\"drv_ledger\" />\n    <protection_domain name=\"drv\" id=\"0\" priority=\"100\"><program_image path=\"d.elf\" /><map mr=\"st\" vaddr=\"0x1000000\" />¦<map mr=\"led\" vaddr=\"0x2000000\" />\n      <restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"st\" ledger=\"led\" />\n    </protection_domain>\n  </protection_domain>\n  <channel><end pd=\"mon\" id=\"1\" /><end pd=\"drv\" id=\"1\" /></channel>\n</system>".to_string(),
            "\"drv\" must not be able to write \"led\": its restart_policy names it as ledger (map it perms=\"r\", or not at all)",
        ),
        ext(
            "restart_policy ledger unknown",
            parent_child("<restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"st\" ¦ledger=\"nope\" />", pmap, ""),
            "<restart_policy ledger=\"nope\">: no memory_region named \"nope\"",
        ),
        ext(
            "restart group with one member",
            parent_child("<restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"st\" ¦group=\"g\" />", pmap, ""),
            "<restart_policy group=\"g\">: restart group \"g\" has one member, \"drv\" (a group restarts children of one parent together)",
        ),
        ext(
            "restart group whose members are each other's clients (a calls b, a's policy notifies b)",
            "<system>\n  <memory_region name=\"s1\" size=\"0x1000\" />\n  <memory_region name=\"s2\" size=\"0x1000\" />\n  <protection_domain name=\"mon\" priority=\"200\"><program_image path=\"m.elf\" /><map mr=\"s1\" vaddr=\"0x1000000\" setvar_vaddr=\"a_state\" /><map mr=\"s2\" vaddr=\"0x2000000\" setvar_vaddr=\"b_state\" />\n    <protection_domain name=\"a\" id=\"0\" priority=\"100\"><program_image path=\"a.elf\" /><map mr=\"s1\" vaddr=\"0x1000000\" />\n      <restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"s1\" notify=\"b\" ¦group=\"g\" />\n    </protection_domain>\n    <protection_domain name=\"b\" id=\"1\" priority=\"110\"><program_image path=\"b.elf\" /><map mr=\"s2\" vaddr=\"0x2000000\" />\n      <restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"s2\" group=\"g\" />\n    </protection_domain>\n  </protection_domain>\n  <channel><end pd=\"mon\" id=\"1\" /><end pd=\"a\" id=\"1\" /></channel>\n  <channel><end pd=\"mon\" id=\"2\" /><end pd=\"b\" id=\"1\" /></channel>\n  <channel><end pd=\"a\" id=\"2\" pp=\"true\" /><end pd=\"b\" id=\"2\" /></channel>\n</system>".to_string(),
            "<restart_policy group=\"g\">: restart group \"g\" has a cycle of clients: a, b",
        ),
        ext(
            "restart_policy with two channels to the parent",
            parent_child("¦<restart_policy max_faults=\"1\" window_ms=\"1\" hang_ms=\"1\" region=\"st\" />", pmap, "\n  <channel><end pd=\"mon\" id=\"2\" /><end pd=\"drv\" id=\"2\" /></channel>"),
            "restart_policy needs exactly one channel between \"drv\" and its parent \"mon\", found 2",
        ),
        ext(
            "port bound on a PD without a component",
            format!("<system>\n  {a}\n  {b}\n  <channel><end pd=\"a\" id=\"0\" pp=\"true\" ¦port=\"x\" /><end pd=\"b\" id=\"0\" /></channel>\n</system>"),
            "<end port=\"x\">: port \"x\" is bound on protection_domain \"a\", which has no component=\"...\"",
        ),
        ext(
            "component is not a Tingu name",
            "<system>\n  <protection_domain name=\"a\" priority=\"1\" ¦component=\"se-rial\"><program_image path=\"a.elf\" /></protection_domain>\n</system>".to_string(),
            "<protection_domain component=\"se-rial\">: component \"se-rial\" is not a Tingu name",
        ),
        ext(
            "port is not a Tingu name",
            "<system>\n  <protection_domain name=\"a\" priority=\"1\" component=\"c\"><program_image path=\"a.elf\" /></protection_domain>\n  <protection_domain name=\"b\" priority=\"2\" component=\"d\"><program_image path=\"b.elf\" /></protection_domain>\n  <channel><end pd=\"a\" id=\"0\" ¦port=\"9lives\" /><end pd=\"b\" id=\"0\" /></channel>\n</system>".to_string(),
            "<end port=\"9lives\">: port \"9lives\" is not a Tingu name",
        ),
        ext(
            "port bound to two channels",
            "<system>\n  <protection_domain name=\"a\" priority=\"1\" component=\"c\"><program_image path=\"a.elf\" /></protection_domain>\n  <protection_domain name=\"b\" priority=\"2\"><program_image path=\"b.elf\" /></protection_domain>\n  <channel><end pd=\"a\" id=\"0\" port=\"p\" /><end pd=\"b\" id=\"0\" /></channel>\n  <channel><end pd=\"a\" id=\"1\" ¦port=\"p\" /><end pd=\"b\" id=\"1\" /></channel>\n</system>".to_string(),
            "<end port=\"p\">: port \"p\" of protection_domain \"a\" is already bound to a channel (at 4:12)",
        ),
        ext(
            "protocols without a path",
            format!("<system>\n  ¦<protocols />\n  {a}\n</system>"),
            "<protocols>: missing required attribute \"path\"",
        ),
        ext(
            "protocols with an empty path",
            format!("<system>\n  <protocols ¦path=\"\" />\n  {a}\n</system>"),
            "<protocols path=\"\">: path must not be empty",
        ),
        ext(
            "protocols inside a PD",
            "<system>\n  <protection_domain name=\"a\" priority=\"1\"><program_image path=\"a.elf\" />¦<protocols path=\"x.tingu\" /></protection_domain>\n</system>".to_string(),
            "<protocols>: unknown element <protocols> inside <protection_domain>",
        ),
    ]);
    v
}

fn pos_of_marker(xml: &str) -> (String, Pos) {
    let at = xml.find('¦').unwrap_or(0);
    let before = &xml[..at];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
    (xml.replacen('¦', "", 1), Pos { line, col })
}

#[test]
fn every_malformed_input_is_refused_at_the_right_place() {
    let mut failures = Vec::new();
    for c in cases() {
        assert!(c.xml.contains('¦'), "{}: no marker", c.name);
        let (xml, pos) = pos_of_marker(&c.xml);
        match sdf::parse_str("bad.xml", &xml, None) {
            Ok(_) => failures.push(format!("{}: accepted", c.name)),
            Err(e) => {
                let text = e.to_string();
                let prefix = format!("bad.xml:{}:{}: ", pos.line, pos.col);
                if !text.starts_with(&prefix) || !text.contains(c.expect) || e.board != c.board {
                    failures.push(format!(
                        "{}:\n   got: {text}\n  want: {prefix}...{}...{}",
                        c.name,
                        c.expect,
                        c.board.map(|b| format!(" (board {b})")).unwrap_or_default()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Cross-check with the real Microkit tool when its SDK is on this machine:
/// every case it should refuse, it does refuse at SDF level (its error is not
/// the later "unable to find program image").
#[test]
fn the_microkit_tool_agrees_when_available() {
    let Ok(sdk) = std::env::var("MICROKIT_SDK") else {
        eprintln!("skipped: MICROKIT_SDK not set");
        return;
    };
    let tool = std::path::Path::new(&sdk).join("bin/microkit");
    if !tool.exists() {
        eprintln!("skipped: no Microkit SDK at {sdk}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sdf-oracle-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut disagreements = Vec::new();
    for c in cases().into_iter().filter(|c| c.tool_refuses) {
        let (xml, _) = pos_of_marker(&c.xml);
        // Strip our board attributes the way render would, keeping the
        // elements of the board the case is about.
        let board = c.board.unwrap_or(Board::QemuVirtAarch64);
        let xml = xml
            .replace(" board=\"qemu_virt_aarch64\"", "")
            .replace(" board=\"x86_64_generic\"", "");
        let file = dir.join("case.system");
        let _ = std::fs::write(&file, xml);
        let out = std::process::Command::new(&tool)
            .arg(&file)
            .args(["--board", board.name(), "--config", "debug"])
            .arg("-o")
            .arg(dir.join("x.img"))
            .arg("-r")
            .arg(dir.join("r.txt"))
            .arg("--search-path")
            .arg(&dir)
            .env("MICROKIT_SDK", &sdk)
            .output();
        let Ok(out) = out else {
            eprintln!("skipped: cannot run {}", tool.display());
            return;
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() || text.contains("unable to find program image") {
            disagreements.push(format!(
                "{}: tool accepted the SDF ({})",
                c.name,
                text.trim()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(disagreements.is_empty(), "\n{}", disagreements.join("\n"));
}
