//! Conformance testing of a real driver against its protocol: request
//! scripts generated from the IR, and the check of every reply.
//!
//! A script is a list of requests as the wire carries them (label and
//! words). [`cover`] visits every state reachable with the protocol's normal
//! replies and sends every request there, legal or not, plus malformed ones;
//! [`random_walk`] sends a seeded random mix. [`Checker`] replays the
//! driver's side of the protocol over the actual replies: a request its
//! protocol refuses (malformed, or not allowed in the state) must come back
//! as the channel layer's refusal (0xfffe) with the state unchanged; an
//! allowed one must be answered by a reply to that call, well-formed and
//! allowed in the state the request led to. Transitions taken are counted
//! for coverage.

use std::collections::{BTreeSet, VecDeque};

use tingu::ir::{ArgType, Dir, Domain, MsgId, Protocol, StateId, Transport, Trigger};
use tingu::verify::model::eval;

/// The channel layer's refusal label.
pub const REFUSED: u64 = 0xfffe;
/// Most words in a message.
pub const MSG_WORDS: usize = 8;

/// A request or reply as on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wire {
    /// Label.
    pub label: u64,
    /// Words.
    pub words: Vec<u64>,
}

/// What a request in a script is meant to exercise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Allowed in the state the generator predicts.
    Legal,
    /// Well-formed but not allowed in the predicted state.
    OutOfState,
    /// Malformed: wrong arity, unknown label, or a word out of its type.
    Malformed,
}

/// A protocol instance (the owner's side), over the IR.
#[derive(Clone, Debug)]
pub struct Sim<'a> {
    /// The protocol.
    pub proto: &'a Protocol,
    /// Current leaf.
    pub leaf: StateId,
    /// Variables.
    pub vars: Vec<i128>,
}

impl<'a> Sim<'a> {
    /// At the initial state.
    pub fn new(proto: &'a Protocol) -> Self {
        let vars = proto
            .vars
            .iter()
            .map(|v| match v.init {
                tingu::ir::Value::Int(i) => i,
                tingu::ir::Value::Bool(b) => i128::from(b),
            })
            .collect();
        Self {
            proto,
            leaf: proto.initial,
            vars,
        }
    }

    /// The message of `w` in direction `dir` with transport `call`/reply,
    /// decoded (arity and argument ranges checked), or `None` if malformed.
    pub fn decode(&self, w: &Wire, dir: Dir, call: bool) -> Option<(MsgId, Vec<i128>)> {
        let (m, msg) = self.proto.messages.iter().enumerate().find(|(_, m)| {
            m.dir == dir
                && m.label == w.label
                && matches!(
                    (&m.transport, call),
                    (Transport::Call, true) | (Transport::Reply { .. }, false)
                )
        })?;
        if msg.args.len() != w.words.len() {
            return None;
        }
        let mut args = Vec::new();
        for (a, &x) in msg.args.iter().zip(&w.words) {
            let v = match a.ty {
                ArgType::I8 | ArgType::I16 | ArgType::I32 | ArgType::I64 => i128::from(x as i64),
                _ => i128::from(x),
            };
            let ok = match a.ty.domain() {
                Domain::Bool => v == 0 || v == 1,
                Domain::Int { min, max } => min <= v && v <= max,
            };
            if !ok {
                return None;
            }
            args.push(v);
        }
        Some((m, args))
    }

    /// Fire `m` with `args`: the flat transition index taken, or `None`
    /// (state unchanged) if refused.
    pub fn fire(&mut self, m: MsgId, args: &[i128]) -> Option<usize> {
        if self.proto.states.get(self.leaf).is_some_and(|s| s.is_final) {
            return None;
        }
        for (ti, t) in self.proto.transitions.iter().enumerate() {
            if t.from != self.leaf || t.trigger != Trigger::Own(m) {
                continue;
            }
            if let Some(g) = &t.guard {
                if eval(g, args, &self.vars) != Some(1) {
                    continue;
                }
            }
            let mut v = self.vars.clone();
            let mut ok = true;
            for a in &t.actions {
                if let tingu::ir::Action::Assign { var, value } = a {
                    match (eval(value, args, &v), self.proto.vars.get(*var)) {
                        (Some(x), Some(d)) if d.domain.contains_int(x) => v[*var] = x,
                        _ => ok = false,
                    }
                }
            }
            if ok {
                self.leaf = t.to;
                self.vars = v;
                return Some(ti);
            }
        }
        None
    }

    /// The state's dotted name.
    pub fn state(&self) -> &str {
        self.proto
            .states
            .get(self.leaf)
            .map_or("?", |s| s.path.as_str())
    }
}

/// Domain membership for integers (bools as 0/1).
trait ContainsInt {
    fn contains_int(self, x: i128) -> bool;
}

impl ContainsInt for Domain {
    fn contains_int(self, x: i128) -> bool {
        match self {
            Domain::Bool => x == 0 || x == 1,
            Domain::Int { min, max } => min <= x && x <= max,
        }
    }
}

/// A small deterministic PRNG (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Calls the owner receives (the requests a client can send).
pub fn requests(p: &Protocol) -> Vec<MsgId> {
    (0..p.messages.len())
        .filter(|&m| p.messages[m].dir == Dir::In && p.messages[m].transport == Transport::Call)
        .collect()
}

/// Well-formed words for a request: each argument small (below `small`), in
/// its type's range; `seq` makes sequence-like arguments increase.
pub fn args_for(p: &Protocol, m: MsgId, rng: &mut Rng, small: u64, seq: u64) -> Vec<u64> {
    p.messages[m]
        .args
        .iter()
        .map(|a| {
            let max = match a.ty.domain() {
                Domain::Bool => 1,
                Domain::Int { max, .. } => u64::try_from(max).unwrap_or(u64::MAX),
            };
            if a.name == "seq" {
                seq
            } else {
                rng.below(small.min(max).saturating_add(1))
            }
        })
        .collect()
}

/// Malformed variants of request `m`: one word too many, one too few (if it
/// has any), and, for an argument narrower than 64 bits, a word above its
/// type's range; plus a label no message has.
pub fn malformed(p: &Protocol, m: MsgId) -> Vec<Wire> {
    let msg = &p.messages[m];
    let good: Vec<u64> = vec![1; msg.args.len()];
    let mut out = Vec::new();
    if good.len() < MSG_WORDS {
        let mut w = good.clone();
        w.push(7);
        out.push(Wire {
            label: msg.label,
            words: w,
        });
    }
    if !good.is_empty() {
        out.push(Wire {
            label: msg.label,
            words: good[1..].to_vec(),
        });
    }
    for (i, a) in msg.args.iter().enumerate() {
        if let Domain::Int { max, .. } = a.ty.domain() {
            if max < i128::from(u64::MAX) && a.ty != ArgType::Bool {
                let mut w = good.clone();
                w[i] = u64::try_from(max + 1).unwrap_or(u64::MAX);
                out.push(Wire {
                    label: msg.label,
                    words: w,
                });
                break;
            }
        }
    }
    let unknown = (1u64..)
        .find(|l| !p.messages.iter().any(|x| x.label == *l) && *l != REFUSED)
        .unwrap_or(0x7777);
    out.push(Wire {
        label: unknown,
        words: Vec::new(),
    });
    out
}

/// The reply a well-behaved driver normally gives to `call` in the state
/// after it (a `reply to` message allowed there), for predicting states.
fn normal_reply(sim: &Sim, call: MsgId) -> Option<MsgId> {
    let p = sim.proto;
    p.transitions
        .iter()
        .filter(|t| t.from == sim.leaf)
        .filter_map(|t| match t.trigger {
            Trigger::Own(m) => Some(m),
            Trigger::Foreign(_) => None,
        })
        .find(|&m| {
            matches!(&p.messages[m].transport, Transport::Reply { to } if to.contains(&call) && to.len() == 1)
        })
}

/// The script covering every (state, request) pair reachable with normal
/// replies, and every malformed request once per state; sequence numbers
/// increase. Returns the requests with their intent.
pub fn cover(p: &Protocol, rng: &mut Rng) -> Vec<(Wire, Intent)> {
    let reqs = requests(p);
    let mut out = Vec::new();
    let mut seq = 1u64;
    let mut sim = Sim::new(p);
    // States reachable from the initial one with requests + normal replies.
    let mut targets: BTreeSet<StateId> = BTreeSet::new();
    let mut q = VecDeque::from([sim.clone()]);
    let mut seen = BTreeSet::from([sim.leaf]);
    while let Some(s) = q.pop_front() {
        targets.insert(s.leaf);
        for &m in &reqs {
            let mut n = s.clone();
            if n.fire(m, &vec![0; p.messages[m].args.len()]).is_some() {
                if let Some(r) = normal_reply(&n, m) {
                    let nargs = vec![0; p.messages[r].args.len()];
                    if n.fire(r, &nargs).is_some() && seen.insert(n.leaf) {
                        q.push_back(n);
                    }
                }
            }
        }
    }
    for target in targets {
        // Go there (shortest, by requests with normal replies).
        if let Some(path) = path_to(&sim, target, &reqs) {
            for m in path {
                let w = Wire {
                    label: p.messages[m].label,
                    words: args_for(p, m, rng, 16, seq),
                };
                seq += 1;
                out.push((w, Intent::Legal));
                sim.fire(m, &vec![0; p.messages[m].args.len()]);
                if let Some(r) = normal_reply(&sim, m) {
                    sim.fire(r, &vec![0; p.messages[r].args.len()]);
                }
            }
        }
        // Malformed requests (refused whatever the state; the state stays).
        for &m in &reqs {
            for w in malformed(p, m) {
                out.push((w, Intent::Malformed));
            }
        }
        // Every request that is refused here (the state stays).
        for &m in &reqs {
            let mut probe = sim.clone();
            if probe.fire(m, &vec![0; p.messages[m].args.len()]).is_none() {
                let w = Wire {
                    label: p.messages[m].label,
                    words: args_for(p, m, rng, 16, seq),
                };
                seq += 1;
                out.push((w, Intent::OutOfState));
            }
        }
    }
    out
}

fn path_to(from: &Sim, target: StateId, reqs: &[MsgId]) -> Option<Vec<MsgId>> {
    let p = from.proto;
    let mut q = VecDeque::from([(from.clone(), Vec::new())]);
    let mut seen = BTreeSet::from([from.leaf]);
    while let Some((s, path)) = q.pop_front() {
        if s.leaf == target {
            return Some(path);
        }
        for &m in reqs {
            let mut n = s.clone();
            if n.fire(m, &vec![0; p.messages[m].args.len()]).is_none() {
                continue;
            }
            let Some(r) = normal_reply(&n, m) else {
                continue;
            };
            if n.fire(r, &vec![0; p.messages[r].args.len()]).is_none() {
                continue;
            }
            if seen.insert(n.leaf) {
                let mut pth = path.clone();
                pth.push(m);
                q.push_back((n, pth));
            }
        }
    }
    None
}

/// A seeded random walk of `n` requests: mostly ones allowed in the
/// predicted state, some out of state, some malformed, with argument values
/// that are sometimes out of the driver's buffer (answered `invalid`).
pub fn random_walk(p: &Protocol, rng: &mut Rng, n: usize, first_seq: u64) -> Vec<(Wire, Intent)> {
    let reqs = requests(p);
    let mut sim = Sim::new(p);
    let mut out = Vec::new();
    let mut seq = first_seq;
    for _ in 0..n {
        let roll = rng.below(100);
        if roll < 10 || reqs.is_empty() {
            let m = reqs[rng.below(reqs.len() as u64) as usize];
            let bad = malformed(p, m);
            out.push((
                bad[rng.below(bad.len() as u64) as usize].clone(),
                Intent::Malformed,
            ));
            continue;
        }
        let legal: Vec<MsgId> = reqs
            .iter()
            .copied()
            .filter(|&m| {
                sim.clone()
                    .fire(m, &vec![0; p.messages[m].args.len()])
                    .is_some()
            })
            .collect();
        let want_legal = roll >= 25 && !legal.is_empty();
        let pool: Vec<MsgId> = if want_legal {
            legal
        } else {
            reqs.iter()
                .copied()
                .filter(|m| !legal.contains(m))
                .collect()
        };
        let Some(&m) = pool.get(rng.below(pool.len().max(1) as u64) as usize) else {
            continue;
        };
        // Mostly small values; sometimes large ones.
        let small = if rng.below(10) == 0 { 1 << 20 } else { 64 };
        let w = Wire {
            label: p.messages[m].label,
            words: args_for(p, m, rng, small, seq),
        };
        seq += 1;
        if want_legal {
            sim.fire(m, &vec![0; p.messages[m].args.len()]);
            if let Some(r) = normal_reply(&sim, m) {
                sim.fire(r, &vec![0; p.messages[r].args.len()]);
            }
            out.push((w, Intent::Legal));
        } else {
            out.push((w, Intent::OutOfState));
        }
    }
    out
}

/// Encode a script as the conformance PD reads it.
pub fn encode(script: &[(Wire, Intent)], magic: u64) -> Vec<u8> {
    let mut words = vec![magic, script.len() as u64];
    for (w, _) in script {
        words.push(w.label);
        words.push(w.words.len() as u64);
        for i in 0..MSG_WORDS {
            words.push(w.words.get(i).copied().unwrap_or(0));
        }
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Decode `n` replies from a result region's words.
pub fn decode_replies(words: &[u64], n: usize) -> Vec<Wire> {
    (0..n)
        .filter_map(|i| {
            let base = 2 + i * (2 + MSG_WORDS);
            let label = *words.get(base)?;
            let len = (*words.get(base + 1)? as usize).min(MSG_WORDS);
            let w = words.get(base + 2..base + 2 + len)?.to_vec();
            Some(Wire { label, words: w })
        })
        .collect()
}

/// The check of a run against the protocol.
#[derive(Clone, Debug)]
pub struct Checker<'a> {
    /// The driver's side of the protocol.
    pub sim: Sim<'a>,
    /// Flat transitions taken.
    pub taken: BTreeSet<usize>,
    /// (state, request label) pairs refused as they must be.
    pub refusals: BTreeSet<(String, u64)>,
    /// Everything that was wrong.
    pub failures: Vec<String>,
}

impl<'a> Checker<'a> {
    /// A checker at the protocol's initial state.
    pub fn new(p: &'a Protocol) -> Self {
        Self {
            sim: Sim::new(p),
            taken: BTreeSet::new(),
            refusals: BTreeSet::new(),
            failures: Vec::new(),
        }
    }

    /// Check one request and its reply.
    pub fn step(&mut self, n: usize, req: &Wire, reply: &Wire) {
        let before = self.sim.state().to_string();
        let decoded = self.sim.decode(req, Dir::In, true);
        let accepted = decoded.and_then(|(m, args)| self.sim.fire(m, &args).map(|t| (m, t)));
        if std::env::var("CONFORMANCE_TRACE").is_ok() {
            eprintln!("#{n} in `{before}`: {req:?} -> {reply:?}");
        }
        let Some((call, t)) = accepted else {
            if reply.label != REFUSED {
                self.failures.push(format!(
                    "#{n}: {req:?} must be refused in `{before}`, but the reply was {reply:?}"
                ));
            } else {
                self.refusals.insert((before, req.label));
            }
            return;
        };
        self.taken.insert(t);
        let after = self.sim.state().to_string();
        match self.sim.decode(reply, Dir::Out, false) {
            None => self.failures.push(format!(
                "#{n}: reply {reply:?} to {req:?} is not a well-formed reply of {}",
                self.sim.proto.name
            )),
            Some((m, args)) => {
                let answers = matches!(
                    &self.sim.proto.messages[m].transport,
                    Transport::Reply { to } if to.contains(&call)
                );
                if !answers {
                    self.failures.push(format!(
                        "#{n}: `{}` does not answer `{}`",
                        self.sim.proto.messages[m].name, self.sim.proto.messages[call].name
                    ));
                }
                match self.sim.fire(m, &args) {
                    Some(t) => {
                        self.taken.insert(t);
                    }
                    None => self.failures.push(format!(
                        "#{n}: reply `{}` is not allowed in `{after}` (after {req:?} in `{before}`)",
                        self.sim.proto.messages[m].name
                    )),
                }
            }
        }
    }

    /// Declared transitions covered, out of all declared ones.
    pub fn declared_coverage(&self) -> (usize, usize, Vec<String>) {
        let p = self.sim.proto;
        let covered: BTreeSet<usize> = self.taken.iter().map(|&t| p.transitions[t].decl).collect();
        let missing = (0..p.declared.len())
            .filter(|d| !covered.contains(d))
            .map(|d| {
                let t = &p.declared[d];
                format!(
                    "{}: {}",
                    p.states.get(t.source).map_or("?", |s| s.path.as_str()),
                    t.label
                )
            })
            .collect();
        (covered.len(), p.declared.len(), missing)
    }
}
