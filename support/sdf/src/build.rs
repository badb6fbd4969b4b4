//! For PD build scripts: the one system file, and generated text written
//! to `OUT_DIR`, so that a PD's wiring (channel ids, the monitor's child
//! table) comes from `system.xml` and is never committed or written twice.

use crate::System;
use std::path::PathBuf;

/// The system file a build uses: `$SELFHEAL_SYSTEM`, else `system.xml` two
/// directories above the crate (`pds/<name>`). Tells cargo to rebuild when
/// it changes.
pub fn system() -> Result<System, String> {
    system_or("../../system.xml")
}

/// As [`system`], with another file (relative to the crate) when
/// `$SELFHEAL_SYSTEM` is not set: the system the PD belongs to.
pub fn system_or(default: &str) -> Result<System, String> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let path = std::env::var("SELFHEAL_SYSTEM")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join(default));
    println!("cargo:rerun-if-changed={}", path.display());
    println!("cargo:rerun-if-env-changed=SELFHEAL_SYSTEM");
    crate::parse_file(&path).map_err(|e| e.to_string())
}

/// The one protection domain that plays `component`.
pub fn pd_of_component<'a>(sys: &'a System, component: &str) -> Result<&'a str, String> {
    let mut it = sys
        .protection_domains
        .iter()
        .filter(|p| p.component.as_deref() == Some(component));
    match (it.next(), it.next()) {
        (Some(pd), None) => Ok(&pd.name),
        (None, _) => Err(format!("{}: no protection domain has component=\"{component}\"", sys.file)),
        (Some(a), Some(b)) => Err(format!(
            "{}: protection domains {} and {} both have component=\"{component}\"; a build needs one",
            sys.file, a.name, b.name
        )),
    }
}

/// Write `text` to `$OUT_DIR/name`.
pub fn write_out(name: &str, text: &str) -> Result<(), String> {
    let out =
        PathBuf::from(std::env::var("OUT_DIR").map_err(|_| "OUT_DIR is not set".to_string())?)
            .join(name);
    std::fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// Write the channel constants of the PD playing `component` to
/// `$OUT_DIR/channels.rs` (see [`crate::codegen::port_channels`]).
pub fn channels_of_component(component: &str) -> Result<(), String> {
    let sys = system()?;
    let pd = pd_of_component(&sys, component)?;
    write_out("channels.rs", &crate::codegen::port_channels(&sys, pd))
}

/// The one protection domain whose program image is `image` (a file name).
pub fn pd_of_image<'a>(sys: &'a System, image: &str) -> Result<&'a str, String> {
    let mut it = sys.protection_domains.iter().filter(|p| {
        p.program_images.iter().any(|i| {
            std::path::Path::new(&i.path)
                .file_name()
                .and_then(|f| f.to_str())
                == Some(image)
        })
    });
    match (it.next(), it.next()) {
        (Some(pd), None) => Ok(&pd.name),
        (None, _) => Err(format!("{}: no protection domain runs {image}", sys.file)),
        (Some(a), Some(b)) => Err(format!(
            "{}: protection domains {} and {} both run {image}; a build needs one",
            sys.file, a.name, b.name
        )),
    }
}

/// Write the channel constants of the PD running `image` in the system
/// (`$SELFHEAL_SYSTEM`, else `default` relative to the crate) to
/// `$OUT_DIR/channels.rs` (see [`crate::codegen::port_channels`]).
pub fn channels_of_image(image: &str, default: &str) -> Result<(), String> {
    let sys = system_or(default)?;
    let pd = pd_of_image(&sys, image)?;
    write_out("channels.rs", &crate::codegen::port_channels(&sys, pd))
}

#[cfg(test)]
mod tests {
    use super::pd_of_component;

    fn sys(extra: &str) -> crate::System {
        let text = format!(
            r#"<system>
  <protection_domain name="drv" priority="100" component="serial"><program_image path="drv.elf" /></protection_domain>
  {extra}
</system>"#
        );
        match crate::parse_str("s.xml", &text, None) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_pd_of_a_component_is_found_and_ambiguity_is_an_error_naming_both() {
        assert_eq!(pd_of_component(&sys(""), "serial"), Ok("drv"));
        let none = pd_of_component(&sys(""), "blk").expect_err("no such component");
        assert!(
            none.contains("s.xml") && none.contains("component=\"blk\""),
            "{none}"
        );
        let two = sys(
            r#"<protection_domain name="drv2" priority="90" component="serial"><program_image path="d.elf" /></protection_domain>"#,
        );
        let e = pd_of_component(&two, "serial").expect_err("two");
        assert!(e.contains("drv and drv2"), "{e}");
    }
}
