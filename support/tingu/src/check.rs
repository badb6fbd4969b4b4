//! Semantic check: AST to [`ir::Spec`], or diagnostics.
//!
//! Every rule the language imposes is checked here, and each failure is a
//! diagnostic at the offending source location. Checking continues after an
//! error wherever the rest still makes sense, so one run reports many errors.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ast::{self, BinOp, DirKw, Sigil, TransportKw, TypeExpr, UnOp};
use crate::diag::{Diag, Span};
use crate::ir::*;

/// Label the channel layer replies with when it refuses a call.
pub const RESERVED_LABELS: &[(u64, &str)] = &[
    (0xfffe, "the channel layer's protocol refusal"),
    (0xffff, "pd-core's `unsupported`"),
];

/// Expression types.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Ty {
    Int,
    Bool,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Int => "an integer",
            Ty::Bool => "a bool",
        }
    }
}

fn domain_ty(d: Domain) -> Ty {
    match d {
        Domain::Bool => Ty::Bool,
        Domain::Int { .. } => Ty::Int,
    }
}

/// Names visible in an expression.
struct Scope<'a> {
    /// Argument binders: name -> (index, type).
    args: Vec<(String, usize, ArgType)>,
    vars: &'a [Var],
    local_consts: &'a HashMap<String, Value>,
    consts: &'a HashMap<String, Value>,
    /// Message the binders belong to, for messages.
    msg_name: Option<&'a str>,
}

struct Checker<'s> {
    diags: &'s mut Vec<Diag>,
    consts: HashMap<String, Value>,
    /// Constants of the protocol being checked.
    local: HashMap<String, Value>,
}

/// Check parsed files and build the IR. Errors (and warnings) go to `diags`;
/// the returned spec is only meaningful if no error was pushed.
pub fn check(files: &[ast::File], diags: &mut Vec<Diag>) -> Spec {
    let mut c = Checker {
        diags,
        consts: HashMap::new(),
        local: HashMap::new(),
    };
    c.run(files)
}

fn fold(e: &Expr) -> Option<Value> {
    Some(match e {
        Expr::Int(v) => Value::Int(*v),
        Expr::Bool(b) => Value::Bool(*b),
        Expr::Var(_) | Expr::Arg(_) => return None,
        Expr::Unary(op, a) => match (op, fold(a)?) {
            (UnOp::Neg, Value::Int(v)) => Value::Int(v.checked_neg()?),
            (UnOp::Not, Value::Bool(b)) => Value::Bool(!b),
            _ => return None,
        },
        Expr::Binary(op, a, b) => {
            let (a, b) = (fold(a)?, fold(b)?);
            match (a, b) {
                (Value::Int(x), Value::Int(y)) => match op {
                    BinOp::Add => Value::Int(x.checked_add(y)?),
                    BinOp::Sub => Value::Int(x.checked_sub(y)?),
                    BinOp::Mul => Value::Int(x.checked_mul(y)?),
                    BinOp::Div => Value::Int(x.checked_div(y)?),
                    BinOp::Rem => Value::Int(x.checked_rem(y)?),
                    BinOp::Eq => Value::Bool(x == y),
                    BinOp::Ne => Value::Bool(x != y),
                    BinOp::Lt => Value::Bool(x < y),
                    BinOp::Le => Value::Bool(x <= y),
                    BinOp::Gt => Value::Bool(x > y),
                    BinOp::Ge => Value::Bool(x >= y),
                    BinOp::And | BinOp::Or => return None,
                },
                (Value::Bool(x), Value::Bool(y)) => match op {
                    BinOp::And => Value::Bool(x && y),
                    BinOp::Or => Value::Bool(x || y),
                    BinOp::Eq => Value::Bool(x == y),
                    BinOp::Ne => Value::Bool(x != y),
                    _ => return None,
                },
                _ => return None,
            }
        }
    })
}

/// Limits of values the wire and variables can hold.
const VALUE_MIN: i128 = i64::MIN as i128;
const VALUE_MAX: i128 = u64::MAX as i128;

struct ProtoSkeleton {
    messages: Vec<Message>,
    by_name: HashMap<String, MsgId>,
}

impl<'s> Checker<'s> {
    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == crate::diag::Severity::Error)
            .count()
    }

    fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diag::error(span, msg));
    }

    fn run(&mut self, files: &[ast::File]) -> Spec {
        let mut spec = Spec::default();
        // Constants first, in order (a constant may use earlier ones).
        let mut const_spans: HashMap<String, Span> = HashMap::new();
        for f in files {
            for it in &f.items {
                if let ast::Item::Const(cd) = it {
                    if let Some(prev) = const_spans.get(&cd.name.name) {
                        let d = Diag::error(
                            cd.name.span,
                            format!("constant `{}` is defined twice", cd.name.name),
                        )
                        .note(format!("first defined at byte {} of its file", prev.lo));
                        self.diags.push(d);
                        continue;
                    }
                    const_spans.insert(cd.name.name.clone(), cd.name.span);
                    let empty = HashMap::new();
                    if let Some(v) = self.const_value(&cd.value, &empty) {
                        self.consts.insert(cd.name.name.clone(), v);
                        spec.consts.push(Const {
                            name: cd.name.name.clone(),
                            value: v,
                        });
                    }
                }
            }
        }
        // Protocol names.
        let mut protos: Vec<&ast::Protocol> = Vec::new();
        let mut proto_ids: HashMap<String, ProtoId> = HashMap::new();
        let mut comps: Vec<&ast::Component> = Vec::new();
        for f in files {
            for it in &f.items {
                match it {
                    ast::Item::Protocol(p) => {
                        if proto_ids.contains_key(&p.name.name) {
                            self.err(
                                p.name.span,
                                format!("protocol `{}` is defined twice", p.name.name),
                            );
                            continue;
                        }
                        proto_ids.insert(p.name.name.clone(), protos.len());
                        protos.push(p);
                    }
                    ast::Item::Component(c) => {
                        if comps.iter().any(|o| o.name.name == c.name.name) {
                            self.err(
                                c.name.span,
                                format!("component `{}` is defined twice", c.name.name),
                            );
                            continue;
                        }
                        comps.push(c);
                    }
                    _ => {}
                }
            }
        }
        // Phase A: messages of every protocol (dependencies refer to them).
        let skels: Vec<ProtoSkeleton> = protos.iter().map(|p| self.messages(p)).collect();
        // Phase B: the rest of each protocol.
        for (i, p) in protos.iter().enumerate() {
            let ir = self.protocol(p, i, &skels, &proto_ids);
            spec.protocols.push(ir);
        }
        // Phase C: subport rules need every protocol.
        for (i, p) in protos.iter().enumerate() {
            self.subport_rules(p, i, &spec);
        }
        for c in comps {
            if let Some(ir) = self.component(c, &spec, &proto_ids) {
                spec.components.push(ir);
            }
        }
        spec
    }

    fn const_value(&mut self, e: &ast::Expr, local: &HashMap<String, Value>) -> Option<Value> {
        let consts = std::mem::take(&mut self.consts);
        let scope = Scope {
            args: Vec::new(),
            vars: &[],
            local_consts: local,
            consts: &consts,
            msg_name: None,
        };
        let r = self.expr(e, &scope);
        self.consts = consts;
        let (ir, _) = r?;
        match fold(&ir) {
            Some(v) => Some(v),
            None => {
                self.err(
                    e.span(),
                    "not a constant expression (or it overflows / divides by zero)",
                );
                None
            }
        }
    }

    fn domain(
        &mut self,
        t: &TypeExpr,
        local: &HashMap<String, Value>,
        allow_range: bool,
    ) -> Option<Domain> {
        match t {
            TypeExpr::Named(id) => match ArgType::from_name(&id.name) {
                Some(a) => Some(a.domain()),
                None => {
                    self.err(
                        id.span,
                        format!(
                            "unknown type `{}` (types are u8, u16, u32, u64, i8, i16, i32, i64, bool{})",
                            id.name,
                            if allow_range { " or a range `lo..=hi`" } else { "" }
                        ),
                    );
                    None
                }
            },
            TypeExpr::Range {
                lo,
                hi,
                inclusive,
                span,
            } => {
                if !allow_range {
                    self.err(
                        *span,
                        "argument types are u8, u16, u32, u64, i8, i16, i32, i64 or bool (ranges are for variables)",
                    );
                    return None;
                }
                let lo = self.const_value(lo, local)?;
                let hi = self.const_value(hi, local)?;
                let (Value::Int(lo), Value::Int(hi)) = (lo, hi) else {
                    self.err(*span, "range bounds must be integers");
                    return None;
                };
                let hi = if *inclusive { hi } else { hi - 1 };
                if lo > hi {
                    self.err(*span, "empty range");
                    return None;
                }
                if lo < VALUE_MIN || hi > VALUE_MAX || (lo < 0 && hi > i64::MAX as i128) {
                    self.err(
                        *span,
                        "range does not fit a 64-bit integer (signed or unsigned)",
                    );
                    return None;
                }
                Some(Domain::Int { min: lo, max: hi })
            }
        }
    }

    // ---------------- messages ----------------

    fn messages(&mut self, p: &ast::Protocol) -> ProtoSkeleton {
        let mut messages: Vec<Message> = Vec::new();
        let mut by_name: HashMap<String, MsgId> = HashMap::new();
        let mut labels: HashMap<u64, (String, Span)> = HashMap::new();
        let mut notify_dirs: HashMap<DirKw, String> = HashMap::new();
        let empty = HashMap::new();
        for m in &p.messages {
            if by_name.contains_key(&m.name.name) {
                self.err(
                    m.name.span,
                    format!(
                        "message `{}` is declared twice in `{}`",
                        m.name.name, p.name.name
                    ),
                );
                continue;
            }
            let dir = match m.dir {
                DirKw::In => Dir::In,
                DirKw::Out => Dir::Out,
            };
            let mut args = Vec::new();
            let mut seen = HashSet::new();
            for (n, t) in &m.params {
                if !seen.insert(n.name.clone()) {
                    self.err(n.span, format!("argument `{}` appears twice", n.name));
                }
                if let Some(d) = self.domain(t, &empty, false) {
                    let ty = match t {
                        TypeExpr::Named(id) => ArgType::from_name(&id.name),
                        _ => None,
                    };
                    if let Some(ty) = ty {
                        debug_assert_eq!(ty.domain(), d);
                        args.push(Arg {
                            name: n.name.clone(),
                            ty,
                        });
                    }
                }
            }
            if m.params.len() > MAX_ARGS {
                self.err(
                    m.name.span,
                    format!(
                        "message `{}` has {} arguments; a message carries at most {MAX_ARGS} words",
                        m.name.name,
                        m.params.len()
                    ),
                );
            }
            let transport = match &m.transport {
                TransportKw::Call => Transport::Call,
                TransportKw::Notify => Transport::Notify,
                TransportKw::Reply(_) => Transport::Reply { to: Vec::new() },
            };
            let mut label = 0u64;
            match (&transport, m.label) {
                (Transport::Notify, Some((_, s))) => self.err(
                    s,
                    format!(
                        "notification `{}` cannot have a label (notifications carry no data; the wire label is 0)",
                        m.name.name
                    ),
                ),
                (Transport::Notify, None) => {
                    if !m.params.is_empty() {
                        self.err(
                            m.name.span,
                            format!(
                                "notification `{}` cannot have arguments (notifications carry no data)",
                                m.name.name
                            ),
                        );
                    }
                    if let Some(prev) = notify_dirs.get(&m.dir) {
                        self.err(
                            m.name.span,
                            format!(
                                "a second `{}` notification `{}` in `{}` (already `{prev}`): notifications are told apart only by direction",
                                if dir == Dir::In { "in" } else { "out" },
                                m.name.name,
                                p.name.name
                            ),
                        );
                    } else {
                        notify_dirs.insert(m.dir, m.name.name.clone());
                    }
                }
                (_, None) => self.err(
                    m.transport_span,
                    format!(
                        "message `{}` needs a numeric label (`= 0x..`) before its transport",
                        m.name.name
                    ),
                ),
                (_, Some((v, s))) => match u64::try_from(v) {
                    Err(_) => self.err(s, "label does not fit in 64 bits"),
                    Ok(v) => {
                        label = v;
                        if let Some((_, what)) = RESERVED_LABELS.iter().find(|(l, _)| *l == v) {
                            self.err(s, format!("label {v:#x} is reserved ({what})"));
                        } else if let Some((other, _)) = labels.get(&v) {
                            self.err(
                                s,
                                format!(
                                    "duplicate label {v:#x}: `{}` and `{other}` in `{}`",
                                    m.name.name, p.name.name
                                ),
                            );
                        } else {
                            labels.insert(v, (m.name.name.clone(), s));
                        }
                    }
                },
            }
            by_name.insert(m.name.name.clone(), messages.len());
            messages.push(Message {
                name: m.name.name.clone(),
                dir,
                transport,
                label,
                args,
                concurrent: m.concurrent,
                span: m.span,
            });
        }
        // Replies: resolve `to`.
        for m in &p.messages {
            let TransportKw::Reply(to) = &m.transport else {
                continue;
            };
            let Some(&id) = by_name.get(&m.name.name) else {
                continue;
            };
            let dir = messages[id].dir;
            let mut targets = Vec::new();
            if to.is_empty() {
                targets = messages
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.transport == Transport::Call && c.dir == dir.flip())
                    .map(|(i, _)| i)
                    .collect();
                if targets.is_empty() {
                    self.err(
                        m.transport_span,
                        format!(
                            "reply `{}` has no call to answer: `{}` has no `{}` call",
                            m.name.name,
                            p.name.name,
                            if dir == Dir::In { "out" } else { "in" }
                        ),
                    );
                }
            }
            for t in to {
                match by_name.get(&t.name) {
                    None => self.err(
                        t.span,
                        format!("reply to unknown message `{}` in `{}`", t.name, p.name.name),
                    ),
                    Some(&c) if messages[c].transport != Transport::Call => self.err(
                        t.span,
                        format!("`{}` answers `{}`, which is not a call", m.name.name, t.name),
                    ),
                    Some(&c) if messages[c].dir == dir => self.err(
                        t.span,
                        format!(
                            "reply `{}` goes the same way as its call `{}`; a reply goes back to the caller",
                            m.name.name, t.name
                        ),
                    ),
                    Some(&c) => targets.push(c),
                }
            }
            messages[id].transport = Transport::Reply { to: targets };
        }
        // Every call has a reply.
        for (i, m) in messages.iter().enumerate() {
            if m.transport == Transport::Call
                && !messages
                    .iter()
                    .any(|r| matches!(&r.transport, Transport::Reply { to } if to.contains(&i)))
            {
                self.diags.push(Diag::error(
                    m.span,
                    format!(
                        "call `{}` has no reply message (declare one with `reply to {}`)",
                        m.name, m.name
                    ),
                ));
            }
        }
        ProtoSkeleton { messages, by_name }
    }

    // ---------------- protocols ----------------

    fn protocol(
        &mut self,
        p: &ast::Protocol,
        me: ProtoId,
        skels: &[ProtoSkeleton],
        proto_ids: &HashMap<String, ProtoId>,
    ) -> Protocol {
        let skel = &skels[me];
        let errors_before = self.error_count();
        let mut local: HashMap<String, Value> = HashMap::new();
        for cd in &p.consts {
            if local.contains_key(&cd.name.name) {
                self.err(
                    cd.name.span,
                    format!("constant `{}` is defined twice", cd.name.name),
                );
                continue;
            }
            if let Some(v) = self.const_value(&cd.value, &local) {
                local.insert(cd.name.name.clone(), v);
            }
        }
        // Variables.
        let mut vars: Vec<Var> = Vec::new();
        for v in &p.vars {
            if vars.iter().any(|o| o.name == v.name.name) {
                self.err(
                    v.name.span,
                    format!("variable `{}` is declared twice", v.name.name),
                );
                continue;
            }
            if local.contains_key(&v.name.name) || self.consts.contains_key(&v.name.name) {
                self.err(
                    v.name.span,
                    format!("variable `{}` has the name of a constant", v.name.name),
                );
                continue;
            }
            let Some(domain) = self.domain(&v.ty, &local, true) else {
                continue;
            };
            let Some(init) = self.const_value(&v.init, &local) else {
                continue;
            };
            if !domain.contains(init) {
                let shown = match init {
                    Value::Int(x) => x.to_string(),
                    Value::Bool(b) => b.to_string(),
                };
                self.err(
                    v.init.span(),
                    format!(
                        "type mismatch: initial value {shown} of `{}` is not in its type {domain}",
                        v.name.name
                    ),
                );
                continue;
            }
            vars.push(Var {
                name: v.name.name.clone(),
                domain,
                init,
                span: v.name.span,
            });
        }
        // Dependencies.
        let mut uses: Vec<Uses> = Vec::new();
        for u in &p.uses {
            match proto_ids.get(&u.protocol.name) {
                None => self.err(
                    u.protocol.span,
                    format!("`uses` names unknown protocol `{}`", u.protocol.name),
                ),
                Some(&pid) if pid == me => self.err(
                    u.protocol.span,
                    "a protocol cannot depend on itself (refer to its own messages directly)",
                ),
                Some(&pid) => {
                    if uses.iter().any(|o| o.alias == u.alias.name) {
                        self.err(
                            u.alias.span,
                            format!("dependency name `{}` used twice", u.alias.name),
                        );
                    } else {
                        uses.push(Uses {
                            alias: u.alias.name.clone(),
                            protocol: pid,
                        });
                    }
                }
            }
        }
        // Subports.
        let mut subports: Vec<Subport> = Vec::new();
        for s in &p.subports {
            let Some(&pid) = proto_ids.get(&s.protocol.name) else {
                self.err(
                    s.protocol.span,
                    format!("subport of unknown protocol `{}`", s.protocol.name),
                );
                continue;
            };
            if subports.iter().any(|o| o.name == s.name.name) {
                self.err(
                    s.name.span,
                    format!("subport `{}` declared twice", s.name.name),
                );
                continue;
            }
            let bound = u32::try_from(s.bound.0).unwrap_or(u32::MAX);
            if bound == 0 || bound > MAX_SUBPORT_BOUND {
                self.err(
                    s.bound.1,
                    format!("subport bound must be 1..={MAX_SUBPORT_BOUND}"),
                );
                continue;
            }
            subports.push(Subport {
                name: s.name.name.clone(),
                protocol: pid,
                bound,
            });
        }
        // Key.
        let key = p.key.as_ref().and_then(|k| {
            let mut positions = Vec::new();
            let mut ty: Option<ArgType> = None;
            let mut ok = true;
            for m in &skel.messages {
                if m.transport == Transport::Notify {
                    self.err(
                        m.span,
                        format!(
                            "subport protocol `{}` cannot have notification `{}` (a notification carries no key)",
                            p.name.name, m.name
                        ),
                    );
                    ok = false;
                    continue;
                }
                match m.args.iter().position(|a| a.name == k.name) {
                    None => {
                        self.err(
                            m.span,
                            format!(
                                "message `{}` has no key argument `{}` (every message of a subport protocol names its instance)",
                                m.name, k.name
                            ),
                        );
                        ok = false;
                    }
                    Some(i) => {
                        let t = m.args[i].ty;
                        if t == ArgType::Bool {
                            self.err(m.span, "a key argument must be an integer");
                            ok = false;
                        }
                        match ty {
                            Some(prev) if prev != t => {
                                self.err(
                                    m.span,
                                    format!(
                                        "type mismatch: key `{}` is {} here but {} elsewhere",
                                        k.name,
                                        t.name(),
                                        prev.name()
                                    ),
                                );
                                ok = false;
                            }
                            _ => ty = Some(t),
                        }
                        positions.push(i);
                    }
                }
            }
            if !p.uses.is_empty() {
                self.err(
                    k.span,
                    "a subport protocol cannot have dependencies (`uses`)",
                );
                ok = false;
            }
            if !p.subports.is_empty() {
                self.err(k.span, "subports cannot have subports of their own");
                ok = false;
            }
            let ty = ty.unwrap_or(ArgType::U64);
            ok.then(|| Key {
                arg: k.name.clone(),
                ty,
                positions,
            })
        });

        let mut b = Behaviour {
            states: Vec::new(),
            names: HashMap::new(),
            decls: Vec::new(),
            initial: Vec::new(),
            restarts: Vec::new(),
        };
        let mut proto = Protocol {
            name: p.name.name.clone(),
            messages: skel.messages.clone(),
            vars,
            states: Vec::new(),
            initial: 0,
            initial_timers: Vec::new(),
            restart: None,
            restart_leaf: 0,
            restart_timers: Vec::new(),
            timer_slots: 0,
            declared: Vec::new(),
            transitions: Vec::new(),
            uses,
            foreign: Vec::new(),
            subports,
            key,
            span: p.name.span,
        };
        if p.states.is_empty() {
            self.err(
                p.name.span,
                format!("protocol `{}` has no states", p.name.name),
            );
            return proto;
        }
        for s in &p.states {
            self.collect_state(s, None, 0, &mut b);
        }
        let top: Vec<StateId> = b
            .states
            .iter()
            .enumerate()
            .filter(|(_, s)| s.parent.is_none())
            .map(|(i, _)| i)
            .collect();
        let top_initials: Vec<StateId> = top.iter().copied().filter(|&i| b.is_initial(i)).collect();
        let top_initial = match top_initials.as_slice() {
            [] => {
                self.err(
                    p.name.span,
                    format!(
                        "protocol `{}` has no initial state (mark one `initial state ...`)",
                        p.name.name
                    ),
                );
                None
            }
            [one] => Some(*one),
            [first, rest @ ..] => {
                for &r in rest {
                    let d = Diag::error(
                        b.states[r].span,
                        format!(
                            "a second initial state `{}` (already `{}`)",
                            b.states[r].name, b.states[*first].name
                        ),
                    );
                    self.diags.push(d);
                }
                Some(*first)
            }
        };
        let restart = match b.restarts.as_slice() {
            [] => None,
            [(one, _), rest @ ..] => {
                for (r, span) in rest {
                    let d = Diag::error(
                        *span,
                        format!(
                            "a second restart state `{}` (already `{}`; a protocol has at most one)",
                            b.states[*r].name, b.states[*one].name
                        ),
                    );
                    self.diags.push(d);
                }
                if p.key.is_some() {
                    if let Some((_, span)) = b.restarts.first() {
                        self.err(
                            *span,
                            format!(
                                "subport protocol `{}` cannot have a restart state (a restart discards every subport instance)",
                                p.name.name
                            ),
                        );
                    }
                }
                Some(*one)
            }
        };
        proto.states = b.states.clone();
        // Transitions as declared.
        self.local = local;
        let mut declared: Vec<DeclaredTransition> = Vec::new();
        for (src, t) in &b.decls {
            if let Some(d) = self.transition(t, *src, &mut proto, &b, skels, me) {
                declared.push(d);
            }
        }
        proto.declared = declared;
        // Flat semantics.
        if let Some(init) = top_initial {
            let initial = enter(&proto.states, init);
            proto.initial = initial;
            proto.initial_timers = entry_timers(&proto.states, initial);
            proto.restart = restart;
            proto.restart_leaf = restart.map_or(initial, |r| enter(&proto.states, r));
            proto.restart_timers = entry_timers(&proto.states, proto.restart_leaf);
            proto.timer_slots = proto
                .states
                .iter()
                .filter_map(|s| s.timer_slot)
                .map(|s| s + 1)
                .max()
                .unwrap_or(0);
            flatten(&mut proto);
            // Whole-protocol rules only make sense if every transition and
            // state was understood (a dropped transition would make its
            // target look unreachable).
            if self.error_count() == errors_before {
                self.reachability(&proto);
                self.determinism(&proto);
            }
        }
        proto
    }

    fn collect_state(
        &mut self,
        s: &ast::StateDecl,
        parent: Option<StateId>,
        slot: u8,
        b: &mut Behaviour,
    ) {
        if let Some(&prev) = b.names.get(&s.name.name) {
            let d = Diag::error(
                s.name.span,
                format!("state `{}` is declared twice", s.name.name),
            );
            let _ = prev;
            self.diags.push(d);
            return;
        }
        let id = b.states.len();
        b.names.insert(s.name.name.clone(), id);
        let path = match parent {
            Some(p) => format!("{}.{}", b.states[p].path, s.name.name),
            None => s.name.name.clone(),
        };
        let mut timer_slot = None;
        let mut child_slot = slot;
        if let Some((ns, span)) = s.timeout {
            if s.is_final {
                self.err(
                    span,
                    format!(
                        "timeout on final state `{}` (a final state is never left, so it would always expire)",
                        s.name.name
                    ),
                );
            } else if ns == 0 {
                self.err(span, "a timeout must be longer than 0");
            } else if usize::from(slot) >= MAX_TIMER_SLOTS {
                self.err(
                    span,
                    format!("at most {MAX_TIMER_SLOTS} nested timeout states"),
                );
            } else {
                timer_slot = Some(slot);
                child_slot = slot + 1;
            }
        }
        if s.is_final && (!s.children.is_empty() || !s.transitions.is_empty()) {
            self.err(
                s.name.span,
                format!(
                    "final state `{}` cannot have inner states or transitions (a terminated protocol accepts no messages)",
                    s.name.name
                ),
            );
        }
        if s.is_final && s.initial {
            self.err(
                s.name.span,
                format!("state `{}` cannot be both initial and final", s.name.name),
            );
        }
        if let Some(span) = s.restart {
            if s.is_final {
                self.err(
                    span,
                    format!(
                        "state `{}` cannot be both restart and final (a restarted port would accept nothing)",
                        s.name.name
                    ),
                );
            } else {
                b.restarts.push((id, span));
            }
        }
        if let Some(span) = s.idle {
            if s.is_final {
                self.diags.push(Diag::warning(
                    span,
                    format!(
                        "`idle` on final state `{}` is redundant (a final state is resting already)",
                        s.name.name
                    ),
                ));
            }
        }
        // A resting state may be stayed in forever; a timeout state must be
        // left: a state cannot be both, nor one inside the other.
        let mut idle_in = s.idle.map(|_| s.name.name.clone());
        let mut timed_in = timer_slot.map(|_| s.name.name.clone());
        let mut up = parent;
        while let Some(p) = up.and_then(|p| b.states.get(p)) {
            if p.is_idle && idle_in.is_none() {
                idle_in = Some(p.name.clone());
            }
            if p.timeout_ns.is_some() && timed_in.is_none() {
                timed_in = Some(p.name.clone());
            }
            up = p.parent;
        }
        if let (Some(idle), Some(timed)) = (&idle_in, &timed_in) {
            // Reported once, where the second of the two is declared.
            let here = s.idle.is_some() || timer_slot.is_some();
            if here {
                let what = if idle == timed {
                    format!("idle state `{idle}` cannot have a timeout")
                } else if s.idle.is_some() {
                    format!("idle state `{idle}` is inside timeout state `{timed}`")
                } else {
                    format!("timeout state `{timed}` is inside idle state `{idle}`")
                };
                self.err(
                    s.idle.or(s.timeout.map(|t| t.1)).unwrap_or(s.name.span),
                    format!(
                        "{what} (a composition may rest in an idle state forever, a timeout state must be left)"
                    ),
                );
            }
        }
        b.states.push(State {
            name: s.name.name.clone(),
            path,
            parent,
            children: Vec::new(),
            initial_child: None,
            is_final: s.is_final,
            is_idle: s.idle.is_some(),
            timeout_ns: timer_slot.and(s.timeout.map(|t| t.0)),
            timer_slot,
            span: s.name.span,
        });
        b.initial_flags_push(id, s.initial);
        if let Some(p) = parent {
            b.states[p].children.push(id);
        }
        for t in &s.transitions {
            b.decls.push((id, t.clone()));
        }
        for c in &s.children {
            self.collect_state(c, Some(id), child_slot, b);
        }
        if !s.children.is_empty() {
            let inits: Vec<StateId> = b.states[id]
                .children
                .clone()
                .into_iter()
                .filter(|&c| b.is_initial(c))
                .collect();
            match inits.as_slice() {
                [] => self.err(
                    s.name.span,
                    format!(
                        "super-state `{}` needs an `initial` inner state (entered when the super-state is entered)",
                        s.name.name
                    ),
                ),
                [one, rest @ ..] => {
                    for &r in rest {
                        let d = Diag::error(
                            b.states[r].span,
                            format!(
                                "a second initial state `{}` in `{}`",
                                b.states[r].name, s.name.name
                            ),
                        );
                        self.diags.push(d);
                    }
                    b.states[id].initial_child = Some(*one);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &mut self,
        t: &ast::TransitionDecl,
        src: StateId,
        proto: &mut Protocol,
        b: &Behaviour,
        skels: &[ProtoSkeleton],
        me: ProtoId,
    ) -> Option<DeclaredTransition> {
        let mut ok = true;
        // Trigger.
        let (trigger, msg): (Option<Trigger>, Option<&Message>) = match &t.port {
            None => match skels[me].by_name.get(&t.message.name) {
                Some(&m) => (Some(Trigger::Own(m)), skels[me].messages.get(m)),
                None => {
                    let mut d = Diag::error(
                        t.message.span,
                        format!("unknown message `{}` in `{}`", t.message.name, proto.name),
                    );
                    if let Some(u) = proto.uses.first() {
                        d = d.note(format!(
                            "messages of other protocols are written `{}.message`",
                            u.alias
                        ));
                    }
                    self.diags.push(d);
                    (None, None)
                }
            },
            Some(port) => match proto.uses.iter().position(|u| u.alias == port.name) {
                None => {
                    self.err(
                        port.span,
                        format!(
                            "unknown dependency `{}` in `{}` (declare it with `uses Protocol {};`)",
                            port.name, proto.name, port.name
                        ),
                    );
                    (None, None)
                }
                Some(u) => {
                    let pid = proto.uses[u].protocol;
                    match skels[pid].by_name.get(&t.message.name) {
                        None => {
                            self.err(
                                t.message.span,
                                format!(
                                    "unknown message `{}.{}`: protocol of `{}` has no such message",
                                    port.name, t.message.name, port.name
                                ),
                            );
                            (None, None)
                        }
                        Some(&m) => {
                            let fi = match proto
                                .foreign
                                .iter()
                                .position(|f| f.uses == u && f.msg == m)
                            {
                                Some(i) => i,
                                None => {
                                    proto.foreign.push(Foreign {
                                        uses: u,
                                        msg: m,
                                        name: format!("{}.{}", port.name, t.message.name),
                                    });
                                    proto.foreign.len() - 1
                                }
                            };
                            (Some(Trigger::Foreign(fi)), skels[pid].messages.get(m))
                        }
                    }
                }
            },
        };
        let dir = match t.sigil {
            Sigil::Recv => Dir::In,
            Sigil::Send => Dir::Out,
        };
        if let Some(m) = msg {
            if m.dir != dir {
                let (want, kw) = match m.dir {
                    Dir::In => ('?', "in"),
                    Dir::Out => ('!', "out"),
                };
                let full = match &t.port {
                    Some(p) => format!("{}.{}", p.name, m.name),
                    None => m.name.clone(),
                };
                self.err(
                    t.span,
                    format!("`{}` is an `{kw}` message: write `{want}{full}`", m.name),
                );
                ok = false;
            }
        }
        // Binders.
        let mut args: Vec<(String, usize, ArgType)> = Vec::new();
        if let Some(m) = msg {
            match &t.binders {
                None => {
                    for (i, a) in m.args.iter().enumerate() {
                        args.push((a.name.clone(), i, a.ty));
                    }
                }
                Some(bs) => {
                    if bs.len() != m.args.len() {
                        self.err(
                            t.message.span,
                            format!(
                                "`{}` has {} argument{} but {} name{} given",
                                m.name,
                                m.args.len(),
                                if m.args.len() == 1 { "" } else { "s" },
                                bs.len(),
                                if bs.len() == 1 { " is" } else { "s are" }
                            ),
                        );
                        ok = false;
                    }
                    for (i, (bnd, a)) in bs.iter().zip(&m.args).enumerate() {
                        if bnd.name == "_" {
                            continue;
                        }
                        if args.iter().any(|x| x.0 == bnd.name) {
                            self.err(bnd.span, format!("name `{}` bound twice", bnd.name));
                            ok = false;
                        }
                        if proto.vars.iter().any(|v| v.name == bnd.name) {
                            self.err(
                                bnd.span,
                                format!(
                                    "argument name `{}` hides the variable of that name",
                                    bnd.name
                                ),
                            );
                            ok = false;
                        }
                        args.push((bnd.name.clone(), i, a.ty));
                    }
                }
            }
        }
        let local = std::mem::take(&mut self.local);
        let consts = std::mem::take(&mut self.consts);
        let vars = proto.vars.clone();
        let scope = Scope {
            args,
            vars: &vars,
            local_consts: &local,
            consts: &consts,
            msg_name: msg.map(|m| m.name.as_str()),
        };
        let guard = match &t.guard {
            None => None,
            Some(g) => match self.expr(g, &scope) {
                Some((e, Ty::Bool)) => Some(e),
                Some((_, ty)) => {
                    self.err(
                        g.span(),
                        format!(
                            "type mismatch: a guard must be a bool, this is {}",
                            ty.name()
                        ),
                    );
                    ok = false;
                    None
                }
                None => {
                    ok = false;
                    None
                }
            },
        };
        let mut actions = Vec::new();
        let mut spawned = false;
        for a in &t.actions {
            match a {
                ast::ActionDecl::Assign(var, e) => {
                    let Some(vi) = vars.iter().position(|v| v.name == var.name) else {
                        let what = if scope.args.iter().any(|x| x.0 == var.name) {
                            "message arguments cannot be assigned"
                        } else if consts.contains_key(&var.name) {
                            "constants cannot be assigned"
                        } else {
                            "no such variable"
                        };
                        self.err(var.span, format!("cannot assign to `{}`: {what}", var.name));
                        ok = false;
                        continue;
                    };
                    let Some((ir, ty)) = self.expr(e, &scope) else {
                        ok = false;
                        continue;
                    };
                    let want = domain_ty(vars[vi].domain);
                    if ty != want {
                        self.err(
                            e.span(),
                            format!(
                                "type mismatch: `{}` is {} but the value is {}",
                                var.name,
                                want.name(),
                                ty.name()
                            ),
                        );
                        ok = false;
                        continue;
                    }
                    if let Some(v) = fold(&ir) {
                        if !vars[vi].domain.contains(v) {
                            self.err(
                                e.span(),
                                format!(
                                    "value out of range: `{}` has type {}",
                                    var.name, vars[vi].domain
                                ),
                            );
                            ok = false;
                        }
                    }
                    actions.push(Action::Assign { var: vi, value: ir });
                }
                ast::ActionDecl::Spawn(sub, key, span) => {
                    if spawned {
                        self.err(*span, "at most one `spawn` per transition");
                        ok = false;
                    }
                    spawned = true;
                    let Some(si) = proto.subports.iter().position(|s| s.name == sub.name) else {
                        self.err(
                            sub.span,
                            format!(
                                "unknown subport `{}` (declare it with `subport Protocol {}[n];`)",
                                sub.name, sub.name
                            ),
                        );
                        ok = false;
                        continue;
                    };
                    match self.expr(key, &scope) {
                        Some((ir, Ty::Int)) => actions.push(Action::Spawn {
                            subport: si,
                            key: ir,
                        }),
                        Some((_, Ty::Bool)) => {
                            self.err(
                                key.span(),
                                "type mismatch: a subport key must be an integer, this is a bool",
                            );
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
            }
        }
        self.consts = consts;
        self.local = local;
        let target = match b.names.get(&t.target.name) {
            Some(&s) => Some(s),
            None => {
                self.err(
                    t.target.span,
                    format!("unknown state `{}` in `{}`", t.target.name, proto.name),
                );
                None
            }
        };
        let (trigger, target) = (trigger?, target?);
        if let (Trigger::Own(m), true) = (trigger, ok) {
            if proto.messages[m].concurrent
                && (target != src || !proto.states[src].is_leaf() || !actions.is_empty())
            {
                self.err(
                    t.span,
                    format!(
                        "`{}` is `concurrent`: its transitions must be self-loops on a simple state without actions (so that concurrent data messages commute)",
                        proto.messages[m].name
                    ),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let label = label_text(t);
        Some(DeclaredTransition {
            source: src,
            target,
            trigger,
            dir,
            guard,
            actions,
            label,
            span: t.span,
        })
    }

    // ---------------- expressions ----------------

    fn expr(&mut self, e: &ast::Expr, s: &Scope<'_>) -> Option<(Expr, Ty)> {
        match e {
            ast::Expr::Int(v, span) => {
                let Ok(v) = i128::try_from(*v) else {
                    self.err(*span, "integer too large");
                    return None;
                };
                if v > VALUE_MAX {
                    self.err(*span, "integer does not fit in 64 bits");
                    return None;
                }
                Some((Expr::Int(v), Ty::Int))
            }
            ast::Expr::Bool(b, _) => Some((Expr::Bool(*b), Ty::Bool)),
            ast::Expr::Name(id) => {
                if let Some((_, i, ty)) = s.args.iter().find(|a| a.0 == id.name) {
                    let t = if *ty == ArgType::Bool {
                        Ty::Bool
                    } else {
                        Ty::Int
                    };
                    return Some((Expr::Arg(*i), t));
                }
                if let Some(i) = s.vars.iter().position(|v| v.name == id.name) {
                    return Some((Expr::Var(i), domain_ty(s.vars[i].domain)));
                }
                if let Some(v) = s
                    .local_consts
                    .get(&id.name)
                    .or_else(|| s.consts.get(&id.name))
                {
                    return Some(match *v {
                        Value::Int(x) => (Expr::Int(x), Ty::Int),
                        Value::Bool(b) => (Expr::Bool(b), Ty::Bool),
                    });
                }
                let what = match s.msg_name {
                    Some(m) => format!("not an argument of `{m}`, a variable or a constant"),
                    None => "not a constant".to_string(),
                };
                self.err(id.span, format!("unknown name `{}` ({what})", id.name));
                None
            }
            ast::Expr::Unary(op, a, span) => {
                let (a, ty) = self.expr(a, s)?;
                let want = match op {
                    UnOp::Neg => Ty::Int,
                    UnOp::Not => Ty::Bool,
                };
                if ty != want {
                    let sym = if *op == UnOp::Neg { "-" } else { "!" };
                    self.err(
                        *span,
                        format!(
                            "type mismatch: `{sym}` needs {}, found {}",
                            want.name(),
                            ty.name()
                        ),
                    );
                    return None;
                }
                Some((Expr::Unary(*op, Box::new(a)), want))
            }
            ast::Expr::Binary(op, a, b, span) => {
                let l = self.expr(a, s);
                let r = self.expr(b, s);
                let ((a, ta), (b, tb)) = (l?, r?);
                let res = match op {
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                        (ta == Ty::Int && tb == Ty::Int).then_some(Ty::Int)
                    }
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        (ta == Ty::Int && tb == Ty::Int).then_some(Ty::Bool)
                    }
                    BinOp::Eq | BinOp::Ne => (ta == tb).then_some(Ty::Bool),
                    BinOp::And | BinOp::Or => {
                        (ta == Ty::Bool && tb == Ty::Bool).then_some(Ty::Bool)
                    }
                };
                match res {
                    Some(t) => Some((Expr::Binary(*op, Box::new(a), Box::new(b)), t)),
                    None => {
                        self.err(
                            *span,
                            format!(
                                "type mismatch: `{}` between {} and {}",
                                op.symbol(),
                                ta.name(),
                                tb.name()
                            ),
                        );
                        None
                    }
                }
            }
        }
    }

    // ---------------- whole-protocol rules ----------------

    fn reachability(&mut self, p: &Protocol) {
        // A restart state is entered by a restart, not by a transition.
        let seen = p.reachable_from(&[p.initial, p.restart_leaf]);
        let from = match p.restart {
            Some(r) => format!(
                "the initial state `{}` or the restart state `{}`",
                p.states[p.initial].name, p.states[r].name
            ),
            None => format!("the initial state `{}`", p.states[p.initial].name),
        };
        for (i, st) in p.states.iter().enumerate() {
            let parent_reached = st.parent.is_none_or(|q| seen[q]);
            if !seen[i] && parent_reached {
                self.err(
                    st.span,
                    format!("state `{}` is unreachable from {from}", st.name),
                );
            }
        }
    }

    fn determinism(&mut self, p: &Protocol) {
        let mut reported: HashSet<(usize, usize)> = HashSet::new();
        let mut groups: BTreeMap<(StateId, Trigger), Vec<usize>> = BTreeMap::new();
        for (i, t) in p.transitions.iter().enumerate() {
            groups.entry((t.from, t.trigger)).or_default().push(i);
        }
        for ((leaf, trig), ts) in groups {
            for (x, &a) in ts.iter().enumerate() {
                for &b in &ts[x + 1..] {
                    let (ta, tb) = (&p.transitions[a], &p.transitions[b]);
                    if disjoint(ta.guard.as_ref(), tb.guard.as_ref()) {
                        continue;
                    }
                    let key = (ta.decl.min(tb.decl), ta.decl.max(tb.decl));
                    if !reported.insert(key) {
                        continue;
                    }
                    let (da, db) = (&p.declared[key.0], &p.declared[key.1]);
                    let d = Diag::error(
                        db.span,
                        format!(
                            "nondeterminism: two transitions on `{}{}` are enabled in state `{}` and their guards are not provably disjoint",
                            ta.dir.sigil(),
                            p.trigger_name(trig),
                            p.states[leaf].name
                        ),
                    )
                    .note(format!(
                        "the other one is `{}` in state `{}`",
                        da.label, p.states[da.source].name
                    ))
                    .note("the check is conservative: it proves guards disjoint only from comparisons of one argument or variable with constants (`a < 3` vs `a >= 3`, `x == 1` vs `x == 2`) or from `g` vs `!g`");
                    self.diags.push(d);
                }
            }
        }
    }

    fn subport_rules(&mut self, p: &ast::Protocol, me: ProtoId, spec: &Spec) {
        let proto = &spec.protocols[me];
        for s in &proto.subports {
            let Some(decl) = p.subports.iter().find(|d| d.name.name == s.name) else {
                continue;
            };
            let sub = &spec.protocols[s.protocol];
            if sub.key.is_none() {
                let d = Diag::error(
                    decl.protocol.span,
                    format!(
                        "`{}` cannot be a subport protocol: it has no `key` (which argument names the instance)",
                        sub.name
                    ),
                );
                self.diags.push(d);
                continue;
            }
            for m in &sub.messages {
                if let Some(o) = proto.messages.iter().find(|o| {
                    o.label == m.label
                        && o.dir == m.dir
                        && std::mem::discriminant(&o.transport)
                            == std::mem::discriminant(&m.transport)
                }) {
                    self.err(
                        decl.name.span,
                        format!(
                            "subport `{}`: message `{}` of `{}` has the same label {:#x} as `{}` of `{}` (they share a channel)",
                            s.name, m.name, sub.name, m.label, o.name, proto.name
                        ),
                    );
                }
            }
            for o in &proto.subports {
                if o.name == s.name || o.protocol == s.protocol {
                    continue;
                }
                let other = &spec.protocols[o.protocol];
                if sub.messages.iter().any(|m| {
                    other
                        .messages
                        .iter()
                        .any(|x| x.label == m.label && x.dir == m.dir)
                }) {
                    self.err(
                        decl.name.span,
                        format!(
                            "subports `{}` and `{}` have messages with the same label",
                            s.name, o.name
                        ),
                    );
                }
            }
        }
    }

    // ---------------- components ----------------

    fn component(
        &mut self,
        c: &ast::Component,
        spec: &Spec,
        proto_ids: &HashMap<String, ProtoId>,
    ) -> Option<Component> {
        let mut ports: Vec<Port> = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        let mut ok = true;
        for pd in &c.ports {
            if ports.iter().any(|p| p.name == pd.name.name) {
                self.err(
                    pd.name.span,
                    format!("port `{}` is declared twice", pd.name.name),
                );
                ok = false;
                continue;
            }
            let Some(&pid) = proto_ids.get(&pd.protocol.name) else {
                self.err(
                    pd.protocol.span,
                    format!(
                        "port `{}` has unknown protocol `{}`",
                        pd.name.name, pd.protocol.name
                    ),
                );
                ok = false;
                continue;
            };
            if spec.protocols[pid].key.is_some() {
                self.err(
                    pd.protocol.span,
                    format!(
                        "`{}` is a subport protocol (it has a `key`); it is spawned, not declared as a port",
                        pd.protocol.name
                    ),
                );
                ok = false;
                continue;
            }
            ports.push(Port {
                name: pd.name.name.clone(),
                protocol: pid,
                mirror: pd.mirror,
                deps: Vec::new(),
            });
            spans.push(pd.name.span);
        }
        // Resolve dependencies.
        for i in 0..ports.len() {
            let proto = &spec.protocols[ports[i].protocol];
            let mut deps = Vec::new();
            for u in &proto.uses {
                let cands: Vec<usize> = (0..ports.len())
                    .filter(|&j| {
                        j != i
                            && ports[j].protocol == u.protocol
                            && ports[j].mirror == ports[i].mirror
                    })
                    .collect();
                let chosen = match cands.as_slice() {
                    [one] => Some(*one),
                    [] => None,
                    many => many.iter().copied().find(|&j| ports[j].name == u.alias),
                };
                match chosen {
                    Some(j) => deps.push(j),
                    None => {
                        let used = &spec.protocols[u.protocol].name;
                        let mut d = Diag::error(
                            spans[i],
                            if cands.is_empty() {
                                format!(
                                    "unknown dependency: port `{}` ({}) uses `{used} {}`, but component `{}` has no {}port of protocol `{used}`",
                                    ports[i].name,
                                    proto.name,
                                    u.alias,
                                    c.name.name,
                                    if ports[i].mirror { "mirror " } else { "" }
                                )
                            } else {
                                format!(
                                    "ambiguous dependency: port `{}` uses `{used} {}` and component `{}` has several such ports; name one `{}`",
                                    ports[i].name, u.alias, c.name.name, u.alias
                                )
                            },
                        );
                        if cands.is_empty()
                            && ports
                                .iter()
                                .any(|p| p.protocol == u.protocol && p.mirror != ports[i].mirror)
                        {
                            d = d.note("a port of that protocol exists but on the other side (`mirror`); dependencies relate ports of one side");
                        }
                        self.diags.push(d);
                        ok = false;
                    }
                }
            }
            ports[i].deps = deps;
        }
        if !ok {
            return None;
        }
        let mut constraints: Vec<Constraint> = Vec::new();
        for (pi, port) in ports.iter().enumerate() {
            let proto = &spec.protocols[port.protocol];
            for (fi, f) in proto.foreign.iter().enumerate() {
                let Some(&q) = port.deps.get(f.uses) else {
                    continue;
                };
                match constraints
                    .iter_mut()
                    .find(|k| k.port == q && k.msg == f.msg)
                {
                    Some(k) => k.by.push((pi, fi)),
                    None => constraints.push(Constraint {
                        port: q,
                        msg: f.msg,
                        by: vec![(pi, fi)],
                    }),
                }
            }
        }
        Some(Component {
            name: c.name.name.clone(),
            ports,
            constraints,
            span: c.name.span,
        })
    }
}

struct Behaviour {
    states: Vec<State>,
    names: HashMap<String, StateId>,
    decls: Vec<(StateId, ast::TransitionDecl)>,
    initial: Vec<bool>,
    /// States marked `restart`, with the modifier's span.
    restarts: Vec<(StateId, Span)>,
}

impl Behaviour {
    fn initial_flags_push(&mut self, id: StateId, initial: bool) {
        if self.initial.len() <= id {
            self.initial.resize(id + 1, false);
        }
        self.initial[id] = initial;
    }

    fn is_initial(&self, id: StateId) -> bool {
        self.initial.get(id).copied().unwrap_or(false)
    }
}

/// Timers armed when `leaf` is entered from outside every state (at
/// creation or by a restart): the timed states on its path, outermost first.
fn entry_timers(states: &[State], leaf: StateId) -> Vec<TimerOp> {
    let mut path = Vec::new();
    let mut s = Some(leaf);
    while let Some(x) = s {
        path.push(x);
        s = states[x].parent;
    }
    path.iter()
        .rev()
        .filter_map(|&x| match (states[x].timeout_ns, states[x].timer_slot) {
            (Some(ns), Some(slot)) => Some(TimerOp::Arm { slot, ns }),
            _ => None,
        })
        .collect()
}

/// The leaf entered when `s` is entered.
fn enter(states: &[State], mut s: StateId) -> StateId {
    let mut guard = states.len();
    while let Some(c) = states[s].initial_child {
        s = c;
        guard = guard.saturating_sub(1);
        if guard == 0 {
            break;
        }
    }
    s
}

fn ancestors_or_self(states: &[State], s: StateId) -> Vec<StateId> {
    let mut v = vec![s];
    let mut cur = states[s].parent;
    while let Some(p) = cur {
        v.push(p);
        cur = states[p].parent;
    }
    v
}

/// Compute [`Protocol::transitions`] from the declared ones.
fn flatten(p: &mut Protocol) {
    let mut flat = Vec::new();
    let leaves: Vec<StateId> = p.leaves().collect();
    for &leaf in &leaves {
        if p.states[leaf].is_final {
            continue;
        }
        let anc = ancestors_or_self(&p.states, leaf);
        for (di, d) in p.declared.iter().enumerate() {
            if !anc.contains(&d.source) {
                continue;
            }
            let to = enter(&p.states, d.target);
            // The deepest state containing both source and target.
            let src_anc = ancestors_or_self(&p.states, d.source);
            let tgt_anc = ancestors_or_self(&p.states, d.target);
            let common = src_anc.iter().copied().find(|s| tgt_anc.contains(s));
            // Exited: from the leaf up to (excluding) `common`.
            let mut exited = Vec::new();
            for &s in &anc {
                if Some(s) == common {
                    break;
                }
                exited.push(s);
            }
            // Entered: from below `common` down to the new leaf.
            let mut entered = Vec::new();
            for s in ancestors_or_self(&p.states, to) {
                if Some(s) == common {
                    break;
                }
                entered.push(s);
            }
            entered.reverse();
            let mut timers = Vec::new();
            for &s in &exited {
                if let Some(slot) = p.states[s].timer_slot {
                    let re_armed = entered
                        .iter()
                        .any(|&e| p.states[e].timer_slot == Some(slot));
                    if !re_armed {
                        timers.push(TimerOp::Disarm { slot });
                    }
                }
            }
            for &s in &entered {
                if let (Some(slot), Some(ns)) = (p.states[s].timer_slot, p.states[s].timeout_ns) {
                    timers.push(TimerOp::Arm { slot, ns });
                }
            }
            flat.push(Transition {
                from: leaf,
                trigger: d.trigger,
                dir: d.dir,
                guard: d.guard.clone(),
                actions: d.actions.clone(),
                to,
                timers,
                decl: di,
            });
        }
    }
    p.transitions = flat;
}

/// Operand of an analysable comparison.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Operand {
    Var(VarId),
    Arg(usize),
}

/// What one guard says about one operand: `lo..=hi`, minus some excluded values.
#[derive(Clone, Debug)]
struct Range {
    lo: i128,
    hi: i128,
    not: Vec<i128>,
}

fn operand(e: &Expr) -> Option<Operand> {
    match e {
        Expr::Var(v) => Some(Operand::Var(*v)),
        Expr::Arg(a) => Some(Operand::Arg(*a)),
        _ => None,
    }
}

/// Constraints implied by a guard (a sound under-approximation of its facts:
/// every conjunct we cannot read is simply ignored).
fn facts(e: &Expr, out: &mut Vec<(Operand, Range)>) {
    let full = || Range {
        lo: i128::MIN,
        hi: i128::MAX,
        not: Vec::new(),
    };
    match e {
        Expr::Binary(BinOp::And, a, b) => {
            facts(a, out);
            facts(b, out);
        }
        Expr::Var(_) | Expr::Arg(_) => {
            if let Some(o) = operand(e) {
                out.push((
                    o,
                    Range {
                        lo: 1,
                        hi: 1,
                        not: Vec::new(),
                    },
                ));
            }
        }
        Expr::Unary(UnOp::Not, a) => {
            if let Some(o) = operand(a) {
                out.push((
                    o,
                    Range {
                        lo: 0,
                        hi: 0,
                        not: Vec::new(),
                    },
                ));
            }
        }
        Expr::Binary(op, a, b) => {
            let (o, c, op) = match (operand(a), fold(b), operand(b), fold(a)) {
                (Some(o), Some(Value::Int(c)), _, _) => (o, c, *op),
                (_, _, Some(o), Some(Value::Int(c))) => {
                    let flipped = match op {
                        BinOp::Lt => BinOp::Gt,
                        BinOp::Le => BinOp::Ge,
                        BinOp::Gt => BinOp::Lt,
                        BinOp::Ge => BinOp::Le,
                        other => *other,
                    };
                    (o, c, flipped)
                }
                _ => return,
            };
            let mut r = full();
            match op {
                BinOp::Eq => {
                    r.lo = c;
                    r.hi = c;
                }
                BinOp::Ne => r.not.push(c),
                BinOp::Lt => r.hi = c.saturating_sub(1),
                BinOp::Le => r.hi = c,
                BinOp::Gt => r.lo = c.saturating_add(1),
                BinOp::Ge => r.lo = c,
                _ => return,
            }
            out.push((o, r));
        }
        _ => {}
    }
}

/// Whether two guards can never both hold (conservative: `false` = unknown).
fn disjoint(a: Option<&Expr>, b: Option<&Expr>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return false;
    };
    if let Expr::Unary(UnOp::Not, x) = a {
        if **x == *b {
            return true;
        }
    }
    if let Expr::Unary(UnOp::Not, x) = b {
        if **x == *a {
            return true;
        }
    }
    let mut fa = Vec::new();
    facts(a, &mut fa);
    facts(b, &mut fa);
    let mut ops: Vec<Operand> = fa.iter().map(|f| f.0).collect();
    ops.dedup();
    for o in ops {
        let mut lo = i128::MIN;
        let mut hi = i128::MAX;
        let mut not = Vec::new();
        for (x, r) in &fa {
            if *x == o {
                lo = lo.max(r.lo);
                hi = hi.min(r.hi);
                not.extend(r.not.iter().copied());
            }
        }
        if lo > hi {
            return true;
        }
        if lo == hi && not.contains(&lo) {
            return true;
        }
    }
    false
}

/// A transition's label as written, normalised.
fn label_text(t: &ast::TransitionDecl) -> String {
    let mut s = String::new();
    s.push(match t.sigil {
        Sigil::Recv => '?',
        Sigil::Send => '!',
    });
    if let Some(p) = &t.port {
        s.push_str(&p.name);
        s.push('.');
    }
    s.push_str(&t.message.name);
    if let Some(b) = &t.binders {
        s.push('(');
        s.push_str(
            &b.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        );
        s.push(')');
    }
    if let Some(g) = &t.guard {
        s.push_str(" [");
        s.push_str(&expr_text(g));
        s.push(']');
    }
    if !t.actions.is_empty() {
        s.push_str(" / ");
        let parts: Vec<String> = t
            .actions
            .iter()
            .map(|a| match a {
                ast::ActionDecl::Assign(v, e) => format!("{} = {}", v.name, expr_text(e)),
                ast::ActionDecl::Spawn(p, k, _) => format!("spawn {}({})", p.name, expr_text(k)),
            })
            .collect();
        s.push_str(&parts.join(", "));
    }
    s
}

/// An AST expression as text (fully parenthesised where needed).
pub fn expr_text(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Int(v, _) => v.to_string(),
        ast::Expr::Bool(b, _) => b.to_string(),
        ast::Expr::Name(i) => i.name.clone(),
        ast::Expr::Unary(op, a, _) => {
            let sym = if *op == UnOp::Neg { "-" } else { "!" };
            match **a {
                ast::Expr::Binary(..) => format!("{sym}({})", expr_text(a)),
                _ => format!("{sym}{}", expr_text(a)),
            }
        }
        ast::Expr::Binary(op, a, b, _) => {
            let side = |x: &ast::Expr| match x {
                ast::Expr::Binary(..) => format!("({})", expr_text(x)),
                _ => expr_text(x),
            };
            format!("{} {} {}", side(a), op.symbol(), side(b))
        }
    }
}
