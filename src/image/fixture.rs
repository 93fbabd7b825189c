//! Test and benchmark fixtures built in code from the host's `/bin/busybox` (Debian's
//! `busybox-static`): no binaries are checked in. Public so integration tests and bench
//! scripts can use them.

use std::fs;
use std::io;
use std::path::Path;

use crate::image::archive::{SaveImage, SaveLayer, SaveSource, write_docker_archive};
use crate::image::config::host_arch;
use crate::image::digest::{chain_ids, sha256_digest};
use crate::image::reference::Reference;

/// The busybox applets the fixture image links into `/bin`.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "ls", "true", "false", "sleep", "id", "env", "pwd", "hostname", "printf",
    "test", "grep", "wc", "head", "touch", "mkdir", "rm", "whoami",
];

/// `PATH` of the fixture image, Docker's default.
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Fixed mtime of every fixture entry, so the same busybox binary always gives the same image ID.
const MTIME: u64 = 1_700_000_000;

fn entry(
    b: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    data: &[u8],
    link: Option<&str>,
) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(data.len() as u64);
    if let Some(l) = link {
        h.set_link_name(l)?;
    }
    h.set_cksum();
    b.append(&h, data)
}

/// The fixture's single layer: `/bin/busybox`, applet symlinks, `/etc/passwd`, `/etc/group`
/// and the usual empty mount-point directories.
pub fn busybox_layer() -> io::Result<Vec<u8>> {
    let busybox = fs::read("/bin/busybox")?;
    let mut b = tar::Builder::new(Vec::new());
    for d in [
        "bin/", "dev/", "etc/", "proc/", "root/", "sys/", "usr/", "usr/bin/", "var/",
    ] {
        entry(
            &mut b,
            d,
            tar::EntryType::Directory,
            if d == "root/" { 0o700 } else { 0o755 },
            b"",
            None,
        )?;
    }
    entry(&mut b, "tmp/", tar::EntryType::Directory, 0o1777, b"", None)?;
    entry(
        &mut b,
        "bin/busybox",
        tar::EntryType::Regular,
        0o755,
        &busybox,
        None,
    )?;
    for a in APPLETS {
        entry(
            &mut b,
            &format!("bin/{a}"),
            tar::EntryType::Symlink,
            0o777,
            b"",
            Some("busybox"),
        )?;
    }
    let passwd =
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    let group = b"root:x:0:\nnogroup:x:65534:\n";
    entry(
        &mut b,
        "etc/passwd",
        tar::EntryType::Regular,
        0o644,
        passwd,
        None,
    )?;
    entry(
        &mut b,
        "etc/group",
        tar::EntryType::Regular,
        0o644,
        group,
        None,
    )?;
    b.into_inner()
}

/// The fixture's config bytes for a layer with `diff_id`.
pub fn busybox_config(diff_id: &str) -> Vec<u8> {
    let created = "2023-11-14T22:13:20Z";
    let config = serde_json::json!({
        "architecture": host_arch(),
        "config": { "Env": [PATH_ENV], "Cmd": ["sh"] },
        "created": created,
        "history": [{ "created": created, "created_by": "berth fixture: busybox from /bin/busybox" }],
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    serde_json::to_vec(&config).expect("fixture config serialises")
}

/// Writes a docker-archive (legacy `docker save` layout) to `dest` holding one image made
/// of `/bin/busybox` with applet symlinks (`sh`, `echo`, `cat`, ... see [`APPLETS`]),
/// `/etc/passwd` (root, nobody 65534) and `/etc/group`, `Cmd ["sh"]` and Docker's default
/// `PATH`, tagged `reference` (e.g. `busybox:latest`; empty for none). Returns the image ID.
pub fn busybox_docker_archive(dest: &Path, reference: &str) -> io::Result<String> {
    let layer = busybox_layer()?;
    let diff_id = sha256_digest(&layer);
    let config = busybox_config(&diff_id);
    let id = sha256_digest(&config);
    let repo_tags = if reference.is_empty() {
        Vec::new()
    } else {
        let r = Reference::parse(reference)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        vec![r.with_default_tag().familiar()]
    };
    let chain = chain_ids(std::slice::from_ref(&diff_id)).remove(0);
    let image = SaveImage {
        id: id.clone(),
        config,
        repo_tags,
        layers: vec![SaveLayer {
            chain_id: chain,
            diff_size: layer.len() as u64,
            source: SaveSource::Memory(layer),
        }],
    };
    let mut f = io::BufWriter::new(fs::File::create(dest)?);
    write_docker_archive(&mut f, std::slice::from_ref(&image))?;
    io::Write::flush(&mut f)?;
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(id)
}
