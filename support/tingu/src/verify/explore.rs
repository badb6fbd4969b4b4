//! Explicit-state breadth-first exploration of a [`Composition`], and the
//! properties computed on the state graph.
//!
//! States are stored once, in an arena of `u32` words, behind an
//! open-addressing hash table of state ids. Breadth-first order makes each
//! state's parent pointer the end of a shortest path, so every counterexample
//! is a shortest one. Edges are kept (compressed, by source) for the cycle
//! properties.

use std::time::Instant;

use super::model::{Composition, Outcome, Step, StepKind, Violation, BLOCKED, CRASHES};
use crate::ir::{Spec, StateId};

/// Most states explored before giving up (a bound on memory).
pub const DEFAULT_MAX_STATES: usize = 20_000_000;

/// A path through the state graph, ready to be shown.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Steps from the initial state, each with the state it leads to (the
    /// last one may be the violating step, with no state).
    pub steps: Vec<(StepKind, Option<Vec<u32>>)>,
    /// The initial state.
    pub initial: Vec<u32>,
    /// For a cycle: index in `steps` where the repeated part starts.
    pub cycle_from: Option<usize>,
}

/// One property's verdict.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Property: deadlock, reception, progress, reachability, timeout, exactly-once.
    pub property: &'static str,
    /// What is wrong.
    pub message: String,
    /// The shortest path showing it (none for reachability).
    pub trace: Option<Trace>,
}

/// Property names, in report order.
pub const PROPERTIES: [&str; 6] = [
    "deadlock",
    "reception",
    "progress",
    "reachability",
    "timeout",
    "exactly-once",
];

/// The result of exploring one composition.
#[derive(Clone, Debug)]
pub struct Exploration {
    /// Distinct states.
    pub states: usize,
    /// Transitions (edges, including violating steps).
    pub transitions: usize,
    /// Longest shortest path.
    pub depth: usize,
    /// Wall time.
    pub seconds: f64,
    /// Violations (at most one per property and subject).
    pub findings: Vec<Finding>,
    /// The state bound was hit: the result is incomplete.
    pub truncated: bool,
    /// Leaves reached, per side (bound port).
    pub reached: [Vec<bool>; 2],
    /// Declared states of the bound ports never reached: (side, path).
    pub unreached: Vec<(usize, String)>,
}

struct Table {
    words: usize,
    arena: Vec<u32>,
    slots: Vec<u32>, // id + 1, 0 = empty
    count: usize,
}

fn hash(s: &[u32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &w in s {
        h = (h ^ u64::from(w)).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    h
}

impl Table {
    fn new(words: usize) -> Self {
        Self {
            words,
            arena: Vec::new(),
            slots: vec![0; 1 << 12],
            count: 0,
        }
    }

    fn get(&self, id: usize) -> &[u32] {
        &self.arena[id * self.words..(id + 1) * self.words]
    }

    /// The id of `s`, and whether it is new.
    fn intern(&mut self, s: &[u32]) -> (usize, bool) {
        if (self.count + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (hash(s) as usize) & mask;
        loop {
            let v = self.slots[i];
            if v == 0 {
                let id = self.count;
                self.slots[i] = id as u32 + 1;
                self.arena.extend_from_slice(s);
                self.count += 1;
                return (id, true);
            }
            let id = v as usize - 1;
            if self.get(id) == s {
                return (id, false);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let mut slots = vec![0u32; n];
        for id in 0..self.count {
            let mut i = (hash(self.get(id)) as usize) & (n - 1);
            while slots[i] != 0 {
                i = (i + 1) & (n - 1);
            }
            slots[i] = id as u32 + 1;
        }
        self.slots = slots;
    }
}

/// A cycle-shaped property: a predicate on states that must not hold forever.
struct Stay {
    property: &'static str,
    message: String,
    holds: Vec<bool>,
}

/// Explore `c` exhaustively (up to `max_states`) and check every property.
pub fn explore(spec: &Spec, c: &Composition, max_states: usize) -> Exploration {
    let start = Instant::now();
    let init = c.initial(spec);
    let mut table = Table::new(c.layout.words);
    table.intern(&init);
    let mut parent: Vec<u32> = vec![u32::MAX];
    let mut depth: Vec<u32> = vec![0];
    // Edges by source (BFS expands ids in order): offsets and targets, the
    // top bit marking a crash edge.
    let mut off: Vec<u32> = vec![0];
    let mut edges: Vec<u32> = Vec::new();
    let mut stuck: Vec<bool> = Vec::new();
    let mut transitions = 0usize;
    let mut findings: Vec<Finding> = Vec::new();
    let mut seen_kinds: Vec<(&'static str, String)> = Vec::new();
    let mut truncated = false;
    let mut reached = [
        vec![false; c.proto(spec, 0, 0).states.len()],
        vec![false; c.proto(spec, 1, 0).states.len()],
    ];
    const CRASH: u32 = 1 << 31;
    let mut id = 0;
    while id < table.count {
        let s = table.get(id).to_vec();
        for (side, r) in reached.iter_mut().enumerate() {
            if let Some(x) = r.get_mut(c.leaf(&s, side, 0)) {
                *x = true;
            }
        }
        let steps = c.steps(spec, &s);
        let mut non_crash = false;
        for st in &steps {
            transitions += 1;
            let is_crash = matches!(st.kind, StepKind::Crash { .. });
            non_crash |= !is_crash;
            match &st.outcome {
                Outcome::Next(n) => {
                    if table.count >= max_states {
                        truncated = true;
                        if let Some(k) = lookup(&table, n) {
                            edges.push(k as u32 | if is_crash { CRASH } else { 0 });
                        }
                        continue;
                    }
                    let (nid, new) = table.intern(n);
                    if new {
                        parent.push(id as u32);
                        depth.push(depth[id] + 1);
                    }
                    edges.push(nid as u32 | if is_crash { CRASH } else { 0 });
                }
                Outcome::Violation(v) => {
                    let (property, key, message) = describe_violation(spec, c, v, &st.kind);
                    if !seen_kinds.iter().any(|(p, k)| *p == property && *k == key) {
                        seen_kinds.push((property, key));
                        let mut trace = path(spec, c, &table, &parent, id);
                        trace.steps.push((st.kind.clone(), None));
                        findings.push(Finding {
                            property,
                            message,
                            trace: Some(trace),
                        });
                    }
                }
            }
        }
        // For the cycle properties, a state where no step other than a crash
        // is possible stutters: a run may stay there forever, since crashes
        // are never forced. (A state whose only other steps are violations
        // does not: the violation is reported, and ends the run.)
        stuck.push(!non_crash);
        let at_rest = c.at_rest(spec, &s, 0) && c.at_rest(spec, &s, 1);
        if !non_crash && !at_rest {
            let key = "deadlock".to_string();
            if !seen_kinds.iter().any(|(p, _)| *p == "deadlock") {
                seen_kinds.push(("deadlock", key));
                let not_resting: Vec<String> = (0..2)
                    .filter(|&side| !c.at_rest(spec, &s, side))
                    .map(|side| c.sides[side].label.clone())
                    .collect();
                findings.push(Finding {
                    property: "deadlock",
                    message: format!(
                        "no step possible (other than a crash) in {}; not at rest: {} (a composition may stop only where both sides are out of calls in a resting state: initial, final or `idle`)",
                        c.describe(spec, &s),
                        not_resting.join(", ")
                    ),
                    trace: Some(path(spec, c, &table, &parent, id)),
                });
            }
        }
        off.push(edges.len() as u32);
        id += 1;
    }
    let n = table.count;
    // Cycle-shaped properties.
    let mut stays: Vec<Stay> = Vec::new();
    for side in 0..2 {
        let holds: Vec<bool> = (0..n)
            .map(|i| c.scalar(table.get(i), BLOCKED + side) != 0)
            .collect();
        if holds.iter().any(|&b| b) {
            stays.push(Stay {
                property: "progress",
                message: format!(
                    "{} can wait forever for a reply (no crash needed)",
                    c.sides[side].label
                ),
                holds,
            });
        }
        for (pi, port) in c.sides[side].ports.iter().enumerate() {
            let p = c.proto(spec, side, pi);
            for (si, st) in p.states.iter().enumerate() {
                if st.timeout_ns.is_none() {
                    continue;
                }
                let inside = |leaf: StateId| within(p, leaf, si);
                let holds: Vec<bool> = (0..n)
                    .map(|i| inside(c.leaf(table.get(i), side, pi)))
                    .collect();
                if holds.iter().any(|&b| b) {
                    stays.push(Stay {
                        property: "timeout",
                        message: format!(
                            "{} port `{}` can stay in timeout state `{}` forever (it can only be left by timing out)",
                            c.sides[side].label, port.name, st.path
                        ),
                        holds,
                    });
                }
            }
        }
    }
    for stay in &stays {
        if let Some((entry, cycle)) =
            find_cycle(n, &off, &edges, &stuck, &stay.holds, &depth, CRASH)
        {
            let mut trace = path(spec, c, &table, &parent, entry);
            let from = trace.steps.len();
            let mut at = entry;
            for &next in &cycle {
                let kind = if next == at && stuck[at] {
                    None
                } else {
                    step_between(spec, c, table.get(at), table.get(next))
                };
                match kind {
                    Some(k) => trace.steps.push((k, Some(table.get(next).to_vec()))),
                    None => break,
                }
                at = next;
            }
            trace.cycle_from = Some(from);
            findings.push(Finding {
                property: stay.property,
                message: stay.message.clone(),
                trace: Some(trace),
            });
        }
    }
    // Reachability of every declared state of both bound ports.
    let mut unreached = Vec::new();
    for (side, r) in reached.iter().enumerate() {
        let p = c.proto(spec, side, 0);
        let expected = c.expected_states(spec, side);
        let mut missing = Vec::new();
        for (si, st) in p.states.iter().enumerate() {
            let hit = (0..p.states.len()).any(|l| r[l] && within(p, l, si));
            if !hit && !truncated && expected.get(si).copied().unwrap_or(true) {
                missing.push(st.path.clone());
                unreached.push((side, st.path.clone()));
            }
        }
        let finals: Vec<usize> = (0..p.states.len())
            .filter(|&s| p.states[s].is_final)
            .collect();
        if !missing.is_empty() {
            findings.push(Finding {
                property: "reachability",
                message: format!(
                    "{} port `{}`: state(s) never reached: {}",
                    c.sides[side].label,
                    c.sides[side].ports[0].name,
                    missing.join(", ")
                ),
                trace: None,
            });
        }
        if !finals.is_empty() && !finals.iter().any(|&f| r[f]) && !truncated {
            findings.push(Finding {
                property: "reachability",
                message: format!(
                    "{} port `{}`: no final state is reachable",
                    c.sides[side].label, c.sides[side].ports[0].name
                ),
                trace: None,
            });
        }
    }
    let max_depth = depth.iter().copied().max().unwrap_or(0) as usize;
    Exploration {
        states: n,
        transitions,
        depth: max_depth,
        seconds: start.elapsed().as_secs_f64(),
        findings,
        truncated,
        reached,
        unreached,
    }
}

fn lookup(t: &Table, s: &[u32]) -> Option<usize> {
    if t.slots.is_empty() {
        return None;
    }
    let mask = t.slots.len() - 1;
    let mut i = (hash(s) as usize) & mask;
    loop {
        let v = t.slots[i];
        if v == 0 {
            return None;
        }
        let id = v as usize - 1;
        if t.get(id) == s {
            return Some(id);
        }
        i = (i + 1) & mask;
    }
}

/// Whether `leaf` is `state` or inside it.
pub fn within(p: &crate::ir::Protocol, leaf: StateId, state: StateId) -> bool {
    let mut at = Some(leaf);
    while let Some(s) = at {
        if s == state {
            return true;
        }
        at = p.states.get(s).and_then(|x| x.parent);
    }
    false
}

/// The shortest path to state `id`.
fn path(spec: &Spec, c: &Composition, table: &Table, parent: &[u32], id: usize) -> Trace {
    let mut ids = vec![id];
    let mut at = id;
    while parent[at] != u32::MAX {
        at = parent[at] as usize;
        ids.push(at);
    }
    ids.reverse();
    let mut steps = Vec::new();
    for w in ids.windows(2) {
        if let Some(k) = step_between(spec, c, table.get(w[0]), table.get(w[1])) {
            steps.push((k, Some(table.get(w[1]).to_vec())));
        }
    }
    Trace {
        steps,
        initial: table.get(ids[0]).to_vec(),
        cycle_from: None,
    }
}

fn step_between(spec: &Spec, c: &Composition, a: &[u32], b: &[u32]) -> Option<StepKind> {
    c.steps(spec, a)
        .into_iter()
        .find(|st: &Step| matches!(&st.outcome, Outcome::Next(n) if n == b))
        .map(|st| st.kind)
}

/// A reachable cycle of non-crash edges through states where `holds` (a
/// stuck state counts as a self-loop): its entry state (least depth) and the
/// states along the cycle back to it.
fn find_cycle(
    n: usize,
    off: &[u32],
    edges: &[u32],
    stuck: &[bool],
    holds: &[bool],
    depth: &[u32],
    crash: u32,
) -> Option<(usize, Vec<usize>)> {
    let succ = |v: usize| -> Vec<usize> {
        let (a, b) = (off[v] as usize, off.get(v + 1).map_or(0, |x| *x as usize));
        edges[a..b.max(a)]
            .iter()
            .filter(|e| **e & crash == 0)
            .map(|e| *e as usize)
            .filter(|&t| t < n && holds[t])
            .collect()
    };
    // Iterative Tarjan over the states where `holds`.
    let mut index = vec![u32::MAX; n];
    let mut low = vec![0u32; n];
    let mut on = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_index = 0u32;
    let mut best: Option<(usize, Vec<usize>)> = None;
    for root in 0..n {
        if !holds[root] || index[root] != u32::MAX {
            continue;
        }
        let mut work: Vec<(usize, Vec<usize>, usize)> = vec![(root, succ(root), 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on[root] = true;
        while let Some((v, succs, i)) = work.last_mut() {
            let v = *v;
            if *i < succs.len() {
                let w = succs[*i];
                *i += 1;
                if index[w] == u32::MAX {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on[w] = true;
                    let sw = succ(w);
                    work.push((w, sw, 0));
                } else if on[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some((u, _, _)) = work.last() {
                let u = *u;
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                let cyclic = comp.len() > 1 || stuck[v] || succ(v).contains(&v);
                if cyclic {
                    let entry = comp.iter().copied().min_by_key(|&x| depth[x]).unwrap_or(v);
                    let better = best.as_ref().is_none_or(|(b, _)| depth[entry] < depth[*b]);
                    if better {
                        let cyc = cycle_in(entry, &comp, &succ, stuck);
                        best = Some((entry, cyc));
                    }
                }
            }
        }
    }
    best
}

/// A shortest cycle from `entry` back to itself inside `comp`.
fn cycle_in(
    entry: usize,
    comp: &[usize],
    succ: &dyn Fn(usize) -> Vec<usize>,
    stuck: &[bool],
) -> Vec<usize> {
    if stuck[entry] {
        return vec![entry];
    }
    let mut prev: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut queue = std::collections::VecDeque::from([entry]);
    while let Some(v) = queue.pop_front() {
        for w in succ(v) {
            if !comp.contains(&w) {
                continue;
            }
            if w == entry {
                let mut out = vec![entry];
                let mut at = v;
                while at != entry {
                    out.push(at);
                    at = prev.get(&at).copied().unwrap_or(entry);
                }
                out.reverse();
                return out;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![entry]
}

/// Property, deduplication key and message of a violating step.
fn describe_violation(
    spec: &Spec,
    c: &Composition,
    v: &Violation,
    kind: &StepKind,
) -> (&'static str, String, String) {
    let what = super::chart::step_text(spec, c, kind);
    match v {
        Violation::Reception { side, refusal } => (
            "reception",
            format!("{side}:{what}"),
            format!(
                "{} cannot accept {what}: port `{}` {}",
                c.sides[*side].label, refusal.port, refusal.reason
            ),
        ),
        Violation::RestartReply { refusal } => (
            "reception",
            format!("restart:{what}"),
            format!(
                "the restart's message {what} is refused by the driver's own protocol: port `{}` {}",
                refusal.port, refusal.reason
            ),
        ),
        Violation::ExactlyOnce { effects, at_reply } => (
            "exactly-once",
            format!("{effects}:{at_reply}"),
            if *at_reply {
                format!("a normal reply ({what}) after the request took effect {effects} time(s)")
            } else {
                format!("the request takes effect {effects} times ({what})")
            },
        ),
    }
}

/// Crashes used in a state.
pub fn crashes(c: &Composition, s: &[u32]) -> u32 {
    c.scalar(s, CRASHES)
}
