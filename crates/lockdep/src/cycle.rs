//! The strong-path search shared by the live graph and by merged exports.
//!
//! A walk is *strong* when no node on it is entered by an `-(xR)->` edge and
//! left by an `-(Sx)->` edge. The search runs breadth-first over states
//! `(node, entered by an R edge?)`, so each node is visited at most twice. No
//! strong walk means no strong cycle through the new edge. A walk found may
//! pass a node twice, though, and then the strong simple cycle it contains
//! need not hold the new edge (an old, already reported cycle spliced onto a
//! weak new one): such a walk is confirmed by a depth-first search for a
//! strong *simple* path, which is exact and, having the same bound, falls
//! back to the walk (lockdep's own answer) if it runs out. The work is
//! bounded: reaching the bound in the breadth-first search is [`Exhausted`],
//! never a silent "no path".

use crate::mode::DepKind;
use std::collections::VecDeque;
use std::collections::{HashMap, HashSet};

/// One outgoing edge in an adjacency list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Out {
    /// The node the edge enters.
    pub to: u32,
    /// The edge's type.
    pub kind: DepKind,
    /// The caller's identifier of the edge (returned in paths).
    pub id: u32,
}

/// The search met its bound before it could decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exhausted;

/// Finds a strong path from `start` to `target`.
///
/// `start_by_r` says whether `start` was entered by an `-(xR)->` edge (the
/// edge that closes the cycle); `target_leaves_shared` whether `target` is
/// left by an `-(Sx)->` edge. The path found is strong at every inner node and
/// compatible with both ends, so together with the closing edge it forms a
/// strong cycle. Returns the ids of the path's edges, in order.
pub(crate) fn strong_path<'a, F>(
    adj: F,
    start: u32,
    start_by_r: bool,
    target: u32,
    target_leaves_shared: bool,
    bound: usize,
) -> Result<Option<Vec<u32>>, Exhausted>
where
    F: Fn(u32) -> &'a [Out],
{
    let state = |node: u32, by_r: bool| (u64::from(node) << 1) | u64::from(by_r);
    // Each state remembers how it was reached: (previous state, edge id).
    let mut parent: HashMap<u64, (u64, u32)> = HashMap::new();
    let mut queue = VecDeque::new();
    let first = state(start, start_by_r);
    parent.insert(first, (u64::MAX, u32::MAX));
    queue.push_back((start, start_by_r));
    let mut enqueued = 1usize;
    while let Some((node, by_r)) = queue.pop_front() {
        if node == target && !(by_r && target_leaves_shared) {
            // The walk's edges and the nodes they enter, from the end back.
            let mut path = Vec::new();
            let mut nodes = vec![start];
            let mut s = state(node, by_r);
            while s != first {
                let (prev, edge) = parent[&s];
                path.push(edge);
                nodes.push((s >> 1) as u32);
                s = prev;
            }
            path.reverse();
            nodes.sort_unstable();
            if nodes.windows(2).all(|w| w[0] != w[1]) {
                return Ok(Some(path));
            }
            let simple =
                simple_strong_path(&adj, start, start_by_r, target, target_leaves_shared, bound);
            return Ok(match simple {
                Ok(found) => found,
                Err(Exhausted) => Some(path),
            });
        }
        for out in adj(node) {
            if by_r && out.kind.leaves_shared() {
                continue; // entered by R, left by S: the walk is not strong here
            }
            let next = state(out.to, out.kind.enters_recursive());
            if parent.contains_key(&next) {
                continue;
            }
            enqueued += 1;
            if enqueued > bound {
                return Err(Exhausted);
            }
            parent.insert(next, (state(node, by_r), out.id));
            queue.push_back((out.to, out.kind.enters_recursive()));
        }
    }
    Ok(None)
}

/// A strong path from `start` to `target` that passes no node twice, found
/// depth-first; `Exhausted` after `bound` edge steps (simple paths can be
/// many, so this runs only to confirm a walk the breadth-first search found).
fn simple_strong_path<'a, F>(
    adj: &F,
    start: u32,
    start_by_r: bool,
    target: u32,
    target_leaves_shared: bool,
    bound: usize,
) -> Result<Option<Vec<u32>>, Exhausted>
where
    F: Fn(u32) -> &'a [Out],
{
    // The path so far: (node, entered by R, index of its next edge to try),
    // and the edges between them.
    let mut stack: Vec<(u32, bool, usize)> = vec![(start, start_by_r, 0)];
    let mut edges: Vec<u32> = Vec::new();
    let mut on_path: HashSet<u32> = HashSet::from([start]);
    let mut steps = 0usize;
    while let Some(&mut (node, by_r, ref mut next)) = stack.last_mut() {
        if node == target && !(by_r && target_leaves_shared) {
            return Ok(Some(edges));
        }
        let outs = adj(node);
        let Some(out) = outs.get(*next) else {
            stack.pop();
            edges.pop();
            on_path.remove(&node);
            continue;
        };
        *next += 1;
        steps += 1;
        if steps > bound {
            return Err(Exhausted);
        }
        if (by_r && out.kind.leaves_shared()) || on_path.contains(&out.to) {
            continue;
        }
        on_path.insert(out.to);
        edges.push(out.id);
        stack.push((out.to, out.kind.enters_recursive(), 0));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use DepKind::*;

    fn graph(edges: &[(u32, u32, DepKind)]) -> Vec<Vec<Out>> {
        let n = edges.iter().map(|e| e.0.max(e.1)).max().unwrap_or(0) as usize + 1;
        let mut adj = vec![Vec::new(); n];
        for (i, &(f, t, k)) in edges.iter().enumerate() {
            adj[f as usize].push(Out {
                to: t,
                kind: k,
                id: i as u32,
            });
        }
        adj
    }

    /// Does adding `closing` to `edges` close a strong cycle?
    fn closes(edges: &[(u32, u32, DepKind)], closing: (u32, u32, DepKind)) -> bool {
        let adj = graph(edges);
        let empty: &[Out] = &[];
        strong_path(
            |n| adj.get(n as usize).map_or(empty, |v| v.as_slice()),
            closing.1,
            closing.2.enters_recursive(),
            closing.0,
            closing.2.leaves_shared(),
            1000,
        )
        .unwrap()
        .is_some()
    }

    #[test]
    fn er_cycle_is_a_deadlock() {
        // A -(ER)-> B -(ER)-> A: each held exclusively while the next is read.
        assert!(closes(&[(0, 1, ER)], (1, 0, ER)));
    }

    #[test]
    fn r_then_s_breaks_the_cycle() {
        // A -(ER)-> B -(SN)-> A: B is entered by R and left by S.
        assert!(!closes(&[(0, 1, ER)], (1, 0, SN)));
        assert!(!closes(&[(1, 0, SN)], (0, 1, ER)));
    }

    #[test]
    fn path_through_a_node_twice_uses_the_better_entry() {
        // 0 -(EN)-> 1, 0 -(ER)-> 1, 1 -(SN)-> 2; closing 2 -(EN)-> 0.
        // Entering 1 by R then leaving by S is not strong, but entering by N is.
        assert!(closes(&[(0, 1, ER), (0, 1, EN), (1, 2, SN)], (2, 0, EN)));
        assert!(!closes(&[(0, 1, ER), (1, 2, SN)], (2, 0, EN)));
    }

    #[test]
    fn an_old_cycle_spliced_onto_a_weak_one_is_not_a_new_one() {
        // 0 <-> 1 by EN both ways (an old, strong cycle); 0 -(SN)-> 2 and the
        // closing 2 -(SR)-> 0. The walk 0 -> 1 -> 0 -> 2 is strong, but the
        // only simple cycle through the closing edge, 0 -> 2 -> 0, is not.
        assert!(!closes(&[(0, 1, EN), (1, 0, EN), (0, 2, SN)], (2, 0, SR)));
        // With 0 -(EN)-> 2 instead, 0 -> 2 -> 0 is strong.
        assert!(closes(&[(0, 1, EN), (1, 0, EN), (0, 2, EN)], (2, 0, SR)));
    }

    #[test]
    fn a_strong_simple_path_is_found_behind_a_spliced_walk() {
        // The shortest strong walk 0 -> 1 -> 0 -> 3 is not simple; the longer
        // 0 -> 2 -> 4 -> 5 -> 3 is strong and simple: closing 3 -(SR)-> 0
        // reports, and names the simple path.
        let edges = [
            (0, 1, EN),
            (1, 0, EN),
            (0, 3, SN),
            (0, 2, EN),
            (2, 4, EN),
            (4, 5, EN),
            (5, 3, EN),
        ];
        assert!(closes(&edges, (3, 0, SR)));
        let adj = graph(&edges);
        let path = strong_path(|n| adj[n as usize].as_slice(), 0, true, 3, true, 1000);
        assert_eq!(path, Ok(Some(vec![3, 4, 5, 6])));
    }

    #[test]
    fn bound_is_reported() {
        let edges: Vec<_> = (0..100).map(|i| (i, i + 1, EN)).collect();
        let adj = graph(&edges);
        let r = strong_path(|n| adj[n as usize].as_slice(), 0, false, 1000, false, 10);
        assert_eq!(r, Err(Exhausted));
    }
}
