//! Directory trees written as tar streams: a container path for `cp` and `export`,
//! and an overlay upper directory as an OCI/Docker layer for `commit` (and the
//! builder), with overlay whiteouts turned into `.wh.` entries.
//!
//! The walk starts from a directory descriptor and opens every child with
//! `O_NOFOLLOW` relative to its parent's descriptor: a symlink is archived as a
//! symlink and never followed, so a tree that changes under us (a directory swapped
//! for a symlink) cannot lead the walk outside it. Children are archived in byte
//! order of their names, so the same tree gives the same tar (and layer diff ID).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use tar::{EntryType, Header};

use crate::image::ImageError;
use crate::image::digest::BUF_SIZE;
use crate::runtime::userns::IdMapping;

/// How a tree is archived.
#[derive(Debug, Clone, Default)]
pub struct TreeOptions {
    /// The tree is an overlay upper directory: 0/0 character devices become
    /// `.wh.<name>` and `trusted.overlay.opaque=y` directories get `.wh..wh..opq`.
    pub overlay_whiteouts: bool,
    /// Do not descend into kernel pseudo filesystems (`/proc`, `/sys`, devpts,
    /// mqueue, cgroup) met on the way (a running container's root).
    pub skip_pseudo_fs: bool,
    /// Owners are written as a user-namespaced container sees them
    /// ([`IdMapping::to_container`]).
    pub id_map: Option<IdMapping>,
}

/// Filesystems whose content is the kernel's, not the container's.
const PSEUDO_FS: &[u64] = &[
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x1cd1,      // devpts
    0x1980_0202, // mqueue
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0x7363_6673, // securityfs
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0xcafe_4a11, // bpf
];

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// The largest size an ustar header's octal field holds.
const USTAR_MAX_SIZE: u64 = 0o777_7777_7777;
const USTAR_MAX_ID: u64 = 0o777_7777;

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Writes trees into a tar stream.
pub struct TarTree<W: Write> {
    out: W,
    opts: TreeOptions,
    /// First tar name of each multiply-linked file, by (device, inode).
    links: HashMap<(u64, u64), Vec<u8>>,
    buf: Vec<u8>,
    /// Bytes of file content written.
    content: u64,
}

impl<W: Write> TarTree<W> {
    /// A writer into `out`.
    pub fn new(out: W, opts: TreeOptions) -> TarTree<W> {
        TarTree {
            out,
            opts,
            links: HashMap::new(),
            buf: vec![0u8; BUF_SIZE],
            content: 0,
        }
    }

    /// Archives `name` in the directory `parent` (`.` for `parent` itself) as
    /// `tar_name`, and for a directory everything below it.
    pub fn add(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        tar_name: &[u8],
    ) -> Result<(), ImageError> {
        let st = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err(tar_name, errno_io(e)))?;
        self.node(parent, name, &st, tar_name)
    }

    /// Archives what the directory `dir` holds (not `dir` itself), each child
    /// named `prefix` + its name: how a layer tar lists an upper directory.
    pub fn add_children(&mut self, dir: BorrowedFd<'_>, prefix: &[u8]) -> Result<(), ImageError> {
        let fd = rustix::fs::openat(
            dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err(prefix, errno_io(e)))?;
        self.children(&fd, prefix)
    }

    /// Ends the archive (two zero blocks) and returns the writer, flushed.
    pub fn finish(mut self) -> Result<W, ImageError> {
        self.out
            .write_all(&[0u8; 1024])
            .and_then(|()| self.out.flush())
            .map_err(|e| ImageError::io_at("<tar stream>", e))?;
        Ok(self.out)
    }

    /// Bytes of file content written so far.
    pub fn content_bytes(&self) -> u64 {
        self.content
    }

    fn err(&self, tar_name: &[u8], e: io::Error) -> ImageError {
        ImageError::io_at(String::from_utf8_lossy(tar_name).into_owned(), e)
    }

    fn node(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        tar_name: &[u8],
    ) -> Result<(), ImageError> {
        let io_err =
            |e: io::Error| ImageError::io_at(String::from_utf8_lossy(tar_name).into_owned(), e);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let dir = match rustix::fs::openat(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(d) => d,
                    // Swapped for something else since the stat: archive what is there now.
                    Err(Errno::LOOP | Errno::NOTDIR) => return self.add(parent, name, tar_name),
                    Err(Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(io_err(errno_io(e))),
                };
                let mut dname = tar_name.to_vec();
                if !dname.ends_with(b"/") {
                    dname.push(b'/');
                }
                self.header(&dname, st, EntryType::Directory, 0, None)
                    .map_err(io_err)?;
                if self.opts.overlay_whiteouts && is_opaque(dir.as_fd()) {
                    let mut marker = dname.clone();
                    marker.extend_from_slice(OPAQUE_MARKER);
                    let mut wst = *st;
                    wst.st_mode = (st.st_mode & 0o777) | libc::S_IFREG;
                    self.header(&marker, &wst, EntryType::Regular, 0, None)
                        .map_err(io_err)?;
                }
                if self.opts.skip_pseudo_fs
                    && rustix::fs::fstatfs(&dir)
                        .map(|s| PSEUDO_FS.contains(&(s.f_type as u64)))
                        .unwrap_or(false)
                {
                    return Ok(());
                }
                self.children(&dir, &dname)
            }
            FileType::RegularFile => self.file(parent, name, st, tar_name),
            FileType::Symlink => {
                let target = match rustix::fs::readlinkat(parent, name, Vec::new()) {
                    Ok(t) => t.into_bytes(),
                    Err(Errno::NOENT) => return Ok(()),
                    Err(Errno::INVAL) => return self.add(parent, name, tar_name),
                    Err(e) => return Err(io_err(errno_io(e))),
                };
                self.header(tar_name, st, EntryType::Symlink, 0, Some(&target))
                    .map_err(io_err)
            }
            FileType::CharacterDevice if self.opts.overlay_whiteouts && st.st_rdev == 0 => {
                // An overlay whiteout: the OCI/Docker form is an empty `.wh.<name>` file.
                let (dir, base) = split_name(tar_name);
                let mut wname = dir.to_vec();
                wname.extend_from_slice(WHITEOUT_PREFIX);
                wname.extend_from_slice(base);
                let mut wst = *st;
                wst.st_mode = 0o600 | libc::S_IFREG;
                self.header(&wname, &wst, EntryType::Regular, 0, None)
                    .map_err(io_err)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let kind = match FileType::from_raw_mode(st.st_mode) {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                self.header(tar_name, st, kind, 0, None).map_err(io_err)
            }
            // Sockets are not archived (as Docker's tar skips them).
            _ => Ok(()),
        }
    }

    fn children(&mut self, dir: &OwnedFd, prefix: &[u8]) -> Result<(), ImageError> {
        let io_err =
            |e: io::Error| ImageError::io_at(String::from_utf8_lossy(prefix).into_owned(), e);
        let mut names: Vec<Vec<u8>> = Vec::new();
        for e in rustix::fs::Dir::read_from(dir).map_err(|e| io_err(errno_io(e)))? {
            let e = e.map_err(|e| io_err(errno_io(e)))?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for n in names {
            let name = OsString::from_vec(n);
            let st = match rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Removed since the listing.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_err(errno_io(e))),
            };
            let mut child = prefix.to_vec();
            if !child.is_empty() && !child.ends_with(b"/") {
                child.push(b'/');
            }
            child.extend_from_slice(name.as_bytes());
            self.node(dir.as_fd(), &name, &st, &child)?;
        }
        Ok(())
    }

    fn file(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        st: &Stat,
        tar_name: &[u8],
    ) -> Result<(), ImageError> {
        let io_err =
            |e: io::Error| ImageError::io_at(String::from_utf8_lossy(tar_name).into_owned(), e);
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                return self
                    .header(tar_name, st, EntryType::Link, 0, Some(&first))
                    .map_err(io_err);
            }
            self.links.insert(key, tar_name.to_vec());
        }
        // O_NONBLOCK: a FIFO swapped in after the stat must not hang the walk.
        let fd = match rustix::fs::openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(Errno::LOOP) => return self.add(parent, name, tar_name),
            Err(e) => return Err(io_err(errno_io(e))),
        };
        // The header describes the file we opened, not the one we listed.
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err(errno_io(e)))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return self.add(parent, name, tar_name);
        }
        let size = st.st_size as u64;
        let mut cap = [0u8; 256];
        let caps = rustix::fs::fgetxattr(&fd, "security.capability", &mut cap[..])
            .ok()
            .map(|n| cap[..n].to_vec());
        let xattrs: Vec<(&str, Vec<u8>)> = caps
            .map(|v| vec![("SCHILY.xattr.security.capability", v)])
            .unwrap_or_default();
        self.header_with(tar_name, &st, EntryType::Regular, size, None, &xattrs)
            .map_err(io_err)?;
        let mut file = std::fs::File::from(fd);
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(e)),
            };
            self.out.write_all(&self.buf[..n]).map_err(io_err)?;
            left -= n as u64;
        }
        // A file that shrank while we read it is padded to the size in its header.
        if left > 0 {
            self.buf[..BUF_SIZE.min(left as usize)].fill(0);
            while left > 0 {
                let n = left.min(self.buf.len() as u64) as usize;
                self.out.write_all(&self.buf[..n]).map_err(io_err)?;
                left -= n as u64;
            }
        }
        self.content += size;
        self.pad(size).map_err(io_err)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    fn header(
        &mut self,
        name: &[u8],
        st: &Stat,
        kind: EntryType,
        size: u64,
        link: Option<&[u8]>,
    ) -> io::Result<()> {
        self.header_with(name, st, kind, size, link, &[])
    }

    /// Writes one ustar header, preceded by a PAX header for what ustar cannot hold.
    fn header_with(
        &mut self,
        name: &[u8],
        st: &Stat,
        kind: EntryType,
        size: u64,
        link: Option<&[u8]>,
        extra: &[(&str, Vec<u8>)],
    ) -> io::Result<()> {
        let (uid, gid) = match &self.opts.id_map {
            Some(m) => m.to_container(st.st_uid, st.st_gid),
            None => (st.st_uid, st.st_gid),
        };
        let mut pax: Vec<u8> = Vec::new();
        let mut record = |k: &str, v: &[u8]| {
            // "<len> <key>=<value>\n", where <len> counts itself.
            let body = k.len() + v.len() + 3;
            let mut len = body + 1;
            while len != body + len.to_string().len() {
                len = body + len.to_string().len();
            }
            pax.extend_from_slice(format!("{len} {k}=").as_bytes());
            pax.extend_from_slice(v);
            pax.push(b'\n');
        };
        if name.len() > 100 {
            record("path", name);
        }
        if let Some(l) = link
            && l.len() > 100
        {
            record("linkpath", l);
        }
        if u64::from(uid) > USTAR_MAX_ID {
            record("uid", uid.to_string().as_bytes());
        }
        if u64::from(gid) > USTAR_MAX_ID {
            record("gid", gid.to_string().as_bytes());
        }
        if size > USTAR_MAX_SIZE {
            record("size", size.to_string().as_bytes());
        }
        for (k, v) in extra {
            record(k, v);
        }
        if !pax.is_empty() {
            let mut h = Header::new_ustar();
            set_name(&mut h, b"././@PaxHeader");
            h.set_entry_type(EntryType::XHeader);
            h.set_mode(0o644);
            h.set_size(pax.len() as u64);
            h.set_mtime(st.st_mtime.max(0) as u64);
            h.set_cksum();
            self.out.write_all(h.as_bytes())?;
            self.out.write_all(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        let mut h = Header::new_ustar();
        set_name(&mut h, name);
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(uid).min(USTAR_MAX_ID));
        h.set_gid(u64::from(gid).min(USTAR_MAX_ID));
        h.set_size(size.min(USTAR_MAX_SIZE));
        h.set_mtime(st.st_mtime.max(0) as u64);
        if let Some(l) = link {
            let field = &mut h.as_old_mut().linkname;
            let n = l.len().min(field.len());
            field[..n].copy_from_slice(&l[..n]);
        }
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(rustix::fs::major(st.st_rdev))?;
            h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
        }
        h.set_cksum();
        self.out.write_all(h.as_bytes())
    }
}

/// Puts `name` in the header's name field, truncated (a PAX `path` holds the whole).
fn set_name(h: &mut Header, name: &[u8]) {
    let field = &mut h.as_old_mut().name;
    let n = name.len().min(field.len());
    field[..n].copy_from_slice(&name[..n]);
}

/// `("a/b/", "c")` for `a/b/c`.
fn split_name(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|&b| b == b'/') {
        Some(i) => (&name[..=i], &name[i + 1..]),
        None => (&[], name),
    }
}

fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let mut v = [0u8; 4];
    matches!(
        rustix::fs::fgetxattr(dir, "trusted.overlay.opaque", &mut v[..]),
        Ok(n) if &v[..n] == b"y"
    )
}

/// Writes the overlay upper directory `upper` as a layer tar into `out`;
/// with `id_map`, the owners of a user-namespaced container's files as it
/// sees them.
pub fn write_layer<W: Write>(
    upper: &std::path::Path,
    id_map: Option<IdMapping>,
    out: W,
) -> Result<W, ImageError> {
    let dir = rustix::fs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::io_at(upper, errno_io(e)))?;
    let mut tree = TarTree::new(
        out,
        TreeOptions {
            overlay_whiteouts: true,
            skip_pseudo_fs: false,
            id_map,
        },
    );
    tree.add_children(dir.as_fd(), b"")?;
    tree.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> Vec<(String, EntryType, u64)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    e.header().entry_type(),
                    e.size(),
                )
            })
            .collect()
    }

    #[test]
    fn trees_are_archived_sorted_with_links_and_long_names() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("top");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("b"), b"hello").unwrap();
        std::fs::hard_link(root.join("b"), root.join("c")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", root.join("a")).unwrap();
        let long = "x".repeat(150);
        std::fs::write(root.join(&long), b"").unwrap();
        let dir =
            rustix::fs::open(d.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let mut t = TarTree::new(Vec::new(), TreeOptions::default());
        t.add(dir.as_fd(), OsStr::new("top"), b"renamed").unwrap();
        let out = t.finish().unwrap();
        let got = entries(&out);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        let long_name = format!("renamed/{long}");
        assert_eq!(
            names,
            vec![
                "renamed/",
                "renamed/a",
                "renamed/b",
                "renamed/c",
                long_name.as_str()
            ]
        );
        assert_eq!(got[1].1, EntryType::Symlink);
        assert_eq!(got[2], ("renamed/b".into(), EntryType::Regular, 5));
        assert_eq!(got[3].1, EntryType::Link);
    }

    #[test]
    fn cp_extraction_round_trips_renames_and_refuses_dir_swaps() {
        use crate::image::apply::{ExtractOptions, extract};
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), b"data").unwrap();
        std::fs::write(src.join(".wh.plain"), b"not a whiteout").unwrap();
        let dir =
            rustix::fs::open(d.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let mut t = TarTree::new(Vec::new(), TreeOptions::default());
        t.add(dir.as_fd(), OsStr::new("src"), b"src").unwrap();
        let tar = t.finish().unwrap();

        let dest = d.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let open =
            || rustix::fs::open(&dest, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            owner: Some((0, 0)),
            rebase: Some((vec![b"src".to_vec()], vec![b"renamed".to_vec()])),
            id_map: None,
        };
        extract(&tar[..], open(), &dest, &[], &opts).unwrap();
        assert_eq!(std::fs::read(dest.join("renamed/sub/f")).unwrap(), b"data");
        assert_eq!(
            std::fs::read(dest.join("renamed/.wh.plain")).unwrap(),
            b"not a whiteout"
        );
        // A file where the tar has a directory is refused, as dockerd does.
        std::fs::remove_dir_all(dest.join("renamed/sub")).unwrap();
        std::fs::write(dest.join("renamed/sub"), b"file").unwrap();
        let e = extract(&tar[..], open(), &dest, &[], &opts).unwrap_err();
        assert!(
            e.to_string().contains("cannot overwrite non-directory"),
            "{e}"
        );
    }

    #[test]
    fn upper_whiteouts_become_oci_entries() {
        let d = tempfile::tempdir().unwrap();
        let upper = d.path().join("upper");
        std::fs::create_dir_all(upper.join("opq")).unwrap();
        std::fs::write(upper.join("opq/new"), b"n").unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            upper.join("gone"),
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(
            upper.join("opq"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let tar = write_layer(&upper, None, Vec::new()).unwrap();
        let names: Vec<String> = entries(&tar).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            vec![".wh.gone", "opq/", "opq/.wh..wh..opq", "opq/new"]
        );
    }

    #[test]
    fn split_names() {
        assert_eq!(split_name(b"a/b/c"), (&b"a/b/"[..], &b"c"[..]));
        assert_eq!(split_name(b"c"), (&b""[..], &b"c"[..]));
    }
}
