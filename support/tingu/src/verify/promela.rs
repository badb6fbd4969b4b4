//! Export of a composition to Promela, and the cross-check with Spin.
//!
//! The export is a second, independent encoding of the semantics of
//! [`super::model`]: the same state variables (each instance's leaf and
//! variables, the call, notification and restart scalars), one process whose
//! loop offers every step as a guarded `atomic` block. Guards and effects are
//! generated from the IR's transitions as Promela expressions (evaluated by
//! Spin, not by our evaluator); only the finite argument representatives and
//! the resting states the protocol declares ([`crate::ir::Protocol::is_resting`]),
//! restart leaves and the states a side is expected to reach are shared
//! with the explorer.
//!
//! Each property is one Spin run, selected by a preprocessor flag:
//!
//! | run | flag | what pan checks |
//! |---|---|---|
//! | states | `REACH` | nothing: states stored, and probe statements left unreached (reachability) |
//! | deadlock | `DEADLOCK` | pan's own invalid end states: the loop is in two copies, `end_rest` (an end label) entered after a step that leaves both sides at rest, `busy` otherwise; crashes can be switched off at any time (`nocrash`) |
//! | reception | `RECEPTION` | the violating steps, as `assert(false)` |
//! | exactly-once | `EXACTLY` | the violating steps, as `assert(false)` |
//! | progress | `LTL`, claim `progress` | `[]((blocked0 != 0 -> <>(blocked0 == 0)) && ...)` (modulo `err`) |
//! | timeout | `LTL`, claim `timeouts` | `[]((in_T -> <> !in_T) && ...)` per timed state (modulo `err`) |
//!
//! Deadlock runs do not use our notion of a stuck state (`ENABLED_ALL`):
//! Spin decides itself that nothing is executable, and an end label says
//! where that is allowed. Crashes are never forced: a step sets `nocrash`,
//! after which no crash is possible, so a state where only crashes are
//! possible is stuck for Spin too; a violating step ends the run at the
//! process's end (a valid end state: the violation is another property's).
//!
//! In LTL runs a stutter step (`!ENABLED_ALL -> skip`) lets a run stay
//! forever where only crashes are possible, exactly like the explorer's
//! stuck states, and a violating step ends the run in a sink (`err = 1`)
//! where the claims hold (the violation belongs to another property).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::explore::within;
use super::model::{Commit, Composition, RestartMode};
use super::Checked;
use crate::ast::{BinOp, UnOp};
use crate::ir::{Action, Dir, Domain, Expr, MsgId, Spec, StateId, Transport, Trigger, Value};

/// Largest magnitude exported (Promela `int` is 32-bit; smaller bounds keep
/// products of two values from overflowing).
const LIMIT: i128 = 32767;

struct Gen<'a> {
    spec: &'a Spec,
    c: &'a Composition,
    body: Vec<String>,
    enabled_all: Vec<String>,
    err: Option<String>,
}

fn num(x: i128, err: &mut Option<String>) -> String {
    if x.abs() > LIMIT {
        err.get_or_insert(format!(
            "value {x} is outside Promela's exported range ±{LIMIT}"
        ));
    }
    x.to_string()
}

fn or(v: &[String]) -> String {
    if v.is_empty() {
        "false".into()
    } else {
        format!("({})", v.join(" || "))
    }
}

fn and(v: &[String]) -> String {
    let v: Vec<&String> = v.iter().filter(|s| s.as_str() != "true").collect();
    if v.is_empty() {
        "true".into()
    } else {
        let parts: Vec<&str> = v.iter().map(|s| s.as_str()).collect();
        format!("({})", parts.join(" && "))
    }
}

impl Gen<'_> {
    fn slot(&self, side: usize, port: usize) -> usize {
        if side == 0 {
            port
        } else {
            self.c.sides[0].ports.len() + port
        }
    }

    fn leaf_var(&self, k: usize) -> String {
        format!("L{k}")
    }

    fn var_name(&self, k: usize, v: usize) -> String {
        format!("V{k}_{v}")
    }

    /// An expression; `vars` gives each variable's current text, `divs`
    /// collects denominators that must not be zero.
    fn expr(&mut self, e: &Expr, args: &[i128], vars: &[String], divs: &mut Vec<String>) -> String {
        match e {
            Expr::Int(i) => num(*i, &mut self.err),
            Expr::Bool(b) => {
                if *b {
                    "1".into()
                } else {
                    "0".into()
                }
            }
            Expr::Var(v) => vars.get(*v).cloned().unwrap_or_else(|| "0".into()),
            Expr::Arg(a) => num(args.get(*a).copied().unwrap_or(0), &mut self.err),
            Expr::Unary(UnOp::Neg, x) => format!("(-{})", self.expr(x, args, vars, divs)),
            Expr::Unary(UnOp::Not, x) => format!("(!{})", self.expr(x, args, vars, divs)),
            Expr::Binary(op, a, b) => {
                let x = self.expr(a, args, vars, divs);
                let y = self.expr(b, args, vars, divs);
                if matches!(op, BinOp::Div | BinOp::Rem) {
                    divs.push(format!("({y} != 0)"));
                }
                let sym = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    BinOp::Mul => "*",
                    BinOp::Div => "/",
                    BinOp::Rem => "%",
                    BinOp::Eq => "==",
                    BinOp::Ne => "!=",
                    BinOp::Lt => "<",
                    BinOp::Le => "<=",
                    BinOp::Gt => ">",
                    BinOp::Ge => ">=",
                    BinOp::And => "&&",
                    BinOp::Or => "||",
                };
                format!("({x} {sym} {y})")
            }
        }
    }

    /// For slot `k` (side, port) and trigger: per transition, its condition
    /// (on the state, or, if `reset`, on the state a restart of the side
    /// enters: [`Composition::restart_leaf`], initial variables) and its effect.
    fn transitions(
        &mut self,
        side: usize,
        port: usize,
        trig: Trigger,
        args: &[i128],
        reset: bool,
    ) -> Vec<(String, Vec<String>)> {
        let k = self.slot(side, port);
        let p = self.c.proto(self.spec, side, port);
        let mut out = Vec::new();
        for t in p.transitions.iter().filter(|t| t.trigger == trig) {
            let mut vars: Vec<String> = (0..p.vars.len())
                .map(|v| {
                    if reset {
                        match p.vars[v].init {
                            Value::Int(i) => num(i, &mut self.err),
                            Value::Bool(b) => u8::from(b).to_string(),
                        }
                    } else {
                        self.var_name(k, v)
                    }
                })
                .collect();
            let leaf = if reset {
                self.c.restart_leaf(self.spec, side, port).to_string()
            } else {
                self.leaf_var(k)
            };
            let mut conds = vec![format!("({leaf} == {})", t.from)];
            let mut divs = Vec::new();
            if let Some(g) = &t.guard {
                let g = self.expr(g, args, &vars, &mut divs);
                conds.append(&mut divs);
                conds.push(format!("({g} != 0)"));
            }
            let mut effect = vec![format!("{} = {}", self.leaf_var(k), t.to)];
            for a in &t.actions {
                if let Action::Spawn { subport, key } = a {
                    let key = match key {
                        Expr::Arg(i) => args.get(*i).copied().unwrap_or(0),
                        Expr::Int(c) => *c,
                        _ => {
                            self.err.get_or_insert(
                                "a spawn key that is not an argument or a constant".into(),
                            );
                            0
                        }
                    };
                    let (c, e) = self.spawn(side, *subport, key, reset);
                    conds.extend(c);
                    effect.push(e);
                }
                if let Action::Assign { var, value } = a {
                    let mut divs = Vec::new();
                    let v = self.expr(value, args, &vars, &mut divs);
                    conds.append(&mut divs);
                    let (lo, hi) = match p.vars.get(*var).map(|d| d.domain) {
                        Some(Domain::Int { min, max }) => (min, max),
                        _ => (0, 1),
                    };
                    conds.push(format!(
                        "({} <= {v} && {v} <= {})",
                        num(lo, &mut self.err),
                        num(hi, &mut self.err)
                    ));
                    // The effect is sequential in Promela too: later
                    // assignments read the variable as assigned.
                    let mut seq_divs = Vec::new();
                    let seq_vars: Vec<String> =
                        (0..p.vars.len()).map(|v| self.var_name(k, v)).collect();
                    let seq = self.expr(value, args, &seq_vars, &mut seq_divs);
                    effect.push(format!("{} = {seq}", self.var_name(k, *var)));
                    if let Some(slot) = vars.get_mut(*var) {
                        *slot = v;
                    }
                }
            }
            out.push((and(&conds), effect));
        }
        out
    }

    /// Subport slots (indices into the layout) of `side`, template `t`.
    fn sub_slots(&self, side: usize, t: usize) -> Vec<usize> {
        (0..self.c.layout.sub.len())
            .filter(|&x| self.c.layout.sub[x].side == side && self.c.layout.sub[x].t == t)
            .collect()
    }

    /// The statements that make slot `x` dead (all its words zero).
    fn kill_slot(&mut self, x: usize) -> String {
        let sl = &self.c.layout.sub[x];
        let mut v = vec![
            format!("A{x} = 0"),
            format!("K{x} = {}", sl.key.2),
            format!("S{x} = 0"),
        ];
        for (vi, w) in sl.vars.iter().enumerate() {
            v.push(format!("W{x}_{vi} = {}", w.2));
        }
        v.join("; ")
    }

    /// Conditions and the allocation statement of `spawn t(key)` on `side`.
    fn spawn(&mut self, side: usize, t: usize, key: i128, reset: bool) -> (Vec<String>, String) {
        let slots = self.sub_slots(side, t);
        let k = num(key, &mut self.err);
        let mut conds = Vec::new();
        if !reset {
            for &x in &slots {
                conds.push(format!("!(A{x} == 1 && K{x} == {k})"));
            }
            let free: Vec<String> = slots.iter().map(|x| format!("A{x} == 0")).collect();
            conds.push(or(&free));
        }
        let tp = &self.spec.protocols[self.c.templates[t].protocol];
        let mut arms = String::from("if\n");
        let mut taken: Vec<String> = Vec::new();
        for &x in &slots {
            let mut guard = taken.clone();
            guard.push(format!("A{x} == 0"));
            let mut body = vec![
                format!("A{x} = 1"),
                format!("K{x} = {k}"),
                format!("S{x} = {}", tp.initial),
            ];
            for (vi, v) in tp.vars.iter().enumerate() {
                let init = match v.init {
                    Value::Int(i) => i,
                    Value::Bool(b) => i128::from(b),
                };
                body.push(format!("W{x}_{vi} = {}", num(init, &mut self.err)));
            }
            let _ = writeln!(arms, "      :: {} -> {}", and(&guard), body.join("; "));
            taken.push(format!("A{x} != 0"));
        }
        arms.push_str("      :: else -> skip\n      fi");
        (conds, arms)
    }

    /// Per slot of (side, t) and transition on `m`: condition and effect.
    fn sub_transitions(
        &mut self,
        side: usize,
        t: usize,
        m: MsgId,
        args: &[i128],
    ) -> Vec<(String, Vec<String>)> {
        let tpl = &self.c.templates[t];
        let tp = &self.spec.protocols[tpl.protocol];
        let key = tpl
            .key_pos
            .get(m)
            .and_then(|&p| args.get(p))
            .copied()
            .unwrap_or(0);
        let k = num(key, &mut self.err);
        let mut out = Vec::new();
        for x in self.sub_slots(side, t) {
            for tr in tp
                .transitions
                .iter()
                .filter(|tr| tr.trigger == Trigger::Own(m))
            {
                let vars: Vec<String> = (0..tp.vars.len()).map(|v| format!("W{x}_{v}")).collect();
                let mut conds = vec![
                    format!("A{x} == 1"),
                    format!("K{x} == {k}"),
                    format!("S{x} == {}", tr.from),
                ];
                let mut divs = Vec::new();
                if let Some(g) = &tr.guard {
                    let g = self.expr(g, args, &vars, &mut divs);
                    conds.append(&mut divs);
                    conds.push(format!("({g} != 0)"));
                }
                let mut cur = vars.clone();
                let mut effect = Vec::new();
                for a in &tr.actions {
                    if let Action::Assign { var, value } = a {
                        let mut divs = Vec::new();
                        let v = self.expr(value, args, &cur, &mut divs);
                        conds.append(&mut divs);
                        let (lo, hi) = match tp.vars.get(*var).map(|d| d.domain) {
                            Some(Domain::Int { min, max }) => (min, max),
                            _ => (0, 1),
                        };
                        conds.push(format!("({lo} <= {v} && {v} <= {hi})"));
                        let mut sd = Vec::new();
                        let seq = self.expr(value, args, &vars, &mut sd);
                        effect.push(format!("W{x}_{var} = {seq}"));
                        if let Some(slot) = cur.get_mut(*var) {
                            *slot = v;
                        }
                    }
                }
                let effect = if tp.states.get(tr.to).is_some_and(|st| st.is_final) {
                    vec![self.kill_slot(x)]
                } else {
                    let mut e = vec![format!("S{x} = {}", tr.to)];
                    e.extend(effect);
                    e
                };
                out.push((and(&conds), effect));
            }
        }
        out
    }

    /// `side` allows channel-message `cm` (in its restart state if `reset`).
    fn en_cm(&mut self, side: usize, cm: usize, args: &[i128], reset: bool) -> String {
        match self.c.chan.get(cm).copied() {
            Some((None, m)) => self.en(side, 0, m, args, reset),
            Some((Some(t), m)) => {
                if reset {
                    return "false".into();
                }
                let conds: Vec<String> = self
                    .sub_transitions(side, t, m, args)
                    .into_iter()
                    .map(|(c, _)| c)
                    .collect();
                or(&conds)
            }
            None => "false".into(),
        }
    }

    /// Statements firing channel-message `cm` on `side`.
    fn fire_cm(&mut self, side: usize, cm: usize, args: &[i128]) -> Vec<String> {
        match self.c.chan.get(cm).copied() {
            Some((None, m)) => self.fire(side, 0, m, args),
            Some((Some(t), m)) => {
                let mut s = String::from("if\n");
                for (c, e) in self.sub_transitions(side, t, m, args) {
                    let _ = writeln!(s, "      :: {c} -> {}", e.join("; "));
                }
                s.push_str("      :: else -> skip\n      fi");
                vec![s]
            }
            None => Vec::new(),
        }
    }

    fn final_leaves(&self, side: usize, port: usize) -> Vec<StateId> {
        let p = self.c.proto(self.spec, side, port);
        (0..p.states.len())
            .filter(|&s| p.states[s].is_final)
            .collect()
    }

    /// The component of `side` allows `msg` on `port` (with its dependencies).
    fn en(&mut self, side: usize, port: usize, msg: MsgId, args: &[i128], reset: bool) -> String {
        let own: Vec<String> = self
            .transitions(side, port, Trigger::Own(msg), args, reset)
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let mut parts = vec![or(&own)];
        let by: Vec<(usize, usize)> = self.c.sides[side]
            .constraints
            .iter()
            .find(|(p, m, _)| *p == port && *m == msg)
            .map(|(_, _, b)| b.clone())
            .unwrap_or_default();
        for (q, f) in by {
            let k = self.slot(side, q);
            let mut alts: Vec<String> = self
                .final_leaves(side, q)
                .into_iter()
                .map(|s| {
                    if reset {
                        (self.c.restart_leaf(self.spec, side, q) == s).to_string()
                    } else {
                        format!("({} == {s})", self.leaf_var(k))
                    }
                })
                .collect();
            alts.extend(
                self.transitions(side, q, Trigger::Foreign(f), args, reset)
                    .into_iter()
                    .map(|(c, _)| c),
            );
            parts.push(or(&alts));
        }
        and(&parts)
    }

    /// Statements firing `msg` on `port` of `side` (guarded by [`Self::en`]).
    fn fire(&mut self, side: usize, port: usize, msg: MsgId, args: &[i128]) -> Vec<String> {
        let mut out = Vec::new();
        let mut one = |g: &mut Self, q: usize, trig: Trigger| {
            let ts = g.transitions(side, q, trig, args, false);
            let mut s = String::from("if\n");
            for (c, e) in ts {
                let _ = writeln!(s, "      :: {c} -> {}", e.join("; "));
            }
            s.push_str("      :: else -> skip\n      fi");
            out.push(s);
        };
        one(self, port, Trigger::Own(msg));
        let by: Vec<(usize, usize)> = self.c.sides[side]
            .constraints
            .iter()
            .find(|(p, m, _)| *p == port && *m == msg)
            .map(|(_, _, b)| b.clone())
            .unwrap_or_default();
        for (q, f) in by {
            one(self, q, Trigger::Foreign(f));
        }
        out
    }

    fn reset(&mut self, side: usize) -> Vec<String> {
        let mut out = Vec::new();
        for port in 0..self.c.sides[side].ports.len() {
            let k = self.slot(side, port);
            let p = self.c.proto(self.spec, side, port);
            let leaf = self.c.restart_leaf(self.spec, side, port);
            out.push(format!("{} = {leaf}", self.leaf_var(k)));
            for (vi, v) in p.vars.iter().enumerate() {
                let x = match v.init {
                    Value::Int(i) => i,
                    Value::Bool(b) => i128::from(b),
                };
                out.push(format!("{} = {x}", self.var_name(k, vi)));
            }
        }
        for x in 0..self.c.layout.sub.len() {
            if self.c.layout.sub[x].side == side {
                let k = self.kill_slot(x);
                out.push(k);
            }
        }
        out
    }

    fn step(&mut self, guard: String, body: Vec<String>, crash: bool) {
        if !crash {
            self.enabled_all.push(guard.clone());
        }
        let mut b = body;
        b.push("NEXT".into());
        self.body.push(format!(
            "  :: atomic {{ OK && {guard} ->\n      {} }}",
            b.join(";\n      ")
        ));
    }

    fn violation(&mut self, flag: &str, guard: String, crash: bool) {
        if !crash {
            self.enabled_all.push(guard.clone());
        }
        // In deadlock runs a violating step ends the run in a valid end
        // state (the violation is another property's), as it has no
        // successor in the explorer.
        self.body.push(format!(
            "#ifdef {flag}\n  :: atomic {{ OK && {guard} -> assert(false) }}\n#endif\n#ifdef LTL\n  :: atomic {{ OK && {guard} -> err = 1 }}\n#endif\n#ifdef DEADLOCK\n  :: atomic {{ {guard} -> goto stop }}\n#endif"
        ));
    }

    fn tuples(&self, side: usize, port: usize, m: MsgId) -> Vec<Vec<i128>> {
        let p = self.c.sides[side].ports[port].protocol;
        self.c
            .args
            .get(p)
            .and_then(|v| v.get(m))
            .cloned()
            .unwrap_or_default()
    }

    fn eff_out(&self, side: usize, port: usize, m: MsgId) -> bool {
        let pm = &self.c.sides[side].ports[port];
        let d = self.spec.protocols[pm.protocol].messages[m].dir;
        let d = if pm.mirror { d.flip() } else { d };
        d == Dir::Out
    }
}

/// The Promela model of a composition, or why it cannot be exported.
pub fn export(spec: &Spec, c: &Composition) -> Result<String, String> {
    let mut g = Gen {
        spec,
        c,
        body: Vec::new(),
        enabled_all: Vec::new(),
        err: None,
    };
    let proto = &spec.protocols[c.protocol];
    let d = c.crash_side;
    // Calls into the driver, as channel messages.
    let calls_into = |g: &Gen, d: usize| -> Vec<usize> {
        (0..c.chan.len())
            .filter(|&cm| {
                c.cmsg(spec, cm)
                    .is_some_and(|m| m.transport == Transport::Call)
                    && !c.cm_out(spec, d, cm)
            })
            .filter(|_| g.err.is_none())
            .collect()
    };
    let has_calls_to_driver = d.is_some_and(|d| !calls_into(&g, d).is_empty());
    if c.restart_notify.is_some() && has_calls_to_driver {
        return Err("a restart notification together with calls to the driver".into());
    }
    for i in 0..2 {
        let j = 1 - i;
        let is_d = d == Some(i);
        let not_tomb = if is_d {
            "tomb == 0".to_string()
        } else {
            "true".to_string()
        };
        for cm in 0..c.chan.len() {
            let Some(msg) = c.cmsg(spec, cm) else {
                continue;
            };
            if !c.cm_out(spec, i, cm) {
                continue;
            }
            match &msg.transport {
                Transport::Call => {
                    for a in c.cm_tuples(cm).to_vec() {
                        let send = g.en_cm(i, cm, &a, false);
                        let recv = g.en_cm(j, cm, &a, false);
                        let base = and(&[
                            format!("blocked{i} == 0"),
                            not_tomb.clone(),
                            format!("blocked{j} == 0 && serving{j} == 0"),
                            send,
                        ]);
                        let mut body = g.fire_cm(i, cm, &a);
                        body.extend(g.fire_cm(j, cm, &a));
                        body.push(format!("blocked{i} = {}", cm + 1));
                        body.push(format!("serving{j} = {}", cm + 1));
                        body.push(format!("callkey = {}", c.cm_key(cm, &a)));
                        if d == Some(j) {
                            body.push("phase = 0; effects = 0".into());
                        }
                        g.step(and(&[base.clone(), recv.clone()]), body, false);
                        g.violation("RECEPTION", and(&[base, format!("!{recv}")]), false);
                    }
                }
                Transport::Reply { to } => {
                    let template = c.chan[cm].0;
                    let first = template.map_or(0, |t| c.templates[t].first);
                    let normal = !c.cm_error_reply(cm);
                    for &call in to {
                        let call_cm = first + call;
                        let (rs, st) = c.cm_restart_replies(call_cm);
                        // The driver sends `restarted` itself only in the
                        // states entered only through a restart.
                        let stale: Vec<String> = if template.is_none() && Some(cm) == rs {
                            (0..c.stale.len())
                                .filter(|&l| {
                                    c.stale[l] && g.spec.protocols[c.protocol].states[l].is_leaf()
                                })
                                .map(|l| format!("{} == {l}", g.leaf_var(g.slot(i, 0))))
                                .collect()
                        } else {
                            Vec::new()
                        };
                        if is_d && (Some(cm) == rs || Some(cm) == st) && stale.is_empty() {
                            continue;
                        }
                        for a in c.cm_tuples(cm).to_vec() {
                            let mut conds = vec![
                                format!("blocked{i} == 0"),
                                not_tomb.clone(),
                                format!("serving{i} == {}", call_cm + 1),
                                format!("callkey == {}", c.cm_key(cm, &a)),
                            ];
                            if is_d {
                                conds.push(if normal {
                                    "phase == 2".into()
                                } else {
                                    "phase != 0".into()
                                });
                                if Some(cm) == rs || Some(cm) == st {
                                    conds.push(or(&stale));
                                }
                            }
                            conds.push(g.en_cm(i, cm, &a, false));
                            let check_eff = is_d && normal;
                            reply_steps(&mut g, i, cm, call_cm, &a, and(&conds), check_eff, vec![]);
                        }
                    }
                }
                Transport::Notify => {
                    // One pending bit per direction: a notification sent
                    // while one is pending merges with it (coalescing).
                    let send = g.en(i, 0, cm, &[], false);
                    let mut body = g.fire(i, 0, cm, &[]);
                    body.push(format!("bit{j} = 1"));
                    g.step(
                        and(&[format!("blocked{i} == 0"), not_tomb.clone(), send]),
                        body,
                        false,
                    );
                }
            }
        }
        // A tombstone answers `stopped`.
        if is_d {
            for call in calls_into(&g, i) {
                let (_, Some(st)) = c.cm_restart_replies(call) else {
                    continue;
                };
                for a in c.cm_tuples(st).to_vec() {
                    let base = and(&[
                        format!("blocked{i} == 0"),
                        "tomb == 1".into(),
                        format!("serving{i} == {}", call + 1),
                        format!("callkey == {}", c.cm_key(st, &a)),
                    ]);
                    let own = g.en_cm(i, st, &a, false);
                    g.violation("RECEPTION", and(&[base.clone(), format!("!{own}")]), false);
                    reply_steps(&mut g, i, st, call, &a, and(&[base, own]), false, vec![]);
                }
            }
        }
        // Delivery of a pending notification.
        if let Some(n) = (0..proto.messages.len())
            .find(|&m| proto.messages[m].transport == Transport::Notify && !g.eff_out(i, 0, m))
        {
            let base = format!("bit{i} == 1 && blocked{i} == 0 && serving{i} == 0");
            let recv = g.en(i, 0, n, &[], false);
            let mut body = g.fire(i, 0, n, &[]);
            body.push(format!("bit{i} = 0"));
            g.step(and(&[base.clone(), recv.clone()]), body, false);
            g.violation("RECEPTION", and(&[base, format!("!{recv}")]), false);
        }
        // Environment ports.
        for q in 1..c.sides[i].ports.len() {
            let qp = c.proto(spec, i, q);
            for m in 0..qp.messages.len() {
                for a in g.tuples(i, q, m) {
                    let mut conds = vec![format!("blocked{i} == 0"), not_tomb.clone()];
                    if !g.eff_out(i, q, m) {
                        conds.push(format!("serving{i} == 0"));
                    }
                    conds.push(g.en(i, q, m, &a, false));
                    let body = g.fire(i, q, m, &a);
                    g.step(and(&conds), body, false);
                }
            }
        }
        // The commit discipline.
        if is_d {
            let base = format!("blocked{i} == 0 && tomb == 0 && serving{i} != 0");
            let commit = |g: &mut Gen, from: u32, to: u32, eff: u32| {
                let conds = format!("{base} && phase == {from}");
                if eff == 1 {
                    g.violation("EXACTLY", format!("{conds} && effects + 1 > 1"), false);
                    g.step(
                        format!("({conds} && effects + 1 <= 1)"),
                        vec![format!("phase = {to}; effects = effects + 1")],
                        false,
                    );
                } else {
                    g.step(format!("({conds})"), vec![format!("phase = {to}")], false);
                }
            };
            commit(&mut g, 0, 1, 0);
            match c.restart.commit {
                Commit::Atomic => commit(&mut g, 1, 2, 1),
                Commit::EffectThenMark => commit(&mut g, 1, 3, 1),
                Commit::MarkThenEffect => commit(&mut g, 1, 4, 0),
            }
            commit(&mut g, 3, 2, 0);
            commit(&mut g, 4, 2, 1);
        }
    }
    // Crashes.
    if let Some(d) = d {
        let j = 1 - d;
        for &mode in &c.restart.modes {
            crash_steps(&mut g, d, j, mode);
        }
    }
    if let Some(e) = g.err.take() {
        return Err(e);
    }
    // Declarations.
    let mut o = String::new();
    let _ = writeln!(
        o,
        "/* Composition {} ({}), exported by tingu verify. */",
        c.name, proto.name
    );
    let _ = writeln!(
        o,
        "/* Restarts: at most {} crash(es) of side {:?}; modes {:?}; commit {}. */",
        c.restart.max_crashes,
        c.crash_side,
        c.restart.modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
        c.restart.commit.name()
    );
    for (k, &(si, pi)) in c.slots.iter().enumerate() {
        let p = c.proto(spec, si, pi);
        let ty = if p.states.len() > 255 {
            "short"
        } else {
            "byte"
        };
        let _ = writeln!(
            o,
            "{ty} L{k} = {}; /* {} port {} ({}) */",
            p.initial, c.sides[si].label, c.sides[si].ports[pi].name, p.name
        );
        for (vi, v) in p.vars.iter().enumerate() {
            let x = match v.init {
                Value::Int(i) => i,
                Value::Bool(b) => i128::from(b),
            };
            if let Domain::Int { min, max } = v.domain {
                if min.abs() > LIMIT || max.abs() > LIMIT {
                    return Err(format!(
                        "variable `{}.{}` has a domain beyond ±{LIMIT}",
                        p.name, v.name
                    ));
                }
            }
            let _ = writeln!(o, "int V{k}_{vi} = {x}; /* {} */", v.name);
        }
    }
    for (x, sl) in c.layout.sub.iter().enumerate() {
        let tpl = &c.templates[sl.t];
        let tp = &spec.protocols[tpl.protocol];
        if sl.key.2.abs() > LIMIT {
            return Err(format!("subport `{}` key domain beyond ±{LIMIT}", tpl.name));
        }
        let _ = write!(
            o,
            "bit A{x} = 0; int K{x} = {}; byte S{x} = 0; /* side {} {}[{}] ({}) */",
            sl.key.2, sl.side, tpl.name, x, tp.name
        );
        for (vi, w) in sl.vars.iter().enumerate() {
            if w.2.abs() > LIMIT {
                return Err(format!(
                    "subport `{}` variable domain beyond ±{LIMIT}",
                    tpl.name
                ));
            }
            let _ = write!(o, " int W{x}_{vi} = {};", w.2);
        }
        o.push('\n');
    }
    o.push_str("int callkey = 0;\n");
    o.push_str("byte blocked0 = 0; byte blocked1 = 0; byte serving0 = 0; byte serving1 = 0;\n");
    o.push_str("bit bit0 = 0; bit bit1 = 0; byte phase = 0; byte effects = 0; byte crashes = 0; bit tomb = 0;\n");
    o.push_str("hidden byte probe;\n");
    // In LTL runs a violating step ends the run in a sink (err = 1) where
    // the claims hold: the violation is another property's.
    o.push_str("#ifdef LTL\nbit err = 0;\n#define OK (err == 0)\n#else\n#define OK 1\n#endif\n\n");
    let _ = writeln!(o, "#define ENABLED_ALL {}", or(&g.enabled_all));
    for side in 0..2 {
        let p = c.proto(spec, side, 0);
        let k = if side == 0 { 0 } else { c.sides[0].ports.len() };
        // The resting leaves the protocol declares: initial, final, `idle`.
        let rest: Vec<String> = p
            .leaves()
            .filter(|&l| p.is_resting(l))
            .map(|l| format!("L{k} == {l}"))
            .collect();
        let tomb_rest = if c.crash_side == Some(side) {
            "tomb == 1 || "
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "#define REST{side} (blocked{side} == 0 && serving{side} == 0 && ({tomb_rest}{}))",
            or(&rest)
        );
    }
    // Deadlock runs: after every step the process continues at `end_rest`
    // (an end label: pan accepts it as a valid end state) if both sides are
    // at rest, else at `busy`; a state where nothing is executable at `busy`
    // is pan's own invalid end state. Crashes are never forced: `nocrash`
    // may be set at any time, and disables them.
    o.push_str("#ifdef DEADLOCK\nbit nocrash = 0;\n#define CRASH_OK (nocrash == 0)\n#define NEXT if :: (REST0 && REST1) -> goto end_rest :: else -> goto busy fi\n#else\n#define CRASH_OK 1\n#define NEXT skip\n#endif\n\n");
    // LTL claims.
    o.push_str("#ifdef LTL\n");
    let mut prog = Vec::new();
    for side in 0..2 {
        let calls = proto
            .messages
            .iter()
            .enumerate()
            .any(|(m, msg)| msg.transport == Transport::Call && g.eff_out(side, 0, m));
        if calls {
            prog.push(format!(
                "((blocked{side} != 0 && err == 0) -> <> (blocked{side} == 0 || err == 1))"
            ));
        }
    }
    if !prog.is_empty() {
        let _ = writeln!(o, "ltl progress {{ [] ({}) }}", prog.join(" && "));
    }
    let mut tim = Vec::new();
    for (k, &(si, pi)) in c.slots.iter().enumerate() {
        let p = c.proto(spec, si, pi);
        for (s, st) in p.states.iter().enumerate() {
            if st.timeout_ns.is_none() {
                continue;
            }
            let inside: Vec<String> = p
                .leaves()
                .filter(|&l| within(p, l, s))
                .map(|l| format!("L{k} == {l}"))
                .collect();
            let x = or(&inside);
            tim.push(format!("(({x} && err == 0) -> <> (!{x} || err == 1))"));
        }
    }
    if !tim.is_empty() {
        let _ = writeln!(o, "ltl timeouts {{ [] ({}) }}", tim.join(" && "));
    }
    o.push_str("#endif\n\n");
    // The loop of steps, once per copy.
    let mut steps = String::new();
    for b in &g.body {
        steps.push_str(b);
        steps.push('\n');
    }
    steps.push_str("#ifdef LTL\n  :: atomic { OK && !ENABLED_ALL -> skip }\n#endif\n");
    // Reachability probes: one per declared state of each bound port.
    steps.push_str("#ifdef REACH\n");
    for side in 0..2 {
        let p = c.proto(spec, side, 0);
        let k = if side == 0 { 0 } else { c.sides[0].ports.len() };
        // States entered only through a restart are not probed on a side
        // that never restarts (the explorer does not expect them either).
        let expected = c.expected_states(spec, side);
        for (s, st) in p.states.iter().enumerate() {
            if !expected.get(s).copied().unwrap_or(true) {
                continue;
            }
            let inside: Vec<String> = p
                .leaves()
                .filter(|&l| within(p, l, s))
                .map(|l| format!("L{k} == {l}"))
                .collect();
            let _ = writeln!(
                steps,
                "  :: atomic {{ {} -> probe = 1 }} /* reach side {side} state {} */",
                or(&inside),
                st.path
            );
        }
    }
    steps.push_str("#endif\n");
    if c.crash_side.is_some() {
        steps.push_str("#ifdef DEADLOCK\n  :: atomic { nocrash == 0 -> nocrash = 1 }\n#endif\n");
    }
    // Deadlock runs have two copies of the loop: `end_rest` (both sides at
    // rest) and `busy`; the others only the second one.
    let _ = write!(
        o,
        "active proctype composition() {{\n#ifdef DEADLOCK\n  atomic {{ NEXT }};\nend_rest:\n  do\n{steps}  od;\nbusy:\n#endif\n  do\n{steps}  od\n#ifdef DEADLOCK\n  ;\nstop:\n  skip\n#endif\n}}\n"
    );
    Ok(o)
}

/// Reply steps (delivered, dropped, and the violations) for a reply `m` to
/// `call` from side `i`, given the guard so far (sender allowed).
#[allow(clippy::too_many_arguments)]
fn reply_steps(
    g: &mut Gen,
    i: usize,
    m: MsgId,
    call: MsgId,
    a: &[i128],
    base: String,
    check_eff: bool,
    prefix: Vec<String>,
) {
    let j = 1 - i;
    let base = if check_eff {
        g.violation("EXACTLY", format!("({base} && effects != 1)"), false);
        format!("({base} && effects == 1)")
    } else {
        base
    };
    let recv = g.en_cm(j, m, a, false);
    let delivered = format!("({base} && blocked{j} == {})", call + 1);
    let dropped = format!("({base} && blocked{j} != {})", call + 1);
    let is_d = g.c.crash_side == Some(i);
    let tail = |extra: Vec<String>| {
        let mut v = extra;
        v.push(format!("serving{i} = 0; callkey = 0"));
        if is_d {
            v.push("phase = 0; effects = 0".into());
        }
        v
    };
    let mut body = prefix.clone();
    body.extend(g.fire_cm(i, m, a));
    body.extend(g.fire_cm(j, m, a));
    body.push(format!("blocked{j} = 0"));
    g.step(and(&[delivered.clone(), recv.clone()]), tail(body), false);
    g.violation("RECEPTION", and(&[delivered, format!("!{recv}")]), false);
    let mut body = prefix;
    body.extend(g.fire_cm(i, m, a));
    g.step(dropped, tail(body), false);
}

fn crash_steps(g: &mut Gen, d: usize, j: usize, mode: RestartMode) {
    let c = g.c;
    let spec = g.spec;
    let mut base = vec![
        "CRASH_OK".to_string(),
        format!("crashes < {}", c.restart.max_crashes),
    ];
    if mode != RestartMode::Tombstone {
        base.push("tomb == 0".into());
    }
    let reset = matches!(mode, RestartMode::Cold | RestartMode::Tombstone);
    let mut common = vec![format!("crashes = crashes + 1"), format!("blocked{d} = 0")];
    if reset {
        common.extend(g.reset(d));
    }
    if mode == RestartMode::Tombstone {
        common.push("tomb = 1".into());
    }
    // The restart notification (only exported without calls to the driver).
    let (notify_ok, notify_body) = match c.restart_notify {
        Some((q, m)) => {
            let en = g.en(d, q, m, &[], reset);
            let mut b = g.fire(d, q, m, &[]);
            if q == 0 {
                b.push(format!("bit{j} = 1"));
            }
            (en, b)
        }
        None => ("true".to_string(), Vec::new()),
    };
    let with_notify = |g: &mut Gen, guard: String, mut body: Vec<String>| {
        g.violation(
            "RECEPTION",
            and(&[guard.clone(), format!("!{notify_ok}")]),
            true,
        );
        body.extend(notify_body.clone());
        g.step(and(&[guard, notify_ok.clone()]), body, true);
    };
    // Nothing in flight.
    let idle = and(&[and(&base), format!("serving{d} == 0")]);
    with_notify(g, idle, common.clone());
    // Something in flight.
    let busy = and(&[and(&base), format!("serving{d} != 0")]);
    match mode {
        RestartMode::Lossy => {
            let mut b = common.clone();
            b.push(format!(
                "serving{d} = 0; phase = 0; effects = 0; callkey = 0"
            ));
            with_notify(g, busy, b);
        }
        RestartMode::Warm | RestartMode::Cold | RestartMode::Tombstone => {
            if mode == RestartMode::Warm {
                let mut b = common.clone();
                b.push("if\n      :: phase == 3 -> phase = 1\n      :: phase == 4 -> phase = 2\n      :: else -> skip\n      fi".into());
                with_notify(g, and(&[busy.clone(), "phase != 0".into()]), b);
            }
            let answer_guard = if mode == RestartMode::Warm {
                and(&[busy, "phase == 0".into()])
            } else {
                busy
            };
            let calls: Vec<usize> = (0..c.chan.len())
                .filter(|&cm| {
                    c.cmsg(spec, cm)
                        .is_some_and(|m| m.transport == Transport::Call)
                        && !c.cm_out(spec, d, cm)
                })
                .collect();
            for call in calls {
                let on_call = and(&[answer_guard.clone(), format!("serving{d} == {}", call + 1)]);
                let (rs, st) = c.cm_restart_replies(call);
                let reply = if mode == RestartMode::Tombstone {
                    st
                } else {
                    rs
                };
                match reply {
                    None => {
                        let mut b = common.clone();
                        b.push(format!(
                            "serving{d} = 0; phase = 0; effects = 0; callkey = 0"
                        ));
                        with_notify(g, on_call, b);
                    }
                    Some(r) => {
                        for a in c.cm_tuples(r).to_vec() {
                            let on =
                                and(&[on_call.clone(), format!("callkey == {}", c.cm_key(r, &a))]);
                            let own = g.en_cm(d, r, &a, reset);
                            g.violation("RECEPTION", and(&[on.clone(), format!("!{own}")]), true);
                            let recv = g.en_cm(j, r, &a, false);
                            let delivered = and(&[
                                on.clone(),
                                own.clone(),
                                format!("blocked{j} == {}", call + 1),
                            ]);
                            g.violation(
                                "RECEPTION",
                                and(&[delivered.clone(), format!("!{recv}")]),
                                true,
                            );
                            let mut b = common.clone();
                            b.extend(g.fire_cm(d, r, &a));
                            b.extend(g.fire_cm(j, r, &a));
                            b.push(format!("blocked{j} = 0; serving{d} = 0; phase = 0; effects = 0; callkey = 0"));
                            with_notify(g, and(&[delivered, recv]), b);
                            let mut b = common.clone();
                            b.extend(g.fire_cm(d, r, &a));
                            b.push(format!(
                                "serving{d} = 0; phase = 0; effects = 0; callkey = 0"
                            ));
                            with_notify(
                                g,
                                and(&[on, own, format!("blocked{j} != {}", call + 1)]),
                                b,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Write the source under `dir`, named after the composition.
pub fn write(dir: &Path, name: &str, src: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let f = dir.join(format!("{}.pml", file_name(name)));
    std::fs::write(&f, src)?;
    Ok(f)
}

fn file_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    s.split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// Whether `spin` and `gcc` are on the PATH.
pub fn spin_available() -> bool {
    let ok = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success() || !o.stdout.is_empty())
    };
    ok("spin", "-V") && ok("gcc", "--version")
}

/// One Spin run.
#[derive(Clone, Debug)]
pub struct SpinRun {
    /// `states`, `deadlock`, ...
    pub name: &'static str,
    /// pan found an error.
    pub violated: bool,
    /// States stored.
    pub states: u64,
    /// Wall time of `spin -a`, `gcc` and `pan`.
    pub seconds: f64,
    /// pan's first error line (`pan:1: invalid end state (at depth 5)`).
    pub error: Option<String>,
}

/// Spin's verdicts on one composition.
#[derive(Clone, Debug)]
pub struct SpinResult {
    /// Every run.
    pub runs: Vec<SpinRun>,
    /// Declared states (of the bound ports) Spin never reached: (side, path).
    pub unreached: Vec<(usize, String)>,
}

impl SpinResult {
    /// The run called `name`.
    pub fn run(&self, name: &str) -> Option<&SpinRun> {
        self.runs.iter().find(|r| r.name == name)
    }
}

fn pan(
    dir: &Path,
    file: &Path,
    defines: &[&str],
    safety: bool,
    pan_args: &[&str],
) -> Result<(String, f64), String> {
    let start = std::time::Instant::now();
    let mut spin = Command::new("spin");
    spin.arg("-a").arg("-o3");
    for d in defines {
        spin.arg(format!("-D{d}"));
    }
    // Relative, so that pan names it `model.pml:<line>` in its reports.
    let name = file.file_name().unwrap_or(file.as_os_str());
    let out = spin
        .arg(name)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run spin: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "spin -a failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut gcc = Command::new("gcc");
    gcc.args(["-O0", "-w", "-DMEMLIM=8192", "-o", "pan", "pan.c"]);
    if safety {
        gcc.arg("-DSAFETY");
    }
    let out = gcc
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gcc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let out = Command::new(dir.join("pan"))
        .args(["-m10000000"])
        .args(pan_args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run pan: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.contains("max search depth too small") {
        return Err("pan: max search depth too small".into());
    }
    Ok((text, start.elapsed().as_secs_f64()))
}

fn stored(text: &str) -> u64 {
    text.lines()
        .find(|l| l.contains("states, stored"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn first_error(text: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with("pan:1:"))
        .map(|l| l.trim().to_string())
}

fn errors(text: &str) -> bool {
    text.lines()
        .find_map(|l| l.split("errors: ").nth(1))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .is_none_or(|n| n > 0)
}

/// Run every property's Spin check on the exported file `file` (in a fresh
/// directory beside it).
pub fn run_spin(file: &Path) -> Result<SpinResult, String> {
    let src = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let dir = file.with_extension("spin");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let local = dir.join("model.pml");
    std::fs::write(&local, &src).map_err(|e| format!("{}: {e}", local.display()))?;
    let mut runs = Vec::new();
    // States and reachability.
    let (text, secs) = pan(&dir, &local, &["REACH"], true, &["-E"])?;
    let mut unreached = Vec::new();
    let lines: Vec<&str> = src.lines().collect();
    for l in text.lines() {
        // "\tmodel.pml:123, state 45, "probe = 1""
        let Some(rest) = l.trim().strip_prefix("model.pml:") else {
            continue;
        };
        let Some(n) = rest.split(',').next().and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        if let Some(line) = n.checked_sub(1).and_then(|i| lines.get(i)) {
            if let Some(tag) = line.split("/* reach side ").nth(1) {
                let mut parts = tag.splitn(3, ' ');
                let side = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                let _ = parts.next();
                let state = parts
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(" */")
                    .to_string();
                unreached.push((side, state));
            }
        }
    }
    runs.push(SpinRun {
        name: "states",
        violated: errors(&text),
        states: stored(&text),
        seconds: secs,
        error: first_error(&text),
    });
    // Deadlock: pan's own invalid end states (no `-E`); the others ignore
    // end states and check their assertions.
    for (name, flag, args) in [
        ("deadlock", "DEADLOCK", &[][..]),
        ("reception", "RECEPTION", &["-E"][..]),
        ("exactly-once", "EXACTLY", &["-E"][..]),
    ] {
        let (text, secs) = pan(&dir, &local, &[flag], true, args)?;
        runs.push(SpinRun {
            name,
            violated: errors(&text),
            states: stored(&text),
            seconds: secs,
            error: first_error(&text),
        });
    }
    for (name, claim) in [("progress", "progress"), ("timeout", "timeouts")] {
        if !src.contains(&format!("ltl {claim} ")) {
            runs.push(SpinRun {
                name,
                violated: false,
                states: 0,
                seconds: 0.0,
                error: None,
            });
            continue;
        }
        let (text, secs) = pan(&dir, &local, &["LTL"], false, &["-a", "-N", claim])?;
        runs.push(SpinRun {
            name,
            violated: errors(&text),
            states: stored(&text),
            seconds: secs,
            error: first_error(&text),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SpinResult { runs, unreached })
}

/// How our checker and Spin compare on one composition.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Name of the composition.
    pub name: String,
    /// Per property: (name, ours holds, Spin holds).
    pub verdicts: Vec<(&'static str, bool, bool)>,
    /// States: ours, Spin's.
    pub states: (usize, u64),
    /// Times: ours, Spin's (all runs).
    pub seconds: (f64, f64),
    /// Every verdict agrees.
    pub agree: bool,
    /// Per property Spin found violated: pan's first error line.
    pub pan: Vec<(&'static str, String)>,
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "spin {}: {} (states: ours {}, spin {}; time: ours {:.3} s, spin {:.3} s incl. compiling)",
            self.name,
            if self.agree { "agrees" } else { "DISAGREES" },
            self.states.0,
            self.states.1,
            self.seconds.0,
            self.seconds.1
        )?;
        for (p, ours, theirs) in &self.verdicts {
            let v = |b: bool| if b { "holds" } else { "violated" };
            let pan = self
                .pan
                .iter()
                .find(|(q, _)| q == p)
                .map_or(String::new(), |(_, e)| format!(" ({e})"));
            writeln!(
                f,
                "  {p:<13} ours {:<9} spin {:<9}{}{pan}",
                v(*ours),
                v(*theirs),
                if ours == theirs {
                    ""
                } else {
                    "  <-- disagreement"
                }
            )?;
        }
        Ok(())
    }
}

/// Compare our verdicts on `c` with Spin's.
pub fn compare(c: &Checked, s: &SpinResult) -> Comparison {
    let mut verdicts = Vec::new();
    for p in [
        "deadlock",
        "reception",
        "exactly-once",
        "progress",
        "timeout",
    ] {
        let theirs = s.run(p).is_none_or(|r| !r.violated);
        verdicts.push((p, c.holds(p), theirs));
    }
    verdicts.push((
        "reachability",
        c.holds("reachability"),
        s.unreached.is_empty(),
    ));
    let mut ours = c.exploration.unreached.clone();
    let mut theirs = s.unreached.clone();
    ours.sort();
    theirs.sort();
    let agree = verdicts.iter().all(|(_, a, b)| a == b) && ours == theirs;
    let pan = s
        .runs
        .iter()
        .filter(|r| r.violated)
        .filter_map(|r| r.error.clone().map(|e| (r.name, e)))
        .collect();
    Comparison {
        pan,
        name: c.composition.name.clone(),
        verdicts,
        states: (
            c.exploration.states,
            s.run("states").map_or(0, |r| r.states),
        ),
        seconds: (
            c.exploration.seconds,
            s.runs.iter().map(|r| r.seconds).sum(),
        ),
        agree,
    }
}
