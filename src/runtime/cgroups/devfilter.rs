//! The device allow list on cgroup v2, which has no `devices` controller:
//! an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the
//! container's cgroup, built from the same `devices.allow` rules as v1
//! (the way runc's `devicefilter` does it). Without it a container could
//! open any device node it can create or that its image ships.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// `bpf(2)` commands and constants (linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
/// `bpf_cgroup_dev_ctx.access_type`: the device type in the low 16 bits,
/// the access in the high 16.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// Registers: r1 the context, r2 type, r3 access, r4 major, r5 minor, r6 scratch.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;

/// One instruction (`struct bpf_insn`), little endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    fn encode(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

fn load_word(dst: u8, off: i16) -> Insn {
    // BPF_LDX | BPF_MEM | BPF_W
    Insn {
        code: 0x61,
        dst,
        src: R1,
        off,
        imm: 0,
    }
}
fn and_imm(dst: u8, imm: i32) -> Insn {
    // BPF_ALU64 | BPF_AND | BPF_K
    Insn {
        code: 0x57,
        dst,
        src: 0,
        off: 0,
        imm,
    }
}
fn rsh_imm(dst: u8, imm: i32) -> Insn {
    // BPF_ALU64 | BPF_RSH | BPF_K
    Insn {
        code: 0x77,
        dst,
        src: 0,
        off: 0,
        imm,
    }
}
fn mov_imm(dst: u8, imm: i32) -> Insn {
    // BPF_ALU64 | BPF_MOV | BPF_K
    Insn {
        code: 0xb7,
        dst,
        src: 0,
        off: 0,
        imm,
    }
}
fn mov_reg(dst: u8, src: u8) -> Insn {
    // BPF_ALU64 | BPF_MOV | BPF_X
    Insn {
        code: 0xbf,
        dst,
        src,
        off: 0,
        imm: 0,
    }
}
fn jne_imm(dst: u8, imm: i32) -> Insn {
    // BPF_JMP | BPF_JNE | BPF_K; the offset is filled in per rule.
    Insn {
        code: 0x55,
        dst,
        src: 0,
        off: 0,
        imm,
    }
}
fn exit() -> Insn {
    // BPF_JMP | BPF_EXIT
    Insn {
        code: 0x95,
        dst: 0,
        src: 0,
        off: 0,
        imm: 0,
    }
}

/// One `devices.allow` rule: `c 1:3 rwm`, `b *:* m`, `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    kind: Option<i32>,
    major: Option<i32>,
    minor: Option<i32>,
    access: i32,
}

fn parse_rule(rule: &str) -> io::Result<Rule> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad device rule {rule:?}"),
        )
    };
    let mut parts = rule.split_whitespace();
    let kind = match parts.next() {
        Some("a") => {
            return Ok(Rule {
                kind: None,
                major: None,
                minor: None,
                access: 7,
            });
        }
        Some("c") => DEV_CHAR,
        Some("b") => DEV_BLOCK,
        _ => return Err(bad()),
    };
    let (major, minor) = parts
        .next()
        .and_then(|n| n.split_once(':'))
        .ok_or_else(bad)?;
    let num = |s: &str| -> io::Result<Option<i32>> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| bad())
        }
    };
    let mut access = 0;
    for c in parts.next().ok_or_else(bad)?.chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return Err(bad()),
        };
    }
    Ok(Rule {
        kind: Some(kind),
        major: num(major)?,
        minor: num(minor)?,
        access,
    })
}

/// The program for `rules`: allow (1) when any rule matches, else deny (0).
fn program(rules: &[&str]) -> io::Result<Vec<Insn>> {
    let mut prog = vec![
        load_word(R2, 0),
        and_imm(R2, 0xffff),
        load_word(R3, 0),
        rsh_imm(R3, 16),
        load_word(R4, 4),
        load_word(R5, 8),
    ];
    for rule in rules {
        let r = parse_rule(rule)?;
        let mut block = Vec::new();
        if let Some(kind) = r.kind {
            block.push(jne_imm(R2, kind));
        }
        if let Some(major) = r.major {
            block.push(jne_imm(R4, major));
        }
        if let Some(minor) = r.minor {
            block.push(jne_imm(R5, minor));
        }
        if r.access != 7 {
            block.push(mov_reg(R6, R3));
            block.push(and_imm(R6, !r.access & 7));
            block.push(jne_imm(R6, 0));
        }
        block.push(mov_imm(R0, 1));
        block.push(exit());
        // Every conditional jump skips to the end of its rule's block.
        let n = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if insn.code == 0x55 {
                insn.off = i16::try_from(n - i - 1).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "device rule too long")
                })?;
            }
        }
        prog.extend(block);
    }
    prog.push(mov_imm(R0, 0));
    prog.push(exit());
    Ok(prog)
}

/// `union bpf_attr` for `BPF_PROG_LOAD`, up to the fields used.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// `union bpf_attr` for `BPF_PROG_ATTACH`.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Loads the program for `rules` and attaches it to the cgroup v2 dir
/// `cgroup` (alongside any program of its ancestors: all must allow).
pub fn attach(cgroup: &Path, rules: &[&str]) -> io::Result<()> {
    let insns: Vec<u8> = program(rules)?.into_iter().flat_map(Insn::encode).collect();
    let license = c"Apache-2.0";
    let load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
    };
    // SAFETY: `load` is a valid bpf_attr prefix of the size passed; the
    // instruction and licence buffers it points to outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &load as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new fd; nothing else owns it.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let dir = std::fs::File::open(cgroup)?;
    let attach = ProgAttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: `attach` is a valid bpf_attr prefix of the size passed; both
    // fds are open for the duration of the call. The cgroup keeps its own
    // reference to the program, so closing `prog` afterwards is fine.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_like_devices_allow() {
        assert_eq!(
            parse_rule("c 1:3 rwm").unwrap(),
            Rule {
                kind: Some(DEV_CHAR),
                major: Some(1),
                minor: Some(3),
                access: 7
            }
        );
        assert_eq!(
            parse_rule("b *:* m").unwrap(),
            Rule {
                kind: Some(DEV_BLOCK),
                major: None,
                minor: None,
                access: ACC_MKNOD
            }
        );
        assert_eq!(parse_rule("c 136:* rw").unwrap().minor, None);
        assert!(parse_rule("x 1:3 r").is_err());
        assert!(parse_rule("c 1 r").is_err());
        assert!(parse_rule("c 1:3 q").is_err());
    }

    #[test]
    fn each_rule_is_a_block_whose_jumps_skip_to_the_next() {
        let p = program(&["c 1:3 rwm", "b *:* m"]).unwrap();
        // Prologue (6), "c 1:3 rwm" (3 jumps + 2), "b *:* m" (1 jump + 3 + 2), deny (2).
        assert_eq!(p.len(), 6 + 5 + 6 + 2);
        assert_eq!(
            p[6],
            Insn {
                off: 4,
                ..jne_imm(R2, DEV_CHAR)
            }
        );
        assert_eq!(
            p[7],
            Insn {
                off: 3,
                ..jne_imm(R4, 1)
            }
        );
        assert_eq!(
            p[8],
            Insn {
                off: 2,
                ..jne_imm(R5, 3)
            }
        );
        assert_eq!(
            p[11],
            Insn {
                off: 5,
                ..jne_imm(R2, DEV_BLOCK)
            }
        );
        assert_eq!(p[13], and_imm(R6, ACC_READ | ACC_WRITE));
        assert_eq!(
            p[14],
            Insn {
                off: 2,
                ..jne_imm(R6, 0)
            }
        );
        assert_eq!(p[p.len() - 2], mov_imm(R0, 0));
        assert_eq!(exit().encode(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(load_word(R2, 4).encode(), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
    }
}
