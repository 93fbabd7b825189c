//! The mount flags of `run` and `create` (`-v`, `--mount`, `--tmpfs`,
//! `--volumes-from`), turned into the request the way Docker's CLI does:
//! `-v` with a source goes to `HostConfig.Binds`, without one to
//! `Config.Volumes`; `--mount` is parsed here into `HostConfig.Mounts`.

use std::collections::HashMap;

use clap::Args;

use berth::api::models::{
    ContainerConfig, HostConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountTmpfsOptions, MountTypeEnum, MountVolumeOptions, MountVolumeOptionsDriverConfig,
};

/// The mount flags, flattened into `run`/`create`.
#[derive(Debug, Clone, Default, Args)]
pub struct MountArgs {
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    volumes_from: Vec<String>,
}

/// Why a `--mount` value was refused: Docker's wording, shown by the caller
/// as `invalid argument "<value>" for "--mount" flag: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFlagError {
    /// The flag's value.
    pub value: String,
    /// Docker's reason.
    pub reason: String,
}

/// A relative `./x` (or `.`) host path made absolute, as Docker's CLI does.
fn absolute(p: &str) -> String {
    if (p == "." || p.starts_with("./"))
        && let Ok(cwd) = std::env::current_dir()
    {
        let joined = cwd.join(p);
        let mut out = std::path::PathBuf::new();
        for c in joined.components() {
            if c != std::path::Component::CurDir {
                out.push(c);
            }
        }
        return out.display().to_string();
    }
    p.to_owned()
}

fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Splits one CSV record (Go's `encoding/csv`: fields may be quoted, `""` is a quote).
fn csv_fields(value: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// Docker's `MountOpt.Set`: one `--mount` value.
pub fn parse_mount(value: &str) -> Result<Mount, MountFlagError> {
    let fail = |reason: String| MountFlagError {
        value: value.to_owned(),
        reason,
    };
    let mut m = Mount {
        typ: Some(MountTypeEnum::VOLUME),
        ..Default::default()
    };
    let mut typ = "volume".to_owned();
    let mut bind: Option<MountBindOptions> = None;
    let mut vol: Option<MountVolumeOptions> = None;
    let mut tmpfs: Option<MountTmpfsOptions> = None;
    for field in csv_fields(value) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_owned())),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => m.read_only = Some(true),
                "volume-nocopy" => vol.get_or_insert_with(Default::default).no_copy = Some(true),
                "bind-nonrecursive" => {
                    bind.get_or_insert_with(Default::default).non_recursive = Some(true)
                }
                _ => {
                    return Err(fail(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )));
                }
            }
            continue;
        };
        let invalid = || fail(format!("invalid value for {key}: {val}"));
        match key.as_str() {
            "type" => typ = val.to_lowercase(),
            "source" | "src" => m.source = Some(absolute(&val)),
            "target" | "dst" | "destination" => m.target = Some(val.clone()),
            "readonly" | "ro" => m.read_only = Some(go_bool(&val).ok_or_else(invalid)?),
            "consistency" => m.consistency = Some(val.to_lowercase()),
            "bind-propagation" => {
                let p = val
                    .to_lowercase()
                    .parse::<MountBindOptionsPropagationEnum>()
                    .map_err(|_| invalid())?;
                bind.get_or_insert_with(Default::default).propagation = Some(p);
            }
            "bind-nonrecursive" => {
                bind.get_or_insert_with(Default::default).non_recursive =
                    Some(go_bool(&val).ok_or_else(invalid)?);
            }
            "volume-driver" | "volume-label" | "volume-opt" => {
                let v = vol.get_or_insert_with(Default::default);
                if key == "volume-driver" {
                    v.driver_config
                        .get_or_insert_with(MountVolumeOptionsDriverConfig::default)
                        .name = Some(val.clone());
                    continue;
                }
                let (k, x) = val.split_once('=').unwrap_or((val.as_str(), ""));
                let map = if key == "volume-label" {
                    v.labels.get_or_insert_with(HashMap::new)
                } else {
                    v.driver_config
                        .get_or_insert_with(MountVolumeOptionsDriverConfig::default)
                        .options
                        .get_or_insert_with(HashMap::new)
                };
                map.insert(k.to_owned(), x.to_owned());
            }
            "volume-nocopy" => {
                vol.get_or_insert_with(Default::default).no_copy =
                    Some(go_bool(&val).ok_or_else(invalid)?);
            }
            "tmpfs-size" => {
                let size = super::resources::ram_in_bytes(&val).map_err(|_| invalid())?;
                tmpfs.get_or_insert_with(Default::default).size_bytes = Some(size);
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&val, 8).map_err(|_| invalid())?;
                tmpfs.get_or_insert_with(Default::default).mode = Some(i64::from(mode));
            }
            _ => return Err(fail(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    if typ.is_empty() {
        return Err(fail("type is required".into()));
    }
    if m.target.as_deref().is_none_or(str::is_empty) {
        return Err(fail("target is required".into()));
    }
    let mix = |what: &str| {
        fail(format!(
            "cannot mix '{what}-*' options with mount type '{typ}'"
        ))
    };
    if vol.is_some() && typ != "volume" {
        return Err(mix("volume"));
    }
    if bind.is_some() && typ != "bind" {
        return Err(mix("bind"));
    }
    if tmpfs.is_some() && typ != "tmpfs" {
        return Err(mix("tmpfs"));
    }
    // An unknown type goes to the daemon, which refuses it with its message.
    m.typ = Some(typ.parse().unwrap_or(MountTypeEnum::EMPTY));
    m.bind_options = bind;
    m.volume_options = vol;
    m.tmpfs_options = tmpfs;
    Ok(m)
}

impl MountArgs {
    /// Fills `Config.Volumes` and `HostConfig.Binds`, `Mounts`, `Tmpfs` and
    /// `VolumesFrom` as Docker's CLI does.
    pub fn apply(
        &self,
        config: &mut ContainerConfig,
        host: &mut HostConfig,
    ) -> Result<(), MountFlagError> {
        let mut binds = Vec::new();
        let mut volumes = HashMap::new();
        for v in &self.volume {
            match v.split_once(':') {
                Some((src, rest)) if !src.is_empty() => {
                    binds.push(format!("{}:{rest}", absolute(src)));
                }
                _ => {
                    volumes.insert(v.clone(), HashMap::new());
                }
            }
        }
        if !binds.is_empty() {
            host.binds = Some(binds);
        }
        if !volumes.is_empty() {
            config.volumes = Some(volumes);
        }
        let mounts = self
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<Vec<_>, _>>()?;
        if !mounts.is_empty() {
            host.mounts = Some(mounts);
        }
        if !self.tmpfs.is_empty() {
            let map = self
                .tmpfs
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((d, o)) => (d.to_owned(), o.to_owned()),
                    None => (t.clone(), String::new()),
                })
                .collect();
            host.tmpfs = Some(map);
        }
        if !self.volumes_from.is_empty() {
            host.volumes_from = Some(self.volumes_from.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_values_parse_like_dockers_cli() {
        let m = parse_mount("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared").unwrap();
        assert_eq!(m.typ, Some(MountTypeEnum::BIND));
        assert_eq!(m.source.as_deref(), Some("/a"));
        assert_eq!(m.target.as_deref(), Some("/b"));
        assert_eq!(m.read_only, Some(true));
        assert_eq!(
            m.bind_options.unwrap().propagation,
            Some(MountBindOptionsPropagationEnum::RSHARED)
        );
        let m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (Some(64 << 20), Some(0o1777)));
        let m = parse_mount("source=v,target=/v,volume-nocopy,volume-label=a=b").unwrap();
        assert_eq!(m.typ, Some(MountTypeEnum::VOLUME));
        let vo = m.volume_options.unwrap();
        assert_eq!(vo.no_copy, Some(true));
        assert_eq!(vo.labels.unwrap()["a"], "b");

        for (v, why) in [
            ("type=bind,src=/a", "target is required"),
            (
                "type=bind,dst=/a,bogus",
                "invalid field 'bogus' must be a key=value pair",
            ),
            ("dst=/a,foo=1", "unexpected key 'foo' in 'foo=1'"),
            (
                "type=bind,dst=/a,volume-nocopy",
                "cannot mix 'volume-*' options with mount type 'bind'",
            ),
            ("dst=/a,ro=maybe", "invalid value for ro: maybe"),
        ] {
            assert_eq!(parse_mount(v).unwrap_err().reason, why, "{v}");
        }
    }

    #[test]
    fn volumes_split_into_binds_and_anonymous_volumes() {
        let args = MountArgs {
            volume: vec!["/h:/c:ro".into(), "named:/n".into(), "/anon".into()],
            tmpfs: vec!["/run:size=1m".into(), "/t".into()],
            volumes_from: vec!["other:ro".into()],
            ..Default::default()
        };
        let mut config = ContainerConfig::default();
        let mut host = HostConfig::default();
        args.apply(&mut config, &mut host).unwrap();
        assert_eq!(host.binds.unwrap(), ["/h:/c:ro", "named:/n"]);
        assert!(config.volumes.unwrap().contains_key("/anon"));
        let tmpfs = host.tmpfs.unwrap();
        assert_eq!(tmpfs["/run"], "size=1m");
        assert_eq!(tmpfs["/t"], "");
        assert_eq!(host.volumes_from.unwrap(), ["other:ro"]);
        assert_eq!(csv_fields("a=\"x,y\",b"), ["a=x,y", "b"]);
    }
}
