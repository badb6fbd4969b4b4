//! Numbers as the Microkit tool reads them.

/// Parse a number the way the tool's `sdf_parse_number` does: optional `0x`
/// prefix for hexadecimal, underscores ignored. Returns a reason on failure.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let (digits, radix) = match cleaned.strip_prefix("0x") {
        Some(rest) => (rest, 16),
        None => (cleaned.as_str(), 10),
    };
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return Err(format!("\"{s}\" is not a number (decimal or 0x hex)"));
    }
    u64::from_str_radix(digits, radix).map_err(|e| match e.kind() {
        core::num::IntErrorKind::PosOverflow => format!("\"{s}\" does not fit in 64 bits"),
        _ => format!("\"{s}\" is not a number (decimal or 0x hex)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_hex_and_underscores() {
        assert_eq!(parse_u64("42"), Ok(42));
        assert_eq!(parse_u64("0x1000"), Ok(0x1000));
        assert_eq!(parse_u64("0x9_000_000"), Ok(0x900_0000));
        assert_eq!(parse_u64("1_000"), Ok(1000));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for bad in [
            "",
            "0x",
            "-1",
            "+1",
            "ten",
            "0X10",
            "1.5",
            "99999999999999999999",
        ] {
            let e = parse_u64(bad).err().unwrap_or_default();
            assert!(e.contains(&format!("\"{bad}\"")), "{bad}: {e}");
        }
    }
}
