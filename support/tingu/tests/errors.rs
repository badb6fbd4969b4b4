//! Every language rule, accepted and rejected: rejected specifications are
//! compared against their exact diagnostics (`file:line:col: error: ...`).

fn errors(src: &str) -> Vec<String> {
    match tingu::compile_sources(&[("t.tingu", src)]) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .diags
            .iter()
            .filter(|x| x.severity == tingu::diag::Severity::Error)
            .map(|x| {
                let full = x.render(&d.map);
                full.lines().next().unwrap_or_default().to_string()
            })
            .collect(),
    }
}

fn accepts(src: &str) -> tingu::ir::Spec {
    match tingu::compile_sources(&[("t.tingu", src)]) {
        Ok(c) => c.spec,
        Err(d) => panic!("rejected:\n{d}"),
    }
}

#[track_caller]
fn rejects(src: &str, want: &[&str]) {
    let got = errors(src);
    assert_eq!(got, want, "\nsource:\n{src}");
}

/// A well-formed protocol to build on.
const BASE: &str = "protocol P {
    in  req(x: u8) = 1 call;
    out ack()      = 0x101 reply to req;
    initial state a { ?req -> b; }
    state b { !ack -> a; }
}
";

#[test]
fn base_is_accepted() {
    let s = accepts(BASE);
    let p = &s.protocols[0];
    assert_eq!(p.states.len(), 2);
    assert_eq!(p.transitions.len(), 2);
    assert_eq!(p.messages[0].label, 1);
}

// ---- lexical and syntax ----

#[test]
fn syntax_errors_have_positions_and_several_are_reported() {
    rejects(
        "protocol P {\n    in req( = 1 call;\n    out ack() = 2 reply to req\n    initial state a { ?req -> a; }\n}\n",
        &[
            "t.tingu:2:13: error: expected an argument name, found `=`",
            "t.tingu:4:5: error: expected `;`, found `initial`",
        ],
    );
    rejects(
        "protocol P { in a() = 1 call; @ }",
        &["t.tingu:1:31: error: unexpected character `@`"],
    );
    rejects(
        "const X = 5kg;",
        &["t.tingu:1:11: error: unknown suffix `kg` on a number (durations use s, ms, us or ns)"],
    );
    rejects("/* open", &["t.tingu:1:1: error: unterminated comment"]);
    rejects(
        "protocol state { }",
        &["t.tingu:1:10: error: expected a protocol name, found keyword `state` (keywords cannot be used as names)"],
    );
}

// ---- messages and wire mapping ----

#[test]
fn message_rules() {
    rejects(
        "protocol P {
    in  a() = 1 call;
    out b() = 1 reply to a;
    out n(x: u8) notify;
    out m() = 7 notify;
    in  c() call;
    out r() = 0xfffe reply to a;
    initial state s { ?a -> s; }
}",
        &[
            "t.tingu:3:15: error: duplicate label 0x1: `b` and `a` in `P`",
            "t.tingu:4:9: error: notification `n` cannot have arguments (notifications carry no data)",
            "t.tingu:5:15: error: notification `m` cannot have a label (notifications carry no data; the wire label is 0)",
            "t.tingu:6:5: error: call `c` has no reply message (declare one with `reply to c`)",
            "t.tingu:6:13: error: message `c` needs a numeric label (`= 0x..`) before its transport",
            "t.tingu:7:15: error: label 0xfffe is reserved (the channel layer's protocol refusal)",
        ],
    );
}

#[test]
fn notify_at_most_one_per_direction() {
    rejects(
        "protocol P { in a() notify; in b() notify; out c() notify; initial state s { ?a -> s; } }",
        &["t.tingu:1:32: error: a second `in` notification `b` in `P` (already `a`): notifications are told apart only by direction"],
    );
}

#[test]
fn replies_need_calls() {
    rejects(
        "protocol P { out r() = 5 reply; initial state s { !r -> s; } }",
        &["t.tingu:1:26: error: reply `r` has no call to answer: `P` has no `in` call"],
    );
    rejects(
        "protocol P {
    in a() = 1 call;
    out x() = 2 call;
    out r() = 3 reply to a, x, nope;
    in  q() = 4 reply to x;
    initial state s { ?a -> s; }
}",
        &[
            "t.tingu:4:29: error: reply `r` goes the same way as its call `x`; a reply goes back to the caller",
            "t.tingu:4:32: error: reply to unknown message `nope` in `P`",
        ],
    );
    rejects(
        "protocol P { in a() = 1 call; out r() = 2 reply to b; in b() notify; initial state s { ?a -> s; } }",
        &[
            "t.tingu:1:14: error: call `a` has no reply message (declare one with `reply to a`)",
            "t.tingu:1:52: error: `r` answers `b`, which is not a call",
        ],
    );
}

#[test]
fn argument_types_and_arity() {
    rejects(
        "protocol P { in a(x: float, y: 0..=3) = 1 call; out r() = 2 reply; initial state s { ?a -> s; } }",
        &[
            "t.tingu:1:22: error: unknown type `float` (types are u8, u16, u32, u64, i8, i16, i32, i64, bool)",
            "t.tingu:1:32: error: argument types are u8, u16, u32, u64, i8, i16, i32, i64 or bool (ranges are for variables)",
        ],
    );
    rejects(
        "protocol P { in a(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: u8, i: u8) = 1 call; out r() = 2 reply; initial state s { ?a -> s; } }",
        &["t.tingu:1:17: error: message `a` has 9 arguments; a message carries at most 8 words"],
    );
    let s = accepts(
        "protocol P { in a(a: u8, b: i16, c: bool, d: u64, e: i64, f: u32, g: i8, h: u16) = 1 call; out r() = 2 reply; initial state s { ?a -> t; } state t { !r -> s; } }",
    );
    assert_eq!(s.protocols[0].messages[0].args.len(), 8);
}

// ---- states ----

#[test]
fn state_rules() {
    rejects(
        "protocol P { in a() = 1 call; out r() = 2 reply; state s { ?a -> s; } }",
        &["t.tingu:1:10: error: protocol `P` has no initial state (mark one `initial state ...`)"],
    );
    rejects(
        "protocol P { in a() = 1 call; out r() = 2 reply;
  initial state s { ?a -> t; }
  state t { !r -> nowhere; }
  state s;
  final state f [5s];
  state u { !r -> s; }
}",
        &[
            "t.tingu:3:19: error: unknown state `nowhere` in `P`",
            "t.tingu:4:9: error: state `s` is declared twice",
            "t.tingu:5:18: error: timeout on final state `f` (a final state is never left, so it would always expire)",
        ],
    );
    rejects(
        "protocol P { in a() = 1 call; out r() = 2 reply;
  initial state s { ?a -> t; }
  state t { !r -> s; }
  final state f;
  state sup { initial state u { !r -> s; } state v { ?a -> u; } }
}",
        &[
            "t.tingu:4:15: error: state `f` is unreachable from the initial state `s`",
            "t.tingu:5:9: error: state `sup` is unreachable from the initial state `s`",
        ],
    );
    rejects(
        "protocol P { in a() = 1 call; out r() = 2 reply;
  initial state s { ?a -> sup; }
  state sup { state x { !r -> s; } }
  final state f { ?a -> s; }
}",
        &[
            "t.tingu:3:9: error: super-state `sup` needs an `initial` inner state (entered when the super-state is entered)",
            "t.tingu:4:15: error: final state `f` cannot have inner states or transitions (a terminated protocol accepts no messages)",
        ],
    );
}

#[test]
fn super_state_transitions_are_enabled_in_every_inner_state() {
    let s = accepts(
        "protocol P { in a() = 1 call; out r() = 2 reply; in u() notify;
  initial state top {
    ?u -> gone;
    initial state x { ?a -> y; }
    state y { !r -> z; }
    state z { ?a -> x; }
  }
  final state gone;
}",
    );
    let p = &s.protocols[0];
    let gone = p.state("gone").expect("gone");
    let u = p.message("u").expect("u").0;
    for leaf in ["x", "y", "z"] {
        let l = p.state(leaf).expect("leaf");
        assert!(
            p.transitions_from(l)
                .any(|t| t.to == gone && t.trigger == tingu::ir::Trigger::Own(u)),
            "?u from {leaf}"
        );
    }
    assert!(p.states[gone].is_final);
    assert_eq!(p.states[p.initial].name, "x");
}

#[test]
fn timeouts_arm_and_disarm() {
    let s = accepts(
        "protocol P { in a() = 1 call; out r() = 2 reply; out k() = 3 reply to a;
  initial state s [2ms] { ?a -> t; }
  state t [3us] { !r -> t; !k -> s; }
}",
    );
    let p = &s.protocols[0];
    use tingu::ir::TimerOp;
    assert_eq!(
        p.initial_timers,
        [TimerOp::Arm {
            slot: 0,
            ns: 2_000_000
        }]
    );
    let tt = p.state("t").expect("t");
    // A self-loop is not a transition to a different state: no timer change.
    let self_loop = p.transitions_from(tt).find(|x| x.to == tt).expect("loop");
    assert!(self_loop.timers.is_empty());
    let to_s = p.transitions_from(tt).find(|x| x.to != tt).expect("to s");
    assert_eq!(
        to_s.timers,
        [TimerOp::Arm {
            slot: 0,
            ns: 2_000_000
        }]
    );
}

// ---- transitions, guards, actions ----

#[test]
fn transition_rules() {
    rejects(
        &BASE.replace(
            "state b { !ack -> a; }",
            "state b { ?ack -> a; !nope -> a; !ack(z) -> a; }",
        ),
        &[
            "t.tingu:5:15: error: `ack` is an `out` message: write `!ack`",
            "t.tingu:5:27: error: unknown message `nope` in `P`",
            "t.tingu:5:39: error: `ack` has 0 arguments but 1 name is given",
        ],
    );
}

#[test]
fn guard_and_action_types() {
    let src = "protocol P {
    in  req(x: u8, f: bool) = 1 call;
    out ack() = 0x101 reply to req;
    var n: 0..=9 = 0;
    var on: bool = false;
    initial state a {
        ?req [x + 1] -> b;
        ?req [f > 1] -> b;
        ?req [x == f] -> b;
        ?req [y > 1] -> b;
    }
    state b {
        !ack / n = true -> a;
        !ack / on = n + 1 -> a;
        !ack / n = 10 -> a;
        !ack / x = 1 -> a;
    }
}";
    rejects(
        src,
        &[
            "t.tingu:7:15: error: type mismatch: a guard must be a bool, this is an integer",
            "t.tingu:8:15: error: type mismatch: `>` between a bool and an integer",
            "t.tingu:9:15: error: type mismatch: `==` between an integer and a bool",
            "t.tingu:10:15: error: unknown name `y` (not an argument of `req`, a variable or a constant)",
            "t.tingu:13:20: error: type mismatch: `n` is an integer but the value is a bool",
            "t.tingu:14:21: error: type mismatch: `on` is a bool but the value is an integer",
            "t.tingu:15:20: error: value out of range: `n` has type 0..=9",
            "t.tingu:16:16: error: cannot assign to `x`: no such variable",
        ],
    );
    rejects(
        "protocol P { in a() = 1 call; out r() = 2 reply; var v: u8 = 300; var w: 5..1 = 0; initial state s { ?a -> s; } }",
        &[
            "t.tingu:1:62: error: type mismatch: initial value 300 of `v` is not in its type 0..=255",
            "t.tingu:1:74: error: empty range",
        ],
    );
}

#[test]
fn guards_and_actions_accepted() {
    let s = accepts(
        "const LIMIT = 4 * 2;
protocol P {
    const STEP = 2;
    in  req(x: i32, f: bool) = 1 call;
    out ack(v: u16) = 0x101 reply to req;
    var n: -5..LIMIT = -5;
    var on: bool = false;
    initial state a {
        ?req [x < 0 && f] / n = n + STEP, on = !on -> b;
        ?req(y, g) [y >= 0] / n = (n * 2 - y) % 7 -> b;
    }
    state b { !ack -> a; }
}",
    );
    let p = &s.protocols[0];
    assert_eq!(p.vars[0].domain, tingu::ir::Domain::Int { min: -5, max: 7 });
    assert_eq!(p.declared.len(), 3);
    assert_eq!(
        p.declared[1].label,
        "?req(y, g) [y >= 0] / n = ((n * 2) - y) % 7"
    );
}

#[test]
fn nondeterminism_is_reported_conservatively() {
    let src = "protocol P {
    in  req(x: u8) = 1 call;
    out ack() = 0x101 reply to req;
    var n: u8 = 0;
    initial state a {
        ?req [x < 3] -> b;
        ?req [x >= 3 && n == 0] -> b;
        ?req [x >= 3 && n == 1] -> b;
        ?req [x * 2 > 9] -> b;
    }
    state b { !ack -> a; }
}";
    let got = errors(src);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(
        got[0],
        "t.tingu:9:9: error: nondeterminism: two transitions on `?req` are enabled in state `a` and their guards are not provably disjoint"
    );
    // The note says the check is conservative.
    let d = tingu::compile_sources(&[("t.tingu", src)]).expect_err("rejected");
    assert!(d.to_string().contains("the check is conservative"));
    // Unguarded twice, and a super-state transition against an inner one.
    rejects(
        "protocol P { in a() = 1 call; out r() = 2 reply;
  initial state s { ?a -> t; ?a -> s; }
  state t { !r -> s; }
}",
        &["t.tingu:2:30: error: nondeterminism: two transitions on `?a` are enabled in state `s` and their guards are not provably disjoint"],
    );
    rejects(
        "protocol P { in a() = 1 call; out r() = 2 reply;
  initial state sup { ?a -> sup; initial state s { ?a -> t; } state t { !r -> s; } }
}",
        &["t.tingu:2:52: error: nondeterminism: two transitions on `?a` are enabled in state `s` and their guards are not provably disjoint"],
    );
    // Disjoint by `g` / `!g` and by constants: accepted.
    accepts(
        "protocol P { in a(f: bool, x: u8) = 1 call; out r() = 2 reply;
  initial state s { ?a [f] -> t; ?a [!f && x == 1] -> t; ?a [!f && x == 2] -> s; }
  state t { !r -> s; }
}",
    );
}

// ---- dependencies ----

#[test]
fn dependencies() {
    let lc = "protocol L { in start() = 1 call; out done() = 2 reply; initial state i { ?start -> s; } state s { !done -> i; } }\n";
    // Unknown alias, unknown message, wrong direction.
    rejects(
        &format!(
            "{lc}protocol D {{ uses L lc;
  in x() = 5 call; out y() = 6 reply;
  initial state i {{ !lcx.done -> j; !lc.nope -> j; ?lc.done -> j; }}
  state j {{ ?x -> i; }}
}}"
        ),
        &[
            "t.tingu:4:22: error: unknown dependency `lcx` in `D` (declare it with `uses Protocol lcx;`)",
            "t.tingu:4:41: error: unknown message `lc.nope`: protocol of `lc` has no such message",
            "t.tingu:4:52: error: `done` is an `out` message: write `!lc.done`",
        ],
    );
    // A component whose port uses L must have an L port on the same side.
    let dep = format!(
        "{lc}protocol D {{ uses L lc; in x() = 5 call; out y() = 6 reply; initial state i {{ !lc.done -> j; }} state j {{ ?x -> i; }} }}\n"
    );
    rejects(
        &format!("{dep}component c {{ D d; }}"),
        &["t.tingu:3:17: error: unknown dependency: port `d` (D) uses `L lc`, but component `c` has no port of protocol `L`"],
    );
    rejects(
        &format!("{dep}component c {{ D d; mirror L l; }}"),
        &["t.tingu:3:17: error: unknown dependency: port `d` (D) uses `L lc`, but component `c` has no port of protocol `L`"],
    );
    rejects(
        &format!("{dep}component c {{ D d; L a; L b; }}"),
        &["t.tingu:3:17: error: ambiguous dependency: port `d` uses `L lc` and component `c` has several such ports; name one `lc`"],
    );
    let s = accepts(&format!("{dep}component c {{ D d; L a; L lc; }}"));
    let c = &s.components[0];
    assert_eq!(c.ports[0].deps, [2], "resolved by name");
    assert_eq!(
        c.constrained_by(2, 1),
        &[(0, 0)],
        "L.done on port lc is constrained by d"
    );
    rejects(
        "protocol D { uses Nope n; uses D d; in x() = 1 call; out y() = 2 reply; initial state i { ?x -> i; } }",
        &[
            "t.tingu:1:19: error: `uses` names unknown protocol `Nope`",
            "t.tingu:1:32: error: a protocol cannot depend on itself (refer to its own messages directly)",
        ],
    );
}

// ---- subports ----

#[test]
fn subports() {
    let pipe = "protocol Pipe { key id; out go(id: u16, n: u8) = 0x30 call; in gone(id: u16) = 0x31 reply; initial state i { !go -> w; } state w { ?gone -> f; } final state f; }\n";
    let s = accepts(&format!(
        "{pipe}protocol Bus {{ subport Pipe pipe[3]; out open(id: u16) = 1 call; in ok(id: u16) = 2 reply;
  initial state i {{ !open -> w; }} state w {{ ?ok(k) / spawn pipe(k) -> i; }} }}
component c {{ Bus bus; }}"
    ));
    let bus = s.protocol("Bus").expect("Bus").1;
    assert_eq!(bus.subports[0].bound, 3);
    assert!(matches!(
        bus.declared[1].actions[0],
        tingu::ir::Action::Spawn { subport: 0, .. }
    ));
    assert_eq!(
        s.protocol("Pipe")
            .and_then(|p| p.1.key.clone())
            .map(|k| k.positions),
        Some(vec![0, 0])
    );

    rejects(
        "protocol Pipe { key id; out go(n: u8) = 0x30 call; in gone(id: bool) = 0x31 reply; in x() notify; initial state i { !go -> i; } }",
        &[
            "t.tingu:1:25: error: message `go` has no key argument `id` (every message of a subport protocol names its instance)",
            "t.tingu:1:52: error: a key argument must be an integer",
            "t.tingu:1:84: error: subport protocol `Pipe` cannot have notification `x` (a notification carries no key)",
        ],
    );
    rejects(
        &format!(
            "{pipe}protocol Bus {{ subport Pipe pipe[0]; subport Bus self_[2]; subport Pipe p2[65]; subport Nope n[1]; out open(id: u16) = 0x30 call; in ok(id: u16) = 2 reply;
  initial state i {{ !open / spawn nope(1) -> w; }} state w {{ ?ok / spawn p2(true) -> i; }} }}
component c {{ Pipe p; }}"
        ),
        &[
            "t.tingu:2:34: error: subport bound must be 1..=64",
            "t.tingu:2:46: error: `Bus` cannot be a subport protocol: it has no `key` (which argument names the instance)",
            "t.tingu:2:76: error: subport bound must be 1..=64",
            "t.tingu:2:89: error: subport of unknown protocol `Nope`",
            "t.tingu:3:35: error: unknown subport `nope` (declare it with `subport Protocol nope[n];`)",
            "t.tingu:3:73: error: unknown subport `p2` (declare it with `subport Protocol p2[n];`)",
            "t.tingu:4:15: error: `Pipe` is a subport protocol (it has a `key`); it is spawned, not declared as a port",
        ],
    );
}

#[test]
fn subport_labels_must_not_collide_with_parent() {
    rejects(
        "protocol Pipe { key id; out go(id: u8) = 0x30 call; in gone(id: u8) = 0x31 reply; initial state i { !go -> i; } }
protocol Bus { subport Pipe pipe[2]; out open(id: u8) = 0x30 call; in ok(id: u8) = 2 reply;
  initial state i { !open -> w; } state w { ?ok / spawn pipe(id) -> i; } }",
        &["t.tingu:2:29: error: subport `pipe`: message `go` of `Pipe` has the same label 0x30 as `open` of `Bus` (they share a channel)"],
    );
}

// ---- concurrency marker ----

#[test]
fn concurrent_messages_are_self_loops() {
    accepts(
        "protocol E { concurrent in tx(buf: u64) = 1 call; out done() = 2 reply to tx; in stop() = 3 call; out stopped() = 4 reply to stop;
  initial state run { ?tx -> run; ?stop -> halting; }
  state halting { !stopped -> run; !done -> halting; }
}",
    );
    rejects(
        "protocol E { concurrent in tx(buf: u64) = 1 call; out done() = 2 reply; var n: u8 = 0;
  initial state run { ?tx / n = 1 -> run; ?tx [buf == 0] -> other; }
  state other { !done -> run; }
}",
        &[
            "t.tingu:2:23: error: `tx` is `concurrent`: its transitions must be self-loops on a simple state without actions (so that concurrent data messages commute)",
            "t.tingu:2:43: error: `tx` is `concurrent`: its transitions must be self-loops on a simple state without actions (so that concurrent data messages commute)",
        ],
    );
}

// ---- components, imports, duplicates ----

#[test]
fn component_and_name_rules() {
    rejects(
        &format!("{BASE}{BASE}component c {{ P a; P a; Q q; }} component c {{ }}"),
        &[
            "t.tingu:7:10: error: protocol `P` is defined twice",
            "t.tingu:13:22: error: port `a` is declared twice",
            "t.tingu:13:25: error: port `q` has unknown protocol `Q`",
            "t.tingu:13:42: error: component `c` is defined twice",
        ],
    );
    let s = accepts(&format!("{BASE}component c {{ ports: P a; mirror P b; }}"));
    assert!(s.components[0].ports[1].mirror);
    rejects(
        "import \"missing.tingu\";",
        &["t.tingu:1:1: error: cannot import `missing.tingu`: no such source"],
    );
}

#[test]
fn imports_resolve_between_sources() {
    let a = "import \"b.tingu\"; component c { P p; }";
    match tingu::compile_sources(&[("a.tingu", a), ("b.tingu", BASE)]) {
        Ok(c) => assert_eq!(c.spec.components[0].ports[0].protocol, 0),
        Err(d) => panic!("{d}"),
    }
}

#[test]
fn paper_spec_file_is_accepted() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs/asix.tingu");
    let c = tingu::compile_files(&[path]).expect("asix.tingu");
    let (_, lc) = c.spec.protocol("Lifecycle").expect("Lifecycle");
    let starting = lc.state("starting").expect("starting");
    assert_eq!(lc.states[starting].timeout_ns, Some(5_000_000_000));
    assert_eq!(lc.states[starting].path, "alive.starting");
    let (_, pm) = c.spec.protocol("PowerManagement").expect("PM");
    assert_eq!(pm.foreign[0].name, "lc.startComplete");
}

// ---- restart states ----

#[test]
fn a_restart_state_is_entered_by_a_restart_and_counts_for_reachability() {
    let s = accepts(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a; out restarted() = 0x1f0 reply;
  initial state idle { ?a -> busy; }
  state busy [2ms] { !k -> idle; !restarted -> idle; }
  restart state lost [5ms] {
    ?a -> stale;
    !restarted -> idle;
    initial state fresh { }
  }
  state stale { !restarted -> idle; }
}",
    );
    let p = &s.protocols[0];
    let lost = p.state("lost").expect("lost");
    let fresh = p.state("fresh").expect("fresh");
    assert_eq!(p.restart, Some(lost));
    assert_eq!(p.restart_leaf, fresh);
    use tingu::ir::TimerOp;
    assert_eq!(
        p.restart_timers,
        [TimerOp::Arm {
            slot: 0,
            ns: 5_000_000
        }]
    );
    // Without one, a restart enters the initial state.
    let s = accepts(BASE);
    assert_eq!(s.protocols[0].restart, None);
    assert_eq!(s.protocols[0].restart_leaf, s.protocols[0].initial);
    assert!(s.protocols[0].restart_timers.is_empty());
}

#[test]
fn restart_state_rules() {
    rejects(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> z; }
  restart state y { !k -> x; }
  state z { initial state z0 { ?a -> w; } restart state w { !k -> x; } }
}",
        &["t.tingu:4:43: error: a second restart state `w` (already `y`; a protocol has at most one)"],
    );
    rejects(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  state y { !k -> x; }
  restart final state done;
}",
        &[
            "t.tingu:4:3: error: state `done` cannot be both restart and final (a restarted port would accept nothing)",
        ],
    );
    // Reachable from the restart state only: accepted; from neither: not.
    rejects(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  state y { !k -> x; }
  restart state r { ?a -> s; }
  state s { !k -> x; }
  state orphan { !k -> x; }
}",
        &["t.tingu:6:9: error: state `orphan` is unreachable from the initial state `x` or the restart state `r`"],
    );
    // `restart` is a keyword.
    rejects(
        "protocol P { in restart() = 1 call; out k() = 0x101 reply to restart;
  initial state x { ?restart -> y; }
  state y { !k -> x; }
}",
        &[
            "t.tingu:1:17: error: expected a message name, found keyword `restart` (keywords cannot be used as names)",
            "t.tingu:1:62: error: expected the name of a call message, found keyword `restart` (keywords cannot be used as names)",
            "t.tingu:2:22: error: expected a message name, found keyword `restart` (keywords cannot be used as names)",
        ],
    );
}

#[test]
fn a_subport_protocol_has_no_restart_state() {
    let errs = errors(
        "protocol Pipe { key id; in x(id: u8) = 0x30 call; out y(id: u8) = 0x130 reply to x;
  initial state a { ?x -> b; }
  restart state b { !y -> a; }
}
protocol P { subport Pipe pipe[2]; in o(id: u8) = 1 call; out k(id: u8) = 0x101 reply to o;
  initial state i { ?o / spawn pipe(id) -> j; }
  state j { !k -> i; }
}",
    );
    assert_eq!(
        errs,
        ["t.tingu:3:3: error: subport protocol `Pipe` cannot have a restart state (a restart discards every subport instance)"]
    );
}

// ---- idle (resting) states ----

#[test]
fn idle_declares_resting_states_and_stays_usable_as_a_name() {
    let s = accepts(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a; in b() = 2 call; out m() = 0x102 reply to b;
  initial state idle { ?a -> opening; }
  state opening { !k -> open; }
  idle state open { ?b -> busy; ?a -> done; }
  state busy { !m -> open; }
  idle restart state quiet {
    ?a -> opening;
    initial state q0 { ?b -> q1; }
    state q1 { !m -> q0; }
  }
  state done { !k -> idle; }
}",
    );
    let p = &s.protocols[0];
    let st = |n: &str| p.state(n).unwrap_or_else(|| panic!("no state {n}"));
    assert!(p.states[st("open")].is_idle);
    assert!(
        !p.states[st("idle")].is_idle,
        "`idle` as a name is a plain state"
    );
    assert!(p.states[st("quiet")].is_idle && p.restart == Some(st("quiet")));
    // Resting: the initial leaf, an idle leaf, every leaf inside an idle
    // super-state (final states too, below); nothing else.
    for (name, resting) in [
        ("idle", true),
        ("open", true),
        ("q0", true),
        ("q1", true),
        ("opening", false),
        ("busy", false),
        ("done", false),
    ] {
        assert_eq!(p.is_resting(st(name)), resting, "{name}");
    }
    let s = accepts(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  state y { !k -> z; }
  final state z;
}",
    );
    let p = &s.protocols[0];
    assert!(p.is_resting(p.state("z").expect("z")));
    assert!(!p.is_resting(p.state("y").expect("y")));
    // Statecharts draw idle states (leaves and clusters) with a bold outline.
    let s = accepts(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  idle state y { !k -> v; }
  idle state w { ?a -> w1; initial state w0 { } state w1 { !k -> x; } }
  state v { ?a -> u; }
  state u { !k -> w; }
}",
    );
    let dot = tingu::dot::protocol(&s.protocols[0]);
    assert!(dot.contains("label=\"y\", penwidth=2]"), "{dot}");
    assert!(
        dot.contains("label=\"w\"; style=\"rounded\"; penwidth=2;"),
        "{dot}"
    );
    assert!(dot.contains("label=\"x\"]"), "{dot}");
}

#[test]
fn idle_state_rules() {
    // Resting forever and having to leave are contradictory.
    rejects(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  idle state y [5ms] { !k -> x; }
}",
        &["t.tingu:3:3: error: idle state `y` cannot have a timeout (a composition may rest in an idle state forever, a timeout state must be left)"],
    );
    rejects(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  state y [5ms] { idle initial state y0 { !k -> x; } }
}",
        &["t.tingu:3:19: error: idle state `y0` is inside timeout state `y` (a composition may rest in an idle state forever, a timeout state must be left)"],
    );
    rejects(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  idle state y { initial state y0 [5ms] { !k -> x; } }
}",
        &["t.tingu:3:36: error: timeout state `y0` is inside idle state `y` (a composition may rest in an idle state forever, a timeout state must be left)"],
    );
    // `idle` on a final state is redundant: a warning.
    let c = tingu::compile_sources(&[(
        "t.tingu",
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  state y { !k -> z; }
  idle final state z;
}",
    )])
    .expect("accepted");
    let w: Vec<String> = c.warnings.iter().map(|d| d.render(&c.map)).collect();
    assert_eq!(
        w,
        ["t.tingu:4:3: warning: `idle` on final state `z` is redundant (a final state is resting already)"]
    );
    // `idle` is a modifier only before `state`: elsewhere it is a name.
    rejects(
        "protocol P { in a() = 1 call; out k() = 0x101 reply to a;
  initial state x { ?a -> y; }
  idle y { !k -> x; }
}",
        &["t.tingu:3:3: error: expected a message (`in`/`out`), `var`, `const`, `uses`, `subport`, `key` or a state, found `idle`"],
    );
}
