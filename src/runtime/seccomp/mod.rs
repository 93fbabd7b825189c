//! seccomp: Docker's profile format, compiled to a classic BPF program by
//! libseccomp in the daemon and loaded by the container init (and every
//! exec child) with a single `prctl`, as runc does.
//!
//! - [`Profile`]: Docker's JSON (`defaultAction`, `defaultErrnoRet`,
//!   `architectures` or `archMap`, `syscalls` with `names`, `action`,
//!   `errnoRet`, `args`, `includes`/`excludes` by `caps`, `arches` and
//!   `minKernel`), read as dockerd 20.10 reads it.
//! - [`DEFAULT_PROFILE_JSON`]: Docker 20.10.24's default profile, vendored
//!   unchanged from moby (`profiles/seccomp/default.json` at tag v20.10.24,
//!   commit 5d6db842238e3c4f5f9fb9ad70ea46b35227d084; Apache License 2.0,
//!   Copyright 2012-2017 Docker, Inc.; see `ATTRIBUTION.md` beside it).
//! - [`Profile::resolve`]: dockerd's `setupSeccomp`: rules are kept or
//!   dropped by the container's final capability set (the bounding set after
//!   `--cap-add`/`--cap-drop`), the native architecture name (`amd64`) and
//!   the running kernel; the filter covers the native arch and the
//!   sub-architectures `archMap` lists for it (x86_64: x86 and x32).
//! - [`Resolved::compile`]: runc's rule building (unknown syscall names are
//!   skipped, several conditions on one argument become separate rules,
//!   rules whose action is the default are skipped), exported as BPF.
//! - [`Filter`]: the program, carried in the runtime spec as hex;
//!   [`load`] installs it.
//!
//! Why libseccomp and not a BPF compiler of our own: the profile names
//! syscalls for three ABIs (x86_64, x32, i386, with the i386 socketcall
//! multiplexer and 64-bit arguments split in two), and libseccomp owns the
//! syscall tables and that lowering; it is what runc and youki use, so the
//! programs match theirs. It runs only in the daemon: the supervisor and
//! the container init load finished bytes and never call into it.

use std::io::{Read, Seek};
use std::os::fd::AsFd;
use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use serde::{Deserialize, Deserializer, Serialize};

use crate::api::ErrorClass;

/// Docker 20.10.24's default profile (moby `profiles/seccomp/default.json`).
pub const DEFAULT_PROFILE_JSON: &str = include_str!("default.json");

/// The native architecture as dockerd names it in `includes`/`excludes`.
pub const NATIVE_ARCH: &str = "amd64";

/// libseccomp's name of the native architecture in `archMap`.
const NATIVE_SCMP_ARCH: &str = "SCMP_ARCH_X86_64";

/// Syscalls take at most six arguments.
const MAX_ARGS: u32 = 6;

/// A seccomp profile could not be read, compiled or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The JSON does not decode into a profile.
    #[error("decoding seccomp profile failed: {0}")]
    Decode(String),
    /// The profile decodes but asks for something impossible.
    #[error("invalid seccomp profile: {0}")]
    Invalid(String),
    /// libseccomp refused a step of building the program.
    #[error("compiling seccomp profile failed: {step}: {detail}")]
    Compile {
        /// What was being done, e.g. `add rule for clone`.
        step: String,
        /// libseccomp's reason.
        detail: String,
    },
    /// The stored program is not a whole number of BPF instructions.
    #[error("invalid seccomp program of {len} bytes")]
    Program {
        /// Its length.
        len: usize,
    },
    /// The kernel refused the program.
    #[error("loading seccomp filter of {len} instructions failed: {source}")]
    Load {
        /// The number of BPF instructions.
        len: usize,
        /// The kernel's reason.
        #[source]
        source: std::io::Error,
    },
}

impl SeccompError {
    /// The API class: a bad profile is the caller's, the rest is ours.
    pub fn class(&self) -> ErrorClass {
        match self {
            SeccompError::Decode(_) | SeccompError::Invalid(_) => ErrorClass::InvalidArgument,
            SeccompError::Compile { .. }
            | SeccompError::Program { .. }
            | SeccompError::Load { .. } => ErrorClass::Internal,
        }
    }
}

/// Go's JSON decoding gives `null` the zero value; so do we.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A profile in Docker's format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// `SCMP_ACT_*` for every syscall no rule matches; "" with no syscalls
    /// means "no filter", as in dockerd.
    #[serde(default, deserialize_with = "null_default")]
    pub default_action: String,
    /// The errno of an `SCMP_ACT_ERRNO` default action (EPERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u16>,
    /// Explicit architectures (`SCMP_ARCH_*`); exclusive with `archMap`.
    #[serde(default, deserialize_with = "null_default")]
    pub architectures: Vec<String>,
    /// Per native architecture, the sub-architectures filtered with it.
    #[serde(default, deserialize_with = "null_default")]
    pub arch_map: Vec<ArchMap>,
    /// The rules, in order.
    #[serde(default, deserialize_with = "null_default")]
    pub syscalls: Vec<Syscall>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// The native architecture, e.g. `SCMP_ARCH_X86_64`.
    pub architecture: String,
    /// Filtered alongside it, e.g. `SCMP_ARCH_X86`, `SCMP_ARCH_X32`.
    #[serde(default, deserialize_with = "null_default")]
    pub sub_architectures: Vec<String>,
}

/// One rule block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscall {
    /// A single name (older profiles); exclusive with `names`.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The syscalls the rule applies to.
    #[serde(default, deserialize_with = "null_default")]
    pub names: Vec<String>,
    /// `SCMP_ACT_*`.
    pub action: String,
    /// The errno of `SCMP_ACT_ERRNO` (EPERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u16>,
    /// Conditions on the arguments (all must hold).
    #[serde(default, deserialize_with = "null_default")]
    pub args: Vec<Arg>,
    /// Free text.
    #[serde(default, deserialize_with = "null_default")]
    pub comment: String,
    /// The rule applies only when all of these hold.
    #[serde(default, deserialize_with = "null_default")]
    pub includes: Conditions,
    /// The rule is dropped when any of these holds.
    #[serde(default, deserialize_with = "null_default")]
    pub excludes: Conditions,
}

/// `includes`/`excludes` of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    /// Capability names (`CAP_SYS_ADMIN`).
    #[serde(default, deserialize_with = "null_default")]
    pub caps: Vec<String>,
    /// Architecture names as dockerd spells them (`amd64`, `x86`, `arm64`).
    #[serde(default, deserialize_with = "null_default")]
    pub arches: Vec<String>,
    /// `"<kernel>.<major>"`, e.g. `"4.8"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// A condition on one argument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    /// Which argument, 0-5.
    pub index: u32,
    /// The datum (the mask for `SCMP_CMP_MASKED_EQ`).
    pub value: u64,
    /// The masked value to compare with for `SCMP_CMP_MASKED_EQ`.
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_*`.
    pub op: String,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run the syscall.
    Allow,
    /// Fail it with this errno.
    Errno(u16),
    /// Kill the thread.
    KillThread,
    /// Kill the process.
    KillProcess,
    /// Send SIGSYS.
    Trap,
    /// Notify a tracer with this value.
    Trace(u16),
    /// Run it and log it.
    Log,
}

impl Action {
    /// Parses `SCMP_ACT_*` with runc's defaults (EPERM for errno and trace).
    fn parse(action: &str, errno: Option<u16>) -> Result<Action, SeccompError> {
        let eperm = libc::EPERM as u16;
        Ok(match action {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(eperm)),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(eperm)),
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_NOTIFY" => {
                return Err(SeccompError::Invalid(
                    "SCMP_ACT_NOTIFY needs a listener, which berth does not support".into(),
                ));
            }
            other => return Err(SeccompError::Invalid(format!("unknown action {other:?}"))),
        })
    }

    fn scmp(self) -> ScmpAction {
        match self {
            Action::Allow => ScmpAction::Allow,
            Action::Errno(e) => ScmpAction::Errno(i32::from(e)),
            Action::KillThread => ScmpAction::KillThread,
            Action::KillProcess => ScmpAction::KillProcess,
            Action::Trap => ScmpAction::Trap,
            Action::Trace(v) => ScmpAction::Trace(v),
            Action::Log => ScmpAction::Log,
        }
    }
}

/// One argument condition, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCondition {
    /// Which argument.
    pub index: u32,
    /// The comparison.
    pub op: ScmpCompareOp,
    /// The datum (the masked value for masked equality).
    pub value: u64,
}

impl ArgCondition {
    fn parse(a: &Arg) -> Result<ArgCondition, SeccompError> {
        if a.index >= MAX_ARGS {
            return Err(SeccompError::Invalid(format!(
                "argument index {} out of range (0-5)",
                a.index
            )));
        }
        let (op, value) = match a.op.as_str() {
            "SCMP_CMP_NE" => (ScmpCompareOp::NotEqual, a.value),
            "SCMP_CMP_LT" => (ScmpCompareOp::Less, a.value),
            "SCMP_CMP_LE" => (ScmpCompareOp::LessOrEqual, a.value),
            "SCMP_CMP_EQ" => (ScmpCompareOp::Equal, a.value),
            "SCMP_CMP_GE" => (ScmpCompareOp::GreaterEqual, a.value),
            "SCMP_CMP_GT" => (ScmpCompareOp::Greater, a.value),
            // OCI/Docker: `value` is the mask, `valueTwo` what the masked argument must equal.
            "SCMP_CMP_MASKED_EQ" => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
            other => {
                return Err(SeccompError::Invalid(format!(
                    "unknown comparison operator {other:?}"
                )));
            }
        };
        Ok(ArgCondition {
            index: a.index,
            op,
            value,
        })
    }
}

/// A rule that survived [`Profile::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Syscall names.
    pub names: Vec<String>,
    /// What happens when it matches.
    pub action: Action,
    /// Argument conditions.
    pub args: Vec<ArgCondition>,
}

/// A profile bound to one container: its architectures and the rules that
/// apply to its capabilities and this kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The action when nothing matches.
    pub default_action: Action,
    /// Architectures the filter covers (`SCMP_ARCH_*`), native first.
    pub arches: Vec<String>,
    /// The rules, in profile order.
    pub rules: Vec<Rule>,
}

/// Parses `"<kernel>.<major>"` as dockerd does.
fn parse_kernel(v: &str) -> Result<(u64, u64), SeccompError> {
    let bad = || {
        SeccompError::Decode(format!(
            "invalid kernel version: {v:?}, expected \"<kernel>.<major>\""
        ))
    };
    let (k, m) = v.split_once('.').ok_or_else(bad)?;
    let k: u8 = k.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    if k == 0 && m == 0 {
        return Err(bad());
    }
    Ok((u64::from(k), u64::from(m)))
}

/// The running kernel as `(kernel, major)`, from `/proc/sys/kernel/osrelease`
/// (`6.18.3-amd64` is `(6, 18)`).
pub fn host_kernel() -> (u64, u64) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn cap_held(caps: u64, name: &str) -> bool {
    caps::Capability::from_str(name).is_ok_and(|c| caps & c.bitmask() != 0)
}

impl Profile {
    /// Decodes a profile from JSON (the CLI sends the file's content).
    pub fn parse(json: &str) -> Result<Profile, SeccompError> {
        let p: Profile =
            serde_json::from_str(json).map_err(|e| SeccompError::Decode(e.to_string()))?;
        for s in &p.syscalls {
            for k in [&s.includes.min_kernel, &s.excludes.min_kernel]
                .into_iter()
                .flatten()
                .filter(|k| !k.is_empty())
            {
                parse_kernel(k)?;
            }
        }
        Ok(p)
    }

    /// Docker's default profile ([`DEFAULT_PROFILE_JSON`]).
    pub fn docker_default() -> Profile {
        Profile::parse(DEFAULT_PROFILE_JSON).expect("the vendored default profile decodes")
    }

    /// dockerd's `setupSeccomp` for a container whose final capability
    /// (bounding) set is `caps`, on a kernel `(kernel, major)`: `None` when
    /// the profile asks for no filter.
    pub fn resolve(&self, caps: u64, kernel: (u64, u64)) -> Result<Option<Resolved>, SeccompError> {
        if self.default_action.is_empty() && self.syscalls.is_empty() {
            return Ok(None);
        }
        if self.default_action.is_empty() {
            return Err(SeccompError::Invalid("no defaultAction".into()));
        }
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(SeccompError::Invalid(
                "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
            ));
        }
        let default_action = Action::parse(&self.default_action, self.default_errno_ret)?;
        let mut arches = vec![NATIVE_SCMP_ARCH.to_owned()];
        let listed = self.architectures.iter().chain(
            self.arch_map
                .iter()
                .filter(|m| m.architecture == NATIVE_SCMP_ARCH)
                .take(1)
                .flat_map(|m| &m.sub_architectures),
        );
        for a in listed {
            ScmpArch::from_str(a)
                .map_err(|_| SeccompError::Invalid(format!("unknown architecture {a:?}")))?;
            if !arches.contains(a) {
                arches.push(a.clone());
            }
        }
        let min_kernel_ok = |v: &Option<String>| -> Result<Option<bool>, SeccompError> {
            match v.as_deref().filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => Ok(Some(kernel >= parse_kernel(v)?)),
            }
        };
        let mut rules = Vec::new();
        for s in &self.syscalls {
            let ex = &s.excludes;
            if ex.arches.iter().any(|a| a == NATIVE_ARCH)
                || ex.caps.iter().any(|c| cap_held(caps, c))
                || min_kernel_ok(&ex.min_kernel)? == Some(true)
            {
                continue;
            }
            let inc = &s.includes;
            if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == NATIVE_ARCH))
                || !inc.caps.iter().all(|c| cap_held(caps, c))
                || min_kernel_ok(&inc.min_kernel)? == Some(false)
            {
                continue;
            }
            if !s.name.is_empty() && !s.names.is_empty() {
                return Err(SeccompError::Invalid(
                    "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'".into(),
                ));
            }
            let names = if s.name.is_empty() {
                s.names.clone()
            } else {
                vec![s.name.clone()]
            };
            rules.push(Rule {
                names,
                action: Action::parse(&s.action, s.errno_ret)?,
                args: s
                    .args
                    .iter()
                    .map(ArgCondition::parse)
                    .collect::<Result<_, _>>()?,
            });
        }
        Ok(Some(Resolved {
            default_action,
            arches,
            rules,
        }))
    }

    /// [`resolve`](Self::resolve) on this host's kernel, then
    /// [`compile`](Resolved::compile): the filter for a container whose
    /// final capability set is `caps`, or `None` for no filter.
    pub fn filter_for(&self, caps: u64) -> Result<Option<Filter>, SeccompError> {
        self.resolve(caps, host_kernel())?
            .map(|r| r.compile())
            .transpose()
    }
}

impl Resolved {
    /// Builds the program with libseccomp, following runc's rules.
    pub fn compile(&self) -> Result<Filter, SeccompError> {
        let fail = |step: String| {
            move |e: libseccomp::error::SeccompError| SeccompError::Compile {
                step,
                detail: e.to_string(),
            }
        };
        let mut ctx = ScmpFilterContext::new(self.default_action.scmp())
            .map_err(fail("create filter".into()))?;
        // A binary tree of syscall numbers instead of a linear scan: a
        // syscall the kernel cannot cache (one with argument rules, like
        // personality or clone) then costs ~log2(350) comparisons, not ~350.
        ctx.set_ctl_optimize(2)
            .map_err(fail("select the binary-tree layout".into()))?;
        for a in &self.arches {
            let arch = ScmpArch::from_str(a).map_err(fail(format!("architecture {a}")))?;
            ctx.add_arch(arch)
                .map_err(fail(format!("add architecture {a}")))?;
        }
        for rule in &self.rules {
            if rule.action == self.default_action {
                // libseccomp refuses rules that repeat the default action.
                continue;
            }
            let action = rule.action.scmp();
            let conditions: Vec<ScmpArgCompare> = rule
                .args
                .iter()
                .map(|c| ScmpArgCompare::new(c.index, c.op, c.value))
                .collect();
            // runc: several conditions on one argument are alternatives
            // (separate rules); otherwise they must all hold (one rule).
            let repeated =
                (0..MAX_ARGS).any(|i| rule.args.iter().filter(|c| c.index == i).count() > 1);
            for name in &rule.names {
                // Names this libseccomp does not know are skipped, as runc does.
                let Ok(nr) = libseccomp::ScmpSyscall::from_name(name) else {
                    continue;
                };
                let step = || format!("add rule for {name}");
                if conditions.is_empty() {
                    ctx.add_rule(action, nr).map_err(fail(step()))?;
                } else if repeated {
                    for c in &conditions {
                        ctx.add_rule_conditional(action, nr, std::slice::from_ref(c))
                            .map_err(fail(step()))?;
                    }
                } else {
                    ctx.add_rule_conditional(action, nr, &conditions)
                        .map_err(fail(step()))?;
                }
            }
        }
        let mut out = memfd().map_err(|e| SeccompError::Compile {
            step: "create export buffer".into(),
            detail: e.to_string(),
        })?;
        ctx.export_bpf(out.as_fd())
            .map_err(fail("export program".into()))?;
        let mut bpf = Vec::new();
        out.rewind()
            .and_then(|()| out.read_to_end(&mut bpf))
            .map_err(|e| SeccompError::Compile {
                step: "read exported program".into(),
                detail: e.to_string(),
            })?;
        if !matches!(self.default_action, Action::Allow | Action::Log) {
            let stub = enosys_stub(self.max_native_nr());
            bpf.splice(0..0, stub.iter().flat_map(insn_bytes));
        }
        Filter::from_bytes(bpf)
    }

    /// The highest x86_64 syscall number any rule names (0 when none).
    fn max_native_nr(&self) -> u32 {
        self.rules
            .iter()
            .flat_map(|r| &r.names)
            .filter_map(|n| libseccomp::ScmpSyscall::from_name_by_arch(n, ScmpArch::X8664).ok())
            .filter_map(|nr| u32::try_from(i32::from(nr)).ok())
            .max()
            .unwrap_or(0)
    }
}

/// `AUDIT_ARCH_X86_64`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// The x32 ABI's syscall numbers have this bit set (same audit arch).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn insn_bytes(i: &libc::sock_filter) -> Vec<u8> {
    let mut b = Vec::with_capacity(INSN);
    b.extend_from_slice(&i.code.to_ne_bytes());
    b.extend_from_slice(&[i.jt, i.jf]);
    b.extend_from_slice(&i.k.to_ne_bytes());
    b
}

/// runc's fix for syscalls newer than the profile: on x86_64, a number
/// above every syscall the profile names answers `ENOSYS` instead of the
/// default action, so libc's fallbacks for new syscalls (`fchmodat2`, ...)
/// work as they do on an older kernel. Depends only on the arch and the
/// number, so the kernel's per-syscall cache still applies.
fn enosys_stub(max_nr: u32) -> [libc::sock_filter; 6] {
    const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // Offsets in struct seccomp_data.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    [
        insn(LD_ABS, 0, 0, ARCH),
        // Another arch: on to libseccomp's program (index 6).
        insn(JEQ, 0, 4, AUDIT_ARCH_X86_64),
        insn(LD_ABS, 0, 0, NR),
        // x32: libseccomp's program decides.
        insn(JSET, 2, 0, X32_SYSCALL_BIT),
        insn(JGT, 0, 1, max_nr),
        insn(RET, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ]
}

/// An anonymous in-memory file for libseccomp's fd-based export (2.5 has no
/// export to memory).
fn memfd() -> std::io::Result<std::fs::File> {
    let fd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)?;
    Ok(std::fs::File::from(fd))
}

/// A compiled program: `struct sock_filter` entries in host byte order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The instructions, 8 bytes each, hex-encoded in JSON.
    #[serde(with = "hex_bytes")]
    pub bpf: Vec<u8>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// Size of one BPF instruction.
const INSN: usize = std::mem::size_of::<libc::sock_filter>();

impl Filter {
    /// Wraps exported bytes, checking they are whole instructions and
    /// within the kernel's limit (`BPF_MAXINSNS`).
    pub fn from_bytes(bpf: Vec<u8>) -> Result<Filter, SeccompError> {
        let f = Filter { bpf };
        f.instructions()?;
        Ok(f)
    }

    /// The program as `sock_filter` entries.
    pub fn instructions(&self) -> Result<Vec<libc::sock_filter>, SeccompError> {
        let bad = || SeccompError::Program {
            len: self.bpf.len(),
        };
        if self.bpf.is_empty()
            || !self.bpf.len().is_multiple_of(INSN)
            || self.bpf.len() / INSN > 4096
        {
            return Err(bad());
        }
        Ok(self
            .bpf
            .chunks_exact(INSN)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect())
    }
}

/// Installs `filter` on the calling thread (the single-threaded init or
/// exec child; children and the exec'd program inherit it). Needs
/// `no_new_privs` or `CAP_SYS_ADMIN`, which is why the init loads it before
/// dropping capabilities unless `no_new_privs` is set (runc's order).
pub fn load(filter: &Filter) -> Result<(), SeccompError> {
    let insns = filter.instructions()?;
    let prog = libc::sock_fprog {
        // instructions() caps the length at 4096.
        len: insns.len() as u16,
        filter: insns.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `insns`, a live, properly aligned array of
    // `len` sock_filter entries; the kernel copies it before returning and
    // keeps no pointer into our memory.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(SeccompError::Load {
            len: insns.len(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::capabilities;

    const KERNEL: (u64, u64) = (6, 18);

    fn allowed(r: &Resolved, name: &str) -> bool {
        r.rules
            .iter()
            .any(|rule| rule.action == Action::Allow && rule.names.iter().any(|n| n == name))
    }

    #[test]
    fn default_profile_blocks_what_docker_blocks_for_default_caps() {
        let r = Profile::docker_default()
            .resolve(capabilities::default_mask(), KERNEL)
            .unwrap()
            .unwrap();
        assert_eq!(r.default_action, Action::Errno(libc::EPERM as u16));
        assert_eq!(
            r.arches,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        for blocked in [
            "keyctl",
            "add_key",
            "request_key",
            "kexec_load",
            "open_by_handle_at",
            "mount",
            "unshare",
            "setns",
            "bpf",
            "init_module",
            "reboot",
        ] {
            assert!(!allowed(&r, blocked), "{blocked} is allowed");
        }
        for ok in [
            "read",
            "write",
            "execve",
            "arch_prctl",
            "modify_ldt",
            "chroot",
            "ptrace",
        ] {
            assert!(allowed(&r, ok), "{ok} is not allowed");
        }
        // clone without namespace flags only; clone3 answers ENOSYS so libc falls back.
        let clone = r.rules.iter().find(|rule| rule.names == ["clone"]).unwrap();
        assert_eq!(
            clone.args,
            [ArgCondition {
                index: 0,
                op: ScmpCompareOp::MaskedEqual(2114060288),
                value: 0
            }]
        );
        assert!(
            r.rules.iter().any(|rule| rule.names == ["clone3"]
                && rule.action == Action::Errno(libc::ENOSYS as u16))
        );
    }

    #[test]
    fn capability_rules_follow_the_final_cap_set() {
        let p = Profile::docker_default();
        let admin = capabilities::default_mask() | caps::Capability::CAP_SYS_ADMIN.bitmask();
        let r = p.resolve(admin, KERNEL).unwrap().unwrap();
        assert!(allowed(&r, "mount") && allowed(&r, "unshare") && allowed(&r, "clone"));
        assert!(!r.rules.iter().any(|rule| rule.names == ["clone3"]));
        let dac = capabilities::default_mask() | caps::Capability::CAP_DAC_READ_SEARCH.bitmask();
        let r = p.resolve(dac, KERNEL).unwrap().unwrap();
        assert!(allowed(&r, "open_by_handle_at"));
        let r = p.resolve(0, KERNEL).unwrap().unwrap();
        assert!(!allowed(&r, "chroot"));
        // ptrace needs 4.8 without CAP_SYS_PTRACE.
        let r = p.resolve(0, (4, 4)).unwrap().unwrap();
        assert!(!allowed(&r, "ptrace"));
    }

    #[test]
    fn default_profile_compiles_within_the_kernel_limit() {
        let f = Profile::docker_default()
            .filter_for(capabilities::default_mask())
            .unwrap()
            .unwrap();
        let n = f.instructions().unwrap().len();
        assert!(n > 100 && n <= 4096, "{n} instructions");
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Filter>(&json).unwrap(), f);
    }

    #[test]
    fn empty_profile_means_no_filter_and_bad_ones_say_why() {
        assert_eq!(Profile::parse("{}").unwrap().filter_for(0).unwrap(), None);
        let e = Profile::parse("{\"defaultAction\": 5}").unwrap_err();
        assert!(e.to_string().starts_with("decoding seccomp profile failed"));
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        let p = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOPE"}]}"#,
        )
        .unwrap();
        assert_eq!(
            p.resolve(0, KERNEL).unwrap_err().to_string(),
            "invalid seccomp profile: unknown action \"SCMP_ACT_NOPE\""
        );
        let p = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}"#,
        )
        .unwrap();
        assert!(p.resolve(0, KERNEL).is_err());
        let e = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["ptrace"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"4"}}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("invalid kernel version"));
    }

    #[test]
    fn custom_profile_compiles_with_errno_and_unknown_names() {
        let p = Profile::parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","mkdirat","no_such_syscall_berth"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
                {"name":"personality","action":"SCMP_ACT_ERRNO","args":[
                    {"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}"#,
        )
        .unwrap();
        let r = p.resolve(0, KERNEL).unwrap().unwrap();
        assert_eq!(r.rules[0].action, Action::Errno(13));
        assert_eq!(r.rules[1].names, ["personality"]);
        r.compile().unwrap();
    }

    #[test]
    fn kernel_versions_compare_like_dockerd() {
        assert_eq!(parse_kernel("4.8").unwrap(), (4, 8));
        assert!(parse_kernel("0.0").is_err());
        assert!(parse_kernel("4.8.1").is_err());
        let (k, _) = host_kernel();
        assert!(k >= 3);
    }

    #[test]
    fn syscalls_newer_than_the_profile_answer_enosys_on_x86_64() {
        let r = Profile::docker_default()
            .resolve(capabilities::default_mask(), KERNEL)
            .unwrap()
            .unwrap();
        let max = r.max_native_nr();
        // close_range (436) is in the profile; fchmodat2 (452) is not.
        assert!((436..452).contains(&max), "{max}");
        let insns = r.compile().unwrap().instructions().unwrap();
        let stub = enosys_stub(max);
        assert_eq!(insns[..6].len(), stub.len());
        for (a, b) in insns.iter().zip(&stub) {
            assert_eq!((a.code, a.jt, a.jf, a.k), (b.code, b.jt, b.jf, b.k));
        }
        // An allow-by-default profile has nothing to fix.
        let p = Profile::parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        let insns = p.filter_for(0).unwrap().unwrap().instructions().unwrap();
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        assert!(!insns.iter().any(|i| i.k == enosys));
    }

    #[test]
    fn truncated_programs_are_refused() {
        assert!(Filter::from_bytes(vec![0; 7]).is_err());
        assert!(Filter::from_bytes(Vec::new()).is_err());
    }
}
