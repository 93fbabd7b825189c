//! Docker's resource-limit flags (`-m`, `--cpus`, `--pids-limit`, ...) for
//! `run`/`create`, and the commands acting on a container's cgroup: `pause`,
//! `unpause` and `update`. Values are parsed exactly as docker's CLI parses
//! them (go-units `RAMInBytes`, `big.Rat` CPUs, pflag integers) so that the
//! same input is accepted or refused with the same words.

use clap::Args;
use hyper::Method;
use serde::Serialize;

use berth::api::models::{HostConfig, ThrottleDevice};

use super::lifecycle::{fatal, joined, parallel, report};
use super::{Ctx, print_out};
use crate::client::{encode_path, json_body};
use crate::error::CliError;

/// A flag value refused while parsing the command line. Its text is Go's
/// reason alone; `usage::docker_error` wraps it in pflag's
/// `invalid argument "V" for "-m, --memory" flag: REASON` (exit 125). It
/// never becomes a [`CliError`] itself, so it needs no class of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlagValueError(pub String);

/// go-units `RAMInBytes`: a size with an optional binary unit (`b`, `k`, `m`,
/// `g`, `t`, `p`, each optionally followed by `b` or `ib`, any case).
pub fn ram_in_bytes(size: &str) -> Result<i64, FlagValueError> {
    let invalid = || FlagValueError(format!("invalid size: '{size}'"));
    let Some(sep) = size.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(invalid());
    };
    // A space separates the number from the unit and belongs to neither.
    let (num, sfx) = if size.as_bytes()[sep] == b' ' {
        (&size[..sep], &size[sep + 1..])
    } else {
        (&size[..=sep], &size[sep + 1..])
    };
    let value = go_parse_float(num)?;
    if value < 0.0 {
        return Err(invalid());
    }
    if sfx.is_empty() {
        return Ok(value as i64);
    }
    // Go checks the length before lower-casing, so a long suffix keeps its case.
    if sfx.len() > 3 {
        return Err(bad_suffix(sfx));
    }
    let lower = sfx.to_lowercase();
    let bytes = lower.as_bytes();
    if bytes[0] == b'b' {
        return if bytes.len() > 1 {
            Err(bad_suffix(&lower))
        } else {
            Ok(value as i64)
        };
    }
    let mul: i64 = match bytes[0] {
        b'k' => 1 << 10,
        b'm' => 1 << 20,
        b'g' => 1 << 30,
        b't' => 1 << 40,
        b'p' => 1 << 50,
        _ => return Err(bad_suffix(&lower)),
    };
    let tail_ok = match bytes.len() {
        2 => bytes[1] == b'b',
        3 => &lower[1..] == "ib",
        _ => true,
    };
    if !tail_ok {
        return Err(bad_suffix(&lower));
    }
    Ok((value * mul as f64) as i64)
}

fn bad_suffix(sfx: &str) -> FlagValueError {
    FlagValueError(format!("invalid suffix: '{sfx}'"))
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms sizes use.
fn go_parse_float(s: &str) -> Result<f64, FlagValueError> {
    let syntax = || {
        FlagValueError(format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        ))
    };
    // Rust also accepts words such as "inf", which cannot reach here (the
    // number always ends in a digit, a dot or a space) except via a space.
    if s.is_empty() || s.contains(' ') {
        return Err(syntax());
    }
    let v: f64 = s.parse().map_err(|_| syntax())?;
    if v.is_infinite() {
        return Err(FlagValueError(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(s)
        )));
    }
    Ok(v)
}

/// Go's `%q` for the plain strings found on command lines.
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Docker's `MemSwapBytes`: `-1` (unlimited swap) or a `RAMInBytes` size.
pub fn mem_swap_bytes(v: &str) -> Result<i64, FlagValueError> {
    if v == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(v)
}

/// Docker's `opts.ParseCPUs`: a rational number of CPUs (`1.5`, `3/2`, `2e-1`)
/// as nano-CPUs, refused when it has more than nine decimals.
pub fn parse_cpus(v: &str) -> Result<i64, FlagValueError> {
    let fail = || FlagValueError(format!("failed to parse {v} as a rational number"));
    let too_precise = || FlagValueError("value is too precise".to_string());
    let (num, den) = parse_rational(v).ok_or_else(fail)?;
    if num == 0 {
        return Ok(0);
    }
    let Some(den) = den else {
        // The denominator overflowed: a non-zero value this small has no
        // whole number of nano-CPUs.
        return Err(too_precise());
    };
    let g = gcd(num.unsigned_abs(), den.unsigned_abs()) as i128;
    let (num, den) = (num / g, den / g);
    let scaled = num.checked_mul(1_000_000_000).ok_or_else(fail)?;
    if scaled % den != 0 {
        return Err(too_precise());
    }
    // Go's big.Int.Int64 keeps the low 64 bits of an oversized value.
    Ok((scaled / den) as i64)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// `big.Rat.SetString` for `a/b` and decimal (optionally exponent) forms:
/// the numerator, and the positive denominator (`None` when it overflows).
fn parse_rational(s: &str) -> Option<(i128, Option<i128>)> {
    if let Some((a, b)) = s.split_once('/') {
        let num = parse_signed_digits(a)?;
        let den = parse_signed_digits(b)?;
        if den <= 0 {
            return None;
        }
        return Some((num, Some(den)));
    }
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], parse_signed_digits(&rest[i + 1..])?),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Trailing zeros of the fraction do not change the value.
    let frac_part = frac_part.trim_end_matches('0');
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let mut num: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let scale = i128::try_from(frac_part.len()).ok()? - exp;
    let mut den = Some(1i128);
    if scale < 0 {
        let up = 10i128.checked_pow(u32::try_from(-scale).ok()?)?;
        num = num.checked_mul(up)?;
    } else {
        den = u32::try_from(scale)
            .ok()
            .and_then(|p| 10i128.checked_pow(p));
    }
    if negative {
        num = -num;
    }
    Some((num, den))
}

fn parse_signed_digits(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseInt(s, 0, bits)` / `ParseUint(s, 0, bits)`, as pflag
/// parses integer flags: optional sign (signed only), `0x`/`0o`/`0b`/`0`
/// prefixes and `_` separators; Go's error text on failure.
fn go_parse_integer(s: &str, signed: bool, bits: u32) -> Result<i128, FlagValueError> {
    let func = if signed { "ParseInt" } else { "ParseUint" };
    let err = |why: &str| FlagValueError(format!("strconv.{func}: parsing {}: {why}", go_quote(s)));
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') if signed => (true, &s[1..]),
        Some(b'+') if signed => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.is_empty() {
        return Err(err("invalid syntax"));
    }
    // Go's underscoreOK: `_` only between digits, or right after a prefix.
    if digits.contains('_') {
        let bad = digits.ends_with('_')
            || digits.contains("__")
            || (digits.starts_with('_') && !prefixed);
        if bad {
            return Err(err("invalid syntax"));
        }
    }
    let mut value: u128 = 0;
    let mut overflow = false;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = c.to_digit(radix).ok_or_else(|| err("invalid syntax"))?;
        match value
            .checked_mul(u128::from(radix))
            .and_then(|v| v.checked_add(u128::from(d)))
        {
            Some(v) if v < (1u128 << 64) => value = v,
            _ => overflow = true,
        }
    }
    let (min, max): (i128, i128) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    let value = if negative {
        -(value as i128)
    } else {
        value as i128
    };
    if overflow || value < min || value > max {
        return Err(err("value out of range"));
    }
    Ok(value)
}

/// pflag's `Int64Var` parsing.
pub fn parse_int64(s: &str) -> Result<i64, FlagValueError> {
    // In range by construction.
    go_parse_integer(s, true, 64).map(|v| v as i64)
}

/// pflag's `Uint16Var` parsing.
pub fn parse_uint16(s: &str) -> Result<u16, FlagValueError> {
    go_parse_integer(s, false, 16).map(|v| v as u16)
}

const BPS_FORMAT: &str = "The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb";
const IOPS_FORMAT: &str =
    "The correct format is <device-path>:<number>. Number must be a positive integer";

/// The `/dev/x` part of a throttle value, checked as docker's CLI checks it.
fn throttle_device(val: &str) -> Result<(&str, &str), FlagValueError> {
    let (path, rate) = match val.split_once(':') {
        Some((k, v)) if !k.is_empty() => (k, v),
        _ => return Err(FlagValueError(format!("bad format: {val}"))),
    };
    if !path.starts_with("/dev/") {
        return Err(FlagValueError(format!("bad format for device path: {val}")));
    }
    Ok((path, rate))
}

/// Docker's `ValidateThrottleBpsDevice`: `/dev/x:rate[unit]`.
pub fn throttle_bps(val: &str) -> Result<ThrottleDevice, FlagValueError> {
    let (path, rate) = throttle_device(val)?;
    let invalid = || FlagValueError(format!("invalid rate for device: {val}. {BPS_FORMAT}"));
    let rate = ram_in_bytes(rate).map_err(|_| invalid())?;
    if rate < 0 {
        return Err(invalid());
    }
    Ok(ThrottleDevice {
        path: Some(path.to_string()),
        rate: Some(rate),
    })
}

/// Docker's `ValidateThrottleIOpsDevice`: `/dev/x:number`.
pub fn throttle_iops(val: &str) -> Result<ThrottleDevice, FlagValueError> {
    let (path, rate) = throttle_device(val)?;
    let invalid = || FlagValueError(format!("invalid rate for device: {val}. {IOPS_FORMAT}"));
    // ParseUint(v, 10, 64); the API's field is signed, so larger rates are refused too.
    if rate.is_empty() || !rate.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let rate: i64 = rate.parse().map_err(|_| invalid())?;
    Ok(ThrottleDevice {
        path: Some(path.to_string()),
        rate: Some(rate),
    })
}

/// The resource flags of `run` and `create`, flattened into their arguments.
#[derive(Debug, Clone, Default, Args)]
pub struct ResourceArgs {
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes", allow_hyphen_values = true, value_parser = ram_in_bytes)]
    memory: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true, value_parser = mem_swap_bytes)]
    memory_swap: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes", allow_hyphen_values = true, value_parser = ram_in_bytes)]
    memory_reservation: Option<i64>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    memory_swappiness: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    oom_kill_disable: bool,
    /// Number of CPUs
    #[arg(long, value_name = "decimal", allow_hyphen_values = true, value_parser = parse_cpus)]
    cpus: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(
        long = "cpuset-cpus",
        value_name = "string",
        allow_hyphen_values = true
    )]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(
        long = "cpuset-mems",
        value_name = "string",
        allow_hyphen_values = true
    )]
    cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16", allow_hyphen_values = true, value_parser = parse_uint16)]
    blkio_weight: Option<u16>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long = "device-read-bps", value_name = "list", allow_hyphen_values = true, value_parser = throttle_bps)]
    device_read_bps: Vec<ThrottleDevice>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long = "device-write-bps", value_name = "list", allow_hyphen_values = true, value_parser = throttle_bps)]
    device_write_bps: Vec<ThrottleDevice>,
    /// Limit read rate (IO per second) from a device
    #[arg(long = "device-read-iops", value_name = "list", allow_hyphen_values = true, value_parser = throttle_iops)]
    device_read_iops: Vec<ThrottleDevice>,
    /// Limit write rate (IO per second) to a device
    #[arg(long = "device-write-iops", value_name = "list", allow_hyphen_values = true, value_parser = throttle_iops)]
    device_write_iops: Vec<ThrottleDevice>,
    /// Optional parent cgroup for the container
    #[arg(
        long = "cgroup-parent",
        value_name = "string",
        allow_hyphen_values = true
    )]
    cgroup_parent: Option<String>,
}

impl ResourceArgs {
    /// Fills the resource fields of `host` the way docker's CLI does: every
    /// field is sent, zero meaning "not set" (`MemorySwappiness` -1), so the
    /// daemon sees the same request from `berth` as from `docker`. Fails with
    /// docker's wording for a swappiness outside 0-100.
    pub fn apply(&self, host: &mut HostConfig) -> Result<(), String> {
        let swappiness = self.memory_swappiness.unwrap_or(-1);
        if swappiness != -1 && !(0..=100).contains(&swappiness) {
            return Err(format!(
                "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
            ));
        }
        host.cgroup_parent = Some(self.cgroup_parent.clone().unwrap_or_default());
        host.memory = Some(self.memory.unwrap_or(0));
        host.memory_reservation = Some(self.memory_reservation.unwrap_or(0));
        host.memory_swap = Some(self.memory_swap.unwrap_or(0));
        host.memory_swappiness = Some(swappiness);
        host.oom_kill_disable = Some(self.oom_kill_disable);
        host.nano_cpus = Some(self.cpus.unwrap_or(0));
        host.cpu_shares = Some(self.cpu_shares.unwrap_or(0));
        host.cpu_period = Some(self.cpu_period.unwrap_or(0));
        host.cpu_quota = Some(self.cpu_quota.unwrap_or(0));
        host.cpuset_cpus = Some(self.cpuset_cpus.clone().unwrap_or_default());
        host.cpuset_mems = Some(self.cpuset_mems.clone().unwrap_or_default());
        host.pids_limit = Some(self.pids_limit.unwrap_or(0));
        host.blkio_weight = Some(self.blkio_weight.unwrap_or(0));
        host.blkio_device_read_bps = Some(self.device_read_bps.clone());
        host.blkio_device_write_bps = Some(self.device_write_bps.clone());
        host.blkio_device_read_iops = Some(self.device_read_iops.clone());
        host.blkio_device_write_iops = Some(self.device_write_iops.clone());
        Ok(())
    }
}

/// `berth pause` / `berth unpause` (and their `container` forms).
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// Docker's `runPause`/`runUnpause`: the action on every container at once,
/// each name printed as given on success, every failure joined at the end
/// (exit 1).
pub async fn pause(ctx: &Ctx, args: PauseArgs, action: &'static str) -> Result<(), CliError> {
    let handles = parallel(&ctx.client, Method::POST, &args.containers, |name| {
        format!("/containers/{}/{action}", encode_path(name))
    });
    report(&args.containers, handles, false).await
}

/// `berth update` / `berth container update`: docker's flags.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16", allow_hyphen_values = true, value_parser = parse_uint16)]
    blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(
        long = "cpuset-cpus",
        value_name = "string",
        allow_hyphen_values = true
    )]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(
        long = "cpuset-mems",
        value_name = "string",
        allow_hyphen_values = true
    )]
    cpuset_mems: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal", allow_hyphen_values = true, value_parser = parse_cpus)]
    cpus: Option<i64>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes", allow_hyphen_values = true, value_parser = ram_in_bytes)]
    memory: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes", allow_hyphen_values = true, value_parser = ram_in_bytes)]
    memory_reservation: Option<i64>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true, value_parser = mem_swap_bytes)]
    memory_swap: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true, value_parser = parse_int64)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    restart: Option<String>,
    /// The containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

impl UpdateArgs {
    /// Whether any flag was given (docker counts flags, not values).
    fn any_flag(&self) -> bool {
        self.blkio_weight.is_some()
            || self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some()
            || self.cpu_shares.is_some()
            || self.cpus.is_some()
            || self.memory.is_some()
            || self.memory_reservation.is_some()
            || self.memory_swap.is_some()
            || self.pids_limit.is_some()
            || self.restart.is_some()
    }
}

/// Docker's `RestartPolicy` as sent in an update.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RestartPolicy {
    /// `no`, `always`, `on-failure`, `unless-stopped`; empty: unchanged.
    #[serde(rename = "Name")]
    pub name: String,
    /// Retries for `on-failure`.
    #[serde(rename = "MaximumRetryCount")]
    pub maximum_retry_count: i64,
}

/// Docker's `opts.ParseRestartPolicy`: `name[:count]`; the name itself is the
/// daemon's to judge.
pub fn parse_restart_policy(policy: &str) -> Result<RestartPolicy, String> {
    if policy.is_empty() {
        return Ok(RestartPolicy::default());
    }
    let (name, count) = policy.split_once(':').unwrap_or((policy, ""));
    if policy.contains(':') && name.is_empty() {
        return Err("invalid restart policy format: no policy provided before colon".to_string());
    }
    let maximum_retry_count = if count.is_empty() {
        0
    } else {
        // Go's strconv.Atoi: decimal, optional sign.
        count.parse::<i64>().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_string()
        })?
    };
    Ok(RestartPolicy {
        name: name.to_string(),
        maximum_retry_count,
    })
}

/// The body of `POST /containers/{id}/update`: docker's `UpdateConfig`, every
/// `Resources` field as docker's CLI sends it (zero or null: unchanged).
#[derive(Debug, Serialize)]
pub struct UpdateBody {
    #[serde(rename = "CpuShares")]
    cpu_shares: i64,
    #[serde(rename = "Memory")]
    memory: i64,
    #[serde(rename = "NanoCpus")]
    nano_cpus: i64,
    #[serde(rename = "CgroupParent")]
    cgroup_parent: String,
    #[serde(rename = "BlkioWeight")]
    blkio_weight: u16,
    #[serde(rename = "BlkioWeightDevice")]
    blkio_weight_device: Option<Vec<()>>,
    #[serde(rename = "BlkioDeviceReadBps")]
    blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteBps")]
    blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "CpuPeriod")]
    cpu_period: i64,
    #[serde(rename = "CpuQuota")]
    cpu_quota: i64,
    #[serde(rename = "CpuRealtimePeriod")]
    cpu_realtime_period: i64,
    #[serde(rename = "CpuRealtimeRuntime")]
    cpu_realtime_runtime: i64,
    #[serde(rename = "CpusetCpus")]
    cpuset_cpus: String,
    #[serde(rename = "CpusetMems")]
    cpuset_mems: String,
    #[serde(rename = "Devices")]
    devices: Option<Vec<()>>,
    #[serde(rename = "DeviceCgroupRules")]
    device_cgroup_rules: Option<Vec<String>>,
    #[serde(rename = "DeviceRequests")]
    device_requests: Option<Vec<()>>,
    #[serde(rename = "MemoryReservation")]
    memory_reservation: i64,
    #[serde(rename = "MemorySwap")]
    memory_swap: i64,
    #[serde(rename = "MemorySwappiness")]
    memory_swappiness: Option<i64>,
    #[serde(rename = "OomKillDisable")]
    oom_kill_disable: Option<bool>,
    #[serde(rename = "PidsLimit")]
    pids_limit: Option<i64>,
    #[serde(rename = "Ulimits")]
    ulimits: Option<Vec<()>>,
    #[serde(rename = "CpuCount")]
    cpu_count: i64,
    #[serde(rename = "CpuPercent")]
    cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    io_maximum_bandwidth: u64,
    #[serde(rename = "RestartPolicy")]
    restart_policy: RestartPolicy,
}

/// Builds the update body; refuses what docker's CLI refuses before sending.
pub fn update_body(args: &UpdateArgs) -> Result<UpdateBody, CliError> {
    if !args.any_flag() {
        return Err(CliError::usage(
            "you must provide one or more flags when using this command",
        ));
    }
    let restart_policy =
        parse_restart_policy(args.restart.as_deref().unwrap_or("")).map_err(CliError::usage)?;
    Ok(UpdateBody {
        cpu_shares: args.cpu_shares.unwrap_or(0),
        memory: args.memory.unwrap_or(0),
        nano_cpus: args.cpus.unwrap_or(0),
        cgroup_parent: String::new(),
        blkio_weight: args.blkio_weight.unwrap_or(0),
        blkio_weight_device: None,
        blkio_device_read_bps: None,
        blkio_device_write_bps: None,
        blkio_device_read_iops: None,
        blkio_device_write_iops: None,
        cpu_period: args.cpu_period.unwrap_or(0),
        cpu_quota: args.cpu_quota.unwrap_or(0),
        cpu_realtime_period: 0,
        cpu_realtime_runtime: 0,
        cpuset_cpus: args.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: args.cpuset_mems.clone().unwrap_or_default(),
        devices: None,
        device_cgroup_rules: None,
        device_requests: None,
        memory_reservation: args.memory_reservation.unwrap_or(0),
        memory_swap: args.memory_swap.unwrap_or(0),
        memory_swappiness: None,
        oom_kill_disable: None,
        // Docker leaves the limit alone (null) unless a non-zero value is given.
        pids_limit: args.pids_limit.filter(|&p| p != 0),
        ulimits: None,
        cpu_count: 0,
        cpu_percent: 0,
        io_maximum_iops: 0,
        io_maximum_bandwidth: 0,
        restart_policy,
    })
}

/// The daemon's answer to an update.
#[derive(Debug, Default, serde::Deserialize)]
struct UpdateResponse {
    #[serde(rename = "Warnings", default)]
    warnings: Option<Vec<String>>,
}

/// `berth update`: docker's `runUpdate`, one container after the other; each
/// name printed as given on success, the daemon's warnings after them, the
/// failures joined at the end.
pub async fn update(ctx: &Ctx, args: UpdateArgs) -> Result<(), CliError> {
    let body = update_body(&args)?;
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for name in &args.containers {
        let path = format!("/containers/{}/update", encode_path(name));
        let result = ctx
            .client
            .json::<UpdateResponse>(Method::POST, &path, json_body(&body))
            .await;
        match result {
            Ok(r) => {
                print_out(&format!("{name}\n"));
                warnings.extend(r.warnings.unwrap_or_default());
            }
            Err(e) => errors.push(fatal(e)?),
        }
    }
    if !warnings.is_empty() {
        print_out(&format!("{}\n", warnings.join("\n")));
    }
    joined(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;
    use std::collections::HashMap;

    /// The resource fields of a create body as JSON.
    fn resource_json(args: &ResourceArgs) -> HashMap<String, serde_json::Value> {
        let mut host = HostConfig::default();
        args.apply(&mut host).expect("valid");
        match serde_json::to_value(host).expect("serialise") {
            serde_json::Value::Object(m) => m.into_iter().collect(),
            _ => HashMap::new(),
        }
    }

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        r: ResourceArgs,
    }

    #[derive(Debug, Parser)]
    struct WrapUpdate {
        #[command(flatten)]
        u: UpdateArgs,
    }

    fn parse(argv: &[&str]) -> Result<ResourceArgs, clap::Error> {
        let mut full = vec!["run"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).map(|w| w.r)
    }

    fn reason(argv: &[&str]) -> String {
        use std::error::Error;
        let e = parse(argv).expect_err("refused");
        e.source()
            .and_then(|s| s.downcast_ref::<FlagValueError>())
            .map(|f| f.0.clone())
            .unwrap_or_else(|| format!("not a flag value error: {e}"))
    }

    #[test]
    fn ram_in_bytes_matches_go_units() {
        let ok = |s: &str| ram_in_bytes(s).unwrap();
        assert_eq!(ok("32"), 32);
        assert_eq!(ok("32b"), 32);
        assert_eq!(ok("32B"), 32);
        assert_eq!(ok("1k"), 1024);
        assert_eq!(ok("1KB"), 1024);
        assert_eq!(ok("1KiB"), 1024);
        assert_eq!(ok("1kib"), 1024);
        assert_eq!(ok("32m"), 32 << 20);
        assert_eq!(ok("32M"), 32 << 20);
        assert_eq!(ok("1.5g"), 3 << 29);
        assert_eq!(ok("2 GB"), 2 << 30);
        assert_eq!(ok("1t"), 1 << 40);
        assert_eq!(ok("1p"), 1 << 50);
        assert_eq!(ok("1e3"), 1000);
        assert_eq!(ok(".5k"), 512);
        let err = |s: &str| ram_in_bytes(s).unwrap_err().0;
        // As docker 28 words them (checked against the real client).
        assert_eq!(err("1x"), "invalid suffix: 'x'");
        assert_eq!(err("-1"), "invalid size: '-1'");
        assert_eq!(err("abc"), "invalid size: 'abc'");
        assert_eq!(err(""), "invalid size: ''");
        assert_eq!(
            err("1.2.3m"),
            "strconv.ParseFloat: parsing \"1.2.3\": invalid syntax"
        );
        assert_eq!(err("1kibb"), "invalid suffix: 'kibb'");
        assert_eq!(err("1KIBB"), "invalid suffix: 'KIBB'");
        assert_eq!(err("1kx"), "invalid suffix: 'kx'");
        assert_eq!(err("1Kxb"), "invalid suffix: 'kxb'");
        assert_eq!(err("1bb"), "invalid suffix: 'bb'");
        assert_eq!(mem_swap_bytes("-1").unwrap(), -1);
        assert_eq!(mem_swap_bytes("-2").unwrap_err().0, "invalid size: '-2'");
    }

    #[test]
    fn cpus_parse_like_big_rat() {
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert_eq!(parse_cpus("2").unwrap(), 2_000_000_000);
        assert_eq!(parse_cpus("1.000000001").unwrap(), 1_000_000_001);
        assert_eq!(parse_cpus("1.50000000000000000000").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("3/2").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("-1").unwrap(), -1_000_000_000);
        assert_eq!(parse_cpus("1e-3").unwrap(), 1_000_000);
        assert_eq!(parse_cpus(".25").unwrap(), 250_000_000);
        assert_eq!(parse_cpus("0").unwrap(), 0);
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err().0,
            "value is too precise"
        );
        assert_eq!(parse_cpus("1/3").unwrap_err().0, "value is too precise");
        assert_eq!(parse_cpus("1e-60").unwrap_err().0, "value is too precise");
        for bad in ["abc", "", "1/0", "1.2.3", "1e", "."] {
            assert_eq!(
                parse_cpus(bad).unwrap_err().0,
                format!("failed to parse {bad} as a rational number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn integers_parse_like_pflag() {
        assert_eq!(parse_int64("20").unwrap(), 20);
        assert_eq!(parse_int64("-1").unwrap(), -1);
        assert_eq!(parse_int64("0x10").unwrap(), 16);
        assert_eq!(parse_int64("010").unwrap(), 8);
        assert_eq!(parse_int64("1_000").unwrap(), 1000);
        assert_eq!(parse_int64("0").unwrap(), 0);
        assert_eq!(
            parse_int64("x").unwrap_err().0,
            "strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse_int64("99999999999999999999").unwrap_err().0,
            "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
        );
        assert!(parse_int64("1__0").is_err());
        assert!(parse_int64("_1").is_err());
        assert_eq!(parse_uint16("500").unwrap(), 500);
        assert_eq!(
            parse_uint16("70000").unwrap_err().0,
            "strconv.ParseUint: parsing \"70000\": value out of range"
        );
        assert_eq!(
            parse_uint16("-1").unwrap_err().0,
            "strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
    }

    #[test]
    fn throttles_validate_like_docker() {
        let t = throttle_bps("/dev/sda:1mb").unwrap();
        assert_eq!(t.path.as_deref(), Some("/dev/sda"));
        assert_eq!(t.rate, Some(1 << 20));
        assert_eq!(throttle_iops("/dev/sda:100").unwrap().rate, Some(100));
        assert_eq!(throttle_bps("x").unwrap_err().0, "bad format: x");
        assert_eq!(throttle_bps(":1").unwrap_err().0, "bad format: :1");
        assert_eq!(
            throttle_bps("sda:1").unwrap_err().0,
            "bad format for device path: sda:1"
        );
        assert_eq!(
            throttle_bps("/dev/sda:1x").unwrap_err().0,
            format!("invalid rate for device: /dev/sda:1x. {BPS_FORMAT}")
        );
        assert_eq!(
            throttle_iops("/dev/sda:1k").unwrap_err().0,
            format!("invalid rate for device: /dev/sda:1k. {IOPS_FORMAT}")
        );
    }

    #[test]
    fn flags_reach_the_host_config_as_docker_sends_them() {
        let a = parse(&[
            "-m",
            "32m",
            "--memory-swap",
            "-1",
            "--memory-reservation",
            "16M",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "--cpus",
            "0.5",
            "-c",
            "512",
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "-1",
            "--cpuset-cpus",
            "0-1",
            "--cpuset-mems",
            "0",
            "--pids-limit",
            "20",
            "--blkio-weight",
            "300",
            "--device-read-bps",
            "/dev/sda:1mb",
            "--device-write-iops",
            "/dev/sda:10",
            "--cgroup-parent",
            "/berth-test",
        ])
        .unwrap();
        let h = resource_json(&a);
        let expect = json!({
            "Memory": 33554432, "MemorySwap": -1, "MemoryReservation": 16777216,
            "MemorySwappiness": 10, "OomKillDisable": true, "NanoCpus": 500000000,
            "CpuShares": 512, "CpuPeriod": 50000, "CpuQuota": -1, "CpusetCpus": "0-1",
            "CpusetMems": "0", "PidsLimit": 20, "BlkioWeight": 300,
            "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1048576}],
            "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [{"Path": "/dev/sda", "Rate": 10}],
            "CgroupParent": "/berth-test",
        });
        for (k, v) in expect.as_object().unwrap() {
            assert_eq!(h.get(k), Some(v), "{k}");
        }
        // Nothing given: docker's zero values, swappiness -1.
        let d = resource_json(&parse(&[]).unwrap());
        assert_eq!(d["Memory"], 0);
        assert_eq!(d["MemorySwappiness"], -1);
        assert_eq!(d["OomKillDisable"], false);
        assert_eq!(d["PidsLimit"], 0);
        assert_eq!(d["CgroupParent"], "");
        assert_eq!(d["BlkioDeviceReadBps"], json!([]));
    }

    #[test]
    fn bad_values_are_refused_while_parsing() {
        assert_eq!(reason(&["-m", "1x"]), "invalid suffix: 'x'");
        assert_eq!(reason(&["--memory", "-1"]), "invalid size: '-1'");
        assert_eq!(
            reason(&["--cpus", "abc"]),
            "failed to parse abc as a rational number"
        );
        assert_eq!(
            reason(&["--pids-limit", "x"]),
            "strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(parse(&["--cpus", "-1"]).unwrap().cpus, Some(-1_000_000_000));
        let mut host = HostConfig::default();
        let e = parse(&["--memory-swappiness", "200"])
            .unwrap()
            .apply(&mut host)
            .unwrap_err();
        assert_eq!(
            e,
            "invalid value: 200. Valid memory swappiness range is 0-100"
        );
    }

    #[test]
    fn restart_policies_parse_like_docker() {
        assert_eq!(parse_restart_policy("").unwrap(), RestartPolicy::default());
        assert_eq!(
            parse_restart_policy("on-failure:3").unwrap(),
            RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: 3
            }
        );
        assert_eq!(parse_restart_policy("always").unwrap().name, "always");
        assert_eq!(
            parse_restart_policy(":3").unwrap_err(),
            "invalid restart policy format: no policy provided before colon"
        );
        assert_eq!(
            parse_restart_policy("on-failure:x").unwrap_err(),
            "invalid restart policy format: maximum retry count must be an integer"
        );
    }

    #[test]
    fn update_body_matches_docker() {
        let parse_u = |argv: &[&str]| {
            let mut full = vec!["update"];
            full.extend_from_slice(argv);
            WrapUpdate::try_parse_from(full).unwrap().u
        };
        let none = update_body(&parse_u(&["c1"])).unwrap_err();
        assert_eq!(
            none.to_string(),
            "you must provide one or more flags when using this command"
        );
        assert_eq!(none.exit_code(), 1);
        let b = update_body(&parse_u(&[
            "-m",
            "100m",
            "--memory-swap",
            "200m",
            "--cpus",
            "1.5",
            "--restart",
            "on-failure:2",
            "c1",
            "c2",
        ]))
        .unwrap();
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["Memory"], 104857600);
        assert_eq!(v["MemorySwap"], 209715200);
        assert_eq!(v["NanoCpus"], 1500000000);
        assert_eq!(v["PidsLimit"], serde_json::Value::Null);
        assert_eq!(v["MemorySwappiness"], serde_json::Value::Null);
        assert_eq!(v["CpuShares"], 0);
        assert_eq!(
            v["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 2})
        );
        let p = serde_json::to_value(update_body(&parse_u(&["--pids-limit", "-1", "c"])).unwrap())
            .unwrap();
        assert_eq!(p["PidsLimit"], -1);
        assert_eq!(
            p["RestartPolicy"],
            json!({"Name": "", "MaximumRetryCount": 0})
        );
        let bad = update_body(&parse_u(&["--restart", "on-failure:x", "c"])).unwrap_err();
        assert_eq!(bad.exit_code(), 1);
    }
}
