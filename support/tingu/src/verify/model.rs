//! The composition of one bound channel, and its step semantics.
//!
//! A [`Composition`] has two sides. Side 0 owns the channel's protocol (its
//! port is not `mirror`), side 1 plays the mirror. Each side holds the
//! protocol instance of the bound port plus every other port of its component
//! that is connected to it by dependencies (transitively): those other ports
//! are the side's *environment ports*, whose peers are assumed to conform to
//! their protocol (each message on them is one step, whenever the component's
//! protocols allow it). Ports not connected by dependencies cannot change
//! what happens on the channel and are left out.
//!
//! A state is a flat vector of `u32` words ([`Layout`]): each instance's leaf
//! and variables, then the channel and restart scalars. [`Composition::steps`]
//! lists every step from a state, each with its successor or the violation
//! it causes. The rules are stated in `docs/verification.md`.

use std::fmt::Write as _;

use crate::ast::{BinOp, UnOp};
use crate::ir::{
    Action, Dir, Domain, Expr, MsgId, ProtoId, Protocol, Spec, StateId, Transport, Trigger, Value,
};

/// Most argument tuples enumerated for one message.
pub const MAX_ARG_TUPLES: usize = 4096;
/// Variable domains up to this size lend their values to argument representatives.
const SMALL_DOMAIN: u128 = 64;

/// How a crashed driver is restarted (the monitor's choice, nondeterministic).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RestartMode {
    /// Protocol state and persistent progress kept; the in-flight request is
    /// replayed and answered normally (or `restarted` if it was not saved yet).
    Warm,
    /// Protocol state back to initial; the in-flight request is answered with
    /// the protocol's `restarted` reply.
    Cold,
    /// Protocol state back to initial; the in-flight request and every later
    /// one are answered with the `stopped` reply.
    Tombstone,
    /// Deliberately broken (for fixtures): protocol state kept, the in-flight
    /// request neither replayed nor answered.
    Lossy,
}

impl RestartMode {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            RestartMode::Warm => "warm",
            RestartMode::Cold => "cold",
            RestartMode::Tombstone => "tombstone",
            RestartMode::Lossy => "lossy",
        }
    }

    /// Parse a name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "warm" => RestartMode::Warm,
            "cold" => RestartMode::Cold,
            "tombstone" => RestartMode::Tombstone,
            "lossy" => RestartMode::Lossy,
            _ => return None,
        })
    }
}

/// How the driver commits a request's effect.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Commit {
    /// Effect and persistent progress mark in one atomic step (the discipline
    /// of `docs/recovery.md`: nothing between the side effect and the store
    /// can fault).
    Atomic,
    /// Deliberately broken: the effect, then (a separate step) the mark.
    EffectThenMark,
    /// Deliberately broken: the mark, then (a separate step) the effect.
    MarkThenEffect,
}

impl Commit {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Commit::Atomic => "atomic",
            Commit::EffectThenMark => "effect-then-mark",
            Commit::MarkThenEffect => "mark-then-effect",
        }
    }

    /// Parse a name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "atomic" => Commit::Atomic,
            "effect-then-mark" => Commit::EffectThenMark,
            "mark-then-effect" => Commit::MarkThenEffect,
            _ => return None,
        })
    }
}

/// Parameters of the restart model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartModel {
    /// Most crashes of the driver in one run.
    pub max_crashes: u8,
    /// Restart modes the monitor may choose after a crash.
    pub modes: Vec<RestartMode>,
    /// Commit discipline.
    pub commit: Commit,
    /// Name of the error reply a cold start sends.
    pub restarted_reply: String,
    /// Name of the error reply a tombstone sends.
    pub stopped_reply: String,
}

impl Default for RestartModel {
    fn default() -> Self {
        Self {
            max_crashes: 2,
            modes: vec![RestartMode::Warm, RestartMode::Cold, RestartMode::Tombstone],
            commit: Commit::Atomic,
            restarted_reply: "restarted".into(),
            stopped_reply: "stopped".into(),
        }
    }
}

/// One port instance of a side.
#[derive(Clone, Debug)]
pub struct PortModel {
    /// Port name.
    pub name: String,
    /// Its protocol.
    pub protocol: ProtoId,
    /// Plays the mirror.
    pub mirror: bool,
}

/// `(port, message, [(constraining port, its foreign index)])`, local indices.
pub type Constraint = (usize, MsgId, Vec<(usize, usize)>);

/// One side of a composition.
#[derive(Clone, Debug)]
pub struct SideModel {
    /// Who this is: `serial` or `pd serial (component serial)`.
    pub label: String,
    /// Ports; `ports[0]` is the one bound to the channel.
    pub ports: Vec<PortModel>,
    /// `(port, message) -> [(port, foreign index)]`: dependencies between
    /// the side's ports (local indices).
    pub constraints: Vec<Constraint>,
}

impl SideModel {
    fn constrained_by(&self, port: usize, msg: MsgId) -> &[(usize, usize)] {
        self.constraints
            .iter()
            .find(|(p, m, _)| *p == port && *m == msg)
            .map_or(&[], |(_, _, by)| by)
    }
}

/// Scalars after the instance words.
pub(crate) const BLOCKED: usize = 0; // + side: 0, or call message + 1
pub(crate) const SERVING: usize = 2; // + side
pub(crate) const BIT: usize = 4; // + side: a notification to that side is pending
pub(crate) const PHASE: usize = 6;
pub(crate) const EFFECTS: usize = 7;
pub(crate) const CRASHES: usize = 8;
pub(crate) const TOMB: usize = 9;
pub(crate) const SCALARS: usize = 10;

/// Commit phase of the request the driver serves.
pub(crate) mod phase {
    /// Received, not yet saved in the persistent region.
    pub const RECEIVED: u32 = 0;
    /// Saved (a warm restart replays it).
    pub const SAVED: u32 = 1;
    /// Effect done and progress marked.
    pub const COMMITTED: u32 = 2;
    /// Effect done, mark not yet set (broken discipline).
    pub const EFFECTED: u32 = 3;
    /// Mark set, effect not yet done (broken discipline).
    pub const MARKED: u32 = 4;
}

/// Where each instance's words are.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Per slot (side 0's ports, then side 1's): first word (the leaf).
    pub slot: Vec<usize>,
    /// Per slot: per variable, (first word, words: 1 or 4, domain min).
    pub vars: Vec<Vec<(usize, usize, i128)>>,
    /// First scalar word.
    pub scalars: usize,
    /// Total words.
    pub words: usize,
}

/// A composition of one channel.
#[derive(Clone, Debug)]
pub struct Composition {
    /// `client.serial <-> serial.client`.
    pub name: String,
    /// The channel's protocol.
    pub protocol: ProtoId,
    /// Side 0 owns the protocol, side 1 plays the mirror.
    pub sides: [SideModel; 2],
    /// The side that crashes and restarts (the driver), if any.
    pub crash_side: Option<usize>,
    /// On every restart the driver sends this notification on this local port
    /// (its lifecycle channel to the monitor), if known.
    pub restart_notify: Option<(usize, MsgId)>,
    /// The bound protocol's `restarted` reply.
    pub restarted: Option<MsgId>,
    /// The bound protocol's `stopped` reply.
    pub stopped: Option<MsgId>,
    /// Per message of the bound protocol: a bare `reply` (answers any call:
    /// an error reply), as opposed to `reply to <calls>` (a normal reply).
    pub error_reply: Vec<bool>,
    /// Restart parameters.
    pub restart: RestartModel,
    /// Argument tuples, per protocol id and message (empty for protocols not
    /// in the composition).
    pub args: Vec<Vec<Vec<Vec<i128>>>>,
    /// Arguments that guards or actions read, whose values are represented by
    /// a finite set (for the report).
    pub abstracted_args: Vec<String>,
    /// State layout.
    pub layout: Layout,
    /// Slots in side order.
    pub slots: Vec<(usize, usize)>,
}

/// Why a side's protocols refuse a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Port that refused.
    pub port: String,
    /// Why.
    pub reason: String,
}

/// What a step is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Side `from` calls on the channel.
    Call {
        /// Caller.
        from: usize,
        /// Message.
        msg: MsgId,
        /// Arguments.
        args: Vec<i128>,
    },
    /// Side `from` replies on the channel.
    Reply {
        /// Replier.
        from: usize,
        /// Message.
        msg: MsgId,
        /// Arguments.
        args: Vec<i128>,
        /// Sent by a restart (the personality), not by the driver's code.
        by_restart: bool,
        /// The caller is gone (it crashed): nobody receives it.
        dropped: bool,
    },
    /// Side `from` notifies the other side (the bit is set).
    Notify {
        /// Sender.
        from: usize,
        /// Message.
        msg: MsgId,
    },
    /// A pending notification is delivered to side `to`.
    Deliver {
        /// Receiver.
        to: usize,
        /// Message.
        msg: MsgId,
    },
    /// A message on an environment port of a side.
    Env {
        /// Side.
        side: usize,
        /// Local port.
        port: usize,
        /// Message.
        msg: MsgId,
        /// Arguments.
        args: Vec<i128>,
    },
    /// The driver saves the request in its persistent region.
    Save,
    /// The driver performs the request's effect and marks it done (atomic).
    Commit,
    /// Broken disciplines: the effect alone.
    Effect,
    /// Broken disciplines: the mark alone.
    Mark,
    /// The driver crashes and is restarted.
    Crash {
        /// Restart mode.
        mode: RestartMode,
        /// Whether the request in flight was replayed (warm, saved).
        replayed: bool,
        /// The error reply the restart sent to the call in flight, if any.
        answered: Option<(MsgId, Vec<i128>)>,
    },
}

/// What a step leads to.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The successor state.
    Next(Vec<u32>),
    /// A violation (no successor).
    Violation(Violation),
}

/// A violation caused by a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The receiver cannot accept what the sender may send.
    Reception {
        /// Receiving side.
        side: usize,
        /// Why.
        refusal: Refusal,
    },
    /// A restart's reply is refused by the driver's own protocol (its
    /// observer would trap).
    RestartReply {
        /// Why.
        refusal: Refusal,
    },
    /// The effect counter of a request is 2, or a normal reply found it 0.
    ExactlyOnce {
        /// Effects when detected.
        effects: u32,
        /// Detected at a normal reply (else: a second effect).
        at_reply: bool,
    },
}

/// One step from a state.
#[derive(Clone, Debug)]
pub struct Step {
    /// What happens.
    pub kind: StepKind,
    /// What it leads to.
    pub outcome: Outcome,
}

impl Composition {
    /// Build a composition of the bound port `sides[0].ports[0]` (owner) and
    /// `sides[1].ports[0]` (mirror).
    pub fn new(
        spec: &Spec,
        name: String,
        sides: [SideModel; 2],
        crash_side: Option<usize>,
        restart_notify: Option<(usize, MsgId)>,
        restart: RestartModel,
        error_reply: Vec<bool>,
    ) -> Result<Self, String> {
        let protocol = sides[0].ports[0].protocol;
        let proto = spec
            .protocols
            .get(protocol)
            .ok_or_else(|| format!("{name}: no protocol {protocol}"))?;
        let mut used: Vec<ProtoId> = Vec::new();
        for s in &sides {
            for p in &s.ports {
                if !used.contains(&p.protocol) {
                    used.push(p.protocol);
                }
            }
        }
        for &u in &used {
            let p = &spec.protocols[u];
            if !p.subports.is_empty()
                || p.transitions
                    .iter()
                    .any(|t| t.actions.iter().any(|a| matches!(a, Action::Spawn { .. })))
            {
                return Err(format!(
                    "{name}: protocol `{}` has dynamic subports, which the model checker does not support yet",
                    p.name
                ));
            }
        }
        let find_reply = |n: &str| {
            proto.message(n).and_then(|(id, m)| {
                let ok = m.dir == Dir::Out && matches!(m.transport, Transport::Reply { .. });
                ok.then_some(id)
            })
        };
        let restarted = find_reply(&restart.restarted_reply);
        let stopped = find_reply(&restart.stopped_reply);
        // Layout.
        let mut slots = Vec::new();
        for (si, s) in sides.iter().enumerate() {
            for pi in 0..s.ports.len() {
                slots.push((si, pi));
            }
        }
        let mut w = 0;
        let mut slot_at = Vec::new();
        let mut vars = Vec::new();
        for &(si, pi) in &slots {
            let p = &spec.protocols[sides[si].ports[pi].protocol];
            slot_at.push(w);
            w += 1;
            let mut vs = Vec::new();
            for v in &p.vars {
                let (min, size) = match v.domain {
                    Domain::Bool => (0, 2u128),
                    Domain::Int { min, max } => (min, (max - min).unsigned_abs() + 1),
                };
                let n = if size <= 1u128 << 32 { 1 } else { 4 };
                vs.push((w, n, min));
                w += n;
            }
            vars.push(vs);
        }
        let layout = Layout {
            slot: slot_at,
            vars,
            scalars: w,
            words: w + SCALARS,
        };
        let mut args = vec![Vec::new(); spec.protocols.len()];
        let mut abstracted = Vec::new();
        for &u in &used {
            let p = &spec.protocols[u];
            let mut per = Vec::new();
            for m in 0..p.messages.len() {
                per.push(arg_tuples(spec, &used, u, m, &mut abstracted)?);
            }
            args[u] = per;
        }
        Ok(Self {
            name,
            protocol,
            sides,
            crash_side,
            restart_notify,
            restarted,
            stopped,
            error_reply,
            restart,
            args,
            abstracted_args: abstracted,
            layout,
            slots,
        })
    }

    fn slot(&self, side: usize, port: usize) -> usize {
        let base = if side == 0 {
            0
        } else {
            self.sides[0].ports.len()
        };
        base + port
    }

    /// The protocol of a side's port.
    pub fn proto<'a>(&self, spec: &'a Spec, side: usize, port: usize) -> &'a Protocol {
        &spec.protocols[self.sides[side].ports[port].protocol]
    }

    /// The initial state.
    pub fn initial(&self, spec: &Spec) -> Vec<u32> {
        let mut s = vec![0u32; self.layout.words];
        for (k, &(si, pi)) in self.slots.iter().enumerate() {
            self.reset_slot(spec, &mut s, k, si, pi);
        }
        s
    }

    fn reset_slot(&self, spec: &Spec, s: &mut [u32], k: usize, si: usize, pi: usize) {
        let p = self.proto(spec, si, pi);
        s[self.layout.slot[k]] = p.initial as u32;
        for (vi, v) in p.vars.iter().enumerate() {
            let x = match v.init {
                Value::Int(i) => i,
                Value::Bool(b) => i128::from(b),
            };
            self.set_var(s, k, vi, x);
        }
    }

    /// Leaf of a side's port.
    pub fn leaf(&self, s: &[u32], side: usize, port: usize) -> StateId {
        s[self.layout.slot[self.slot(side, port)]] as StateId
    }

    /// Variable `vi` of slot `k`.
    pub fn var(&self, s: &[u32], k: usize, vi: usize) -> i128 {
        let (at, n, min) = self.layout.vars[k][vi];
        let mut off: u128 = 0;
        for i in 0..n {
            off |= u128::from(s[at + i]) << (32 * i);
        }
        min + off as i128
    }

    fn set_var(&self, s: &mut [u32], k: usize, vi: usize, x: i128) {
        let (at, n, min) = self.layout.vars[k][vi];
        let off = (x - min) as u128;
        for i in 0..n {
            s[at + i] = (off >> (32 * i)) as u32;
        }
    }

    /// Scalar `which` of a state.
    pub fn scalar(&self, s: &[u32], which: usize) -> u32 {
        s[self.layout.scalars + which]
    }

    fn set_scalar(&self, s: &mut [u32], which: usize, v: u32) {
        s[self.layout.scalars + which] = v;
    }

    fn vars_of(&self, s: &[u32], k: usize) -> Vec<i128> {
        (0..self.layout.vars[k].len())
            .map(|vi| self.var(s, k, vi))
            .collect()
    }

    /// Effective direction of a message of a side's port, seen from the side.
    pub fn eff_dir(&self, spec: &Spec, side: usize, port: usize, msg: MsgId) -> Dir {
        let p = &self.sides[side].ports[port];
        let d = spec.protocols[p.protocol].messages[msg].dir;
        if p.mirror {
            d.flip()
        } else {
            d
        }
    }

    /// Whether a side is at rest: not in a call, and its bound port
    /// terminated or waiting for input.
    pub fn at_rest(&self, spec: &Spec, s: &[u32], side: usize) -> bool {
        if self.scalar(s, BLOCKED + side) != 0 || self.scalar(s, SERVING + side) != 0 {
            return false;
        }
        // A tombstone is stopped for good: it only answers.
        if self.crash_side == Some(side) && self.scalar(s, TOMB) != 0 {
            return true;
        }
        self.rest_leaf(spec, side, self.leaf(s, side, 0))
    }

    /// Whether a leaf of a side's bound port is a rest point (final, or has a
    /// transition on a message the side receives).
    pub fn rest_leaf(&self, spec: &Spec, side: usize, leaf: StateId) -> bool {
        let p = self.proto(spec, side, 0);
        if p.states.get(leaf).is_some_and(|st| st.is_final) {
            return true;
        }
        p.transitions_from(leaf).any(|t| match t.trigger {
            Trigger::Own(m) => self.eff_dir(spec, side, 0, m) == Dir::In,
            Trigger::Foreign(_) => false,
        })
    }

    /// The transition of `proto` from `leaf` on `trig`, with the variables
    /// after its actions, or `None` if none is enabled.
    fn transition(
        proto: &Protocol,
        leaf: StateId,
        trig: Trigger,
        args: &[i128],
        vars: &[i128],
    ) -> Option<(StateId, Vec<i128>)> {
        for t in proto.transitions_from(leaf) {
            if t.trigger != trig {
                continue;
            }
            if let Some(g) = &t.guard {
                if eval(g, args, vars) != Some(1) {
                    continue;
                }
            }
            let mut v = vars.to_vec();
            let mut ok = true;
            for a in &t.actions {
                if let Action::Assign { var, value } = a {
                    match (eval(value, args, &v), proto.vars.get(*var)) {
                        (Some(x), Some(decl)) if in_domain(decl.domain, x) => v[*var] = x,
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                }
            }
            if ok {
                return Some((t.to, v));
            }
        }
        None
    }

    /// Fire message `msg` of a side's port in the side's component (with its
    /// dependencies), on state `s`: the new words, or who refused.
    pub fn fire(
        &self,
        spec: &Spec,
        s: &[u32],
        side: usize,
        port: usize,
        msg: MsgId,
        args: &[i128],
    ) -> Result<Vec<u32>, Refusal> {
        let mut out = s.to_vec();
        self.fire_into(spec, &mut out, side, port, msg, args)?;
        Ok(out)
    }

    fn fire_into(
        &self,
        spec: &Spec,
        out: &mut [u32],
        side: usize,
        port: usize,
        msg: MsgId,
        args: &[i128],
    ) -> Result<(), Refusal> {
        let sd = &self.sides[side];
        let mut changes: Vec<(usize, StateId, Vec<i128>)> = Vec::new();
        let mut one = |port: usize, trig: Trigger, own: bool| -> Result<(), Refusal> {
            let k = self.slot(side, port);
            let p = self.proto(spec, side, port);
            let leaf = out[self.layout.slot[k]] as StateId;
            let pname = &sd.ports[port].name;
            if p.states.get(leaf).is_some_and(|st| st.is_final) {
                if own {
                    return Err(Refusal {
                        port: pname.clone(),
                        reason: "terminated".into(),
                    });
                }
                return Ok(());
            }
            let vars = self.vars_of(out, k);
            match Self::transition(p, leaf, trig, args, &vars) {
                Some((to, v)) => {
                    changes.push((k, to, v));
                    Ok(())
                }
                None => Err(Refusal {
                    port: pname.clone(),
                    reason: if own {
                        format!(
                            "not allowed in `{}`",
                            p.states.get(leaf).map_or("?", |st| st.path.as_str())
                        )
                    } else {
                        format!(
                            "dependency refused in `{}`",
                            p.states.get(leaf).map_or("?", |st| st.path.as_str())
                        )
                    },
                }),
            }
        };
        one(port, Trigger::Own(msg), true)?;
        for &(q, f) in sd.constrained_by(port, msg) {
            one(q, Trigger::Foreign(f), false)?;
        }
        for (k, to, v) in changes {
            out[self.layout.slot[k]] = to as u32;
            for (vi, x) in v.into_iter().enumerate() {
                self.set_var(out, k, vi, x);
            }
        }
        Ok(())
    }

    fn tuples(&self, side: usize, port: usize, msg: MsgId) -> &[Vec<i128>] {
        let p = self.sides[side].ports[port].protocol;
        self.args
            .get(p)
            .and_then(|v| v.get(msg))
            .map_or(&[], Vec::as_slice)
    }

    /// Every step from `s`.
    pub fn steps(&self, spec: &Spec, s: &[u32]) -> Vec<Step> {
        let mut out = Vec::new();
        let proto = &spec.protocols[self.protocol];
        let tomb = self.scalar(s, TOMB) != 0;
        for i in 0..2 {
            let j = 1 - i;
            let blocked_i = self.scalar(s, BLOCKED + i);
            if blocked_i != 0 {
                continue;
            }
            let serving_i = self.scalar(s, SERVING + i);
            let is_driver = self.crash_side == Some(i);
            let tomb_i = is_driver && tomb;
            // Messages on the channel sent by side i.
            if !tomb_i {
                for (m, msg) in proto.messages.iter().enumerate() {
                    if self.eff_dir(spec, i, 0, m) != Dir::Out {
                        continue;
                    }
                    match &msg.transport {
                        Transport::Call => {
                            let j_idle = self.scalar(s, BLOCKED + j) == 0
                                && self.scalar(s, SERVING + j) == 0;
                            if !j_idle {
                                continue;
                            }
                            for a in self.tuples(i, 0, m) {
                                let Ok(mut n) = self.fire(spec, s, i, 0, m, a) else {
                                    continue;
                                };
                                let kind = StepKind::Call {
                                    from: i,
                                    msg: m,
                                    args: a.clone(),
                                };
                                match self.fire_into(spec, &mut n, j, 0, m, a) {
                                    Err(r) => out.push(Step {
                                        kind,
                                        outcome: Outcome::Violation(Violation::Reception {
                                            side: j,
                                            refusal: r,
                                        }),
                                    }),
                                    Ok(()) => {
                                        self.set_scalar(&mut n, BLOCKED + i, m as u32 + 1);
                                        self.set_scalar(&mut n, SERVING + j, m as u32 + 1);
                                        if self.crash_side == Some(j) {
                                            self.set_scalar(&mut n, PHASE, phase::RECEIVED);
                                            self.set_scalar(&mut n, EFFECTS, 0);
                                        }
                                        out.push(Step {
                                            kind,
                                            outcome: Outcome::Next(n),
                                        });
                                    }
                                }
                            }
                        }
                        Transport::Reply { to } => {
                            if serving_i == 0 {
                                continue;
                            }
                            let call = (serving_i - 1) as MsgId;
                            if !to.contains(&call) {
                                continue;
                            }
                            let normal = !self.error_reply.get(m).copied().unwrap_or(false);
                            let ph = self.scalar(s, PHASE);
                            if is_driver {
                                if Some(m) == self.restarted || Some(m) == self.stopped {
                                    continue; // only restarts send these
                                }
                                if normal && ph != phase::COMMITTED {
                                    continue;
                                }
                                if !normal && ph == phase::RECEIVED {
                                    continue;
                                }
                            }
                            for a in self.tuples(i, 0, m) {
                                let step =
                                    self.reply_step(spec, s, i, m, a, false, normal && is_driver);
                                if let Some(st) = step {
                                    out.push(st);
                                }
                            }
                        }
                        Transport::Notify => {
                            let Ok(mut n) = self.fire(spec, s, i, 0, m, &[]) else {
                                continue;
                            };
                            self.set_scalar(&mut n, BIT + j, 1);
                            out.push(Step {
                                kind: StepKind::Notify { from: i, msg: m },
                                outcome: Outcome::Next(n),
                            });
                        }
                    }
                }
            } else if serving_i != 0 {
                // A tombstone answers whatever it is serving with `stopped`.
                if let Some(m) = self.stopped {
                    for a in self.tuples(i, 0, m) {
                        if let Some(st) = self.reply_step(spec, s, i, m, a, true, false) {
                            out.push(st);
                        }
                    }
                }
            }
            // A pending notification delivered to side i.
            if self.scalar(s, BIT + i) != 0 && serving_i == 0 {
                if let Some(m) = (0..proto.messages.len()).find(|&m| {
                    proto.messages[m].transport == Transport::Notify
                        && self.eff_dir(spec, i, 0, m) == Dir::In
                }) {
                    let kind = StepKind::Deliver { to: i, msg: m };
                    match self.fire(spec, s, i, 0, m, &[]) {
                        Ok(mut n) => {
                            self.set_scalar(&mut n, BIT + i, 0);
                            out.push(Step {
                                kind,
                                outcome: Outcome::Next(n),
                            });
                        }
                        Err(r) => out.push(Step {
                            kind,
                            outcome: Outcome::Violation(Violation::Reception {
                                side: i,
                                refusal: r,
                            }),
                        }),
                    }
                }
            }
            // Environment ports.
            if !tomb_i {
                for q in 1..self.sides[i].ports.len() {
                    let qp = self.proto(spec, i, q);
                    for m in 0..qp.messages.len() {
                        if self.eff_dir(spec, i, q, m) == Dir::In && serving_i != 0 {
                            continue;
                        }
                        for a in self.tuples(i, q, m) {
                            if let Ok(n) = self.fire(spec, s, i, q, m, a) {
                                out.push(Step {
                                    kind: StepKind::Env {
                                        side: i,
                                        port: q,
                                        msg: m,
                                        args: a.clone(),
                                    },
                                    outcome: Outcome::Next(n),
                                });
                            }
                        }
                    }
                }
            }
            // The driver's commit discipline.
            if is_driver && !tomb && serving_i != 0 {
                let ph = self.scalar(s, PHASE);
                let eff = self.scalar(s, EFFECTS);
                let mut push = |kind: StepKind, ph2: u32, eff2: u32| {
                    if eff2 > 1 {
                        out.push(Step {
                            kind,
                            outcome: Outcome::Violation(Violation::ExactlyOnce {
                                effects: eff2,
                                at_reply: false,
                            }),
                        });
                        return;
                    }
                    let mut n = s.to_vec();
                    self.set_scalar(&mut n, PHASE, ph2);
                    self.set_scalar(&mut n, EFFECTS, eff2);
                    out.push(Step {
                        kind,
                        outcome: Outcome::Next(n),
                    });
                };
                match (ph, self.restart.commit) {
                    (phase::RECEIVED, _) => push(StepKind::Save, phase::SAVED, eff),
                    (phase::SAVED, Commit::Atomic) => {
                        push(StepKind::Commit, phase::COMMITTED, eff + 1)
                    }
                    (phase::SAVED, Commit::EffectThenMark) => {
                        push(StepKind::Effect, phase::EFFECTED, eff + 1)
                    }
                    (phase::SAVED, Commit::MarkThenEffect) => {
                        push(StepKind::Mark, phase::MARKED, eff)
                    }
                    (phase::EFFECTED, _) => push(StepKind::Mark, phase::COMMITTED, eff),
                    (phase::MARKED, _) => push(StepKind::Effect, phase::COMMITTED, eff + 1),
                    _ => {}
                }
            }
        }
        // Crashes.
        if let Some(d) = self.crash_side {
            if u32::from(self.restart.max_crashes) > self.scalar(s, CRASHES) {
                for &mode in &self.restart.modes {
                    if tomb && mode != RestartMode::Tombstone {
                        continue;
                    }
                    out.extend(self.crash(spec, s, d, mode));
                }
            }
        }
        out
    }

    /// A reply from side `i` (the restart machinery's if `by_restart`).
    #[allow(clippy::too_many_arguments)]
    fn reply_step(
        &self,
        spec: &Spec,
        s: &[u32],
        i: usize,
        m: MsgId,
        a: &[i128],
        by_restart: bool,
        check_effects: bool,
    ) -> Option<Step> {
        let j = 1 - i;
        let serving = self.scalar(s, SERVING + i);
        let dropped = self.scalar(s, BLOCKED + j) != serving;
        let kind = StepKind::Reply {
            from: i,
            msg: m,
            args: a.to_vec(),
            by_restart,
            dropped,
        };
        let mut n = match self.fire(spec, s, i, 0, m, a) {
            Ok(n) => n,
            Err(r) if by_restart => {
                return Some(Step {
                    kind,
                    outcome: Outcome::Violation(Violation::RestartReply { refusal: r }),
                })
            }
            Err(_) => return None,
        };
        if check_effects {
            let eff = self.scalar(s, EFFECTS);
            if eff != 1 {
                return Some(Step {
                    kind,
                    outcome: Outcome::Violation(Violation::ExactlyOnce {
                        effects: eff,
                        at_reply: true,
                    }),
                });
            }
        }
        if !dropped {
            if let Err(r) = self.fire_into(spec, &mut n, j, 0, m, a) {
                return Some(Step {
                    kind,
                    outcome: Outcome::Violation(Violation::Reception {
                        side: j,
                        refusal: r,
                    }),
                });
            }
            self.set_scalar(&mut n, BLOCKED + j, 0);
        }
        self.set_scalar(&mut n, SERVING + i, 0);
        if self.crash_side == Some(i) {
            self.set_scalar(&mut n, PHASE, 0);
            self.set_scalar(&mut n, EFFECTS, 0);
        }
        Some(Step {
            kind,
            outcome: Outcome::Next(n),
        })
    }

    /// The crash of the driver `d` followed by a restart in `mode`.
    fn crash(&self, spec: &Spec, s: &[u32], d: usize, mode: RestartMode) -> Vec<Step> {
        let j = 1 - d;
        let mut n = s.to_vec();
        let crashes = self.scalar(s, CRASHES) + 1;
        self.set_scalar(&mut n, CRASHES, crashes);
        // A call the driver itself made is abandoned (its reply is dropped).
        self.set_scalar(&mut n, BLOCKED + d, 0);
        if matches!(mode, RestartMode::Cold | RestartMode::Tombstone) {
            for (k, &(si, pi)) in self.slots.iter().enumerate() {
                if si == d {
                    self.reset_slot(spec, &mut n, k, si, pi);
                }
            }
        }
        if mode == RestartMode::Tombstone {
            self.set_scalar(&mut n, TOMB, 1);
        }
        let serving = self.scalar(s, SERVING + d);
        let ph = self.scalar(s, PHASE);
        let mut replayed = false;
        // The in-flight request: replayed, answered, or (lossy) dropped.
        let answer = if serving == 0 {
            None
        } else {
            match mode {
                RestartMode::Warm if ph != phase::RECEIVED => {
                    replayed = true;
                    // Persistent progress survives: an effect without its
                    // mark is redone by the replay.
                    if ph == phase::EFFECTED {
                        self.set_scalar(&mut n, PHASE, phase::SAVED);
                    }
                    // A mark without its effect makes the replay skip it.
                    if ph == phase::MARKED {
                        self.set_scalar(&mut n, PHASE, phase::COMMITTED);
                    }
                    None
                }
                RestartMode::Warm | RestartMode::Cold => Some(self.restarted),
                RestartMode::Tombstone => Some(self.stopped),
                RestartMode::Lossy => {
                    self.set_scalar(&mut n, SERVING + d, 0);
                    self.set_scalar(&mut n, PHASE, 0);
                    self.set_scalar(&mut n, EFFECTS, 0);
                    None
                }
            }
        };
        let kind = StepKind::Crash {
            mode,
            replayed,
            answered: None,
        };
        let mut nexts: Vec<(StepKind, Vec<u32>)> = Vec::new();
        match answer {
            None => nexts.push((kind.clone(), n)),
            Some(None) => {
                // The protocol has no such reply: the caller is never answered.
                self.set_scalar(&mut n, SERVING + d, 0);
                self.set_scalar(&mut n, PHASE, 0);
                self.set_scalar(&mut n, EFFECTS, 0);
                nexts.push((kind.clone(), n));
            }
            Some(Some(m)) => {
                for a in self.tuples(d, 0, m) {
                    let kind = StepKind::Crash {
                        mode,
                        replayed,
                        answered: Some((m, a.clone())),
                    };
                    let mut x = match self.fire(spec, &n, d, 0, m, a) {
                        Ok(x) => x,
                        Err(r) => {
                            return vec![Step {
                                kind,
                                outcome: Outcome::Violation(Violation::RestartReply { refusal: r }),
                            }]
                        }
                    };
                    if self.scalar(&x, BLOCKED + j) == serving {
                        if let Err(r) = self.fire_into(spec, &mut x, j, 0, m, a) {
                            return vec![Step {
                                kind,
                                outcome: Outcome::Violation(Violation::Reception {
                                    side: j,
                                    refusal: r,
                                }),
                            }];
                        }
                        self.set_scalar(&mut x, BLOCKED + j, 0);
                    }
                    self.set_scalar(&mut x, SERVING + d, 0);
                    self.set_scalar(&mut x, PHASE, 0);
                    self.set_scalar(&mut x, EFFECTS, 0);
                    nexts.push((kind, x));
                }
            }
        }
        let mut out = Vec::new();
        for (kind, mut x) in nexts {
            if let Some((q, m)) = self.restart_notify {
                match self.fire_into(spec, &mut x, d, q, m, &[]) {
                    Ok(()) => {
                        if q == 0 {
                            self.set_scalar(&mut x, BIT + j, 1);
                        }
                    }
                    Err(r) => {
                        out.push(Step {
                            kind: kind.clone(),
                            outcome: Outcome::Violation(Violation::RestartReply { refusal: r }),
                        });
                        continue;
                    }
                }
            }
            out.push(Step {
                kind: kind.clone(),
                outcome: Outcome::Next(x),
            });
        }
        out
    }

    /// One line describing a state: each side's bound leaf and flags.
    pub fn describe(&self, spec: &Spec, s: &[u32]) -> String {
        let mut t = String::new();
        for side in 0..2 {
            let _ = write!(t, "{}: ", self.sides[side].label);
            for (pi, port) in self.sides[side].ports.iter().enumerate() {
                let p = self.proto(spec, side, pi);
                let leaf = self.leaf(s, side, pi);
                let k = self.slot(side, pi);
                let _ = write!(
                    t,
                    "{}={}",
                    port.name,
                    p.states.get(leaf).map_or("?", |st| st.path.as_str())
                );
                if !p.vars.is_empty() {
                    let vs: Vec<String> = p
                        .vars
                        .iter()
                        .enumerate()
                        .map(|(vi, v)| format!("{}={}", v.name, self.var(s, k, vi)))
                        .collect();
                    let _ = write!(t, "{{{}}}", vs.join(", "));
                }
                t.push(' ');
            }
            let b = self.scalar(s, BLOCKED + side);
            if b != 0 {
                let _ = write!(t, "[blocked in {}] ", msg_name(spec, self.protocol, b - 1));
            }
            let sv = self.scalar(s, SERVING + side);
            if sv != 0 {
                let _ = write!(t, "[serving {}] ", msg_name(spec, self.protocol, sv - 1));
            }
            if self.scalar(s, BIT + side) != 0 {
                t.push_str("[notification pending] ");
            }
            if side == 0 {
                t.push_str("| ");
            }
        }
        let _ = write!(
            t,
            "| crashes {}{}",
            self.scalar(s, CRASHES),
            if self.scalar(s, TOMB) != 0 {
                ", tombstone"
            } else {
                ""
            }
        );
        t
    }
}

fn msg_name(spec: &Spec, p: ProtoId, m: u32) -> String {
    spec.protocols
        .get(p)
        .and_then(|p| p.messages.get(m as usize))
        .map_or_else(|| format!("#{m}"), |m| m.name.clone())
}

fn in_domain(d: Domain, x: i128) -> bool {
    match d {
        Domain::Bool => x == 0 || x == 1,
        Domain::Int { min, max } => min <= x && x <= max,
    }
}

/// Evaluate an expression (bools as 0/1); `None` on overflow or division by zero.
pub fn eval(e: &Expr, args: &[i128], vars: &[i128]) -> Option<i128> {
    Some(match e {
        Expr::Int(i) => *i,
        Expr::Bool(b) => i128::from(*b),
        Expr::Var(v) => *vars.get(*v)?,
        Expr::Arg(a) => *args.get(*a)?,
        Expr::Unary(UnOp::Neg, x) => eval(x, args, vars)?.checked_neg()?,
        Expr::Unary(UnOp::Not, x) => i128::from(eval(x, args, vars)? == 0),
        Expr::Binary(op, a, b) => {
            let x = eval(a, args, vars)?;
            // Short-circuit logic.
            match op {
                BinOp::And if x == 0 => return Some(0),
                BinOp::Or if x != 0 => return Some(1),
                _ => {}
            }
            let y = eval(b, args, vars)?;
            match op {
                BinOp::Add => x.checked_add(y)?,
                BinOp::Sub => x.checked_sub(y)?,
                BinOp::Mul => x.checked_mul(y)?,
                BinOp::Div => x.checked_div(y)?,
                BinOp::Rem => x.checked_rem(y)?,
                BinOp::Eq => i128::from(x == y),
                BinOp::Ne => i128::from(x != y),
                BinOp::Lt => i128::from(x < y),
                BinOp::Le => i128::from(x <= y),
                BinOp::Gt => i128::from(x > y),
                BinOp::Ge => i128::from(x >= y),
                BinOp::And | BinOp::Or => i128::from(y != 0),
            }
        }
    })
}

fn add_tr<'a>(spec: &'a Spec, q: ProtoId, trig: Trigger, exprs: &mut Vec<(&'a Expr, ProtoId)>) {
    for t in spec.protocols[q]
        .transitions
        .iter()
        .filter(|t| t.trigger == trig)
    {
        if let Some(g) = &t.guard {
            exprs.push((g, q));
        }
        for a in &t.actions {
            match a {
                Action::Assign { value, .. } => exprs.push((value, q)),
                Action::Spawn { key, .. } => exprs.push((key, q)),
            }
        }
    }
}

fn mentions_arg(e: &Expr, k: usize) -> bool {
    match e {
        Expr::Arg(a) => *a == k,
        Expr::Unary(_, x) => mentions_arg(x, k),
        Expr::Binary(_, a, b) => mentions_arg(a, k) || mentions_arg(b, k),
        _ => false,
    }
}

fn collect(e: &Expr, consts: &mut Vec<i128>, vars: &mut Vec<usize>) {
    match e {
        Expr::Int(i) => consts.push(*i),
        Expr::Var(v) => vars.push(*v),
        Expr::Unary(_, x) => collect(x, consts, vars),
        Expr::Binary(_, a, b) => {
            collect(a, consts, vars);
            collect(b, consts, vars);
        }
        _ => {}
    }
}

/// The argument tuples enumerated for message `msg` of protocol `pid`: every
/// argument no guard or action reads takes one value (0, or its type's
/// minimum); one that is read takes representatives: its type's bounds, every
/// constant of those expressions and its neighbours, and every value of the
/// small variable domains they mention.
fn arg_tuples(
    spec: &Spec,
    used: &[ProtoId],
    pid: ProtoId,
    msg: MsgId,
    abstracted: &mut Vec<String>,
) -> Result<Vec<Vec<i128>>, String> {
    let p = &spec.protocols[pid];
    let m = &p.messages[msg];
    // (expression, protocol it belongs to)
    let mut exprs: Vec<(&Expr, ProtoId)> = Vec::new();
    add_tr(spec, pid, Trigger::Own(msg), &mut exprs);
    for &q in used {
        for (fi, f) in spec.protocols[q].foreign.iter().enumerate() {
            if f.msg == msg && spec.protocols[q].uses.get(f.uses).map(|u| u.protocol) == Some(pid) {
                add_tr(spec, q, Trigger::Foreign(fi), &mut exprs);
            }
        }
    }
    let mut per_arg: Vec<Vec<i128>> = Vec::new();
    for (k, arg) in m.args.iter().enumerate() {
        let (lo, hi) = match arg.ty.domain() {
            Domain::Bool => (0, 1),
            Domain::Int { min, max } => (min, max),
        };
        let reading: Vec<&(&Expr, ProtoId)> =
            exprs.iter().filter(|(e, _)| mentions_arg(e, k)).collect();
        if reading.is_empty() {
            per_arg.push(vec![if lo <= 0 && 0 <= hi { 0 } else { lo }]);
            continue;
        }
        let mut vals = vec![lo, hi];
        for (e, q) in &reading {
            let (mut consts, mut vars) = (Vec::new(), Vec::new());
            collect(e, &mut consts, &mut vars);
            for c in consts {
                vals.extend([c.saturating_sub(1), c, c.saturating_add(1)]);
            }
            for v in vars {
                if let Some(decl) = spec.protocols[*q].vars.get(v) {
                    if decl.domain.size() <= SMALL_DOMAIN {
                        match decl.domain {
                            Domain::Bool => vals.extend([0, 1]),
                            Domain::Int { min, max } => vals.extend(min..=max),
                        }
                    }
                }
            }
        }
        vals.retain(|v| lo <= *v && *v <= hi);
        vals.sort_unstable();
        vals.dedup();
        if (hi - lo).unsigned_abs() + 1 > vals.len() as u128 {
            abstracted.push(format!("{}.{}({})", p.name, m.name, arg.name));
        }
        per_arg.push(vals);
    }
    let mut tuples: Vec<Vec<i128>> = vec![Vec::new()];
    for vals in per_arg {
        if tuples.len().saturating_mul(vals.len()) > MAX_ARG_TUPLES {
            return Err(format!(
                "message `{}.{}`: more than {MAX_ARG_TUPLES} argument combinations to explore",
                p.name, m.name
            ));
        }
        tuples = tuples
            .into_iter()
            .flat_map(|t| {
                vals.iter().map(move |v| {
                    let mut t = t.clone();
                    t.push(*v);
                    t
                })
            })
            .collect();
    }
    Ok(tuples)
}
