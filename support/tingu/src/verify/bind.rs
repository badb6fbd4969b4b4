//! From specifications (and a system description) to compositions: which
//! ports meet on which channel, which side may crash, and the checks on the
//! bindings that need the Tingu specifications.

use std::path::Path;

use super::model::{Composition, PortModel, RestartModel, SideModel};
use crate::ir::{Component, Dir, MsgId, ProtoId, Spec, Transport};
use crate::Compiled;

/// Per message of protocol `p`: a bare `reply` (an error reply, answering any
/// call) rather than `reply to <calls>`. Read from the declaration's source.
pub fn error_replies(compiled: &Compiled, p: ProtoId) -> Vec<bool> {
    let Some(proto) = compiled.spec.protocols.get(p) else {
        return Vec::new();
    };
    proto
        .messages
        .iter()
        .map(|m| {
            if !matches!(m.transport, Transport::Reply { .. }) {
                return false;
            }
            let text = compiled
                .map
                .get(m.span.file)
                .and_then(|f| f.text.get(m.span.lo as usize..m.span.hi as usize))
                .unwrap_or("");
            let words: Vec<&str> = text.split_whitespace().collect();
            !words.windows(2).any(|w| w[0] == "reply" && w[1] == "to")
        })
        .collect()
}

/// [`error_replies`] of every protocol, by protocol id.
pub fn all_error_replies(compiled: &Compiled) -> Vec<Vec<bool>> {
    (0..compiled.spec.protocols.len())
        .map(|p| error_replies(compiled, p))
        .collect()
}

/// The side of a component's port: the port, then every port connected to it
/// by dependencies (transitively), with the constraints between them.
pub fn side_of(spec: &Spec, comp: &Component, port: usize, label: String) -> SideModel {
    let mut ports = vec![port];
    let mut i = 0;
    while i < ports.len() {
        let p = ports[i];
        for c in &comp.constraints {
            for &(q, _) in &c.by {
                let other = if c.port == p {
                    Some(q)
                } else if q == p {
                    Some(c.port)
                } else {
                    None
                };
                if let Some(o) = other {
                    if !ports.contains(&o) {
                        ports.push(o);
                    }
                }
            }
        }
        i += 1;
    }
    let local = |g: usize| ports.iter().position(|&x| x == g);
    let mut constraints = Vec::new();
    for c in &comp.constraints {
        let Some(lp) = local(c.port) else { continue };
        let by: Vec<(usize, usize)> =
            c.by.iter()
                .filter_map(|&(q, f)| local(q).map(|lq| (lq, f)))
                .collect();
        constraints.push((lp, c.msg, by));
    }
    let _ = spec;
    SideModel {
        label,
        ports: ports
            .iter()
            .map(|&g| PortModel {
                name: comp.ports[g].name.clone(),
                protocol: comp.ports[g].protocol,
                mirror: comp.ports[g].mirror,
            })
            .collect(),
        constraints,
    }
}

fn bare_side(spec: &Spec, p: ProtoId, mirror: bool) -> SideModel {
    let name = &spec.protocols[p].name;
    SideModel {
        label: if mirror {
            format!("mirror {name}")
        } else {
            name.clone()
        },
        ports: vec![PortModel {
            name: if mirror {
                "peer".into()
            } else {
                "owner".into()
            },
            protocol: p,
            mirror,
        }],
        constraints: Vec::new(),
    }
}

/// Compositions of specification files alone: every non-mirror component port
/// with every mirror port of the same protocol (in any component); a port
/// without counterpart, and a protocol no component uses, with the bare
/// protocol playing the other side. The owner side may crash. A composition
/// the checker cannot build (e.g. with subports) is an `Err` in the list; the
/// others are still built.
pub fn from_spec(compiled: &Compiled, restart: &RestartModel) -> Vec<Result<Composition, String>> {
    let spec = &compiled.spec;
    let mut out = Vec::new();
    let mut used = vec![false; spec.protocols.len()];
    let mut ports: Vec<(usize, usize)> = Vec::new();
    for (ci, c) in spec.components.iter().enumerate() {
        for pi in 0..c.ports.len() {
            ports.push((ci, pi));
            used[c.ports[pi].protocol] = true;
        }
    }
    let mut paired = vec![false; ports.len()];
    for (a, &(ca, pa)) in ports.iter().enumerate() {
        let pa_ = &spec.components[ca].ports[pa];
        if pa_.mirror {
            continue;
        }
        for (b, &(cb, pb)) in ports.iter().enumerate() {
            let pb_ = &spec.components[cb].ports[pb];
            if !pb_.mirror || pb_.protocol != pa_.protocol {
                continue;
            }
            paired[a] = true;
            paired[b] = true;
            let (compa, compb) = (&spec.components[ca], &spec.components[cb]);
            let la = format!("{}.{}", compa.name, pa_.name);
            let lb = format!("{}.{}", compb.name, pb_.name);
            out.push(Composition::new(
                spec,
                format!("{lb} <-> {la}"),
                [side_of(spec, compa, pa, la), side_of(spec, compb, pb, lb)],
                Some(0),
                None,
                restart.clone(),
                all_error_replies(compiled),
            ));
        }
    }
    for (a, &(ca, pa)) in ports.iter().enumerate() {
        if paired[a] {
            continue;
        }
        let comp = &spec.components[ca];
        let port = &comp.ports[pa];
        let label = format!("{}.{}", comp.name, port.name);
        let me = side_of(spec, comp, pa, label.clone());
        let other = bare_side(spec, port.protocol, !port.mirror);
        let (sides, name) = if port.mirror {
            (
                [other, me],
                format!("{label} <-> {}", spec.protocols[port.protocol].name),
            )
        } else {
            (
                [me, other],
                format!("mirror {} <-> {label}", spec.protocols[port.protocol].name),
            )
        };
        out.push(Composition::new(
            spec,
            name,
            sides,
            Some(0),
            None,
            restart.clone(),
            all_error_replies(compiled),
        ));
    }
    for (p, proto) in spec.protocols.iter().enumerate() {
        if used[p] || proto.key.is_some() || !proto.uses.is_empty() {
            continue;
        }
        if spec
            .protocols
            .iter()
            .any(|q| q.subports.iter().any(|s| s.protocol == p))
        {
            continue;
        }
        out.push(Composition::new(
            spec,
            format!("mirror {0} <-> {0}", proto.name),
            [bare_side(spec, p, false), bare_side(spec, p, true)],
            Some(0),
            None,
            restart.clone(),
            all_error_replies(compiled),
        ));
    }
    out
}

/// A system description with its specifications.
pub struct System {
    /// The parsed system.
    pub sys: sdf::System,
    /// The specifications it names.
    pub compiled: Compiled,
}

/// Load `system.xml` and the specifications its `<protocols>` name. Errors
/// are rendered diagnostics (`file:line:col: ...`).
pub fn load_system(path: &Path) -> Result<System, Vec<String>> {
    let sys = sdf::parse_file(path).map_err(|e| vec![e.to_string()])?;
    if sys.protocols.is_empty() {
        return Err(vec![format!(
            "{}: no <protocols path=\"...\"/>: nothing to verify",
            sys.file
        )]);
    }
    let files: Vec<std::path::PathBuf> = sys
        .protocols
        .iter()
        .map(|p| p.resolve(sys.base_dir.as_deref()))
        .collect();
    let compiled = crate::compile_files(&files).map_err(|d| d.rendered())?;
    Ok(System { sys, compiled })
}

/// Compositions of every bound channel of a system (every board's view;
/// identical compositions once), after checking the bindings. The owner
/// side's PD crashes if it has a restart policy; on a restart it notifies
/// its parent on the channel between them, if that channel is bound to a
/// port of its side.
pub fn from_system(s: &System, restart: &RestartModel) -> Result<Vec<Composition>, Vec<String>> {
    let spec = &s.compiled.spec;
    let mut errors: Vec<String> = Vec::new();
    let mut out: Vec<Composition> = Vec::new();
    for board in sdf::Board::ALL {
        let view = s.sys.for_board(board);
        let f = view.file.as_str();
        let comp_of = |pd: &str| -> Option<(&sdf::ProtectionDomain, &Component)> {
            let p = view.pd(pd)?;
            let c = spec.component(p.component.as_deref()?)?;
            Some((p, c))
        };
        for pd in &view.protection_domains {
            if let Some(name) = &pd.component {
                if spec.component(name).is_none() {
                    let known: Vec<&str> =
                        spec.components.iter().map(|c| c.name.as_str()).collect();
                    push(
                        &mut errors,
                        pd.src
                            .diag(
                                f,
                                Some("component"),
                                format!(
                                    "no Tingu component named \"{name}\" (known: {})",
                                    known.join(", ")
                                ),
                            )
                            .to_string(),
                    );
                }
            }
        }
        for ch in &view.channels {
            let [a, b] = ch.ends.as_slice() else { continue };
            let mut bound: Vec<Option<(usize, &sdf::End)>> = Vec::new();
            for e in [a, b] {
                let Some((pd, comp)) = comp_of(&e.pd) else {
                    bound.push(None);
                    continue;
                };
                let Some(port) = &e.port else {
                    push(
                        &mut errors,
                        e.src
                            .diag(
                                f,
                                None,
                                format!(
                                    "protection_domain \"{}\" plays component \"{}\": this channel must be bound to one of its ports (port=\"...\")",
                                    pd.name, comp.name
                                ),
                            )
                            .to_string(),
                    );
                    bound.push(None);
                    continue;
                };
                match comp.ports.iter().position(|p| &p.name == port) {
                    Some(i) => bound.push(Some((i, e))),
                    None => {
                        let known: Vec<&str> = comp.ports.iter().map(|p| p.name.as_str()).collect();
                        push(
                            &mut errors,
                            e.src
                                .diag(
                                    f,
                                    Some("port"),
                                    format!(
                                        "component \"{}\" has no port \"{port}\" (ports: {})",
                                        comp.name,
                                        known.join(", ")
                                    ),
                                )
                                .to_string(),
                        );
                        bound.push(None);
                    }
                }
            }
            let (Some((pa, ea)), Some((pb, eb))) = (bound[0], bound[1]) else {
                for (x, y) in [(0, 1), (1, 0)] {
                    if let (Some((_, e)), None) = (bound[x], bound[y]) {
                        let other = [a, b][y];
                        if comp_of(&other.pd).is_none() {
                            push(
                                &mut errors,
                                e.src
                                    .diag(
                                        f,
                                        Some("port"),
                                        format!(
                                            "the other end of this channel (protection_domain \"{}\") plays no component: a protocol needs both ends",
                                            other.pd
                                        ),
                                    )
                                    .to_string(),
                            );
                        }
                    }
                }
                continue;
            };
            let (Some((pda, ca)), Some((pdb, cb))) = (comp_of(&ea.pd), comp_of(&eb.pd)) else {
                continue;
            };
            let (porta, portb) = (&ca.ports[pa], &cb.ports[pb]);
            if porta.protocol != portb.protocol {
                push(
                    &mut errors,
                    eb.src
                        .diag(
                            f,
                            Some("port"),
                            format!(
                                "port \"{}\" speaks {} but the other end (\"{}\" of \"{}\") speaks {}",
                                portb.name,
                                spec.protocols[portb.protocol].name,
                                porta.name,
                                ea.pd,
                                spec.protocols[porta.protocol].name
                            ),
                        )
                        .to_string(),
                );
                continue;
            }
            if porta.mirror == portb.mirror {
                push(
                    &mut errors,
                    eb.src
                        .diag(
                            f,
                            Some("port"),
                            format!(
                                "both ends play the {} side of {}: exactly one must be `mirror`",
                                if porta.mirror { "mirror" } else { "owner" },
                                spec.protocols[porta.protocol].name
                            ),
                        )
                        .to_string(),
                );
                continue;
            }
            // Owner first.
            let (own, mir) = if porta.mirror {
                ((pdb, cb, pb, eb), (pda, ca, pa, ea))
            } else {
                ((pda, ca, pa, ea), (pdb, cb, pb, eb))
            };
            let proto = &spec.protocols[porta.protocol];
            for (who, dir, end) in [(&own, Dir::Out, own.3), (&mir, Dir::In, mir.3)] {
                let calls = proto
                    .messages
                    .iter()
                    .any(|m| m.dir == dir && m.transport == Transport::Call);
                if calls && !end.pp {
                    push(
                        &mut errors,
                        end.src
                            .diag(
                                f,
                                None,
                                format!(
                                    "port \"{}\" makes protected calls ({}), so this end needs pp=\"true\"",
                                    who.1.ports[who.2].name, proto.name
                                ),
                            )
                            .to_string(),
                    );
                }
            }
            let label = |x: &(&sdf::ProtectionDomain, &Component, usize, &sdf::End)| {
                format!("{} ({}.{})", x.0.name, x.1.name, x.1.ports[x.2].name)
            };
            let sides = [
                side_of(spec, own.1, own.2, label(&own)),
                side_of(spec, mir.1, mir.2, label(&mir)),
            ];
            let crash_side = if own.0.restart_policy().is_some() {
                Some(0)
            } else if mir.0.restart_policy().is_some() {
                Some(1)
            } else {
                None
            };
            let restart_notify = crash_side.and_then(|d| {
                let (pd, comp) = if d == 0 {
                    (own.0, own.1)
                } else {
                    (mir.0, mir.1)
                };
                let parent = pd.parent.and_then(|i| view.protection_domains.get(i))?;
                let (mine, _) = view.channels_between(&pd.name, &parent.name).next()?;
                let gport = comp
                    .ports
                    .iter()
                    .position(|p| Some(&p.name) == mine.port.as_ref())?;
                let local = sides[d]
                    .ports
                    .iter()
                    .position(|p| p.name == comp.ports[gport].name)?;
                let port = &comp.ports[gport];
                let pp = &spec.protocols[port.protocol];
                let m: MsgId = (0..pp.messages.len()).find(|&m| {
                    let msg = &pp.messages[m];
                    let eff = if port.mirror { msg.dir.flip() } else { msg.dir };
                    msg.transport == Transport::Notify && eff == Dir::Out
                })?;
                Some((local, m))
            });
            let name = format!(
                "{}.{} <-> {}.{}",
                mir.0.name, mir.1.ports[mir.2].name, own.0.name, own.1.ports[own.2].name
            );
            if out.iter().any(|c| c.name == name) {
                continue;
            }
            match Composition::new(
                spec,
                name,
                sides,
                crash_side,
                restart_notify,
                restart.clone(),
                all_error_replies(&s.compiled),
            ) {
                Ok(c) => out.push(c),
                Err(e) => push(&mut errors, e),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn push(errors: &mut Vec<String>, e: String) {
    if !errors.contains(&e) {
        errors.push(e);
    }
}
