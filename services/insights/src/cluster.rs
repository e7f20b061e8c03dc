//! Deterministic agglomerative clustering: average linkage on cosine similarity, cut at a
//! threshold.
//!
//! The full dendrogram is built with the nearest-neighbour-chain algorithm (O(n²) time,
//! O(n²/2) memory), then every merge whose average similarity reaches the threshold is
//! applied. Average linkage is reducible (merges never get more similar higher up the
//! tree), so this is exactly the flat clustering "merge the two most similar groups while
//! their average pairwise similarity is at least the threshold". Ties break towards the
//! lower index, so the result depends only on the vectors and their order; callers put
//! vectors in a canonical order (point id) to be independent of input order.

/// Groups of indices into `vectors`, each sorted ascending, groups ordered by their first
/// index. `vectors` must be L2-normalised (dot product = cosine).
pub fn average_linkage(vectors: &[&[f32]], threshold: f32) -> Vec<Vec<usize>> {
    let n = vectors.len();
    if n == 0 {
        return Vec::new();
    }
    let mut sim = Condensed::new(n);
    for i in 0..n {
        for j in i + 1..n {
            sim.set(i, j, dot(vectors[i], vectors[j]));
        }
    }
    let mut size = vec![1usize; n];
    let mut active = vec![true; n];
    let mut parent: Vec<usize> = (0..n).collect();
    let mut chain: Vec<usize> = Vec::with_capacity(n);
    let mut remaining = n;
    while remaining > 1 {
        if chain.is_empty() {
            chain.push(active.iter().position(|&a| a).expect("an active cluster"));
        }
        let a = *chain.last().expect("non-empty chain");
        let previous = chain.len().checked_sub(2).map(|i| chain[i]);
        // The most similar other cluster; ties prefer the chain predecessor (so the chain
        // always ends in a reciprocal pair), then the lower index.
        let mut best: Option<(usize, f32)> = None;
        for c in (0..n).filter(|&c| active[c] && c != a) {
            let s = sim.get(a, c);
            let better = match best {
                None => true,
                Some((b, bs)) => s > bs || (s == bs && Some(c) == previous && Some(b) != previous),
            };
            if better {
                best = Some((c, s));
            }
        }
        let (b, s) = best.expect("two active clusters");
        if Some(b) != previous {
            chain.push(b);
            continue;
        }
        chain.truncate(chain.len() - 2);
        // Merge `a` and `b` into the lower slot; Lance-Williams update for average linkage.
        let (keep, gone) = (a.min(b), a.max(b));
        for c in (0..n).filter(|&c| active[c] && c != keep && c != gone) {
            let merged = (size[keep] as f32 * sim.get(keep, c) + size[gone] as f32 * sim.get(gone, c))
                / (size[keep] + size[gone]) as f32;
            sim.set(keep, c, merged);
        }
        size[keep] += size[gone];
        active[gone] = false;
        remaining -= 1;
        if s >= threshold {
            let (rk, rg) = (find(&mut parent, keep), find(&mut parent, gone));
            parent[rk.max(rg)] = rk.min(rg);
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    for i in 0..n {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    groups.into_values().collect()
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The upper triangle of a symmetric matrix without its diagonal.
struct Condensed {
    n: usize,
    values: Vec<f32>,
}

impl Condensed {
    fn new(n: usize) -> Self {
        Self { n, values: vec![0.0; n * n.saturating_sub(1) / 2] }
    }

    fn index(&self, i: usize, j: usize) -> usize {
        let (i, j) = if i < j { (i, j) } else { (j, i) };
        i * (2 * self.n - i - 1) / 2 + (j - i - 1)
    }

    fn get(&self, i: usize, j: usize) -> f32 {
        self.values[self.index(i, j)]
    }

    fn set(&mut self, i: usize, j: usize, value: f32) {
        let k = self.index(i, j);
        self.values[k] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::unit;

    /// The naive greedy algorithm the chain must agree with.
    fn greedy(vectors: &[&[f32]], threshold: f32) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = (0..vectors.len()).map(|i| vec![i]).collect();
        loop {
            let mut best: Option<(usize, usize, f32)> = None;
            for a in 0..groups.len() {
                for b in a + 1..groups.len() {
                    let total: f32 = groups[a]
                        .iter()
                        .flat_map(|&i| groups[b].iter().map(move |&j| (i, j)))
                        .map(|(i, j)| dot(vectors[i], vectors[j]))
                        .sum();
                    let avg = total / (groups[a].len() * groups[b].len()) as f32;
                    if best.is_none_or(|(_, _, s)| avg > s) {
                        best = Some((a, b, avg));
                    }
                }
            }
            match best {
                Some((a, b, s)) if s >= threshold => {
                    let moved = groups.remove(b);
                    groups[a].extend(moved);
                    groups[a].sort_unstable();
                }
                _ => break,
            }
        }
        groups.sort();
        groups
    }

    #[test]
    fn matches_greedy_average_linkage() {
        let vectors: Vec<Vec<f32>> = (0..24).map(|i| unit(i % 4, 0.1 + (i as f32) * 0.05, 8)).collect();
        let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        for threshold in [0.3, 0.6, 0.9, 0.99] {
            assert_eq!(average_linkage(&refs, threshold), greedy(&refs, threshold), "threshold {threshold}");
        }
    }

    #[test]
    fn separates_directions_and_keeps_outliers_alone() {
        let vectors = [
            unit(0, 0.1, 6),
            unit(0, 0.2, 6),
            unit(3, 0.1, 6),
            unit(0, 0.15, 6),
            unit(3, 0.3, 6),
            unit(5, 0.0, 6),
        ];
        let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        assert_eq!(average_linkage(&refs, 0.7), vec![vec![0, 1, 3], vec![2, 4], vec![5]]);
        assert_eq!(average_linkage(&[], 0.5), Vec::<Vec<usize>>::new());
    }
}
