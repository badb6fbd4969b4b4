//! Random input never panics the compiler: random bytes, random token soups
//! and random mutations of a real specification either compile or produce
//! diagnostics, and whatever compiles also goes through both backends.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn run(src: &str) -> bool {
    match tingu::compile_sources(&[("fuzz.tingu", src)]) {
        Ok(c) => {
            let _ = tingu::rust::generate(&c.spec, &["fuzz.tingu".into()]);
            for p in &c.spec.protocols {
                let _ = tingu::dot::protocol(p);
            }
            true
        }
        Err(d) => {
            assert!(d.error_count() > 0, "an Err carries at least one error");
            for line in d.rendered() {
                assert!(
                    line.starts_with("fuzz.tingu:"),
                    "every error has a location: {line}"
                );
            }
            false
        }
    }
}

#[test]
fn random_bytes() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    for _ in 0..2000 {
        let len = r.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        let s = String::from_utf8_lossy(&bytes);
        run(&s);
    }
}

const VOCAB: &[&str] = &[
    "protocol",
    "component",
    "state",
    "initial",
    "final",
    "in",
    "out",
    "call",
    "reply",
    "to",
    "notify",
    "var",
    "const",
    "uses",
    "subport",
    "key",
    "spawn",
    "mirror",
    "concurrent",
    "import",
    "P",
    "Q",
    "a",
    "b",
    "x",
    "lc",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ";",
    ",",
    ":",
    ".",
    "..",
    "..=",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "!",
    "?",
    "&&",
    "||",
    "->",
    "0",
    "1",
    "0x101",
    "255",
    "99999999999999999999999999999999999999999",
    "5s",
    "10ms",
    "3us",
    "u8",
    "u64",
    "i32",
    "bool",
    "true",
    "false",
    "\"f.tingu\"",
    "//c\n",
    "/*",
    "*/",
    "ports:",
    "messages:",
];

#[test]
fn random_token_soups() {
    let mut r = Rng(42);
    for _ in 0..3000 {
        let n = r.below(120);
        let toks: Vec<&str> = (0..n).map(|_| VOCAB[r.below(VOCAB.len())]).collect();
        run(&toks.join(" "));
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_stack_overflow() {
    let deep = format!("const X = {}1{};", "(".repeat(5000), ")".repeat(5000));
    assert!(!run(&deep));
    let neg = format!("const X = {}1;", "-".repeat(5000));
    assert!(!run(&neg));
    let long = format!("const X = 1{};", "+1".repeat(100_000));
    assert!(!run(&long));
    let long = format!("const X = true{};", "&& true".repeat(100_000));
    assert!(!run(&long));
    let mut states = String::from("protocol P { in a() = 1 call; out r() = 2 reply; ");
    for _ in 0..500 {
        states.push_str("initial state s { ");
    }
    assert!(!run(&states));
}

#[test]
fn mutations_of_a_real_spec() {
    let base = include_str!("specs/asix.tingu");
    assert!(run(base), "the unmutated spec compiles");
    let chars: Vec<char> = base.chars().collect();
    let mut r = Rng(7);
    let mut accepted = 0;
    for _ in 0..600 {
        let mut c = chars.clone();
        for _ in 0..1 + r.below(4) {
            let i = r.below(c.len());
            let j = (i + r.below(30)).min(c.len());
            match r.below(3) {
                0 => {
                    c.drain(i..j);
                }
                1 => {
                    let piece: Vec<char> = c[i..j].to_vec();
                    let at = r.below(c.len());
                    c.splice(at..at, piece);
                }
                _ => {
                    if let Some(x) = c.get_mut(i) {
                        *x = VOCAB[r.below(VOCAB.len())].chars().next().unwrap_or(' ');
                    }
                }
            }
        }
        let s: String = c.into_iter().collect();
        if run(&s) {
            accepted += 1;
        }
    }
    // Some mutations (inside comments, say) keep the spec valid.
    assert!(accepted > 0);
}
