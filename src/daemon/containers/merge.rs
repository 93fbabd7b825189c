//! How a container's configuration is derived from the request and the image,
//! following dockerd's `merge` and `getEntrypointAndArgs` exactly.

use berth::api::models::ContainerConfig;

/// The search path dockerd puts first in every container's environment.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

/// Fills the request's unset fields from the image config, like dockerd:
/// the image's Cmd is inherited only when the request names no Entrypoint,
/// image Env entries are appended unless the request sets the same key.
pub fn merge_image_config(mut user: ContainerConfig, image: &ContainerConfig) -> ContainerConfig {
    let user_env = user.env.take().unwrap_or_default();
    let mut env = user_env.clone();
    for e in image.env.iter().flatten() {
        if !user_env.iter().any(|u| env_key(u) == env_key(e)) {
            env.push(e.clone());
        }
    }
    user.env = Some(env);
    if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd.clone_from(&image.cmd);
        }
        if user.entrypoint.is_none() {
            user.entrypoint.clone_from(&image.entrypoint);
        }
    }
    // `--entrypoint ""` arrives as [""]: it clears the image's entrypoint.
    if user.entrypoint.as_deref() == Some(&[String::new()][..]) {
        user.entrypoint = Some(Vec::new());
    }
    if user.working_dir.as_deref().is_none_or(str::is_empty) {
        user.working_dir.clone_from(&image.working_dir);
    }
    if user.user.as_deref().is_none_or(str::is_empty) {
        user.user.clone_from(&image.user);
    }
    if user.stop_signal.is_none() {
        user.stop_signal.clone_from(&image.stop_signal);
    }
    user.healthcheck = super::health::merge(user.healthcheck.take(), image.healthcheck.as_ref());
    // Both sets are unions, as in dockerd's merge.
    if let Some(image_ports) = &image.exposed_ports {
        let ports = user.exposed_ports.get_or_insert_with(Default::default);
        for (k, v) in image_ports {
            ports.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let Some(image_volumes) = &image.volumes {
        let volumes = user.volumes.get_or_insert_with(Default::default);
        for (k, v) in image_volumes {
            volumes.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(user.labels.take().unwrap_or_default());
    user.labels = Some(labels);
    user
}

/// The process to run: entrypoint followed by cmd. `None` when both are empty.
pub fn command_line(config: &ContainerConfig) -> Option<Vec<String>> {
    let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    argv.extend(config.cmd.clone().unwrap_or_default());
    (!argv.is_empty()).then_some(argv)
}

/// The environment the process sees: dockerd's defaults (PATH, HOSTNAME,
/// TERM with a tty) replaced or extended by the container's Env.
pub fn process_env(config: &ContainerConfig, hostname: &str) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH.to_owned(), format!("HOSTNAME={hostname}")];
    if config.tty == Some(true) {
        env.push("TERM=xterm".to_owned());
    }
    overlay_env(env, config.env.iter().flatten())
}

/// dockerd's `ReplaceOrAppendEnvValues`: each `KEY=value` replaces the
/// variable or is appended; a bare `KEY` (`-e KEY` with KEY unset on the
/// client) removes it.
pub fn overlay_env<'a>(
    mut env: Vec<String>,
    over: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    for e in over {
        let k = env_key(e);
        if e.contains('=') {
            match env.iter_mut().find(|x| env_key(x) == k) {
                Some(slot) => slot.clone_from(e),
                None => env.push(e.clone()),
            }
        } else {
            env.retain(|x| env_key(x) != k);
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn image() -> ContainerConfig {
        ContainerConfig {
            cmd: strs(&["sh"]),
            entrypoint: strs(&["/entry"]),
            env: strs(&["PATH=/bin", "A=image"]),
            working_dir: Some("/srv".into()),
            user: Some("nobody".into()),
            ..Default::default()
        }
    }

    #[test]
    fn request_cmd_replaces_image_cmd_but_keeps_entrypoint() {
        let c = merge_image_config(
            ContainerConfig {
                cmd: strs(&["echo", "hi"]),
                ..Default::default()
            },
            &image(),
        );
        assert_eq!(command_line(&c).unwrap(), ["/entry", "echo", "hi"]);
    }

    #[test]
    fn request_entrypoint_drops_image_cmd() {
        let c = merge_image_config(
            ContainerConfig {
                entrypoint: strs(&["ls"]),
                ..Default::default()
            },
            &image(),
        );
        assert_eq!(command_line(&c).unwrap(), ["ls"]);
    }

    #[test]
    fn empty_entrypoint_clears_it() {
        let req = ContainerConfig {
            entrypoint: strs(&[""]),
            cmd: strs(&["id"]),
            ..Default::default()
        };
        let c = merge_image_config(req, &image());
        assert_eq!(command_line(&c).unwrap(), ["id"]);
        let c = merge_image_config(
            ContainerConfig {
                entrypoint: strs(&[""]),
                ..Default::default()
            },
            &image(),
        );
        assert_eq!(command_line(&c), None);
    }

    #[test]
    fn image_defaults_fill_unset_fields() {
        let c = merge_image_config(ContainerConfig::default(), &image());
        assert_eq!(command_line(&c).unwrap(), ["/entry", "sh"]);
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert_eq!(c.user.as_deref(), Some("nobody"));
    }

    #[test]
    fn env_replaces_appends_and_removes_like_dockerd() {
        let base = vec!["PATH=/bin".to_owned(), "A=1".to_owned(), "B=2".to_owned()];
        let over = [
            "A=x".to_owned(),
            "B".to_owned(),
            "C=3".to_owned(),
            "NOPE".to_owned(),
        ];
        assert_eq!(overlay_env(base, &over), ["PATH=/bin", "A=x", "C=3"]);
        let config = ContainerConfig {
            env: strs(&["HOSTNAME", "X=1"]),
            ..Default::default()
        };
        assert_eq!(process_env(&config, "h"), [DEFAULT_PATH, "X=1"]);
    }

    #[test]
    fn exposed_ports_and_volumes_are_unions_like_dockerd() {
        let mut image = image();
        image.exposed_ports = Some([("80/tcp".to_owned(), Default::default())].into());
        image.volumes = Some([("/data".to_owned(), Default::default())].into());
        let c = merge_image_config(
            ContainerConfig {
                exposed_ports: Some([("443/tcp".to_owned(), Default::default())].into()),
                volumes: Some([("/logs".to_owned(), Default::default())].into()),
                ..Default::default()
            },
            &image,
        );
        let mut ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        ports.sort();
        assert_eq!(ports, ["443/tcp", "80/tcp"]);
        let mut volumes: Vec<_> = c.volumes.unwrap().into_keys().collect();
        volumes.sort();
        assert_eq!(volumes, ["/data", "/logs"]);
        let plain = merge_image_config(ContainerConfig::default(), &image);
        assert_eq!(plain.volumes, image.volumes);
    }

    #[test]
    fn env_merges_by_key_with_request_winning() {
        let req = ContainerConfig {
            env: strs(&["A=req", "B=1"]),
            ..Default::default()
        };
        let c = merge_image_config(req, &image());
        assert_eq!(c.env.clone().unwrap(), ["A=req", "B=1", "PATH=/bin"]);
        let env = process_env(&c, "abc");
        assert_eq!(env, ["PATH=/bin", "HOSTNAME=abc", "A=req", "B=1"]);
    }
}
