//! The checked, resolved form of a specification: what backends (and the
//! model checker) consume.
//!
//! Everything is resolved to indices: no names need to be looked up again.
//! Hierarchy is kept for display ([`State::parent`], [`DeclaredTransition`])
//! but the semantics is entirely in the flat part:
//!
//! * a protocol instance is always in exactly one *leaf* state
//!   ([`Protocol::initial`] at creation; [`Protocol::restart_leaf`], with the
//!   variables at their initial values, when its owner restarts with its
//!   state discarded);
//! * [`Protocol::transitions`] lists, for every leaf, every transition enabled
//!   there (declared on the leaf or on any super-state around it), with the
//!   leaf it leads to and its effect on timers;
//! * a transition fires on its [`Trigger`] when its guard is true over the
//!   message arguments and the variables, and every assignment's value lies in
//!   its variable's [`Domain`] (an assignment out of range, an overflow or a
//!   division by zero disables the transition: domains are implicit guards);
//! * at most one transition per leaf and trigger is enabled for any message
//!   (the checker rejects specifications where it cannot prove this);
//! * a leaf in [`State::is_final`] accepts nothing: the protocol terminated;
//! * a leaf is *resting* ([`Protocol::is_resting`]) if it is the initial
//!   leaf, final, or inside a state declared `idle`: a composition may stop
//!   there; stopping anywhere else is a deadlock (the model checker's rule,
//!   not the observer's: an observer never waits);
//! * a timer slot armed with `ns` is violated if the protocol is still in the
//!   timed state `ns` after entering it ([`TimerOp`]);
//! * a message of a component's port is allowed only if its own protocol and
//!   every protocol listed in [`Component::constraints`] for it (that has not
//!   terminated) allow it; all of them then take their transition together.
//!
//! Integers are mathematical (`i128` covers every argument and variable type);
//! `bool` is 0 or 1 when stored.

use std::fmt;

use crate::ast::{BinOp, UnOp};
use crate::diag::Span;

/// Index into [`Spec::protocols`].
pub type ProtoId = usize;
/// Index into [`Protocol::states`].
pub type StateId = usize;
/// Index into [`Protocol::messages`].
pub type MsgId = usize;
/// Index into [`Protocol::vars`].
pub type VarId = usize;

/// Most nested timeout states on one path (timer slots per protocol instance).
pub const MAX_TIMER_SLOTS: usize = 4;
/// Most arguments of a message (`pd_core::MSG_WORDS`).
pub const MAX_ARGS: usize = 8;
/// Most instances of one subport template.
pub const MAX_SUBPORT_BOUND: u32 = 64;

/// A whole compilation: every protocol and component of the input files.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// Named constants at file level, after evaluation.
    pub consts: Vec<Const>,
    /// Protocols, in declaration order.
    pub protocols: Vec<Protocol>,
    /// Components, in declaration order.
    pub components: Vec<Component>,
}

impl Spec {
    /// The protocol named `name`.
    pub fn protocol(&self, name: &str) -> Option<(ProtoId, &Protocol)> {
        self.protocols
            .iter()
            .enumerate()
            .find(|(_, p)| p.name == name)
    }

    /// The component named `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
}

/// A named constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Const {
    /// Name.
    pub name: String,
    /// Value.
    pub value: Value,
}

/// A constant value.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(i128),
    /// A boolean.
    Bool(bool),
}

/// Which way a message goes, relative to the component owning the port
/// (before `mirror`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// To the owner (`in`, `?m`).
    In,
    /// From the owner (`out`, `!m`).
    Out,
}

impl Dir {
    /// The other direction (what `mirror` does).
    pub fn flip(self) -> Dir {
        match self {
            Dir::In => Dir::Out,
            Dir::Out => Dir::In,
        }
    }

    /// `?` or `!`.
    pub fn sigil(self) -> char {
        match self {
            Dir::In => '?',
            Dir::Out => '!',
        }
    }
}

/// How a message travels on a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A protected-call request.
    Call,
    /// The reply to one of these calls (all in the opposite direction).
    Reply {
        /// Calls this message may answer.
        to: Vec<MsgId>,
    },
    /// A notification: no label (0 on the wire) and no arguments.
    Notify,
}

/// Argument types (one message word each).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ArgType {
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `bool` (word 0 or 1)
    Bool,
}

impl ArgType {
    /// Parse a type name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "u8" => Self::U8,
            "u16" => Self::U16,
            "u32" => Self::U32,
            "u64" => Self::U64,
            "i8" => Self::I8,
            "i16" => Self::I16,
            "i32" => Self::I32,
            "i64" => Self::I64,
            "bool" => Self::Bool,
            _ => return None,
        })
    }

    /// Name as written (and as the Rust type).
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::Bool => "bool",
        }
    }

    /// Values of this type.
    pub fn domain(self) -> Domain {
        let (min, max) = match self {
            Self::U8 => (0, u8::MAX as i128),
            Self::U16 => (0, u16::MAX as i128),
            Self::U32 => (0, u32::MAX as i128),
            Self::U64 => (0, u64::MAX as i128),
            Self::I8 => (i8::MIN as i128, i8::MAX as i128),
            Self::I16 => (i16::MIN as i128, i16::MAX as i128),
            Self::I32 => (i32::MIN as i128, i32::MAX as i128),
            Self::I64 => (i64::MIN as i128, i64::MAX as i128),
            Self::Bool => return Domain::Bool,
        };
        Domain::Int { min, max }
    }
}

/// The values a variable (or argument) may take.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// `false` or `true`.
    Bool,
    /// Integers `min..=max` (within `i64::MIN..=u64::MAX`).
    Int {
        /// Smallest value.
        min: i128,
        /// Largest value.
        max: i128,
    },
}

impl Domain {
    /// Whether `v` is in the domain.
    pub fn contains(self, v: Value) -> bool {
        match (self, v) {
            (Domain::Bool, Value::Bool(_)) => true,
            (Domain::Int { min, max }, Value::Int(x)) => min <= x && x <= max,
            _ => false,
        }
    }

    /// Smallest Rust type that stores the domain.
    pub fn storage(self) -> ArgType {
        match self {
            Domain::Bool => ArgType::Bool,
            Domain::Int { min, max } => {
                let fits = |t: ArgType| match t.domain() {
                    Domain::Int { min: a, max: b } => a <= min && max <= b,
                    Domain::Bool => false,
                };
                [
                    ArgType::U8,
                    ArgType::I8,
                    ArgType::U16,
                    ArgType::I16,
                    ArgType::U32,
                    ArgType::I32,
                    ArgType::U64,
                    ArgType::I64,
                ]
                .into_iter()
                .find(|&t| fits(t))
                .unwrap_or(ArgType::I64)
            }
        }
    }

    /// Number of values (saturating), for state-space estimates.
    pub fn size(self) -> u128 {
        match self {
            Domain::Bool => 2,
            Domain::Int { min, max } => (max - min).unsigned_abs().saturating_add(1),
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Bool => f.write_str("bool"),
            Domain::Int { min, max } => write!(f, "{min}..={max}"),
        }
    }
}

/// One argument of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Name.
    pub name: String,
    /// Type; the argument is message word `i` for the `i`-th argument.
    pub ty: ArgType,
}

/// A message of a protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Name.
    pub name: String,
    /// Direction relative to the owner of a (non-mirrored) port.
    pub dir: Dir,
    /// Transport.
    pub transport: Transport,
    /// Wire label (0 for notifications).
    pub label: u64,
    /// Arguments, in word order.
    pub args: Vec<Arg>,
    /// Marked `concurrent`: may be handled concurrently with other such
    /// messages in hybrid mode. Its transitions are self-loops without actions,
    /// so such messages commute.
    pub concurrent: bool,
    /// Declaration.
    pub span: Span,
}

/// A protocol variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    /// Name.
    pub name: String,
    /// Values it may take.
    pub domain: Domain,
    /// Value at creation.
    pub init: Value,
    /// Declaration.
    pub span: Span,
}

/// A state (leaf or super-state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Name (unique in the protocol).
    pub name: String,
    /// Dotted path from the top (`alive.starting`).
    pub path: String,
    /// Enclosing super-state.
    pub parent: Option<StateId>,
    /// Inner states (empty for a leaf).
    pub children: Vec<StateId>,
    /// Inner state entered when this super-state is entered.
    pub initial_child: Option<StateId>,
    /// A final state (always a leaf).
    pub is_final: bool,
    /// Declared `idle`: a resting state (it and every state inside it).
    pub is_idle: bool,
    /// Timeout, in nanoseconds.
    pub timeout_ns: Option<u64>,
    /// Timer slot used by the timeout (= number of timed super-states around it).
    pub timer_slot: Option<u8>,
    /// Declaration.
    pub span: Span,
}

impl State {
    /// Whether the state has no inner states.
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// What makes a transition fire.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    /// A message of this protocol.
    Own(MsgId),
    /// A message of another port of the component (a dependency):
    /// [`Protocol::foreign`]`[i]`.
    Foreign(usize),
}

/// A message of another protocol this protocol constrains (`lc.startComplete`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    /// Index into [`Protocol::uses`].
    pub uses: usize,
    /// Message in the used protocol.
    pub msg: MsgId,
    /// `alias.message`, for display.
    pub name: String,
}

/// `uses Protocol alias;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uses {
    /// Name in `alias.message`.
    pub alias: String,
    /// Protocol depended on.
    pub protocol: ProtoId,
}

/// A timer change made by a transition.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimerOp {
    /// A timed state was entered: violated `ns` from now unless left before.
    Arm {
        /// Slot.
        slot: u8,
        /// Timeout.
        ns: u64,
    },
    /// A timed state was left.
    Disarm {
        /// Slot.
        slot: u8,
    },
}

/// A typed expression over constants, variables and the trigger's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Integer constant.
    Int(i128),
    /// Boolean constant.
    Bool(bool),
    /// Variable of the protocol.
    Var(VarId),
    /// Argument `i` of the triggering message.
    Arg(usize),
    /// `-e` (int) or `!e` (bool).
    Unary(UnOp, Box<Expr>),
    /// Arithmetic (int), comparison (int or, for `==`/`!=`, bool) or logic (bool).
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// Effect of a transition, applied in order (later assignments see earlier ones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `var = value`.
    Assign {
        /// Variable.
        var: VarId,
        /// New value (must lie in the variable's domain).
        value: Expr,
    },
    /// Create an instance of [`Protocol::subports`]`[subport]` keyed by `key`
    /// (refused if the key is live or all instances are in use).
    Spawn {
        /// Template.
        subport: usize,
        /// Key of the new instance.
        key: Expr,
    },
}

/// A transition as declared (on a leaf or a super-state); for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredTransition {
    /// State it is written in.
    pub source: StateId,
    /// State it names as target (may be a super-state: its initial leaf is entered).
    pub target: StateId,
    /// Trigger.
    pub trigger: Trigger,
    /// Direction of the trigger (relative to the owner).
    pub dir: Dir,
    /// Guard (`None` = always).
    pub guard: Option<Expr>,
    /// Actions.
    pub actions: Vec<Action>,
    /// The label as a statechart shows it: `?sleep(level) [level > D0] / power_level = level`.
    pub label: String,
    /// Declaration.
    pub span: Span,
}

/// A transition between leaves: the executable semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Leaf it leaves.
    pub from: StateId,
    /// Trigger.
    pub trigger: Trigger,
    /// Direction of the trigger (relative to the owner).
    pub dir: Dir,
    /// Guard (`None` = always).
    pub guard: Option<Expr>,
    /// Actions.
    pub actions: Vec<Action>,
    /// Leaf it enters.
    pub to: StateId,
    /// Timer changes (disarms before arms).
    pub timers: Vec<TimerOp>,
    /// Index into [`Protocol::declared`].
    pub decl: usize,
}

/// A dynamic subport template: `subport Protocol name[bound];`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subport {
    /// Name (used by `spawn`).
    pub name: String,
    /// Protocol of each instance (it has a [`Key`]).
    pub protocol: ProtoId,
    /// Most live instances.
    pub bound: u32,
}

/// `key arg;`: how a subport protocol's messages name their instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Argument name.
    pub arg: String,
    /// Its type.
    pub ty: ArgType,
    /// For each message, the index of the key argument.
    pub positions: Vec<usize>,
}

/// A protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// Name.
    pub name: String,
    /// Messages.
    pub messages: Vec<Message>,
    /// Variables.
    pub vars: Vec<Var>,
    /// Every state, parents before children (pre-order).
    pub states: Vec<State>,
    /// Leaf active at creation.
    pub initial: StateId,
    /// Timers armed at creation (the timed states on the path to `initial`).
    pub initial_timers: Vec<TimerOp>,
    /// The state declared `restart` (a leaf or a super-state), if any.
    pub restart: Option<StateId>,
    /// Leaf entered by a restart of the owner with its state discarded (a
    /// cold or tombstone start): the restart state's leaf, or `initial` if
    /// the protocol has no restart state. Variables take their initial
    /// values, as at creation.
    pub restart_leaf: StateId,
    /// Timers armed by a restart (the timed states on the path to
    /// `restart_leaf`).
    pub restart_timers: Vec<TimerOp>,
    /// Timer slots an instance needs (≤ [`MAX_TIMER_SLOTS`]).
    pub timer_slots: u8,
    /// Transitions as declared.
    pub declared: Vec<DeclaredTransition>,
    /// Flat transitions, grouped by `from` in leaf order, then declaration order.
    pub transitions: Vec<Transition>,
    /// Dependencies.
    pub uses: Vec<Uses>,
    /// Messages of other protocols this one constrains.
    pub foreign: Vec<Foreign>,
    /// Subport templates.
    pub subports: Vec<Subport>,
    /// Present if this is a subport protocol.
    pub key: Option<Key>,
    /// Declaration.
    pub span: Span,
}

impl Protocol {
    /// Per state (leaf or super-state): whether some leaf inside it can be
    /// reached from one of the leaves `from` by flat transitions.
    pub fn reachable_from(&self, from: &[StateId]) -> Vec<bool> {
        let mut seen = vec![false; self.states.len()];
        let mut work: Vec<StateId> = from.to_vec();
        while let Some(s) = work.pop() {
            match seen.get_mut(s) {
                Some(x) if !*x => *x = true,
                _ => continue,
            }
            for t in self.transitions.iter().filter(|t| t.from == s) {
                work.push(t.to);
            }
        }
        // A super-state is reached if one of its leaves is (children come
        // after their parents).
        for s in (0..self.states.len()).rev() {
            if seen[s] {
                if let Some(par) = self.states[s].parent {
                    if let Some(x) = seen.get_mut(par) {
                        *x = true;
                    }
                }
            }
        }
        seen
    }

    /// Whether a composition may stop with this protocol in `leaf`: the
    /// initial leaf, a final leaf, or a leaf inside a state declared `idle`
    /// (the leaf itself or a super-state around it).
    pub fn is_resting(&self, leaf: StateId) -> bool {
        if leaf == self.initial {
            return true;
        }
        let mut at = Some(leaf);
        while let Some(s) = at.and_then(|s| self.states.get(s)) {
            if s.is_final || s.is_idle {
                return true;
            }
            at = s.parent;
        }
        false
    }

    /// Leaves, in state order.
    pub fn leaves(&self) -> impl Iterator<Item = StateId> + '_ {
        (0..self.states.len()).filter(|&s| self.states[s].is_leaf())
    }

    /// Message by name.
    pub fn message(&self, name: &str) -> Option<(MsgId, &Message)> {
        self.messages
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == name)
    }

    /// State by name.
    pub fn state(&self, name: &str) -> Option<StateId> {
        self.states.iter().position(|s| s.name == name)
    }

    /// Transitions leaving leaf `s`.
    pub fn transitions_from(&self, s: StateId) -> impl Iterator<Item = &Transition> + '_ {
        self.transitions.iter().filter(move |t| t.from == s)
    }

    /// Arguments of a trigger (own or foreign message).
    pub fn trigger_args<'a>(&'a self, spec: &'a Spec, t: Trigger) -> &'a [Arg] {
        self.trigger_message(spec, t).map_or(&[], |m| &m.args)
    }

    /// The message of a trigger.
    pub fn trigger_message<'a>(&'a self, spec: &'a Spec, t: Trigger) -> Option<&'a Message> {
        match t {
            Trigger::Own(m) => self.messages.get(m),
            Trigger::Foreign(f) => {
                let f = self.foreign.get(f)?;
                let u = self.uses.get(f.uses)?;
                spec.protocols.get(u.protocol)?.messages.get(f.msg)
            }
        }
    }

    /// Name of a trigger: `msg` or `alias.msg`.
    pub fn trigger_name(&self, t: Trigger) -> String {
        match t {
            Trigger::Own(m) => self
                .messages
                .get(m)
                .map_or(String::new(), |m| m.name.clone()),
            Trigger::Foreign(f) => self
                .foreign
                .get(f)
                .map_or(String::new(), |f| f.name.clone()),
        }
    }
}

/// A port of a component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Name.
    pub name: String,
    /// Protocol.
    pub protocol: ProtoId,
    /// `mirror`: the component plays the other side (directions flipped).
    pub mirror: bool,
    /// For each of the protocol's [`Protocol::uses`], the port it is bound to.
    pub deps: Vec<usize>,
}

/// A message of one port that other ports' protocols also constrain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    /// Port the message belongs to.
    pub port: usize,
    /// Message (in that port's protocol).
    pub msg: MsgId,
    /// `(port, foreign index)`: each port whose protocol must also allow it,
    /// with the index in that protocol's [`Protocol::foreign`].
    pub by: Vec<(usize, usize)>,
}

/// A component: one protection domain's ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Name.
    pub name: String,
    /// Ports.
    pub ports: Vec<Port>,
    /// Dependencies, resolved.
    pub constraints: Vec<Constraint>,
    /// Declaration.
    pub span: Span,
}

impl Component {
    /// Ports whose protocols must also allow message `msg` of port `port`.
    pub fn constrained_by(&self, port: usize, msg: MsgId) -> &[(usize, usize)] {
        self.constraints
            .iter()
            .find(|c| c.port == port && c.msg == msg)
            .map_or(&[], |c| &c.by)
    }
}
