//! Build arguments as the classic builder scopes them (moby
//! `builder/dockerfile/buildargs.go`): `--build-arg` values, ARGs before the
//! first FROM ("meta" args, usable in FROM and as defaults of a stage's ARG),
//! ARGs of the current stage, and the predefined proxy args that need no ARG.

use std::collections::{BTreeMap, BTreeSet};

/// Args every build may use without declaring them; their values never reach
/// the image history unless an ARG names them.
pub const BUILTIN_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn is_builtin(key: &str) -> bool {
    BUILTIN_ARGS.contains(&key)
}

/// The build arguments of one stage (or of the meta ARGs before the first FROM).
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    /// `--build-arg K=v` (`None`: given without a value and unset in the client).
    from_options: BTreeMap<String, Option<String>>,
    /// ARGs declared in the current stage, with their (expanded) defaults.
    allowed: BTreeMap<String, Option<String>>,
    /// ARGs declared before the first FROM.
    meta: BTreeMap<String, Option<String>>,
    /// Every ARG name declared anywhere so far (for the unused-args warning).
    referenced: BTreeSet<String>,
}

impl BuildArgs {
    /// The args of a build given `--build-arg` values.
    pub fn new(from_options: BTreeMap<String, Option<String>>) -> BuildArgs {
        BuildArgs {
            from_options,
            ..BuildArgs::default()
        }
    }

    /// A copy for a new stage: the meta args stay, the stage's ARGs start empty.
    pub fn for_stage(&self) -> BuildArgs {
        BuildArgs {
            allowed: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// `ARG key[=value]` in a stage.
    pub fn add_arg(&mut self, key: &str, value: Option<String>) {
        self.allowed.insert(key.to_owned(), value);
        self.referenced.insert(key.to_owned());
    }

    /// `ARG key[=value]` before the first FROM (usable by the meta args after it too).
    pub fn add_meta_arg(&mut self, key: &str, value: Option<String>) {
        self.add_arg(key, value.clone());
        self.meta.insert(key.to_owned(), value);
    }

    /// Records the ARG names another stage declared, for the final warning.
    pub fn merge_referenced(&mut self, other: &BuildArgs) {
        self.referenced.extend(other.referenced.iter().cloned());
    }

    fn get(&self, key: &str, meta_only: bool) -> Option<String> {
        let mapping = if meta_only { &self.meta } else { &self.allowed };
        if let Some(Some(v)) = self.from_options.get(key) {
            if mapping.contains_key(key) || is_builtin(key) {
                return Some(v.clone());
            }
            return None;
        }
        match mapping.get(key) {
            Some(Some(v)) => Some(v.clone()),
            // `ARG X` without a default takes the meta ARG's value.
            Some(None) | None => self.meta.get(key).cloned().flatten(),
        }
    }

    fn all(&self, meta_only: bool) -> BTreeMap<String, String> {
        let mapping = if meta_only { &self.meta } else { &self.allowed };
        mapping
            .keys()
            .map(String::as_str)
            .chain(BUILTIN_ARGS)
            .filter_map(|k| Some((k.to_owned(), self.get(k, meta_only)?)))
            .collect()
    }

    /// The stage's args with a value (declared ARGs, and proxy args given with `--build-arg`).
    pub fn all_allowed(&self) -> BTreeMap<String, String> {
        self.all(false)
    }

    /// The meta args with a value, which is what `FROM` expands with.
    pub fn all_meta(&self) -> BTreeMap<String, String> {
        self.all(true)
    }

    /// `K=v` for each arg with a value whose name `env` does not set (ENV wins over ARG).
    pub fn filter_allowed(&self, env: &[String]) -> Vec<String> {
        self.all_allowed()
            .into_iter()
            .filter(|(k, _)| !env.iter().any(|e| env_key(e) == k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Whether `key` may be recorded in history: declared by ARG, or not a proxy arg.
    pub fn is_referenced_or_not_builtin(&self, key: &str) -> bool {
        self.allowed.contains_key(key) || !is_builtin(key)
    }

    /// `--build-arg` names no ARG declared (proxy args excepted), sorted.
    pub fn unused(&self) -> Vec<String> {
        self.from_options
            .keys()
            .filter(|k| !self.referenced.contains(*k) && !is_builtin(k))
            .cloned()
            .collect()
    }
}

/// The name of a `K=v` environment entry.
pub fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, Option<&str>)]) -> BuildArgs {
        BuildArgs::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
                .collect(),
        )
    }

    #[test]
    fn options_override_defaults_only_when_declared() {
        let mut a = opts(&[("X", Some("opt")), ("HTTP_PROXY", Some("p")), ("Y", None)]);
        assert_eq!(a.all_allowed().get("X"), None);
        assert_eq!(a.all_allowed()["HTTP_PROXY"], "p");
        a.add_arg("X", Some("def".into()));
        a.add_arg("Y", Some("ydef".into()));
        assert_eq!(a.all_allowed()["X"], "opt");
        // A value-less --build-arg keeps the default.
        assert_eq!(a.all_allowed()["Y"], "ydef");
        assert_eq!(
            a.filter_allowed(&["X=env".into()]),
            vec!["HTTP_PROXY=p", "Y=ydef"]
        );
    }

    #[test]
    fn meta_args_feed_from_and_valueless_stage_args() {
        let mut meta = opts(&[("TAG", Some("1.0"))]);
        meta.add_meta_arg("BASE", Some("busybox".into()));
        meta.add_meta_arg("TAG", Some("latest".into()));
        let m = meta.all_meta();
        assert_eq!((m["BASE"].as_str(), m["TAG"].as_str()), ("busybox", "1.0"));
        let mut stage = meta.for_stage();
        assert!(stage.all_allowed().is_empty());
        stage.add_arg("BASE", None);
        assert_eq!(stage.all_allowed()["BASE"], "busybox");
    }

    #[test]
    fn unused_args_exclude_declared_and_proxies() {
        let mut all = opts(&[("A", Some("1")), ("B", Some("2")), ("no_proxy", Some("x"))]);
        let mut stage = all.for_stage();
        stage.add_arg("A", None);
        all.merge_referenced(&stage);
        assert_eq!(all.unused(), vec!["B"]);
        assert!(stage.is_referenced_or_not_builtin("A"));
        assert!(!stage.is_referenced_or_not_builtin("no_proxy"));
    }
}
