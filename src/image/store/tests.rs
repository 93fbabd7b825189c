//! Store tests: load/save round trips, import, tag/rmi semantics, listing, corruption.

use std::collections::HashMap;
use std::fs;
use std::io::Cursor;

use super::*;
use crate::api::ErrorClass;
use crate::image::archive::{SaveImage, SaveLayer, SaveSource, write_docker_archive};
use crate::image::digest::sha256_digest;
use crate::image::fixture::{busybox_docker_archive, busybox_layer};
use crate::image::testutil::{RawTar, gzip, tree};
use tar::EntryType;

struct T {
    dir: tempfile::TempDir,
    store: ImageStore,
}

fn new_store() -> T {
    assert!(
        rustix::process::geteuid().is_root(),
        "image store tests need root (layer ownership)"
    );
    let dir = tempfile::Builder::new()
        .prefix("berth-store-")
        .tempdir()
        .unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    T { dir, store }
}

/// The chain ID of an image's top layer.
fn rec_chain(t: &T, id: &str) -> String {
    let state = t.store.lock();
    state.index.images[id]
        .layers
        .last()
        .unwrap()
        .chain_id
        .clone()
}

impl T {
    fn load_busybox(&self, reference: &str) -> String {
        let archive = self.dir.path().join("bb.tar");
        let id = busybox_docker_archive(&archive, reference).unwrap();
        let loaded = self
            .store
            .load(&mut fs::File::open(&archive).unwrap())
            .unwrap();
        fs::remove_file(&archive).unwrap();
        if !reference.is_empty() {
            assert_eq!(
                loaded,
                vec![
                    Reference::parse(reference)
                        .unwrap()
                        .with_default_tag()
                        .familiar()
                ]
            );
        } else {
            assert_eq!(loaded, vec![id.clone()]);
        }
        id
    }
    /// Snapshots, blobs and ingest entries currently on disk.
    fn on_disk(&self) -> (usize, usize, usize) {
        let count = |p: &str| fs::read_dir(self.dir.path().join(p)).unwrap().count();
        (
            count("snapshots"),
            count("image/blobs/sha256"),
            count("image/ingest"),
        )
    }
}

/// A one-image docker-archive with the given layers (uncompressed tars).
fn archive_of(
    layers: &[Vec<u8>],
    tag: &str,
    config_diff_ids: Option<Vec<String>>,
) -> (Vec<u8>, String) {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": { "Cmd": ["sh"], "Labels": { "berth.test": "yes" } },
        "rootfs": { "type": "layers", "diff_ids": config_diff_ids.unwrap_or_else(|| diff_ids.clone()) },
        "history": layers.iter().map(|_| serde_json::json!({"created": "2024-01-01T00:00:00Z", "created_by": "test"})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let id = sha256_digest(&config);
    let chains = chain_ids(&diff_ids);
    let img = SaveImage {
        id: id.clone(),
        config,
        repo_tags: if tag.is_empty() {
            vec![]
        } else {
            vec![tag.to_string()]
        },
        layers: layers
            .iter()
            .zip(chains)
            .map(|(l, c)| SaveLayer {
                chain_id: c,
                diff_size: l.len() as u64,
                source: SaveSource::Memory(l.clone()),
            })
            .collect(),
    };
    let mut out = Vec::new();
    write_docker_archive(&mut out, &[img]).unwrap();
    (out, id)
}

/// An OCI image-layout tar (gzip layers), optionally corrupting one blob's content.
fn oci_layout(layers: &[Vec<u8>], name: &str, corrupt_layer: bool) -> (Vec<u8>, String) {
    let gz: Vec<Vec<u8>> = layers.iter().map(|l| gzip(l)).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-02-01T00:00:00Z",
        "config": { "Entrypoint": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| sha256_digest(l)).collect::<Vec<_>>() },
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&config), "size": config.len() },
        "layers": gz.iter().map(|g| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256_digest(g), "size": g.len() })).collect::<Vec<_>>(),
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256_digest(&manifest), "size": manifest.len(),
            "annotations": { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest" } }],
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_path(path).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    for (i, g) in gz.iter().enumerate() {
        let mut data = g.clone();
        if corrupt_layer && i == gz.len() - 1 {
            let n = data.len();
            data[n - 9] ^= 0xff;
        }
        add(
            &format!("blobs/sha256/{}", hex_part(&sha256_digest(g))),
            &data,
        );
    }
    add(
        &format!("blobs/sha256/{}", hex_part(&sha256_digest(&manifest))),
        &manifest,
    );
    add(
        &format!("blobs/sha256/{}", hex_part(&sha256_digest(&config))),
        &config,
    );
    (b.into_inner().unwrap(), sha256_digest(&config))
}

fn no_filters() -> HashMap<String, Vec<String>> {
    HashMap::new()
}

#[test]
fn load_busybox_then_list_inspect_resolve() {
    let t = new_store();
    let id = t.load_busybox("busybox");
    let list = t.store.list(false, &no_filters(), false).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].repo_tags, vec!["busybox:latest"]);
    assert!(list[0].size > 1_000_000, "busybox size {}", list[0].size);
    assert_eq!((list[0].shared_size, list[0].containers), (-1, -1));

    let ins = t.store.inspect("busybox").unwrap();
    assert_eq!(ins.id.as_deref(), Some(id.as_str()));
    assert_eq!(
        ins.repo_tags.as_deref(),
        Some(&["busybox:latest".to_string()][..])
    );
    assert_eq!(ins.repo_digests.as_deref(), Some(&[][..]));
    assert_eq!(ins.created.as_deref(), Some("2023-11-14T22:13:20Z"));
    let cfg = ins.config.unwrap();
    assert_eq!(cfg.cmd.unwrap(), vec!["sh"]);
    assert_eq!(cfg.env.unwrap(), vec![crate::image::fixture::PATH_ENV]);
    assert_eq!(ins.root_fs.unwrap().layers.unwrap().len(), 1);
    assert_eq!(ins.graph_driver.unwrap().name, "overlay2");
    let json = serde_json::to_value(t.store.inspect(&id).unwrap()).unwrap();
    for k in [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Config",
        "RootFS",
        "Size",
        "Created",
        "Metadata",
        "Os",
        "Architecture",
    ] {
        assert!(json.get(k).is_some(), "inspect lacks {k}: {json}");
    }

    for name in [
        id.as_str(),
        hex_part(&id),
        &hex_part(&id)[..12],
        &hex_part(&id)[..3],
        "busybox:latest",
        "docker.io/library/busybox",
    ] {
        let r = t.store.resolve(name).unwrap();
        assert_eq!(r.id, id, "{name}");
        assert_eq!(r.layers.len(), 1);
        assert!(r.layers[0].join("bin/busybox").is_file());
        assert_eq!(
            fs::read_link(r.layers[0].join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert_eq!(r.config.cmd.clone().unwrap(), vec!["sh"]);
    }
    let e = t.store.resolve("nope").unwrap_err();
    assert_eq!(e.to_string(), "No such image: nope:latest");
    assert_eq!(e.class(), ErrorClass::NotFound);
    assert_eq!(
        t.store.resolve("Bad Name").unwrap_err().class(),
        ErrorClass::InvalidArgument
    );

    let hist = t.store.history("busybox").unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].id, id);
    assert_eq!(hist[0].tags, vec!["busybox:latest"]);
    assert!(hist[0].created_by.contains("busybox"));

    // The store survives a reopen, and reloading the same archive is idempotent.
    let reopened = ImageStore::open(t.dir.path()).unwrap();
    assert_eq!(reopened.resolve("busybox").unwrap().id, id);
    t.load_busybox("busybox");
    // The config blob only: the uncompressed layer is kept beside its snapshot.
    assert_eq!(t.on_disk(), (1, 1, 0));
    let snap = t
        .dir
        .path()
        .join("snapshots")
        .join(hex_part(&rec_chain(&t, &id)));
    assert!(snap.join(crate::image::tarsplit::TAR_SPLIT_FILE).is_file());
}

#[test]
fn save_round_trips_with_the_same_id() {
    let t = new_store();
    let id = t.load_busybox("busybox:1.0");
    t.store.tag("busybox:1.0", "busybox", Some("2.0")).unwrap();
    let mut out = Vec::new();
    t.store.save(&["busybox".to_string()], &mut out).unwrap();
    // The tar has the legacy layout `docker load` reads.
    let mut names = Vec::new();
    let mut manifest = None;
    for e in tar::Archive::new(out.as_slice()).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p == "manifest.json" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            manifest = Some(s);
        }
        names.push(p);
    }
    assert!(
        names.contains(&format!("{}.json", hex_part(&id))),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.ends_with("/layer.tar")));
    assert!(names.contains(&"repositories".to_string()));
    let manifest: serde_json::Value = serde_json::from_str(&manifest.unwrap()).unwrap();
    let mut tags: Vec<String> = serde_json::from_value(manifest[0]["RepoTags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, vec!["busybox:1.0", "busybox:2.0"]);

    let other = new_store();
    let loaded = other.store.load(&mut Cursor::new(&out)).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(other.store.resolve("busybox:2.0").unwrap().id, id);
    // Saving by ID writes no tags.
    let mut by_id = Vec::new();
    t.store
        .save(&[hex_part(&id)[..8].to_string()], &mut by_id)
        .unwrap();
    let third = new_store();
    assert_eq!(
        third.store.load(&mut Cursor::new(&by_id)).unwrap(),
        vec![id.clone()]
    );
}

#[test]
fn loads_oci_layouts_with_gzip_layers_and_multiple_layers_in_parallel() {
    let t = new_store();
    let l1 = RawTar::new()
        .dir("etc/")
        .file("etc/a", b"1")
        .file("etc/gone", b"x")
        .finish();
    let l2 = RawTar::new()
        .file("etc/.wh.gone", b"")
        .file("etc/b", &vec![9u8; 3 << 20])
        .finish();
    let l3 = RawTar::new()
        .dir("etc/")
        .file("etc/.wh..wh..opq", b"")
        .file("etc/c", b"3")
        .finish();
    let (tar, id) = oci_layout(&[l1, l2, l3], "docker.io/library/oci:v1", false);
    assert_eq!(t.store.load(&mut Cursor::new(tar)).unwrap(), vec!["oci:v1"]);
    let r = t.store.resolve("oci:v1").unwrap();
    assert_eq!(r.id, id);
    assert_eq!(r.config.entrypoint.unwrap(), vec!["/bin/sh"]);
    assert_eq!(r.layers.len(), 3);
    assert!(
        fs::symlink_metadata(r.layers[1].join("etc/gone"))
            .unwrap()
            .file_type()
            .is_char_device_like()
    );
    assert_eq!(
        fs::metadata(r.layers[1].join("etc/b")).unwrap().len(),
        3 << 20
    );
    assert_eq!(
        t.store.inspect("oci:v1").unwrap().size.unwrap(),
        2 + (3 << 20) + 1
    );
    assert_eq!(t.on_disk().2, 0);
}

trait CharDev {
    fn is_char_device_like(&self) -> bool;
}
impl CharDev for fs::FileType {
    fn is_char_device_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_char_device(self)
    }
}

#[test]
fn corrupted_blob_is_refused_and_nothing_half_written_stays() {
    let t = new_store();
    let l1 = RawTar::new().file("a", &vec![1u8; 2 << 20]).finish();
    let l2 = RawTar::new().file("b", b"2").finish();
    let (tar, _) = oci_layout(&[l1, l2], "docker.io/library/bad:1", true);
    let e = t.store.load(&mut Cursor::new(tar)).unwrap_err();
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    assert_eq!(t.on_disk(), (0, 0, 0), "{:?}", tree(t.dir.path()));
    assert!(t.store.list(true, &no_filters(), false).unwrap().is_empty());
}

#[test]
fn layer_not_matching_its_diff_id_is_refused() {
    let t = new_store();
    let layer = RawTar::new().file("a", b"1").finish();
    let (tar, _) = archive_of(
        &[layer],
        "x:1",
        Some(vec![sha256_digest(b"something else")]),
    );
    let e = t.store.load(&mut Cursor::new(tar)).unwrap_err();
    assert!(matches!(e, ImageError::DigestMismatch { .. }), "{e}");
    assert_eq!(t.on_disk(), (0, 0, 0));
}

#[test]
fn hostile_layer_in_an_archive_is_refused_and_cleaned_up() {
    let t = new_store();
    let layer = RawTar::new().file("../../berth-escape", b"x").finish();
    let (tar, _) = archive_of(&[layer], "evil:1", None);
    let e = t.store.load(&mut Cursor::new(tar)).unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidArgument, "{e}");
    assert_eq!(t.on_disk(), (0, 0, 0));
    assert!(!t.dir.path().join("berth-escape").exists());
    let e = t
        .store
        .load(&mut Cursor::new(b"not a tar at all".repeat(100)))
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidArgument, "{e}");
}

#[test]
fn import_with_changes() {
    let t = new_store();
    let layer = gzip(&busybox_layer().unwrap());
    let opts = ImportOptions {
        reference: Some("imported:1".into()),
        changes: vec![
            r#"CMD ["sh", "-c", "echo hi"]"#.into(),
            "ENV A=b".into(),
            "WORKDIR /srv".into(),
            "EXPOSE 8080".into(),
        ],
        message: None,
    };
    let id = t.store.import(&mut Cursor::new(layer), &opts).unwrap();
    let ins = t.store.inspect("imported:1").unwrap();
    assert_eq!(ins.id.as_deref(), Some(id.as_str()));
    assert_eq!(ins.comment.as_deref(), Some("Imported from -"));
    assert_eq!(
        (ins.os.as_deref(), ins.architecture.as_deref()),
        (Some("linux"), Some(host_arch()))
    );
    let cfg = ins.config.unwrap();
    assert_eq!(cfg.cmd.unwrap(), vec!["sh", "-c", "echo hi"]);
    assert_eq!(cfg.env.unwrap(), vec!["A=b"]);
    assert_eq!(cfg.working_dir.unwrap(), "/srv");
    assert!(cfg.exposed_ports.unwrap().contains_key("8080/tcp"));
    let hist = t.store.history(&id).unwrap();
    assert_eq!(hist[0].comment, "Imported from -");
    let r = t.store.resolve(&id).unwrap();
    assert!(r.layers[0].join("bin/busybox").is_file());
    // The stored blob is the compressed one as received; save decompresses it.
    let mut out = Vec::new();
    t.store.save(&["imported:1".into()], &mut out).unwrap();
    let other = new_store();
    assert_eq!(
        other.store.load(&mut Cursor::new(out)).unwrap(),
        vec!["imported:1"]
    );
    assert_eq!(other.store.resolve("imported:1").unwrap().id, id);

    let bad = ImportOptions {
        changes: vec!["RUN rm -rf /".into()],
        ..ImportOptions::default()
    };
    let e = t
        .store
        .import(&mut Cursor::new(Vec::new()), &bad)
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    assert!(e.to_string().contains("RUN rm -rf /"), "{e}");
    assert_eq!(t.on_disk().2, 0);
}

#[test]
fn tag_and_rmi_follow_docker() {
    let t = new_store();
    let id = t.load_busybox("busybox");
    let short = &hex_part(&id)[..12];
    t.store
        .tag("busybox", "localhost:5000/mine", Some("v1"))
        .unwrap();
    t.store.tag(short, "other", None).unwrap();
    assert!(
        t.store
            .inspect("busybox")
            .unwrap()
            .metadata
            .unwrap()
            .last_tag_time
            .unwrap()
            != crate::image::config::ZERO_TIME
    );
    let tags = t.store.inspect(&id).unwrap().repo_tags.unwrap();
    // Sorted by the fully qualified name, like dockerd.
    assert_eq!(
        tags,
        vec!["busybox:latest", "other:latest", "localhost:5000/mine:v1"]
    );
    assert_eq!(
        t.store
            .tag("busybox", "x@sha256:".to_string().as_str(), None)
            .unwrap_err()
            .class(),
        ErrorClass::InvalidArgument
    );
    assert_eq!(
        t.store.tag("nope", "x", None).unwrap_err().class(),
        ErrorClass::NotFound
    );

    // By ID with several tags: refused unless forced.
    let e = t.store.remove(short, false, &|_| None).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        )
    );

    // Removing one of several tags only untags.
    let r = t.store.remove("other", false, &|_| None).unwrap();
    assert_eq!(
        r,
        vec![ImageDeleteResponseItem {
            untagged: Some("other:latest".into()),
            deleted: None
        }]
    );

    // The last tag of an image used by a container: refused without force.
    t.store
        .remove("localhost:5000/mine:v1", false, &|_| None)
        .unwrap();
    let users = |_: &str| {
        Some(ImageUser {
            container_id: "abcdef0123456789".into(),
            running: false,
        })
    };
    let e = t.store.remove("busybox", false, &users).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to remove repository reference \"busybox\" (must force) - container abcdef012345 is using its referenced image {short}"
        )
    );
    let running = |_: &str| {
        Some(ImageUser {
            container_id: "abcdef0123456789".into(),
            running: true,
        })
    };
    let e = t.store.remove(&id, true, &running).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {short} (cannot be forced) - image is being used by running container abcdef012345"
        )
    );
    // Forced while running: only the tag goes, the image stays.
    let r = t.store.remove("busybox", true, &running).unwrap();
    assert_eq!(
        r,
        vec![ImageDeleteResponseItem {
            untagged: Some("busybox:latest".into()),
            deleted: None
        }]
    );
    assert!(t.store.resolve(&id).is_ok());

    // Now dangling and unused: deleting removes the image, its snapshot and blobs.
    let r = t.store.remove(short, false, &|_| None).unwrap();
    assert_eq!(
        r[0],
        ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id.clone())
        }
    );
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(t.on_disk(), (0, 0, 0));
    assert_eq!(
        t.store.remove(&id, false, &|_| None).unwrap_err().class(),
        ErrorClass::NotFound
    );
    assert!(
        ImageStore::open(t.dir.path())
            .unwrap()
            .list(true, &no_filters(), false)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn rmi_of_last_tag_deletes_but_keeps_shared_layers() {
    let t = new_store();
    let base = RawTar::new().file("base", b"b").finish();
    let top = RawTar::new().file("top", b"t").finish();
    let (a, _) = archive_of(std::slice::from_ref(&base), "a:1", None);
    let (b, _) = archive_of(&[base.clone(), top], "b:1", None);
    t.store.load(&mut Cursor::new(a)).unwrap();
    t.store.load(&mut Cursor::new(b)).unwrap();
    assert_eq!(t.on_disk().0, 2);
    let r = t.store.remove("b:1", false, &|_| None).unwrap();
    assert_eq!(r[0].untagged.as_deref(), Some("b:1"));
    assert!(r[1].deleted.is_some());
    assert_eq!(r.len(), 3, "untag, image, top layer: {r:?}");
    assert_eq!(t.on_disk().0, 1);
    assert!(
        t.store.resolve("a:1").unwrap().layers[0]
            .join("base")
            .is_file()
    );
    // A forced rmi of an image a container uses keeps its layers for the container.
    let stopped = |_: &str| {
        Some(ImageUser {
            container_id: "c".repeat(64),
            running: false,
        })
    };
    let r = t.store.remove("a:1", true, &stopped).unwrap();
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(t.on_disk().0, 1);
}

#[test]
fn list_filters() {
    let t = new_store();
    let bb = t.load_busybox("busybox");
    let (tar, other) = archive_of(&[RawTar::new().file("x", b"x").finish()], "", None);
    assert_eq!(
        t.store.load(&mut Cursor::new(tar)).unwrap(),
        vec![other.clone()]
    );
    let f = |k: &str, v: &str| HashMap::from([(k.to_string(), vec![v.to_string()])]);
    let ids = |l: Vec<ImageSummary>| l.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(t.store.list(false, &no_filters(), false).unwrap()),
        vec![other.clone(), bb.clone()]
    );
    let dangling = t.store.list(false, &f("dangling", "true"), false).unwrap();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].repo_tags, vec!["<none>:<none>"]);
    assert_eq!(
        ids(t.store.list(false, &f("dangling", "false"), false).unwrap()),
        vec![bb.clone()]
    );
    assert_eq!(
        ids(t
            .store
            .list(false, &f("reference", "busy*"), false)
            .unwrap()),
        vec![bb.clone()]
    );
    assert_eq!(
        ids(t
            .store
            .list(false, &f("reference", "busybox:latest"), false)
            .unwrap()),
        vec![bb.clone()]
    );
    assert!(
        t.store
            .list(false, &f("reference", "alpine"), false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(t
            .store
            .list(false, &f("label", "berth.test=yes"), false)
            .unwrap()),
        vec![other.clone()]
    );
    assert_eq!(
        ids(t.store.list(false, &f("before", &other), false).unwrap()),
        vec![bb.clone()]
    );
    assert_eq!(
        t.store
            .list(false, &f("bogus", "1"), false)
            .unwrap_err()
            .class(),
        ErrorClass::InvalidArgument
    );
}

/// The `layer.tar` members of a saved archive, in the first image's manifest order.
fn saved_layers(saved: &[u8]) -> Vec<Vec<u8>> {
    let mut members: HashMap<String, Vec<u8>> = HashMap::new();
    for e in tar::Archive::new(saved).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut b).unwrap();
        members.insert(p, b);
    }
    let m: Vec<crate::image::archive::DockerManifestEntry> =
        serde_json::from_slice(&members["manifest.json"]).unwrap();
    m[0].layers.iter().map(|l| members[l].clone()).collect()
}

/// A layer with every kind of entry a tar-split must reproduce: PAX (long names, xattrs,
/// mtimes), GNU long names, hardlinks, symlinks (and a file written through one),
/// devices, a fifo, whiteouts, an opaque marker, empty files and a padded trailer.
fn tricky_layer() -> Vec<u8> {
    use crate::image::testutil::E;
    let long = format!("d/{}/file-with-a-long-name", "n".repeat(120));
    let mut raw = RawTar::new();
    raw.dir("d")
        .file("d/f1", b"first file")
        .file("d/empty", b"")
        .hardlink("d/hl", "d/f1")
        .symlink("d/sl", "f1")
        .dir("real")
        .symlink("via", "real")
        .file("via/inner", b"written through a symlink")
        .file(&long, b"long name content")
        .file(".wh.gone", b"")
        .dir("opq")
        .file("opq/.wh..wh..opq", b"")
        .entry(E {
            dev: (1, 3),
            mode: 0o666,
            ..E::new("d/null", EntryType::Char)
        })
        .entry(E::new("d/fifo", EntryType::Fifo))
        .entry(E {
            data: b"with xattrs and a precise mtime",
            pax: vec![
                ("SCHILY.xattr.user.berth".into(), b"v".to_vec()),
                ("mtime".into(), b"1600000000.123456789".to_vec()),
            ],
            ..E::new("d/xattr", EntryType::Regular)
        });
    let mut layer = raw.finish();
    // Replace the trailer with a GNU long-name entry, its own trailer and extra zeros.
    layer.truncate(layer.len() - 1024);
    let mut gnu = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(7);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    gnu.append_data(&mut h, format!("g/{}", "x".repeat(150)), &b"gnu lnk"[..])
        .unwrap();
    layer.extend(gnu.into_inner().unwrap());
    layer.extend([0u8; 4096]);
    layer
}

#[test]
fn plain_layers_round_trip_byte_identically_through_tar_split() {
    let t = new_store();
    let base = RawTar::new()
        .file("gone", b"removed by the next layer")
        .dir("opq")
        .file("opq/old", b"hidden by the opaque marker")
        .finish();
    let tricky = tricky_layer();
    let layers = vec![base, tricky];
    let (archive, id) = archive_of(&layers, "berth-split:1", None);
    t.store.load(&mut Cursor::new(archive)).unwrap();
    // Only the config blob: both layers are kept as tar-split records.
    assert_eq!(t.on_disk(), (2, 1, 0), "{:?}", tree(t.dir.path()));
    {
        let state = t.store.lock();
        for l in &state.index.images[&id].layers {
            assert_eq!(l.stored, LayerStorage::Snapshot);
            let dir = t.store.inner.snapshots.path(&l.chain_id);
            assert_eq!(
                crate::image::tarsplit::kept_in(&dir),
                Some(crate::image::tarsplit::Kept::Split)
            );
        }
    }
    let top = t.store.resolve(&id).unwrap().layers[1].clone();
    assert_eq!(
        fs::read(top.join("real/inner")).unwrap(),
        b"written through a symlink"
    );

    let mut out = Vec::new();
    t.store
        .save(&["berth-split:1".to_string()], &mut out)
        .unwrap();
    let saved = saved_layers(&out);
    assert_eq!(saved.len(), 2);
    for (s, l) in saved.iter().zip(&layers) {
        assert_eq!(sha256_digest(s), sha256_digest(l));
        assert_eq!(s, l);
    }
    // And it loads elsewhere as the same image.
    let other = new_store();
    other.store.load(&mut Cursor::new(out)).unwrap();
    assert_eq!(other.store.resolve("berth-split:1").unwrap().id, id);
}

#[test]
fn layer_rewriting_its_own_files_keeps_the_whole_tar() {
    let t = new_store();
    let layer = RawTar::new()
        .file("dup", b"first version")
        .file("keep", b"kept")
        .file("dup", b"second, longer version")
        .dir("x")
        .file("x/inner", b"inside x")
        .file("x", b"x replaced by a file")
        .finish();
    let layers = vec![layer];
    let (archive, id) = archive_of(&layers, "", None);
    t.store.load(&mut Cursor::new(archive)).unwrap();
    let chain = rec_chain(&t, &id);
    let dir = t.store.inner.snapshots.path(&chain);
    assert_eq!(
        crate::image::tarsplit::kept_in(&dir),
        Some(crate::image::tarsplit::Kept::Raw)
    );
    assert_eq!(
        fs::read(dir.join("diff/dup")).unwrap(),
        b"second, longer version"
    );
    let mut out = Vec::new();
    t.store.save(&[id], &mut out).unwrap();
    assert_eq!(saved_layers(&out), layers);
}

#[test]
fn tampered_snapshot_makes_save_fail() {
    let t = new_store();
    let layer = RawTar::new()
        .file("a", b"original content")
        .file("b", b"other")
        .finish();
    let (archive, id) = archive_of(&[layer], "berth-tamper:1", None);
    t.store.load(&mut Cursor::new(archive)).unwrap();
    let diff = t.store.resolve(&id).unwrap().layers[0].clone();

    // Same length, other bytes: caught by the diff ID check.
    fs::write(diff.join("a"), b"ORIGINAL CONTENT").unwrap();
    let e = t
        .store
        .save(std::slice::from_ref(&id), &mut Vec::new())
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("hashes to") && msg.contains("not its diff ID"),
        "{msg}"
    );
    assert_eq!(e.class(), ErrorClass::Internal);

    // Another length: caught when the file is opened.
    fs::write(diff.join("a"), b"short").unwrap();
    let msg = t
        .store
        .save(std::slice::from_ref(&id), &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("snapshot was modified"), "{msg}");
    assert!(msg.contains("/a"), "{msg}");

    // Gone: likewise.
    fs::remove_file(diff.join("a")).unwrap();
    let msg = t
        .store
        .save(&[id], &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cannot open"), "{msg}");
}

#[test]
fn import_of_a_plain_tar_keeps_no_blob_and_round_trips() {
    let t = new_store();
    let layer = busybox_layer().unwrap();
    let id = t
        .store
        .import(&mut Cursor::new(layer.clone()), &ImportOptions::default())
        .unwrap();
    assert_eq!(t.on_disk(), (1, 1, 0));
    let mut out = Vec::new();
    t.store.save(&[id], &mut out).unwrap();
    assert_eq!(saved_layers(&out), vec![layer]);
}

#[test]
fn shared_layers_adopt_tar_split_and_survive_rmi() {
    let t = new_store();
    let base = RawTar::new().file("shared", b"shared layer").finish();
    let top = RawTar::new().file("top", b"top layer").finish();
    // First as a gzip OCI layout: the snapshot keeps no tar, the blob is the gzip.
    let (oci, oci_id) = oci_layout(std::slice::from_ref(&base), "berth-oci", false);
    t.store.load(&mut Cursor::new(oci)).unwrap();
    let chain = rec_chain(&t, &oci_id);
    let snap = t.store.inner.snapshots.path(&chain);
    assert_eq!(crate::image::tarsplit::kept_in(&snap), None);
    // Then two images in one docker-archive sharing that layer (a member used twice).
    let diff_ids: Vec<String> = [&base, &top].iter().map(|l| sha256_digest(l)).collect();
    let chains = chain_ids(&diff_ids);
    let mk = |layers: &[&Vec<u8>], tag: &str| {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": { "Labels": { "tag": tag } },
            "rootfs": { "type": "layers", "diff_ids": diff_ids[..layers.len()] },
        }))
        .unwrap();
        SaveImage {
            id: sha256_digest(&config),
            config,
            repo_tags: vec![tag.to_string()],
            layers: layers
                .iter()
                .zip(&chains)
                .map(|(l, c)| SaveLayer {
                    chain_id: c.clone(),
                    diff_size: l.len() as u64,
                    source: SaveSource::Memory((*l).clone()),
                })
                .collect(),
        }
    };
    let one = mk(&[&base], "berth-one:1");
    let two = mk(&[&base, &top], "berth-two:1");
    let (one_id, two_id) = (one.id.clone(), two.id.clone());
    let mut archive = Vec::new();
    write_docker_archive(&mut archive, &[one, two]).unwrap();
    t.store.load(&mut Cursor::new(archive)).unwrap();
    assert_eq!(
        crate::image::tarsplit::kept_in(&snap),
        Some(crate::image::tarsplit::Kept::Split)
    );
    // The gzip image goes, with its blob; the plain ones still save from the snapshot.
    t.store.remove(&oci_id, false, &|_| None).unwrap();
    for (id, want) in [
        (&one_id, vec![base.clone()]),
        (&two_id, vec![base.clone(), top]),
    ] {
        let mut out = Vec::new();
        t.store.save(std::slice::from_ref(id), &mut out).unwrap();
        assert_eq!(saved_layers(&out), want);
    }
    t.store.remove(&one_id, false, &|_| None).unwrap();
    t.store.remove(&two_id, false, &|_| None).unwrap();
    assert_eq!(t.on_disk(), (0, 0, 0), "{:?}", tree(t.dir.path()));
}

#[test]
fn gnu_sparse_layer_keeps_the_whole_tar() {
    let t = new_store();
    let src = t.dir.path().join("berth-sparse-src");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = fs::File::create(&src).unwrap();
        f.write_all(b"head").unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(b"tail after a hole").unwrap();
    }
    let mut b = tar::Builder::new(Vec::new());
    b.sparse(true);
    b.append_path_with_name(&src, "sparse").unwrap();
    let layer = b.into_inner().unwrap();
    fs::remove_file(&src).unwrap();
    let first = tar::Archive::new(layer.as_slice())
        .entries()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .header()
        .entry_type();
    assert_eq!(first, EntryType::GNUSparse);
    let (archive, id) = archive_of(std::slice::from_ref(&layer), "", None);
    t.store.load(&mut Cursor::new(archive)).unwrap();
    let dir = t.store.inner.snapshots.path(&rec_chain(&t, &id));
    assert_eq!(
        crate::image::tarsplit::kept_in(&dir),
        Some(crate::image::tarsplit::Kept::Raw)
    );
    assert_eq!(
        fs::metadata(dir.join("diff/sparse")).unwrap().len(),
        (1 << 20) + 17
    );
    let mut out = Vec::new();
    t.store.save(&[id], &mut out).unwrap();
    assert_eq!(saved_layers(&out), vec![layer]);
}
