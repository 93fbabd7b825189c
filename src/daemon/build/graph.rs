//! Which stages a build needs and in what order: a stage depends on the
//! earlier stages its `FROM` and `COPY --from` name (by `AS` name, case-
//! insensitively, or by index); only the target and what it depends on run.

/// What the graph needs of one stage.
#[derive(Debug, Clone, Default)]
pub struct StageRefs {
    /// The lower-cased `AS` name.
    pub name: Option<String>,
    /// The FROM image and every `--from` value, as written (meta args expanded).
    pub refs: Vec<String>,
}

/// The stage among `stages[..upto]` that `r` names, if any (moby `getByName`).
pub fn resolve(stages: &[StageRefs], upto: usize, r: &str) -> Option<usize> {
    let lower = r.to_ascii_lowercase();
    if let Some(i) = stages[..upto.min(stages.len())]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(i);
    }
    r.parse::<usize>().ok().filter(|i| *i < upto)
}

/// For each stage, the earlier stages it uses, sorted and deduplicated.
pub fn dependencies(stages: &[StageRefs]) -> Vec<Vec<usize>> {
    stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut deps: Vec<usize> = s
                .refs
                .iter()
                .filter_map(|r| resolve(stages, i, r))
                .collect();
            deps.sort_unstable();
            deps.dedup();
            deps
        })
        .collect()
}

/// Which stages building `target` needs: it and everything it depends on.
pub fn needed(deps: &[Vec<usize>], target: usize) -> Vec<bool> {
    let mut need = vec![false; deps.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if i < need.len() && !need[i] {
            need[i] = true;
            todo.extend(&deps[i]);
        }
    }
    need
}

/// The index of the stage named `target` (case-insensitive), if any.
pub fn target_index(stages: &[StageRefs], target: &str) -> Option<usize> {
    let lower = target.to_ascii_lowercase();
    stages
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: Option<&str>, refs: &[&str]) -> StageRefs {
        StageRefs {
            name: name.map(str::to_owned),
            refs: refs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn multistage_graph() {
        let stages = vec![
            stage(Some("builder"), &["busybox"]),
            stage(Some("second"), &["Builder"]),
            stage(Some("unused"), &["busybox"]),
            stage(
                None,
                &["busybox", "builder", "second", "0", "busybox:latest"],
            ),
        ];
        let deps = dependencies(&stages);
        assert_eq!(deps, vec![vec![], vec![0], vec![], vec![0, 1]]);
        assert_eq!(needed(&deps, 3), vec![true, true, false, true]);
        assert_eq!(needed(&deps, 1), vec![true, true, false, false]);
        assert_eq!(target_index(&stages, "SECOND"), Some(1));
        assert_eq!(target_index(&stages, "nope"), None);
    }

    #[test]
    fn later_stages_and_out_of_range_indexes_are_images() {
        let stages = vec![stage(Some("a"), &["b", "1"]), stage(Some("b"), &["a"])];
        assert_eq!(dependencies(&stages), vec![vec![], vec![0]]);
        assert_eq!(resolve(&stages, 2, "7"), None);
    }
}
