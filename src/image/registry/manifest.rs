//! Manifests and indexes: Docker v2 schema 2 and OCI, and picking a platform from a
//! manifest list / OCI index.

use serde::{Deserialize, Serialize};

use crate::image::registry::RegistryError;

/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// gzip layer in a Docker manifest.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker schema 1 (signed); refused, as it has no config to give the image its ID.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header of manifest requests: every type the client handles.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// A content descriptor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the content.
    pub media_type: String,
    /// Length in bytes.
    pub size: u64,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Other places to get it from (foreign layers); not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type (OCI manifests may leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// Layers, lowest first.
    pub layers: Vec<Descriptor>,
}

/// A manifest list or OCI index.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestIndex {
    /// The per-platform manifests.
    pub manifests: Vec<Descriptor>,
}

/// A platform (`os/arch[/variant]`), as in index entries and `--platform`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    /// `architecture` (GOARCH naming).
    pub architecture: String,
    /// `os`.
    pub os: String,
    /// `variant` (`v7`, `v8`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `os.version` (Windows), carried along.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant
        .filter(|v| !v.is_empty())
        .map(str::to_ascii_lowercase);
    match arch.as_str() {
        "x86_64" | "x86-64" => ("amd64".into(), variant),
        "aarch64" | "arm64" => (
            "arm64".into(),
            // arm64 without a variant is v8 (containerd's normalisation).
            variant.filter(|v| v != "v8"),
        ),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "i386" => ("386".into(), variant),
        _ => (arch, variant),
    }
}

impl Platform {
    /// The platform this daemon runs containers for.
    pub fn host() -> Platform {
        let arch = crate::image::config::host_arch();
        Platform {
            architecture: arch.to_string(),
            os: "linux".into(),
            variant: (arch == "arm").then(|| "v7".to_string()),
            os_version: None,
        }
    }

    /// Parses `os[/arch[/variant]]` (`linux/arm64/v8`); a missing arch is the host's.
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let bad = || {
            RegistryError::InvalidArgument(format!(
                "invalid platform {s:?}: expected os[/arch[/variant]]"
            ))
        };
        let parts: Vec<&str> = s.trim().split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(bad());
        }
        let os = parts[0].to_ascii_lowercase();
        if os != "linux" {
            return Err(RegistryError::InvalidArgument(format!(
                "invalid platform {s:?}: only linux images run here"
            )));
        }
        let arch = parts
            .get(1)
            .map(|a| a.to_string())
            .unwrap_or_else(|| crate::image::config::host_arch().to_string());
        let (architecture, variant) = normalize_arch(&arch, parts.get(2).copied());
        Ok(Platform {
            architecture,
            os,
            variant,
            os_version: None,
        })
    }

    /// Whether an index entry's platform `other` serves this wanted platform.
    pub fn matches(&self, other: &Platform) -> bool {
        let (a, av) = normalize_arch(&self.architecture, self.variant.as_deref());
        let (b, bv) = normalize_arch(&other.architecture, other.variant.as_deref());
        if !self.os.eq_ignore_ascii_case(&other.os) || a != b {
            return false;
        }
        match (av, bv) {
            (None, _) => true,
            (Some(x), Some(y)) => x == y,
            (Some(_), None) => false,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What a manifest fetch returned, parsed by its media type.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// An image manifest.
    Image(Box<Manifest>),
    /// A manifest list or OCI index.
    Index(ManifestIndex),
}

/// Parses manifest bytes by the `Content-Type` the registry sent (or the body's own
/// `mediaType`, or its shape, when the header is missing or generic).
pub fn parse(content_type: &str, bytes: &[u8]) -> Result<Fetched, RegistryError> {
    let invalid = |e: serde_json::Error| RegistryError::Invalid(format!("invalid manifest: {e}"));
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        schema_version: Option<u32>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(invalid)?;
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let kind = match ct {
        DOCKER_MANIFEST | OCI_MANIFEST | DOCKER_MANIFEST_LIST | OCI_INDEX => ct.to_string(),
        _ => match probe.media_type {
            Some(m) => m,
            None if probe.manifests.is_some() => OCI_INDEX.to_string(),
            None => OCI_MANIFEST.to_string(),
        },
    };
    match kind.as_str() {
        DOCKER_MANIFEST_LIST | OCI_INDEX => Ok(Fetched::Index(
            serde_json::from_slice(bytes).map_err(invalid)?,
        )),
        DOCKER_MANIFEST | OCI_MANIFEST => {
            if probe.schema_version != Some(2) {
                return Err(RegistryError::Invalid(format!(
                    "unsupported manifest schema version {:?}",
                    probe.schema_version
                )));
            }
            Ok(Fetched::Image(Box::new(
                serde_json::from_slice(bytes).map_err(invalid)?,
            )))
        }
        DOCKER_SCHEMA1_SIGNED | "application/vnd.docker.distribution.manifest.v1+json" => {
            Err(RegistryError::Invalid(
                "schema 1 manifests are not supported; push the image again with a current client"
                    .into(),
            ))
        }
        other => Err(RegistryError::Invalid(format!(
            "unsupported manifest media type {other:?}"
        ))),
    }
}

/// Picks the entry of `index` for `wanted` (moby: the first match in list order).
pub fn select<'a>(
    index: &'a ManifestIndex,
    wanted: &Platform,
) -> Result<&'a Descriptor, RegistryError> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)))
        .ok_or_else(|| RegistryError::NoPlatform(wanted.to_string()))
}

impl Manifest {
    /// A Docker v2 schema 2 manifest for pushing, serialised like distribution's
    /// (`MarshalIndent` with three spaces).
    pub fn docker_v2(config: Descriptor, layers: Vec<Descriptor>) -> Vec<u8> {
        let m = Manifest {
            schema_version: 2,
            media_type: Some(DOCKER_MANIFEST.into()),
            config,
            layers,
        };
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        m.serialize(&mut ser).expect("manifest serialises");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1,"digest":"sha256:aa","platform":{"architecture":"amd64","os":"linux"}},
      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1,"digest":"sha256:bb","platform":{"architecture":"arm","os":"linux","variant":"v6"}},
      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1,"digest":"sha256:cc","platform":{"architecture":"arm","os":"linux","variant":"v7"}},
      {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1,"digest":"sha256:dd","platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;

    #[test]
    fn lists_select_by_platform() {
        let Fetched::Index(idx) = parse(DOCKER_MANIFEST_LIST, LIST.as_bytes()).unwrap() else {
            panic!("not an index")
        };
        let pick = |p: &str| select(&idx, &Platform::parse(p).unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").unwrap(), "sha256:aa");
        assert_eq!(pick("linux/arm/v7").unwrap(), "sha256:cc");
        assert_eq!(pick("linux/arm/v6").unwrap(), "sha256:bb");
        // arm64 entries with v8 serve plain arm64 and the reverse.
        assert_eq!(pick("linux/arm64").unwrap(), "sha256:dd");
        assert_eq!(pick("linux/aarch64/v8").unwrap(), "sha256:dd");
        let e = pick("linux/s390x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        assert_eq!(e.class(), crate::api::ErrorClass::NotFound);
    }

    #[test]
    fn platforms_parse_and_refuse_garbage() {
        let p = Platform::parse("linux/x86_64").unwrap();
        assert_eq!(p.architecture, "amd64");
        assert_eq!(p.to_string(), "linux/amd64");
        assert!(Platform::parse("linux//v7").is_err());
        assert!(Platform::parse("windows/amd64").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert_eq!(Platform::parse("linux").unwrap().os, "linux");
        assert!(Platform::host().matches(&Platform::host()));
    }

    #[test]
    fn manifests_parse_by_type_or_shape() {
        let m = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:c"},
          "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":3,"digest":"sha256:l"}]}"#;
        let Fetched::Image(img) = parse("application/octet-stream", m.as_bytes()).unwrap() else {
            panic!("not an image")
        };
        assert_eq!(img.layers[0].digest, "sha256:l");
        assert!(matches!(
            parse(OCI_INDEX, br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            Fetched::Index(_)
        ));
        assert!(parse(DOCKER_SCHEMA1_SIGNED, b"{}").is_err());
        assert!(parse(DOCKER_MANIFEST, b"not json").is_err());
        assert!(parse(DOCKER_MANIFEST, br#"{"schemaVersion":1,"config":{}}"#).is_err());
    }

    #[test]
    fn pushed_manifest_is_docker_v2_in_distributions_layout() {
        let d = |t: &str, n: u64, dg: &str| Descriptor {
            media_type: t.into(),
            size: n,
            digest: dg.into(),
            urls: Vec::new(),
            platform: None,
        };
        let bytes = Manifest::docker_v2(
            d(DOCKER_CONFIG, 10, "sha256:c"),
            vec![d(DOCKER_LAYER_GZIP, 20, "sha256:l")],
        );
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\""), "{text}");
        let Fetched::Image(m) = parse(DOCKER_MANIFEST, &bytes).unwrap() else {
            panic!("not an image")
        };
        assert_eq!(m.config.size, 10);
        assert_eq!(m.layers[0].media_type, DOCKER_LAYER_GZIP);
    }
}
