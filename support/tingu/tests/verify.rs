//! `tingu verify`: the command CI runs on the shipped system, its exit
//! status, and the binding checks that need the Tingu specifications (each
//! reported at the attribute's file:line:col).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tingu(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tingu"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run tingu");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The CI command: every bound channel of `system.xml` is explored, with
/// states and time printed per composition; every property holds (finding
/// F1, docs/verification.md, is fixed by `SerialStream`'s restart state).
#[test]
fn verify_system_prints_states_and_times_per_composition_and_every_property_holds() {
    let (code, out, err) = tingu(&["verify", "system.xml"]);
    for name in [
        "composition client.serial <-> serial.client",
        "composition recovery_monitor.serial_lc <-> serial.monitor",
        "composition client.monitor <-> recovery_monitor.serial_client",
    ] {
        assert!(out.contains(name), "{out}{err}");
    }
    let explored: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("explored"))
        .collect();
    assert_eq!(explored.len(), 3, "{out}");
    for l in explored {
        assert!(
            l.contains(" states, ") && (l.ends_with(" ms") || l.ends_with(" s")),
            "{l}"
        );
    }
    assert!(!out.contains("VIOLATED"), "{out}");
    assert_eq!(code, 0, "every property must hold\n{out}{err}");
    assert!(out.contains("every property holds"), "{out}");
}

/// Any violation fails the command (exit 1): `system.xml` with only warm
/// restarts never reaches the states entered through a cold start or a
/// tombstone (`reset`, `reset_request`, `dead`, `dead_request`).
#[test]
fn verify_fails_on_a_violation() {
    let (code, out, err) = tingu(&["verify", "--restarts", "warm", "system.xml"]);
    assert_eq!(code, 1, "a violation must fail the command\n{out}{err}");
    assert!(out.contains("violation(s)"), "{out}");
    let violated: Vec<&str> = out.lines().filter(|l| l.contains("VIOLATED")).collect();
    assert!(!violated.is_empty(), "{out}");
    for l in &violated {
        assert!(l.contains("reachability"), "{l}");
    }
}

#[test]
fn verify_exits_0_when_every_property_holds_and_2_on_usage_errors() {
    let good = repo().join("support/tingu-verify/fixtures/good.tingu");
    let (code, out, _) = tingu(&["verify", &good.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("every property holds"), "{out}");
    let (code, _, err) = tingu(&["verify", "--crashes", "many", "system.xml"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = tingu(&["verify"]);
    assert_eq!(code, 2, "{err}");
}

/// A system file whose bindings are wrong in one place (`¦` marks where the
/// error must point; it is removed before use).
fn system_with(channel_ends: &str, client_component: &str) -> (String, usize, usize) {
    let spec = repo().join("drivers/serial/api/serial.tingu");
    let text = format!(
        "<system>\n  <protocols path=\"{}\" />\n  <protection_domain name=\"drv\" priority=\"200\" component=\"serial\">\n    <program_image path=\"d.elf\" />\n  </protection_domain>\n  <protection_domain name=\"cli\" priority=\"100\"{client_component}>\n    <program_image path=\"c.elf\" />\n  </protection_domain>\n  <channel>\n{channel_ends}\n  </channel>\n</system>\n",
        spec.display()
    );
    let at = text.find('¦').unwrap_or(0);
    let line = text[..at].matches('\n').count() + 1;
    let col = text[..at].rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (text.replacen('¦', "", 1), line, col)
}

#[test]
fn binding_errors_name_the_attribute_at_fault() {
    let dir = std::env::temp_dir().join(format!("tingu-verify-bind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = [
        (
            "unknown port",
            system_with(
                "    <end pd=\"cli\" id=\"0\" pp=\"true\" port=\"serial\" />\n    <end pd=\"drv\" id=\"0\" ¦port=\"nope\" />",
                " component=\"serial_client\"",
            ),
            "component \"serial\" has no port \"nope\" (ports: client, monitor)",
        ),
        (
            "unknown component",
            system_with(
                "    <end pd=\"cli\" id=\"0\" pp=\"true\" port=\"serial\" />\n    <end pd=\"drv\" id=\"0\" port=\"client\" />",
                " ¦component=\"nobody\"",
            ),
            "no Tingu component named \"nobody\"",
        ),
        (
            "different protocols",
            system_with(
                "    <end pd=\"cli\" id=\"0\" pp=\"true\" port=\"serial\" />\n    <end pd=\"drv\" id=\"0\" ¦port=\"monitor\" />",
                " component=\"serial_client\"",
            ),
            "speaks Lifecycle but the other end",
        ),
        (
            "both owners",
            system_with(
                "    <end pd=\"cli\" id=\"0\" pp=\"true\" port=\"client\" />\n    <end pd=\"drv\" id=\"0\" ¦port=\"client\" />",
                " component=\"serial\"",
            ),
            "both ends play the owner side of SerialStream",
        ),
        (
            "unbound channel of a PD with a component",
            system_with(
                "    <end pd=\"cli\" id=\"0\" pp=\"true\" port=\"serial\" />\n    ¦<end pd=\"drv\" id=\"0\" />",
                " component=\"serial_client\"",
            ),
            "plays component \"serial\": this channel must be bound to one of its ports",
        ),
        (
            "caller without pp",
            system_with(
                "    ¦<end pd=\"cli\" id=\"0\" port=\"serial\" />\n    <end pd=\"drv\" id=\"0\" port=\"client\" />",
                " component=\"serial_client\"",
            ),
            "port \"serial\" makes protected calls (SerialStream), so this end needs pp=\"true\"",
        ),
        (
            "other end plays no component",
            system_with(
                "    <end pd=\"cli\" id=\"0\" pp=\"true\" />\n    <end pd=\"drv\" id=\"0\" ¦port=\"client\" />",
                "",
            ),
            "the other end of this channel (protection_domain \"cli\") plays no component",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (name, (text, line, col), expect)) in cases.iter().enumerate() {
        let file = dir.join(format!("case{i}.xml"));
        std::fs::write(&file, text).expect("write case");
        let (code, out, err) = tingu(&["verify", &file.display().to_string()]);
        let prefix = format!("{}:{line}:{col}: ", file.display());
        let ok = code == 1
            && err
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(expect));
        if !ok {
            failures.push(format!(
                "{name}: exit {code}\n want {prefix}...{expect}\n got {err}{out}"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
