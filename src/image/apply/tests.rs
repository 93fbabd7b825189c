//! Layer applier tests: normal entries and one test per hostile tar. They need root
//! (ownership, device nodes, `trusted.*` xattrs), as CI runs them.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::*;
use crate::image::digest::sha256_digest;
use crate::image::testutil::{E, RawTar, gzip, tree, zstd};

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "layer applier tests need root (ownership, mknod, trusted.* xattrs)"
    );
}

struct Fixture {
    tmp: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        require_root();
        let tmp = tempfile::Builder::new()
            .prefix("berth-apply-")
            .tempdir()
            .unwrap();
        fs::create_dir(tmp.path().join("root")).unwrap();
        fs::write(tmp.path().join("canary"), b"canary").unwrap();
        Fixture { tmp }
    }
    fn t(&self) -> &Path {
        self.tmp.path()
    }
    fn root(&self) -> PathBuf {
        self.t().join("root")
    }
    fn apply(&self, tar: &[u8]) -> Result<LayerStats, ImageError> {
        apply_layer(tar, &self.root())
    }
    /// Nothing outside `root/` changed: the canary is intact and alone.
    fn assert_host_untouched(&self) {
        let c = self.t().join("canary");
        assert_eq!(fs::read(&c).unwrap(), b"canary");
        let md = fs::symlink_metadata(&c).unwrap();
        assert!(md.is_file());
        assert_eq!(md.nlink(), 1, "canary gained a hardlink");
        let outside: Vec<String> = tree(self.t())
            .into_iter()
            .filter(|p| p != "canary" && p != "root" && !p.starts_with("root/"))
            .collect();
        assert!(
            outside.is_empty(),
            "created outside the snapshot: {outside:?}"
        );
        assert!(rustix::fs::lgetxattr(self.t(), "trusted.overlay.opaque", &mut [0u8; 8]).is_err());
    }
}

fn refused(r: Result<LayerStats, ImageError>) -> ImageError {
    let e = r.expect_err("hostile tar was accepted");
    assert_eq!(e.class(), crate::api::ErrorClass::InvalidArgument, "{e}");
    e
}

fn unique(tag: &str) -> String {
    format!("berth-{tag}-{}", &crate::fsutil::random_id()[..12])
}

#[test]
fn files_dirs_modes_owners_and_mtimes() {
    let f = Fixture::new();
    let tar = RawTar::new()
        .entry(E {
            mode: 0o750,
            uid: 1000,
            gid: 1001,
            mtime: 1_500_000_000,
            ..E::new("etc/", EntryType::Directory)
        })
        .entry(E {
            mode: 0o4755,
            uid: 1,
            gid: 2,
            mtime: 1_400_000_000,
            data: b"#!/bin/sh\n",
            ..E::new("etc/prog", EntryType::Regular)
        })
        .entry(E {
            mode: 0o1777,
            ..E::new("./tmp/", EntryType::Directory)
        })
        .file("deep/missing/parent/file", b"x")
        .entry(E {
            pax: vec![("mtime".into(), b"1234567890.5".to_vec())],
            data: b"p",
            ..E::new("paxtime", EntryType::Regular)
        })
        .finish();
    let stats = f.apply(&tar).unwrap();
    assert_eq!(stats.diff_id, sha256_digest(&tar));
    assert_eq!(stats.diff_size, tar.len() as u64);
    assert_eq!(stats.unpacked_size, 10 + 1 + 1);
    let r = f.root();
    let etc = fs::metadata(r.join("etc")).unwrap();
    assert_eq!(
        (etc.mode() & 0o7777, etc.uid(), etc.gid(), etc.mtime()),
        (0o750, 1000, 1001, 1_500_000_000)
    );
    let prog = fs::metadata(r.join("etc/prog")).unwrap();
    assert_eq!(
        (prog.mode() & 0o7777, prog.uid(), prog.gid(), prog.mtime()),
        (0o4755, 1, 2, 1_400_000_000)
    );
    assert_eq!(fs::read(r.join("etc/prog")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(
        fs::metadata(r.join("tmp")).unwrap().permissions().mode() & 0o7777,
        0o1777
    );
    assert_eq!(fs::read(r.join("deep/missing/parent/file")).unwrap(), b"x");
    assert_eq!(
        fs::metadata(r.join("deep/missing")).unwrap().mode() & 0o777,
        0o755
    );
    let pt = fs::metadata(r.join("paxtime")).unwrap();
    assert_eq!((pt.mtime(), pt.mtime_nsec()), (1_234_567_890, 500_000_000));
    f.assert_host_untouched();
}

#[test]
fn symlinks_hardlinks_devices_fifos() {
    let f = Fixture::new();
    let tar = RawTar::new()
        .file("bin/busybox", b"elf")
        .symlink("bin/sh", "busybox")
        .symlink("abs", "/etc/passwd")
        .hardlink("bin/ls", "bin/busybox")
        .entry(E {
            dev: (1, 3),
            mode: 0o666,
            ..E::new("dev/null", EntryType::Char)
        })
        .entry(E {
            dev: (7, 0),
            mode: 0o660,
            ..E::new("dev/loop0", EntryType::Block)
        })
        .entry(E {
            mode: 0o640,
            uid: 5,
            ..E::new("run/fifo", EntryType::Fifo)
        })
        .finish();
    f.apply(&tar).unwrap();
    let r = f.root();
    assert_eq!(
        fs::read_link(r.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        fs::read_link(r.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::metadata(r.join("bin/ls")).unwrap().ino(),
        fs::metadata(r.join("bin/busybox")).unwrap().ino()
    );
    assert_eq!(fs::metadata(r.join("bin/busybox")).unwrap().nlink(), 2);
    let null = fs::symlink_metadata(r.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (rustix::fs::makedev(1, 3), 0o666)
    );
    assert!(
        fs::symlink_metadata(r.join("dev/loop0"))
            .unwrap()
            .file_type()
            .is_block_device()
    );
    let fifo = fs::symlink_metadata(r.join("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!((fifo.mode() & 0o7777, fifo.uid()), (0o640, 5));
    f.assert_host_untouched();
}

#[test]
fn xattrs_are_applied_but_overlay_xattrs_from_content_are_not() {
    let f = Fixture::new();
    let x = |k: &str, v: &[u8]| (format!("SCHILY.xattr.{k}"), v.to_vec());
    let tar = RawTar::new()
        .entry(E {
            pax: vec![x("user.berth", b"dir"), x("trusted.overlay.opaque", b"y")],
            ..E::new("d/", EntryType::Directory)
        })
        .entry(E {
            pax: vec![x("user.berth", b"file")],
            data: b"c",
            ..E::new("d/f", EntryType::Regular)
        })
        .finish();
    f.apply(&tar).unwrap();
    let get = |p: &Path, k: &str| {
        let mut buf = [0u8; 64];
        rustix::fs::lgetxattr(p, k, &mut buf)
            .ok()
            .map(|n| buf[..n].to_vec())
    };
    assert_eq!(get(&f.root().join("d"), "user.berth").unwrap(), b"dir");
    assert_eq!(get(&f.root().join("d/f"), "user.berth").unwrap(), b"file");
    assert_eq!(get(&f.root().join("d"), "trusted.overlay.opaque"), None);
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let f = Fixture::new();
    let tar = RawTar::new()
        .dir("etc/")
        .file("etc/.wh.motd", b"")
        .dir("var/")
        .file("var/.wh..wh..opq", b"")
        .file("var/kept", b"k")
        .file(".wh..wh.plnk", b"")
        .finish();
    f.apply(&tar).unwrap();
    let r = f.root();
    let wh = fs::symlink_metadata(r.join("etc/motd")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!r.join("etc/.wh.motd").exists());
    let mut buf = [0u8; 4];
    let n = rustix::fs::getxattr(r.join("var"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert!(!r.join("var/.wh..wh..opq").exists());
    assert_eq!(fs::read(r.join("var/kept")).unwrap(), b"k");
    assert!(!r.join(".wh..wh.plnk").exists());
}

#[test]
fn gzip_zstd_and_plain_layers_give_the_same_diff_id() {
    let tar = RawTar::new().dir("a/").file("a/b", b"hello").finish();
    let want = sha256_digest(&tar);
    for (blob, c) in [
        (tar.clone(), Compression::None),
        (gzip(&tar), Compression::Gzip),
        (zstd(&tar), Compression::Zstd),
    ] {
        let f = Fixture::new();
        let s = f.apply(&blob).unwrap();
        assert_eq!((s.diff_id.as_str(), s.compression), (want.as_str(), c));
        assert_eq!(fs::read(f.root().join("a/b")).unwrap(), b"hello");
    }
}

#[test]
fn later_entries_replace_earlier_ones() {
    let f = Fixture::new();
    let tar = RawTar::new()
        .dir("x/")
        .file("x/inner", b"1")
        .file("x", b"now a file")
        .symlink("y", "x")
        .dir("y/")
        .file("z", b"old")
        .file("z", b"new")
        .finish();
    f.apply(&tar).unwrap();
    let r = f.root();
    assert_eq!(fs::read(r.join("x")).unwrap(), b"now a file");
    assert!(fs::symlink_metadata(r.join("y")).unwrap().is_dir());
    assert_eq!(fs::read(r.join("z")).unwrap(), b"new");
}

#[test]
fn truncated_tar_is_an_invalid_archive() {
    let f = Fixture::new();
    let tar = RawTar::new().file("big", &[7u8; 4096]).finish();
    refused(f.apply(&tar[..1000]));
}

// ---- hostile tars: each is refused or confined, and the host is untouched ----

#[test]
fn hostile_dotdot_escape_is_refused() {
    let f = Fixture::new();
    let e = refused(f.apply(&RawTar::new().file("../escape", b"x").finish()));
    assert!(e.to_string().contains("escapes"), "{e}");
    assert!(!f.t().join("escape").exists());
    f.assert_host_untouched();
}

#[test]
fn hostile_nested_dotdot_escape_is_refused() {
    let f = Fixture::new();
    refused(
        f.apply(
            &RawTar::new()
                .dir("a/")
                .file("a/../../escape", b"x")
                .finish(),
        ),
    );
    f.assert_host_untouched();
}

#[test]
fn hostile_dotdot_in_long_pax_name_is_refused() {
    let f = Fixture::new();
    let name = format!("{}/../../../escape", "d".repeat(120));
    refused(f.apply(&RawTar::new().file(&name[..name.len()], b"x").finish()));
    let name = format!("a/{}/../../../escape", "d".repeat(120));
    refused(f.apply(&RawTar::new().file(&name, b"x").finish()));
    f.assert_host_untouched();
}

#[test]
fn hostile_absolute_path_is_confined() {
    let f = Fixture::new();
    let dir = unique("abs");
    f.apply(&RawTar::new().file(&format!("/{dir}/file"), b"x").finish())
        .unwrap();
    assert_eq!(fs::read(f.root().join(&dir).join("file")).unwrap(), b"x");
    assert!(!Path::new("/").join(&dir).exists());
    f.assert_host_untouched();
}

#[test]
fn hostile_symlink_to_root_then_file_through_it_is_confined() {
    let f = Fixture::new();
    let name = unique("escape");
    f.apply(
        &RawTar::new()
            .symlink("link", "/")
            .file(&format!("link/{name}"), b"x")
            .finish(),
    )
    .unwrap();
    assert!(!Path::new("/").join(&name).exists());
    assert_eq!(fs::read(f.root().join(&name)).unwrap(), b"x");
    f.assert_host_untouched();
}

#[test]
fn hostile_symlink_dotdot_then_file_through_it_is_confined() {
    let f = Fixture::new();
    f.apply(
        &RawTar::new()
            .symlink("link", "../..")
            .file("link/escape", b"x")
            .finish(),
    )
    .unwrap();
    assert_eq!(fs::read(f.root().join("escape")).unwrap(), b"x");
    f.assert_host_untouched();
}

#[test]
fn hostile_symlink_to_host_dir_then_overwrite_canary_is_confined() {
    let f = Fixture::new();
    let host = f.t().to_str().unwrap().to_string();
    f.apply(
        &RawTar::new()
            .symlink("link", &host)
            .file("link/canary", b"pwned")
            .finish(),
    )
    .unwrap();
    let inside = f.root().join(host.trim_start_matches('/')).join("canary");
    assert_eq!(fs::read(inside).unwrap(), b"pwned");
    f.assert_host_untouched();
}

#[test]
fn hostile_symlink_replaced_by_file_does_not_write_through() {
    let f = Fixture::new();
    let canary = f.t().join("canary");
    f.apply(
        &RawTar::new()
            .symlink("link", canary.to_str().unwrap())
            .file("link", b"pwned")
            .finish(),
    )
    .unwrap();
    assert_eq!(fs::read(f.root().join("link")).unwrap(), b"pwned");
    assert!(
        fs::symlink_metadata(f.root().join("link"))
            .unwrap()
            .is_file()
    );
    f.assert_host_untouched();
}

#[test]
fn hostile_hardlink_through_symlink_is_refused() {
    let f = Fixture::new();
    let host = f.t().to_str().unwrap().to_string();
    refused(
        f.apply(
            &RawTar::new()
                .symlink("link", &host)
                .hardlink("h", "link/canary")
                .finish(),
        ),
    );
    refused(
        f.apply(
            &RawTar::new()
                .symlink("l2", "/")
                .hardlink("h2", &format!("l2{host}/canary"))
                .finish(),
        ),
    );
    f.assert_host_untouched();
}

#[test]
fn hostile_hardlink_to_outside_is_refused() {
    let f = Fixture::new();
    let e = refused(f.apply(&RawTar::new().hardlink("h", "../../outside").finish()));
    assert!(e.to_string().contains("escapes"), "{e}");
    refused(f.apply(&RawTar::new().hardlink("h", "../canary").finish()));
    f.assert_host_untouched();
}

#[test]
fn hostile_hardlink_created_through_symlink_is_confined() {
    let f = Fixture::new();
    let host = f.t().to_str().unwrap().to_string();
    f.apply(
        &RawTar::new()
            .file("f", b"data")
            .symlink("link", &host)
            .hardlink("link/x", "f")
            .finish(),
    )
    .unwrap();
    assert_eq!(
        fs::read(f.root().join(host.trim_start_matches('/')).join("x")).unwrap(),
        b"data"
    );
    f.assert_host_untouched();
}

#[test]
fn hostile_whiteouts_outside_are_refused_or_confined() {
    let f = Fixture::new();
    refused(f.apply(&RawTar::new().file("../.wh.canary", b"").finish()));
    refused(f.apply(&RawTar::new().file(".wh.", b"").finish()));
    refused(f.apply(&RawTar::new().file("a/.wh...", b"").finish()));
    let host = f.t().to_str().unwrap().to_string();
    f.apply(
        &RawTar::new()
            .symlink("link", &host)
            .file("link/.wh.canary", b"")
            .finish(),
    )
    .unwrap();
    let inside = f.root().join(host.trim_start_matches('/')).join("canary");
    assert!(
        fs::symlink_metadata(inside)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    f.apply(
        &RawTar::new()
            .symlink("l2", "/..")
            .file("l2/.wh..wh..opq", b"")
            .finish(),
    )
    .unwrap();
    f.assert_host_untouched();
}

#[test]
fn hostile_dir_through_planted_symlink_is_confined() {
    let f = Fixture::new();
    let host = f.t().to_str().unwrap().to_string();
    f.apply(
        &RawTar::new()
            .symlink("link", &host)
            .dir("link/sub/")
            .file("link/sub/f", b"x")
            .finish(),
    )
    .unwrap();
    assert!(
        f.root()
            .join(host.trim_start_matches('/'))
            .join("sub/f")
            .is_file()
    );
    assert!(!f.t().join("sub").exists());
    // The same path as a directory entry replaces the symlink itself.
    f.apply(&RawTar::new().symlink("l2", &host).dir("l2/").finish())
        .unwrap();
    assert!(fs::symlink_metadata(f.root().join("l2")).unwrap().is_dir());
    f.assert_host_untouched();
}

#[test]
fn hostile_device_under_symlinked_dir_is_confined() {
    let f = Fixture::new();
    let host = f.t().to_str().unwrap().to_string();
    let tar = RawTar::new()
        .symlink("dev", &host)
        .entry(E {
            dev: (1, 3),
            mode: 0o666,
            ..E::new("dev/null", EntryType::Char)
        })
        .entry(E {
            ..E::new("dev/fifo", EntryType::Fifo)
        })
        .finish();
    f.apply(&tar).unwrap();
    let inside = f.root().join(host.trim_start_matches('/'));
    assert!(
        fs::symlink_metadata(inside.join("null"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(!f.t().join("null").exists());
    f.assert_host_untouched();
}

#[test]
fn hostile_symlink_loop_is_refused_without_hanging() {
    let f = Fixture::new();
    refused(
        f.apply(
            &RawTar::new()
                .symlink("a", "b")
                .symlink("b", "a")
                .file("a/x", b"x")
                .finish(),
        ),
    );
    f.assert_host_untouched();
}
