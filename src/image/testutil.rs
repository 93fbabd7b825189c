//! Test fixtures built in code: raw layer tars (including hostile ones the `tar` crate's
//! safe builders refuse to write) and small docker-archive images.

use std::io::Write;

use tar::{EntryType, Header};

/// A tar written header by header, names copied verbatim (`..`, absolute paths and all).
pub struct RawTar {
    b: tar::Builder<Vec<u8>>,
}

/// Options of one raw entry.
pub struct E<'a> {
    pub name: &'a str,
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: &'a str,
    pub data: &'a [u8],
    pub dev: (u32, u32),
    pub pax: Vec<(String, Vec<u8>)>,
}

impl<'a> E<'a> {
    pub fn new(name: &'a str, kind: EntryType) -> E<'a> {
        let mode = if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        };
        E {
            name,
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: "",
            data: b"",
            dev: (0, 0),
            pax: Vec::new(),
        }
    }
}

impl Default for RawTar {
    fn default() -> Self {
        RawTar {
            b: tar::Builder::new(Vec::new()),
        }
    }
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar::default()
    }

    pub fn entry(&mut self, e: E<'_>) -> &mut RawTar {
        let mut pax = e.pax.clone();
        if e.name.len() > 99 {
            pax.push(("path".into(), e.name.as_bytes().to_vec()));
        }
        if e.link.len() > 99 {
            pax.push(("linkpath".into(), e.link.as_bytes().to_vec()));
        }
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in &pax {
                // Each record is "<len> <key>=<value>\n" where len counts itself.
                let rest = k.len() + v.len() + 3;
                let mut len = rest + rest.to_string().len();
                if len.to_string().len() + rest != len {
                    len += 1;
                }
                body.extend_from_slice(format!("{len} {k}=").as_bytes());
                body.extend_from_slice(v);
                body.push(b'\n');
            }
            let mut h = Header::new_ustar();
            raw_name(&mut h, "PaxHeader");
            h.set_entry_type(EntryType::XHeader);
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            self.b.append(&h, body.as_slice()).unwrap();
        }
        let mut h = Header::new_ustar();
        raw_name(&mut h, e.name);
        let link = e.link.as_bytes();
        let n = link.len().min(99);
        h.as_old_mut().linkname[..n].copy_from_slice(&link[..n]);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        self.b.append(&h, e.data).unwrap();
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut RawTar {
        self.entry(E {
            data,
            ..E::new(name, EntryType::Regular)
        })
    }

    pub fn dir(&mut self, name: &str) -> &mut RawTar {
        self.entry(E::new(name, EntryType::Directory))
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut RawTar {
        self.entry(E {
            link: target,
            mode: 0o777,
            ..E::new(name, EntryType::Symlink)
        })
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut RawTar {
        self.entry(E {
            link: target,
            ..E::new(name, EntryType::Link)
        })
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

fn raw_name(h: &mut Header, name: &str) {
    let name = name.as_bytes();
    let n = name.len().min(99);
    h.as_old_mut().name = [0; 100];
    h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

/// Lists every path under `dir` (relative), sorted, so tests can compare trees.
pub fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
