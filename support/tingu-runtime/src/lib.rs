//! What every Tingu-generated protocol observer shares: protocol instances
//! ([`Port`]), dynamic subport tables ([`SubPorts`]), timeout bookkeeping,
//! the ring of recent events ([`Ring`]) and report formatting.
//!
//! The compiler (`support/tingu`) generates, per protocol, a type implementing
//! [`Protocol`] (message classification, transition tables, guards and actions
//! as plain functions) and, per component, an observer struct implementing
//! `channel::Observer` out of the pieces here.
//!
//! What must never happen: allocation, blocking, panics or unbounded loops in
//! a check (observers run inside every PD, on every message); a message
//! accepted that its protocol refuses; a refused message changing any state.
#![no_std]

use core::fmt;

pub use channel;
pub use pd_core;
pub use zerocopy;

use channel::{Dir, Event, Kind, Reason};

/// Most nested timeout states one protocol instance tracks.
pub const MAX_TIMERS: usize = 4;

/// "No message" / "no port" marker in records.
pub const NONE: u16 = u16::MAX;

/// Type of one message argument (one message word).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ArgTy {
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
    /// `bool`: 0 or 1.
    Bool,
}

impl ArgTy {
    /// Whether word `w` is a valid encoding of this type (unsigned values
    /// zero-extended, signed ones sign-extended, bool 0 or 1).
    #[inline]
    pub const fn accepts(self, w: u64) -> bool {
        let s = w as i64;
        match self {
            Self::U8 => w <= u8::MAX as u64,
            Self::U16 => w <= u16::MAX as u64,
            Self::U32 => w <= u32::MAX as u64,
            Self::U64 | Self::I64 => true,
            Self::I8 => s >= i8::MIN as i64 && s <= i8::MAX as i64,
            Self::I16 => s >= i16::MIN as i64 && s <= i16::MAX as i64,
            Self::I32 => s >= i32::MIN as i64 && s <= i32::MAX as i64,
            Self::Bool => w <= 1,
        }
    }

    /// The value of a valid word, as a mathematical integer.
    #[inline]
    pub const fn value(self, w: u64) -> i128 {
        match self {
            Self::I8 | Self::I16 | Self::I32 | Self::I64 => w as i64 as i128,
            _ => w as i128,
        }
    }
}

/// Argument `i` of `args` as type `t` (0 if absent: arity is checked first).
#[inline]
pub fn arg(args: &[u64], i: usize, t: ArgTy) -> i128 {
    t.value(args.get(i).copied().unwrap_or(0))
}

/// Convert a computed value to a variable's storage if it lies in `min..=max`.
#[inline]
pub fn in_range(v: i128, min: i128, max: i128) -> Option<i128> {
    (min <= v && v <= max).then_some(v)
}

/// A timer change made by a transition (see the IR's `TimerOp`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TimerOp {
    /// Enter a timed state: expires `ns` from now.
    Arm {
        /// Slot (nesting level of timed states).
        slot: u8,
        /// Timeout.
        ns: u64,
    },
    /// Leave a timed state.
    Disarm {
        /// Slot.
        slot: u8,
    },
}

/// Static description of one message of a protocol.
#[derive(Copy, Clone, Debug)]
pub struct MsgInfo {
    /// Name (`alias.name` for a dependency on another port's message).
    pub name: &'static str,
    /// Argument types, in word order.
    pub args: &'static [ArgTy],
    /// Index of the key argument (subport protocols), or [`NONE`].
    pub key: u16,
}

/// A transition that may be taken (computed without changing anything).
#[derive(Copy, Clone, Debug)]
pub struct Fired<V> {
    /// Leaf state entered.
    pub to: u16,
    /// Variables after the actions.
    pub vars: V,
    /// Timer changes.
    pub timers: &'static [TimerOp],
    /// `(subport template, key)` to spawn.
    pub spawn: Option<(u16, u64)>,
}

/// One protocol, as generated from its specification.
pub trait Protocol: 'static {
    /// Protocol variables.
    type Vars: Copy + fmt::Debug;
    /// Protocol name.
    const NAME: &'static str;
    /// State paths (`alive.starting`), by state index.
    const STATES: &'static [&'static str];
    /// Which states are final.
    const FINAL: &'static [bool];
    /// Leaf state at creation.
    const INITIAL: u16;
    /// Timers armed at creation.
    const INITIAL_TIMERS: &'static [TimerOp];
    /// Leaf state after the owner restarted with its state discarded (the
    /// protocol's `restart state`; the initial state if it has none).
    const RESTART: u16 = Self::INITIAL;
    /// Timers armed by such a restart.
    const RESTART_TIMERS: &'static [TimerOp] = Self::INITIAL_TIMERS;
    /// Variables at creation.
    const INIT_VARS: Self::Vars;
    /// Whether the protocol declares variables (reports show them if so).
    const HAS_VARS: bool = true;
    /// Words the variables take when saved ([`Port::save`]).
    const VAR_WORDS: usize;

    /// Write the variables as words (integers as two's complement, bools 0/1).
    fn vars_to_words(v: &Self::Vars, out: &mut [u64]);

    /// Read variables back; `None` if a word is outside its variable's domain.
    fn vars_from_words(w: &[u64]) -> Option<Self::Vars>;
    /// Messages: own ones first, then other ports' messages this protocol
    /// constrains (dependencies).
    const MESSAGES: &'static [MsgInfo];

    /// The own message with this direction (relative to the port's owner,
    /// before `mirror`), transport and label.
    fn classify(dir: Dir, kind: Kind, label: u64) -> Option<u16>;

    /// The transition for message `msg` (arguments already validated) in
    /// leaf `state`, or why there is none. Must not have side effects.
    fn fire(
        state: u16,
        msg: u16,
        args: &[u64],
        vars: &Self::Vars,
    ) -> Result<Fired<Self::Vars>, Reason>;
}

/// Whether `args` is a well-formed instance of `info` (arity and ranges).
#[inline]
pub fn well_formed(info: &MsgInfo, args: &[u64]) -> bool {
    args.len() == info.args.len() && info.args.iter().zip(args).all(|(t, &w)| t.accepts(w))
}

/// One protocol instance: current leaf, variables, armed timers.
pub struct Port<P: Protocol> {
    state: u16,
    vars: P::Vars,
    deadlines: [u64; MAX_TIMERS],
    /// Earliest of `deadlines` (`u64::MAX` if none), kept so a check costs one compare.
    next_deadline: u64,
}

impl<P: Protocol> Clone for Port<P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: Protocol> Copy for Port<P> {}

impl<P: Protocol> fmt::Debug for Port<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(P::NAME)
            .field("state", &self.state_name())
            .field("vars", &self.vars)
            .finish()
    }
}

impl<P: Protocol> Port<P> {
    /// A new instance in the initial state, created at `now` (arms the
    /// initial state's timers).
    pub fn new(now: u64) -> Self {
        Self::entered(P::INITIAL, P::INITIAL_TIMERS, now)
    }

    /// A new instance in the restart state, at `now`: the owner of the port
    /// was restarted with its state discarded (a cold or tombstone start) while
    /// its peer kept its own. Variables take their initial values and no
    /// timer survives, as in [`Self::new`]; the restart state's timers are armed.
    pub fn restarted(now: u64) -> Self {
        Self::entered(P::RESTART, P::RESTART_TIMERS, now)
    }

    /// Fresh variables, no timer but those of `state` (`timers`), armed at `now`.
    fn entered(state: u16, timers: &[TimerOp], now: u64) -> Self {
        let mut p = Self {
            state,
            vars: P::INIT_VARS,
            deadlines: [0; MAX_TIMERS],
            next_deadline: u64::MAX,
        };
        p.apply_timers(timers, now);
        p
    }

    /// Current leaf state.
    #[inline]
    pub fn state(&self) -> u16 {
        self.state
    }

    /// Current state's path.
    pub fn state_name(&self) -> &'static str {
        P::STATES
            .get(usize::from(self.state))
            .copied()
            .unwrap_or("?")
    }

    /// Current variables.
    pub fn vars(&self) -> &P::Vars {
        &self.vars
    }

    /// Whether the protocol reached a final state.
    #[inline]
    pub fn terminated(&self) -> bool {
        P::FINAL
            .get(usize::from(self.state))
            .copied()
            .unwrap_or(false)
    }

    /// Earliest armed timeout, if any.
    #[inline]
    pub fn deadline(&self) -> Option<u64> {
        (self.next_deadline != u64::MAX).then_some(self.next_deadline)
    }

    /// Check message `msg` with words `args` at `now`; nothing changes.
    #[inline]
    pub fn prepare(&self, msg: u16, args: &[u64], now: u64) -> Result<Fired<P::Vars>, Reason> {
        let Some(info) = P::MESSAGES.get(usize::from(msg)) else {
            return Err(Reason::UnknownMessage);
        };
        if !well_formed(info, args) {
            return Err(Reason::UnknownMessage);
        }
        if self.terminated() {
            return Err(Reason::Terminated);
        }
        if now >= self.next_deadline {
            return Err(Reason::Timeout);
        }
        P::fire(self.state, msg, args, &self.vars)
    }

    /// Take a transition computed by [`Self::prepare`].
    #[inline]
    pub fn commit(&mut self, f: &Fired<P::Vars>, now: u64) {
        self.state = f.to;
        self.vars = f.vars;
        self.apply_timers(f.timers, now);
    }

    fn apply_timers(&mut self, ops: &[TimerOp], now: u64) {
        if ops.is_empty() {
            return;
        }
        for op in ops {
            match *op {
                TimerOp::Arm { slot, ns } => {
                    if let Some(d) = self.deadlines.get_mut(usize::from(slot)) {
                        *d = now.saturating_add(ns).max(1);
                    }
                }
                TimerOp::Disarm { slot } => {
                    if let Some(d) = self.deadlines.get_mut(usize::from(slot)) {
                        *d = 0;
                    }
                }
            }
        }
        self.recompute_deadline();
    }

    fn recompute_deadline(&mut self) {
        let mut d = u64::MAX;
        for &x in &self.deadlines {
            if x != 0 && x < d {
                d = x;
            }
        }
        self.next_deadline = d;
    }

    /// Words [`Self::save`] writes: state, variables, timer deadlines.
    pub const WORDS: usize = 1 + P::VAR_WORDS + MAX_TIMERS;

    /// Save the instance into `out[..Self::WORDS]` (e.g. into a persistent
    /// region, so an observer survives a warm restart). `false` if `out` is short.
    pub fn save(&self, out: &mut [u64]) -> bool {
        let Some(out) = out.get_mut(..Self::WORDS) else {
            return false;
        };
        out[0] = u64::from(self.state);
        P::vars_to_words(&self.vars, &mut out[1..1 + P::VAR_WORDS]);
        out[1 + P::VAR_WORDS..].copy_from_slice(&self.deadlines);
        true
    }

    /// An instance saved by [`Self::save`]; `None` if the words are not a
    /// valid instance (unknown state, variable out of its domain).
    pub fn load(w: &[u64]) -> Option<Self> {
        let w = w.get(..Self::WORDS)?;
        let state = u16::try_from(w[0]).ok()?;
        if usize::from(state) >= P::STATES.len() {
            return None;
        }
        let vars = P::vars_from_words(&w[1..1 + P::VAR_WORDS])?;
        let mut deadlines = [0; MAX_TIMERS];
        deadlines.copy_from_slice(&w[1 + P::VAR_WORDS..]);
        let mut p = Self {
            state,
            vars,
            deadlines,
            next_deadline: u64::MAX,
        };
        p.recompute_deadline();
        Some(p)
    }

    /// Write `state` (and variables, deadline) on one line.
    pub fn write_state(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        write!(w, "{}", self.state_name())?;
        if self.terminated() {
            w.write_str(" (terminated)")?;
        }
        if P::HAS_VARS {
            write!(w, " {:?}", self.vars)?;
        }
        if let Some(d) = self.deadline() {
            w.write_str(" timeout at ")?;
            write_time(w, d)?;
        }
        Ok(())
    }
}

/// Why a subport message or spawn was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SubError {
    /// No live instance has this key.
    NoInstance,
    /// An instance with this key is live already.
    KeyInUse,
    /// Every instance is in use.
    Full,
}

/// The live instances of one subport template: at most `N`, keyed, no heap.
pub struct SubPorts<P: Protocol, const N: usize> {
    slots: [Option<(u64, Port<P>)>; N],
}

impl<P: Protocol, const N: usize> Default for SubPorts<P, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Protocol, const N: usize> SubPorts<P, N> {
    /// No instances.
    pub fn new() -> Self {
        Self { slots: [None; N] }
    }

    /// Slot of the live instance with `key`.
    #[inline]
    pub fn find(&self, key: u64) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| matches!(s, Some((k, _)) if *k == key))
    }

    /// The instance in `slot`.
    pub fn get(&self, slot: usize) -> Option<(u64, &Port<P>)> {
        self.slots.get(slot)?.as_ref().map(|(k, p)| (*k, p))
    }

    /// Number of live instances.
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Where an instance with `key` would go.
    pub fn can_spawn(&self, key: u64) -> Result<usize, SubError> {
        if self.find(key).is_some() {
            return Err(SubError::KeyInUse);
        }
        self.slots
            .iter()
            .position(Option::is_none)
            .ok_or(SubError::Full)
    }

    /// Create an instance in `slot` (from [`Self::can_spawn`]).
    pub fn spawn(&mut self, slot: usize, key: u64, now: u64) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some((key, Port::new(now)));
        }
    }

    /// Check and take message `msg` (words `args`) for the instance its key
    /// names. Returns the slot, and the states before and after. An instance
    /// reaching a final state is removed (its key may be spawned again).
    pub fn route(
        &mut self,
        msg: u16,
        args: &[u64],
        now: u64,
    ) -> (Option<usize>, u16, u16, Result<(), Reason>) {
        let Some(info) = P::MESSAGES.get(usize::from(msg)) else {
            return (None, NONE, NONE, Err(Reason::UnknownMessage));
        };
        let Some(&key) = args.get(usize::from(info.key)) else {
            return (None, NONE, NONE, Err(Reason::UnknownMessage));
        };
        let Some(slot) = self.find(key) else {
            return (None, NONE, NONE, Err(Reason::NotAllowed));
        };
        let Some(Some((_, port))) = self.slots.get_mut(slot) else {
            return (None, NONE, NONE, Err(Reason::NotAllowed));
        };
        let from = port.state();
        match port.prepare(msg, args, now) {
            Ok(f) => {
                port.commit(&f, now);
                let to = port.state();
                if port.terminated() {
                    self.slots[slot] = None;
                }
                (Some(slot), from, to, Ok(()))
            }
            Err(r) => (Some(slot), from, from, Err(r)),
        }
    }

    /// Words [`Self::save`] writes: per slot, a live flag, the key and the instance.
    pub const WORDS: usize = N * (2 + Port::<P>::WORDS);

    /// Save every slot into `out[..Self::WORDS]`; `false` if `out` is short.
    pub fn save(&self, out: &mut [u64]) -> bool {
        let Some(out) = out.get_mut(..Self::WORDS) else {
            return false;
        };
        for (slot, chunk) in self.slots.iter().zip(out.chunks_mut(2 + Port::<P>::WORDS)) {
            chunk.iter_mut().for_each(|w| *w = 0);
            if let Some((key, port)) = slot {
                chunk[0] = 1;
                chunk[1] = *key;
                port.save(&mut chunk[2..]);
            }
        }
        true
    }

    /// Slots saved by [`Self::save`]; `None` if any is invalid.
    pub fn load(w: &[u64]) -> Option<Self> {
        let w = w.get(..Self::WORDS)?;
        let mut s = Self::new();
        for (slot, chunk) in s.slots.iter_mut().zip(w.chunks(2 + Port::<P>::WORDS)) {
            *slot = match chunk[0] {
                0 => None,
                1 => Some((chunk[1], Port::load(&chunk[2..])?)),
                _ => return None,
            };
        }
        Some(s)
    }

    /// Earliest deadline of any instance.
    pub fn deadline(&self) -> Option<u64> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|(_, p)| p.deadline())
            .min()
    }

    /// Live instances: `(slot, key, port)`.
    pub fn iter(&self) -> impl Iterator<Item = (usize, u64, &Port<P>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|(k, p)| (i, *k, p)))
    }
}

/// Names of one port (or subport template) for reports.
#[derive(Copy, Clone, Debug)]
pub struct PortInfo {
    /// Port name.
    pub name: &'static str,
    /// Protocol name.
    pub protocol: &'static str,
    /// State paths.
    pub states: &'static [&'static str],
    /// Messages (own, then dependencies).
    pub messages: &'static [MsgInfo],
    /// Port numbers it uses: 1 for a port, the bound for a subport template.
    pub instances: u16,
}

/// The port (template) numbered `port` in an observer whose ports, then
/// subport templates, are `infos`; with the instance number.
pub fn port_info(infos: &'static [PortInfo], port: u16) -> Option<(&'static PortInfo, u16)> {
    let mut base = 0u16;
    for i in infos {
        if port < base.saturating_add(i.instances) {
            return Some((i, port - base));
        }
        base = base.saturating_add(i.instances);
    }
    None
}

/// Words of a message kept in a [`Record`] (the rest are elided in reports;
/// fewer words keep the per-check cost down).
pub const RECORD_WORDS: usize = 3;

/// One checked event, compactly.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// When (ns).
    pub t: u64,
    /// Message label.
    pub label: u64,
    /// The first [`RECORD_WORDS`] words.
    pub words: [u64; RECORD_WORDS],
    /// Number of words the message had.
    pub len: u8,
    /// Channel index.
    pub ch: u8,
    /// Direction (seen from this PD).
    pub dir: Dir,
    /// Transport.
    pub kind: Kind,
    /// Port (observer numbering), or [`NONE`].
    pub port: u16,
    /// Message index in the port's protocol, or [`NONE`] if unknown.
    pub msg: u16,
    /// Leaf state before.
    pub from: u16,
    /// Leaf state after (= `from` if refused).
    pub to: u16,
    /// `None` if allowed; the reason if refused.
    pub verdict: Option<Reason>,
}

impl Record {
    /// An empty record.
    pub const EMPTY: Record = Record {
        t: 0,
        label: 0,
        words: [0; RECORD_WORDS],
        len: 0,
        ch: 0,
        dir: Dir::In,
        kind: Kind::Notify,
        port: NONE,
        msg: NONE,
        from: NONE,
        to: NONE,
        verdict: None,
    };

    /// The record of `ev` checked at `t`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        t: u64,
        ev: &Event,
        port: u16,
        msg: u16,
        from: u16,
        to: u16,
        verdict: Option<Reason>,
    ) -> Self {
        let raw = ev.msg.raw_words();
        Record {
            t,
            label: ev.msg.label,
            words: [raw[0], raw[1], raw[2]],
            len: ev.msg.len() as u8,
            ch: ev.ch.index(),
            dir: ev.dir,
            kind: ev.kind,
            port,
            msg,
            from,
            to,
            verdict,
        }
    }
}

/// The last `N` events, overwritten in a circle.
pub struct Ring<const N: usize> {
    buf: [Record; N],
    next: usize,
    len: usize,
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Ring<N> {
    /// Empty.
    pub const fn new() -> Self {
        Self {
            buf: [Record::EMPTY; N],
            next: 0,
            len: 0,
        }
    }

    /// Add a record, dropping the oldest if full.
    #[inline]
    pub fn push(&mut self, r: Record) {
        if let Some(slot) = self.buf.get_mut(self.next) {
            *slot = r;
            self.next += 1;
            if self.next == N {
                self.next = 0;
            }
            if self.len < N {
                self.len += 1;
            }
        }
    }

    /// Records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        let start = if self.len < N { 0 } else { self.next };
        (0..self.len).filter_map(move |i| self.buf.get((start + i) % N.max(1)))
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most recent record.
    pub fn last(&self) -> Option<&Record> {
        if self.len == 0 {
            return None;
        }
        let i = if self.next == 0 { N - 1 } else { self.next - 1 };
        self.buf.get(i)
    }
}

/// Write nanoseconds as seconds with 9 decimals.
pub fn write_time(w: &mut dyn fmt::Write, ns: u64) -> fmt::Result {
    write!(w, "{}.{:09}s", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// Write one record: `t=1.000000000s client ?call write(1, 0, 5) open -> writing`.
pub fn write_record(w: &mut dyn fmt::Write, infos: &'static [PortInfo], r: &Record) -> fmt::Result {
    w.write_str("  t=")?;
    write_time(w, r.t)?;
    let info = port_info(infos, r.port);
    match info {
        Some((i, n)) if i.instances > 1 || is_template(i) => write!(w, " {}[{}]", i.name, n)?,
        Some((i, _)) => write!(w, " {}", i.name)?,
        None => write!(w, " ch{}", r.ch)?,
    }
    let sigil = match r.dir {
        Dir::In => '?',
        Dir::Out => '!',
    };
    let kind = match r.kind {
        Kind::Call => "call",
        Kind::Reply => "reply",
        Kind::Notify => "notify",
    };
    let name = info
        .and_then(|(i, _)| i.messages.get(usize::from(r.msg)))
        .map(|m| m.name);
    match name {
        Some(n) => write!(w, " {sigil}{n}(")?,
        None => write!(w, " {sigil}{kind} label {:#x} (", r.label)?,
    }
    let shown = usize::from(r.len).min(RECORD_WORDS);
    for (k, word) in r.words[..shown].iter().enumerate() {
        if k > 0 {
            w.write_str(", ")?;
        }
        write!(w, "{word}")?;
    }
    if usize::from(r.len) > RECORD_WORDS {
        w.write_str(", ...")?;
    }
    w.write_str(")")?;
    if name.is_some() {
        write!(w, " [{kind}]")?;
    }
    let st = |s: u16| {
        info.and_then(|(i, _)| i.states.get(usize::from(s)))
            .copied()
            .unwrap_or("?")
    };
    match r.verdict {
        None => write!(w, ": {} -> {}", st(r.from), st(r.to)),
        Some(reason) if r.from == NONE => write!(w, ": REFUSED ({reason})"),
        Some(reason) => write!(w, ": REFUSED in {} ({reason})", st(r.from)),
    }
}

fn is_template(i: &PortInfo) -> bool {
    // Subport templates are listed with the bound as instance count; a
    // template of bound 1 still prints its instance number.
    i.messages.iter().any(|m| m.key != NONE)
}

/// Write the ring, oldest first, one record per line.
pub fn write_ring<const N: usize>(
    w: &mut dyn fmt::Write,
    infos: &'static [PortInfo],
    ring: &Ring<N>,
) -> fmt::Result {
    writeln!(w, "last {} events (oldest first):", ring.len())?;
    for r in ring.iter() {
        write_record(w, infos, r)?;
        w.write_str("\n")?;
    }
    Ok(())
}

/// Flip a direction (for `mirror` ports).
#[inline]
pub const fn flip(d: Dir) -> Dir {
    match d {
        Dir::In => Dir::Out,
        Dir::Out => Dir::In,
    }
}

/// Checked arithmetic on mathematical integers, for generated guards and
/// actions: `None` (transition disabled) on overflow or division by zero.
pub mod ops {
    /// `a + b`
    #[inline]
    pub fn add(a: i128, b: i128) -> Option<i128> {
        a.checked_add(b)
    }
    /// `a - b`
    #[inline]
    pub fn sub(a: i128, b: i128) -> Option<i128> {
        a.checked_sub(b)
    }
    /// `a * b`
    #[inline]
    pub fn mul(a: i128, b: i128) -> Option<i128> {
        a.checked_mul(b)
    }
    /// `a / b` (truncating)
    #[inline]
    pub fn div(a: i128, b: i128) -> Option<i128> {
        a.checked_div(b)
    }
    /// `a % b`
    #[inline]
    pub fn rem(a: i128, b: i128) -> Option<i128> {
        a.checked_rem(b)
    }
    /// `-a`
    #[inline]
    pub fn neg(a: i128) -> Option<i128> {
        a.checked_neg()
    }
}

#[cfg(test)]
mod tests;
