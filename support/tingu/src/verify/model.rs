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
    /// The driver's protocol state discarded: every port it owns enters its
    /// protocol's restart state (the initial state if none; a `mirror` port
    /// its initial state); the in-flight request is answered with the
    /// protocol's `restarted` reply.
    Cold,
    /// State discarded as for `Cold`; the in-flight request and every later
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

/// A transition taken: target leaf, variables after the actions, and the
/// subports it spawns `(template, key)`.
type Fired = (StateId, Vec<i128>, Vec<(usize, i128)>);

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
/// Plus the side: a notification to that side is pending (one bit per
/// channel and direction, not a counter: notifications coalesce).
pub(crate) const BIT: usize = 4;
pub(crate) const PHASE: usize = 6;
pub(crate) const EFFECTS: usize = 7;
pub(crate) const CRASHES: usize = 8;
pub(crate) const TOMB: usize = 9;
/// Key of the subport call in flight (at most one call is in flight on a
/// channel).
pub(crate) const KEY: usize = 10;
pub(crate) const SCALARS: usize = 11;

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

/// A subport template of the bound protocol (both sides keep instances).
#[derive(Clone, Debug)]
pub struct Template {
    /// Name (`spawn name(key)`).
    pub name: String,
    /// Protocol of each instance.
    pub protocol: ProtoId,
    /// Most live instances.
    pub bound: usize,
    /// Per message of the template protocol: index of its key argument.
    pub key_pos: Vec<usize>,
    /// First channel-message index of the template's messages.
    pub first: usize,
    /// Its `restarted` reply, if any (as a channel-message index).
    pub restarted: Option<usize>,
    /// Its `stopped` reply, if any (as a channel-message index).
    pub stopped: Option<usize>,
    /// Per message: a bare `reply` (error reply).
    pub error_reply: Vec<bool>,
}

/// Where one subport instance's words are.
#[derive(Clone, Debug)]
pub struct SubSlot {
    /// Side.
    pub side: usize,
    /// Template.
    pub t: usize,
    /// Live (0/1).
    pub live: usize,
    /// Key: (first word, words, minimum).
    pub key: (usize, usize, i128),
    /// Leaf.
    pub leaf: usize,
    /// Variables: (first word, words, minimum).
    pub vars: Vec<(usize, usize, i128)>,
}

/// Where each instance's words are.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Per slot (side 0's ports, then side 1's): first word (the leaf).
    pub slot: Vec<usize>,
    /// Per slot: per variable, (first word, words: 1 or 4, domain min).
    pub vars: Vec<Vec<(usize, usize, i128)>>,
    /// Subport instances: per side, per template, per index.
    pub sub: Vec<SubSlot>,
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
    /// Subport templates of the bound protocol.
    pub templates: Vec<Template>,
    /// Channel messages: the bound protocol's (index = message id), then each
    /// template's: (template, message). Calls in flight and the `msg` of
    /// calls and replies are channel-message indices.
    pub chan: Vec<(Option<usize>, MsgId)>,
    /// State layout.
    pub layout: Layout,
    /// Slots in side order.
    pub slots: Vec<(usize, usize)>,
    /// Per state of the crash side's bound port: entered only through a
    /// restart (the restart state, and what is reachable only from it). There
    /// the driver itself sends the bound protocol's `restarted` reply (it
    /// answers a request of a session its restart discarded); elsewhere only
    /// restarts send it. Empty without a crash side or a restart state.
    pub stale: Vec<bool>,
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
    /// Side `from` notifies the other side: the receiver's pending bit is
    /// set. Notifications coalesce (Microkit): one sent while the bit is
    /// set already merges with the pending one, and a single delivery
    /// consumes both.
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
        error_replies: Vec<Vec<bool>>,
    ) -> Result<Self, String> {
        let protocol = sides[0].ports[0].protocol;
        let error_reply = error_replies.get(protocol).cloned().unwrap_or_default();
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
        // Subports: only on the bound protocol, keyed by a message argument
        // or a constant.
        for s_ in &sides {
            for p in &s_.ports[1..] {
                let pp = &spec.protocols[p.protocol];
                if !pp.subports.is_empty() {
                    return Err(format!(
                        "{name}: environment port `{}` ({}) has dynamic subports, which the model checker supports only on the bound port",
                        p.name, pp.name
                    ));
                }
            }
        }
        for t in &proto.transitions {
            for a in &t.actions {
                if let Action::Spawn { key, .. } = a {
                    if !matches!(key, Expr::Arg(_) | Expr::Int(_)) {
                        return Err(format!(
                            "{name}: protocol `{}`: a spawn key must be a message argument or a constant for the model checker",
                            proto.name
                        ));
                    }
                }
            }
        }
        let mut templates = Vec::new();
        let mut chan: Vec<(Option<usize>, MsgId)> =
            (0..proto.messages.len()).map(|m| (None, m)).collect();
        for (ti, sp) in proto.subports.iter().enumerate() {
            let tp = &spec.protocols[sp.protocol];
            let key_pos = tp
                .key
                .as_ref()
                .map(|k| k.positions.clone())
                .unwrap_or_default();
            let first = chan.len();
            chan.extend((0..tp.messages.len()).map(|m| (Some(ti), m)));
            let reply = |n: &str| {
                tp.message(n).and_then(|(id, m)| {
                    let ok = m.dir == Dir::Out && matches!(m.transport, Transport::Reply { .. });
                    ok.then_some(first + id)
                })
            };
            templates.push(Template {
                name: sp.name.clone(),
                protocol: sp.protocol,
                bound: sp.bound as usize,
                key_pos,
                first,
                restarted: reply(&restart.restarted_reply),
                stopped: reply(&restart.stopped_reply),
                error_reply: error_replies.get(sp.protocol).cloned().unwrap_or_default(),
            });
            if !used.contains(&sp.protocol) {
                used.push(sp.protocol);
            }
        }
        if chan.len() > 250 {
            return Err(format!("{name}: more than 250 messages on one channel"));
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
        let width = |d: Domain| -> (usize, i128) {
            let (min, size) = match d {
                Domain::Bool => (0, 2u128),
                Domain::Int { min, max } => (min, (max - min).unsigned_abs() + 1),
            };
            (if size <= 1u128 << 32 { 1 } else { 4 }, min)
        };
        let mut sub = Vec::new();
        for side in 0..2 {
            for (ti, t) in templates.iter().enumerate() {
                let tp = &spec.protocols[t.protocol];
                let kd = tp
                    .key
                    .as_ref()
                    .map_or(Domain::Int { min: 0, max: 0 }, |k| k.ty.domain());
                for _ in 0..t.bound {
                    let live = w;
                    let (kn, kmin) = width(kd);
                    let key = (w + 1, kn, kmin);
                    let leaf = w + 1 + kn;
                    w = leaf + 1;
                    let mut vs = Vec::new();
                    for v in &tp.vars {
                        let (n, min) = width(v.domain);
                        vs.push((w, n, min));
                        w += n;
                    }
                    sub.push(SubSlot {
                        side,
                        t: ti,
                        live,
                        key,
                        leaf,
                        vars: vs,
                    });
                }
            }
        }
        let layout = Layout {
            slot: slot_at,
            vars,
            sub,
            scalars: w,
            words: w + SCALARS,
        };
        // Keys: every instance-naming argument takes the values 0..=bound
        // (one more key than instances), and constant spawn keys.
        let mut forced: Vec<(ProtoId, MsgId, usize, Vec<i128>)> = Vec::new();
        for t in &templates {
            let tp = &spec.protocols[t.protocol];
            let kd = tp
                .key
                .as_ref()
                .map_or(Domain::Int { min: 0, max: 0 }, |k| k.ty.domain());
            let mut keys: Vec<i128> = (0..=t.bound as i128)
                .filter(|k| in_domain(kd, *k))
                .collect();
            for tr in &proto.transitions {
                for a in &tr.actions {
                    if let Action::Spawn {
                        key: Expr::Int(c), ..
                    } = a
                    {
                        keys.push(*c);
                    }
                }
            }
            keys.sort_unstable();
            keys.dedup();
            for (m, &pos) in t.key_pos.iter().enumerate() {
                forced.push((t.protocol, m, pos, keys.clone()));
            }
            for tr in &proto.transitions {
                for a in &tr.actions {
                    if let (
                        Action::Spawn {
                            key: Expr::Arg(i), ..
                        },
                        Trigger::Own(m),
                    ) = (a, tr.trigger)
                    {
                        forced.push((protocol, m, *i, keys.clone()));
                    }
                }
            }
        }
        let mut args = vec![Vec::new(); spec.protocols.len()];
        let mut abstracted = Vec::new();
        for &u in &used {
            let p = &spec.protocols[u];
            let mut per = Vec::new();
            for m in 0..p.messages.len() {
                per.push(arg_tuples(spec, &used, u, m, &forced, &mut abstracted)?);
            }
            args[u] = per;
        }
        let stale = match crash_side {
            Some(d) if !sides[d].ports[0].mirror => {
                let p = &spec.protocols[sides[d].ports[0].protocol];
                if p.restart.is_some() {
                    p.reachable_from(&[p.initial]).iter().map(|r| !r).collect()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        };
        Ok(Self {
            stale,
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
            templates,
            chan,
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
            self.reset_slot(spec, &mut s, k, si, pi, false);
        }
        s
    }

    /// The leaf a side's port enters when its side restarts with its state
    /// discarded: its protocol's restart state if the side owns the protocol
    /// (a `mirror` port starts afresh, in the initial state).
    pub fn restart_leaf(&self, spec: &Spec, side: usize, port: usize) -> StateId {
        let p = self.proto(spec, side, port);
        if self.sides[side].ports[port].mirror {
            p.initial
        } else {
            p.restart_leaf
        }
    }

    /// Per declared state of a side's bound port: whether the side is
    /// expected to reach it. A state entered only through a restart (not
    /// reachable from the initial state by transitions) is not expected on
    /// a side that never restarts.
    pub fn expected_states(&self, spec: &Spec, side: usize) -> Vec<bool> {
        let p = self.proto(spec, side, 0);
        if self.crash_side == Some(side) && !self.sides[side].ports[0].mirror {
            return vec![true; p.states.len()];
        }
        p.reachable_from(&[p.initial])
    }

    /// Slot `k` (side `si`, port `pi`) at its initial state, or at its restart
    /// state if `restart`, with the variables' initial values.
    fn reset_slot(
        &self,
        spec: &Spec,
        s: &mut [u32],
        k: usize,
        si: usize,
        pi: usize,
        restart: bool,
    ) {
        let p = self.proto(spec, si, pi);
        s[self.layout.slot[k]] = if restart {
            self.restart_leaf(spec, si, pi)
        } else {
            p.initial
        } as u32;
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

    /// Whether a side is at rest: not in a call, and its bound port in a
    /// resting state (the initial state, a final state, or a state declared
    /// `idle`), or a tombstone. A composition may stop only where both
    /// sides are at rest; stopping anywhere else is a deadlock.
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

    /// Whether a leaf of a side's bound port is resting, as its protocol
    /// declares ([`Protocol::is_resting`]): waiting for input is not enough
    /// (two sides may each wait for the other).
    pub fn rest_leaf(&self, spec: &Spec, side: usize, leaf: StateId) -> bool {
        self.proto(spec, side, 0).is_resting(leaf)
    }

    /// The transition of `proto` from `leaf` on `trig`, with the variables
    /// after its actions, or `None` if none is enabled.
    fn transition(
        proto: &Protocol,
        leaf: StateId,
        trig: Trigger,
        args: &[i128],
        vars: &[i128],
    ) -> Option<Fired> {
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
            let mut spawns = Vec::new();
            for a in &t.actions {
                match a {
                    Action::Assign { var, value } => {
                        match (eval(value, args, &v), proto.vars.get(*var)) {
                            (Some(x), Some(decl)) if in_domain(decl.domain, x) => v[*var] = x,
                            _ => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    Action::Spawn { subport, key } => match eval(key, args, &v) {
                        Some(k) => spawns.push((*subport, k)),
                        None => {
                            ok = false;
                            break;
                        }
                    },
                }
            }
            if ok {
                return Some((t.to, v, spawns));
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
        let mut spawns: Vec<(usize, i128)> = Vec::new();
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
                Some((to, v, sp)) => {
                    changes.push((k, to, v));
                    spawns.extend(sp);
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
        for &(t, key) in &spawns {
            self.spawn(spec, out, side, t, key)
                .map_err(|reason| Refusal {
                    port: sd.ports[0].name.clone(),
                    reason,
                })?;
        }
        for (k, to, v) in changes {
            out[self.layout.slot[k]] = to as u32;
            for (vi, x) in v.into_iter().enumerate() {
                self.set_var(out, k, vi, x);
            }
        }
        Ok(())
    }

    /// The subport slots of `side`, template `t`.
    fn subs(&self, side: usize, t: usize) -> impl Iterator<Item = &SubSlot> + '_ {
        self.layout
            .sub
            .iter()
            .filter(move |x| x.side == side && x.t == t)
    }

    fn get_w(s: &[u32], (at, n, min): (usize, usize, i128)) -> i128 {
        let mut off: u128 = 0;
        for i in 0..n {
            off |= u128::from(s[at + i]) << (32 * i);
        }
        min + off as i128
    }

    fn set_w(s: &mut [u32], (at, n, min): (usize, usize, i128), x: i128) {
        let off = (x - min) as u128;
        for i in 0..n {
            s[at + i] = (off >> (32 * i)) as u32;
        }
    }

    /// The live instance of template `t` with `key` on `side`.
    fn instance(&self, s: &[u32], side: usize, t: usize, key: i128) -> Option<&SubSlot> {
        self.subs(side, t)
            .find(|x| s[x.live] != 0 && Self::get_w(s, x.key) == key)
    }

    /// Create an instance (first free slot): refused if the key is live or
    /// every slot is in use.
    fn spawn(
        &self,
        spec: &Spec,
        out: &mut [u32],
        side: usize,
        t: usize,
        key: i128,
    ) -> Result<(), String> {
        let name = self.templates.get(t).map_or("?", |x| x.name.as_str());
        if self.instance(out, side, t, key).is_some() {
            return Err(format!("spawn {name}({key}): that key is live"));
        }
        let Some(x) = self.subs(side, t).find(|x| out[x.live] == 0) else {
            return Err(format!("spawn {name}({key}): all instances in use"));
        };
        let tp = &spec.protocols[self.templates[t].protocol];
        out[x.live] = 1;
        Self::set_w(out, x.key, key);
        out[x.leaf] = tp.initial as u32;
        for (vi, v) in tp.vars.iter().enumerate() {
            let init = match v.init {
                Value::Int(i) => i,
                Value::Bool(b) => i128::from(b),
            };
            if let Some(&w) = x.vars.get(vi) {
                Self::set_w(out, w, init);
            }
        }
        Ok(())
    }

    /// Every subport instance of `side` gone (a cold or tombstone start).
    fn reset_subs(&self, out: &mut [u32], side: usize) {
        for x in self.layout.sub.iter().filter(|x| x.side == side) {
            out[x.live] = 0;
            Self::set_w(out, x.key, x.key.2);
            out[x.leaf] = 0;
            for &w in &x.vars {
                Self::set_w(out, w, w.2);
            }
        }
    }

    /// Fire message `m` of template `t` on the instance its key names.
    fn fire_sub_into(
        &self,
        spec: &Spec,
        out: &mut [u32],
        side: usize,
        t: usize,
        m: MsgId,
        args: &[i128],
    ) -> Result<(), Refusal> {
        let tpl = &self.templates[t];
        let tp = &spec.protocols[tpl.protocol];
        let key = tpl
            .key_pos
            .get(m)
            .and_then(|&p| args.get(p))
            .copied()
            .unwrap_or(0);
        let port = format!("{}({key})", tpl.name);
        let Some(x) = self.instance(out, side, t, key).cloned() else {
            return Err(Refusal {
                port,
                reason: "no live instance with that key".into(),
            });
        };
        let leaf = out[x.leaf] as StateId;
        let vars: Vec<i128> = x.vars.iter().map(|&w| Self::get_w(out, w)).collect();
        match Self::transition(tp, leaf, Trigger::Own(m), args, &vars) {
            Some((to, v, _)) => {
                if tp.states.get(to).is_some_and(|st| st.is_final) {
                    // A finished instance frees its slot.
                    out[x.live] = 0;
                    Self::set_w(out, x.key, x.key.2);
                    out[x.leaf] = 0;
                    for &w in &x.vars {
                        Self::set_w(out, w, w.2);
                    }
                } else {
                    out[x.leaf] = to as u32;
                    for (&w, val) in x.vars.iter().zip(v) {
                        Self::set_w(out, w, val);
                    }
                }
                Ok(())
            }
            None => Err(Refusal {
                port,
                reason: format!(
                    "not allowed in `{}`",
                    tp.states.get(leaf).map_or("?", |st| st.path.as_str())
                ),
            }),
        }
    }

    /// The message of channel-message `cm`.
    pub fn cmsg<'a>(&self, spec: &'a Spec, cm: usize) -> Option<&'a crate::ir::Message> {
        let (t, m) = *self.chan.get(cm)?;
        let p = match t {
            None => self.protocol,
            Some(t) => self.templates.get(t)?.protocol,
        };
        spec.protocols.get(p)?.messages.get(m)
    }

    /// Whether channel-message `cm` goes out of `side`.
    pub(crate) fn cm_out(&self, spec: &Spec, side: usize, cm: usize) -> bool {
        let mirror = self.sides[side].ports[0].mirror;
        self.cmsg(spec, cm)
            .is_some_and(|m| (if mirror { m.dir.flip() } else { m.dir }) == Dir::Out)
    }

    /// Argument tuples of channel-message `cm`.
    pub fn cm_tuples(&self, cm: usize) -> &[Vec<i128>] {
        let Some(&(t, m)) = self.chan.get(cm) else {
            return &[];
        };
        let p = match t {
            None => self.protocol,
            Some(t) => self.templates[t].protocol,
        };
        self.args
            .get(p)
            .and_then(|v| v.get(m))
            .map_or(&[], Vec::as_slice)
    }

    /// Fire channel-message `cm` on `side`.
    fn fire_cm(
        &self,
        spec: &Spec,
        out: &mut [u32],
        side: usize,
        cm: usize,
        args: &[i128],
    ) -> Result<(), Refusal> {
        match self.chan.get(cm) {
            Some(&(None, m)) => self.fire_into(spec, out, side, 0, m, args),
            Some(&(Some(t), m)) => self.fire_sub_into(spec, out, side, t, m, args),
            None => Err(Refusal {
                port: "?".into(),
                reason: "no such message".into(),
            }),
        }
    }

    /// The key of channel-message `cm` with `args` (0 for the bound protocol).
    pub(crate) fn cm_key(&self, cm: usize, args: &[i128]) -> i128 {
        match self.chan.get(cm) {
            Some(&(Some(t), m)) => self.templates[t]
                .key_pos
                .get(m)
                .and_then(|&p| args.get(p))
                .copied()
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// Whether channel-message `cm` is an error reply (a bare `reply`).
    pub(crate) fn cm_error_reply(&self, cm: usize) -> bool {
        match self.chan.get(cm) {
            Some(&(None, m)) => self.error_reply.get(m).copied().unwrap_or(false),
            Some(&(Some(t), m)) => self.templates[t]
                .error_reply
                .get(m)
                .copied()
                .unwrap_or(false),
            None => false,
        }
    }

    /// The `restarted` and `stopped` replies for a call `cm` in flight.
    pub(crate) fn cm_restart_replies(&self, cm: usize) -> (Option<usize>, Option<usize>) {
        match self.chan.get(cm) {
            Some(&(Some(t), _)) => (self.templates[t].restarted, self.templates[t].stopped),
            _ => (self.restarted, self.stopped),
        }
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
            // Messages on the channel sent by side i (the bound protocol's
            // and its subport instances').
            if !tomb_i {
                for cm in 0..self.chan.len() {
                    if !self.cm_out(spec, i, cm) {
                        continue;
                    }
                    let Some(msg) = self.cmsg(spec, cm) else {
                        continue;
                    };
                    match &msg.transport {
                        Transport::Call => {
                            let j_idle = self.scalar(s, BLOCKED + j) == 0
                                && self.scalar(s, SERVING + j) == 0;
                            if !j_idle {
                                continue;
                            }
                            for a in self.cm_tuples(cm) {
                                let mut n = s.to_vec();
                                if self.fire_cm(spec, &mut n, i, cm, a).is_err() {
                                    continue;
                                }
                                let kind = StepKind::Call {
                                    from: i,
                                    msg: cm,
                                    args: a.clone(),
                                };
                                match self.fire_cm(spec, &mut n, j, cm, a) {
                                    Err(r) => out.push(Step {
                                        kind,
                                        outcome: Outcome::Violation(Violation::Reception {
                                            side: j,
                                            refusal: r,
                                        }),
                                    }),
                                    Ok(()) => {
                                        self.set_scalar(&mut n, BLOCKED + i, cm as u32 + 1);
                                        self.set_scalar(&mut n, SERVING + j, cm as u32 + 1);
                                        self.set_scalar(&mut n, KEY, self.cm_key(cm, a) as u32);
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
                            let call = (serving_i - 1) as usize;
                            // The call must be of the same protocol (and, for
                            // a subport, the same instance: its key).
                            let same = match (self.chan.get(call), self.chan.get(cm)) {
                                (Some(&(tc, mc)), Some(&(tr, _))) => tc == tr && to.contains(&mc),
                                _ => false,
                            };
                            if !same {
                                continue;
                            }
                            let (rs, st) = self.cm_restart_replies(call);
                            let normal = !self.cm_error_reply(cm);
                            let ph = self.scalar(s, PHASE);
                            if is_driver {
                                let stale = Some(cm) == rs
                                    && self.chan.get(cm).is_some_and(|x| x.0.is_none())
                                    && self.stale.get(self.leaf(s, i, 0)).copied().unwrap_or(false);
                                if (Some(cm) == rs && !stale) || Some(cm) == st {
                                    continue; // only restarts send these
                                }
                                if normal && ph != phase::COMMITTED {
                                    continue;
                                }
                                if !normal && ph == phase::RECEIVED {
                                    continue;
                                }
                            }
                            for a in self.cm_tuples(cm) {
                                if self.cm_key(cm, a) != i128::from(self.scalar(s, KEY)) {
                                    continue;
                                }
                                let step =
                                    self.reply_step(spec, s, i, cm, a, false, normal && is_driver);
                                if let Some(st) = step {
                                    out.push(st);
                                }
                            }
                        }
                        Transport::Notify => {
                            let Ok(mut n) = self.fire(spec, s, i, 0, cm, &[]) else {
                                continue;
                            };
                            // The sender's protocol moves; if a notification
                            // is pending already, the two are one (coalescing).
                            self.set_scalar(&mut n, BIT + j, 1);
                            out.push(Step {
                                kind: StepKind::Notify { from: i, msg: cm },
                                outcome: Outcome::Next(n),
                            });
                        }
                    }
                }
            } else if serving_i != 0 {
                // A tombstone answers whatever it is serving with `stopped`.
                let call = (serving_i - 1) as usize;
                if let (_, Some(m)) = self.cm_restart_replies(call) {
                    for a in self.cm_tuples(m) {
                        if self.cm_key(m, a) != i128::from(self.scalar(s, KEY)) {
                            continue;
                        }
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
        let mut n = s.to_vec();
        match self.fire_cm(spec, &mut n, i, m, a) {
            Ok(()) => {}
            Err(r) if by_restart => {
                return Some(Step {
                    kind,
                    outcome: Outcome::Violation(Violation::RestartReply { refusal: r }),
                })
            }
            Err(_) => return None,
        }
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
            if let Err(r) = self.fire_cm(spec, &mut n, j, m, a) {
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
        self.set_scalar(&mut n, KEY, 0);
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
                    self.reset_slot(spec, &mut n, k, si, pi, true);
                }
            }
            self.reset_subs(&mut n, d);
        }
        if mode == RestartMode::Tombstone {
            self.set_scalar(&mut n, TOMB, 1);
        }
        let serving = self.scalar(s, SERVING + d);
        let ph = self.scalar(s, PHASE);
        let (rs, st) = self.cm_restart_replies(serving.saturating_sub(1) as usize);
        let key = i128::from(self.scalar(s, KEY));
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
                RestartMode::Warm | RestartMode::Cold => Some(rs),
                RestartMode::Tombstone => Some(st),
                RestartMode::Lossy => {
                    self.set_scalar(&mut n, SERVING + d, 0);
                    self.set_scalar(&mut n, PHASE, 0);
                    self.set_scalar(&mut n, EFFECTS, 0);
                    self.set_scalar(&mut n, KEY, 0);
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
                self.set_scalar(&mut n, KEY, 0);
                nexts.push((kind.clone(), n));
            }
            Some(Some(m)) => {
                for a in self.cm_tuples(m) {
                    if self.cm_key(m, a) != key {
                        continue;
                    }
                    let kind = StepKind::Crash {
                        mode,
                        replayed,
                        answered: Some((m, a.clone())),
                    };
                    let mut x = n.clone();
                    match self.fire_cm(spec, &mut x, d, m, a) {
                        Ok(()) => {}
                        Err(r) => {
                            return vec![Step {
                                kind,
                                outcome: Outcome::Violation(Violation::RestartReply { refusal: r }),
                            }]
                        }
                    }
                    if self.scalar(&x, BLOCKED + j) == serving {
                        if let Err(r) = self.fire_cm(spec, &mut x, j, m, a) {
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
                    self.set_scalar(&mut x, KEY, 0);
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
            let name = |x: u32| {
                self.cmsg(spec, x as usize - 1)
                    .map_or_else(|| format!("#{x}"), |m| m.name.clone())
            };
            if b != 0 {
                let _ = write!(t, "[blocked in {}] ", name(b));
            }
            let sv = self.scalar(s, SERVING + side);
            if sv != 0 {
                let _ = write!(t, "[serving {}] ", name(sv));
            }
            for x in self
                .layout
                .sub
                .iter()
                .filter(|x| x.side == side && s[x.live] != 0)
            {
                let tpl = &self.templates[x.t];
                let tp = &spec.protocols[tpl.protocol];
                let _ = write!(
                    t,
                    "{}({})={} ",
                    tpl.name,
                    Self::get_w(s, x.key),
                    tp.states
                        .get(s[x.leaf] as usize)
                        .map_or("?", |st| st.path.as_str())
                );
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
    forced: &[(ProtoId, MsgId, usize, Vec<i128>)],
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
        if let Some((_, _, _, keys)) = forced
            .iter()
            .find(|(p, m2, a, _)| *p == pid && *m2 == msg && *a == k)
        {
            per_arg.push(keys.clone());
            continue;
        }
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
