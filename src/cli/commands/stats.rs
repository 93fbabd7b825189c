//! `berth stats`: docker 28's `stats` command. One stats stream per container
//! (`GET /containers/{id}/stats?stream=1`, or `stream=0` for `--no-stream`),
//! figures computed exactly as docker's CLI computes them from the v1 or v2
//! JSON shape, and a table (or template) redrawn every 500 ms in place with
//! docker's escape sequences. Without container arguments the list follows
//! the daemon's container list (docker follows its event stream; berthd has
//! none, so the list is polled every second instead).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use hyper::Method;
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use berth::api::models::ContainerSummary;

use super::Ctx;
use crate::client::{Client, ClientError, empty, encode_path, next_chunk};
use crate::error::CliError;
use crate::format::{FormatError, FormatSpec};
use crate::humanize::{bytes_size, human_size_with_precision};

/// Docker's `defaultStatsTableFormat` (Linux).
pub const DEFAULT_TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Column titles of the table formats.
pub const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("ID", "CONTAINER ID"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// How often the table is redrawn (docker's ticker).
const REDRAW: Duration = Duration::from_millis(500);
/// A stream silent for this long shows `--` (docker's "timeout waiting for stats").
const SILENCE: Duration = Duration::from_secs(2);
/// How often the container list is refreshed when no container is named.
const RELIST: Duration = Duration::from_secs(1);

/// `berth stats` / `berth container stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'
    #[arg(long, value_name = "string")]
    format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// The containers (default: all running ones)
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// A stats stream that gave nothing usable in time.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// No sample for two seconds (docker's wording).
    #[error("timeout waiting for stats")]
    Timeout {
        /// The stats request.
        path: String,
    },
}

impl StatsError {
    /// The daemon did not deliver.
    pub fn class(&self) -> berth::api::ErrorClass {
        berth::api::ErrorClass::Unavailable
    }
}

/// One container's figures, as docker's `StatsEntry`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsEntry {
    /// The name or ID the user gave (or the short ID when listing).
    pub container: String,
    /// The daemon's name, with its leading `/`.
    pub name: String,
    /// The full container ID.
    pub id: String,
    /// CPU use, percent of one CPU.
    pub cpu_percentage: f64,
    /// Memory use without the inactive page cache, bytes.
    pub memory: f64,
    /// Memory limit, bytes.
    pub memory_limit: f64,
    /// Memory use over the limit, percent.
    pub memory_percentage: f64,
    /// Bytes received over all interfaces.
    pub network_rx: f64,
    /// Bytes sent over all interfaces.
    pub network_tx: f64,
    /// Bytes read from block devices.
    pub block_read: f64,
    /// Bytes written to block devices.
    pub block_write: f64,
    /// Processes in the container.
    pub pids_current: u64,
    /// No valid figures (error, ended stream or silence): shown as `--`.
    pub is_invalid: bool,
}

/// The unsigned number at `path` in `v`; missing, null or mistyped is 0, as
/// Go's decoder leaves a zero value.
fn num(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Docker's `calculateCPUPercentUnix`: the container's CPU time delta over the
/// host's, times the online CPUs, in percent.
pub fn cpu_percent_unix(v: &Value) -> f64 {
    let cpu_delta = num(v, &["cpu_stats", "cpu_usage", "total_usage"]) as f64
        - num(v, &["precpu_stats", "cpu_usage", "total_usage"]) as f64;
    let system_delta = num(v, &["cpu_stats", "system_cpu_usage"]) as f64
        - num(v, &["precpu_stats", "system_cpu_usage"]) as f64;
    let mut online = num(v, &["cpu_stats", "online_cpus"]) as f64;
    if online == 0.0 {
        online = v
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// Docker's `calculateMemUsageUnixNoCache`: usage minus `total_inactive_file`
/// (cgroup v1) or `inactive_file` (v2), when smaller than the usage.
pub fn mem_usage_no_cache(v: &Value) -> f64 {
    let usage = num(v, &["memory_stats", "usage"]);
    let stat = |key: &str| {
        v.pointer(&format!("/memory_stats/stats/{key}"))
            .and_then(Value::as_u64)
    };
    if let Some(inactive) = stat("total_inactive_file")
        && inactive < usage
    {
        return (usage - inactive) as f64;
    }
    let inactive = stat("inactive_file").unwrap_or(0);
    if inactive < usage {
        return (usage - inactive) as f64;
    }
    usage as f64
}

/// Docker's `calculateBlockIO`: bytes by the first letter of each entry's op.
fn block_io(v: &Value) -> (u64, u64) {
    let mut read = 0u64;
    let mut write = 0u64;
    let entries = v
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array);
    for e in entries.into_iter().flatten() {
        let value = e.get("value").and_then(Value::as_u64).unwrap_or(0);
        match e
            .get("op")
            .and_then(Value::as_str)
            .and_then(|op| op.chars().next())
        {
            Some('r' | 'R') => read = read.wrapping_add(value),
            Some('w' | 'W') => write = write.wrapping_add(value),
            _ => {}
        }
    }
    (read, write)
}

/// Docker's `calculateNetwork`: received and sent bytes over every interface.
fn network(v: &Value) -> (f64, f64) {
    let mut rx = 0.0;
    let mut tx = 0.0;
    for n in v
        .get("networks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::values)
    {
        rx += num(n, &["rx_bytes"]) as f64;
        tx += num(n, &["tx_bytes"]) as f64;
    }
    (rx, tx)
}

impl StatsEntry {
    /// The figures of one stats sample, as docker's `collect` computes them
    /// on a Linux daemon.
    pub fn from_sample(container: &str, v: &Value) -> StatsEntry {
        let memory = mem_usage_no_cache(v);
        let memory_limit = num(v, &["memory_stats", "limit"]) as f64;
        let memory_percentage = if memory_limit != 0.0 {
            memory / memory_limit * 100.0
        } else {
            0.0
        };
        let (block_read, block_write) = block_io(v);
        let (network_rx, network_tx) = network(v);
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        StatsEntry {
            container: container.to_string(),
            name: text("name"),
            id: text("id"),
            cpu_percentage: cpu_percent_unix(v),
            memory,
            memory_limit,
            memory_percentage,
            network_rx,
            network_tx,
            block_read: block_read as f64,
            block_write: block_write as f64,
            pids_current: num(v, &["pids_stats", "current"]),
            is_invalid: false,
        }
    }

    /// Docker's `SetErrorAndReset`: figures zeroed, names kept, shown as `--`.
    fn reset(&mut self) {
        *self = StatsEntry {
            container: std::mem::take(&mut self.container),
            name: std::mem::take(&mut self.name),
            id: std::mem::take(&mut self.id),
            is_invalid: true,
            ..StatsEntry::default()
        };
    }

    /// The row docker's `statsContext` exposes to templates (and to `json`).
    pub fn row(&self, trunc: bool) -> Value {
        const NO_VALUE: &str = "--";
        let invalid = self.is_invalid;
        let name = match self.name.get(1..) {
            Some(rest) if !rest.is_empty() => rest.to_string(),
            _ => NO_VALUE.to_string(),
        };
        let id = if trunc {
            truncate_id(&self.id)
        } else {
            self.id.clone()
        };
        let or_none = |s: String| if invalid { NO_VALUE.to_string() } else { s };
        let pair = |a: f64, b: f64| {
            format!(
                "{} / {}",
                human_size_with_precision(a, 3),
                human_size_with_precision(b, 3)
            )
        };
        let mem_usage = if invalid {
            "-- / --".to_string()
        } else {
            format!(
                "{} / {}",
                bytes_size(self.memory),
                bytes_size(self.memory_limit)
            )
        };
        let mut m = Map::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), Value::String(v));
        };
        put("Container", self.container.clone());
        put("Name", name);
        put("ID", id);
        put("CPUPerc", or_none(percentage(self.cpu_percentage)));
        put("MemUsage", mem_usage);
        put("MemPerc", or_none(percentage(self.memory_percentage)));
        put("NetIO", or_none(pair(self.network_rx, self.network_tx)));
        put("BlockIO", or_none(pair(self.block_read, self.block_write)));
        put("PIDs", or_none(self.pids_current.to_string()));
        Value::Object(m)
    }
}

/// Go's `strconv.FormatFloat(v, 'f', 2, 64) + "%"`.
fn percentage(v: f64) -> String {
    format!("{v:.2}%")
}

/// docker's `TruncateID`: after any `algo:` prefix, the first 12 characters.
fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, rest)| rest);
    id.chars().take(12).collect()
}

/// Renders the entries with `spec` (header and aligned columns for tables).
pub fn render(
    spec: &FormatSpec,
    entries: &[StatsEntry],
    trunc: bool,
) -> Result<String, FormatError> {
    let rows: Vec<Value> = entries.iter().map(|e| e.row(trunc)).collect();
    crate::table::render(spec, HEADERS, &rows)
}

/// One redraw of the live view as docker 28 writes it: cursor home, every
/// line followed by erase-to-end-of-line, then erase below (for rows that
/// went away). Docker writes the frame twice in one write (its buffer is
/// appended to while split); the screen shows the same.
pub fn live_frame(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str("\x1b[H");
    for line in text.split('\n') {
        out.push_str(line);
        out.push_str(" \x1b[K\n");
    }
    out.push_str("\x1b[J");
    out
}

/// One followed container.
struct Slot {
    entry: StatsEntry,
    /// The last error of its stream; reported when containers were named.
    error: Option<CliError>,
    /// Whether its first sample (or failure) has arrived.
    ready: bool,
    task: Option<JoinHandle<()>>,
}

/// The followed containers, shared with their collector tasks.
#[derive(Clone, Default)]
struct Board {
    slots: Arc<Mutex<Vec<Slot>>>,
    changed: Arc<Notify>,
}

impl Board {
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Slot>) -> R) -> R {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut slots)
    }

    /// Updates the slot of `container` (if still followed) and wakes waiters.
    fn update(&self, container: &str, f: impl FnOnce(&mut Slot)) {
        self.with(|slots| {
            if let Some(s) = slots.iter_mut().find(|s| s.entry.container == container) {
                f(s);
            }
        });
        self.changed.notify_waiters();
    }

    /// Starts following `container` unless it is already followed.
    fn add(&self, client: &Client, container: &str, stream: bool) {
        self.with(|slots| {
            if slots.iter().any(|s| s.entry.container == container) {
                return;
            }
            let task = tokio::spawn(collect(
                client.clone(),
                container.to_string(),
                stream,
                self.clone(),
            ));
            slots.push(Slot {
                entry: StatsEntry {
                    container: container.to_string(),
                    ..StatsEntry::default()
                },
                error: None,
                ready: false,
                task: Some(task),
            });
        });
    }

    /// Stops following every container not in `keep`.
    fn retain(&self, keep: &[String]) {
        self.with(|slots| {
            slots.retain_mut(|s| {
                let kept = keep.contains(&s.entry.container);
                if !kept && let Some(t) = s.task.take() {
                    t.abort();
                }
                kept
            });
        });
    }

    /// Waits until every followed container has its first sample or failure.
    async fn wait_first(&self) {
        loop {
            let changed = self.changed.notified();
            if self.with(|slots| slots.iter().all(|s| s.ready)) {
                return;
            }
            changed.await;
        }
    }

    fn entries(&self) -> Vec<StatsEntry> {
        self.with(|slots| slots.iter().map(|s| s.entry.clone()).collect())
    }

    fn stop_all(&self) {
        self.with(|slots| {
            for s in slots.iter_mut() {
                if let Some(t) = s.task.take() {
                    t.abort();
                }
            }
        });
    }
}

/// Docker's `collect`: reads the container's stats stream, turning each
/// sample into figures; an error, the end of the stream or two silent seconds
/// mark the figures invalid. Without `stream`, one sample is enough.
async fn collect(client: Client, container: String, stream: bool, board: Board) {
    let path = format!(
        "/containers/{}/stats?stream={}",
        encode_path(&container),
        if stream { "1" } else { "0" }
    );
    let fail = |e: ClientError| {
        board.update(&container, |s| {
            s.entry.is_invalid = true;
            s.error = Some(e.into());
            s.ready = true;
        });
    };
    let resp = match client.send(Method::GET, &path, empty(), None).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(SILENCE, next_chunk(&path, &mut body)).await {
            Err(_) => {
                board.update(&container, |s| {
                    s.entry.reset();
                    s.error = Some(StatsError::Timeout { path: path.clone() }.into());
                    s.ready = true;
                });
                if !stream {
                    return;
                }
                continue;
            }
            Ok(Err(e)) => return fail(e),
            Ok(Ok(None)) => {
                // The stream ended (the container stopped): figures go stale.
                board.update(&container, |s| {
                    s.entry.is_invalid = true;
                    s.ready = true;
                });
                return;
            }
            Ok(Ok(Some(c))) => c,
        };
        buf.extend_from_slice(&chunk);
        let mut samples = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        let mut last = None;
        loop {
            match samples.next() {
                Some(Ok(v)) => {
                    consumed = samples.byte_offset();
                    last = Some(v);
                }
                // A sample cut between chunks waits for the rest.
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(source)) => {
                    return fail(ClientError::Decode {
                        path: path.clone(),
                        source,
                    });
                }
                None => break,
            }
        }
        buf.drain(..consumed);
        if let Some(v) = last {
            let entry = StatsEntry::from_sample(&container, &v);
            board.update(&container, |s| {
                s.entry = entry;
                s.error = None;
                s.ready = true;
            });
            if !stream {
                return;
            }
        }
    }
}

/// The short IDs of the containers the daemon lists (running, or all).
async fn list_ids(client: &Client, all: bool) -> Result<Vec<String>, CliError> {
    let path = if all {
        "/containers/json?all=1"
    } else {
        "/containers/json"
    };
    let list: Vec<ContainerSummary> = client.get(path).await?;
    Ok(list
        .iter()
        .filter_map(|c| c.id.as_deref())
        .map(|id| id.chars().take(12).collect())
        .collect())
}

/// Docker's `errors.Join` of the named containers' failures; not reaching
/// the daemon at all is the one error worth printing.
fn first_errors(board: &Board) -> Result<(), CliError> {
    let mut errors: Vec<CliError> =
        board.with(|slots| slots.iter_mut().filter_map(|s| s.error.take()).collect());
    if let Some(i) = errors
        .iter()
        .position(|e| matches!(e, CliError::Client(ClientError::Connect { .. })))
    {
        return Err(errors.swap_remove(i));
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(CliError::Status {
        code: 1,
        message: errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// `berth stats`: docker's `RunStats`.
pub async fn stats(ctx: &Ctx, args: StatsArgs) -> Result<(), CliError> {
    let client = &ctx.client;
    let stream = !args.no_stream;
    let show_all = args.containers.is_empty();
    let board = Board::default();
    let (relist_err_tx, mut relist_err) = mpsc::channel::<CliError>(1);
    let mut watcher = None;
    if show_all {
        for id in list_ids(client, args.all).await? {
            board.add(client, &id, stream);
        }
        if stream {
            watcher = Some(tokio::spawn(follow_list(
                client.clone(),
                board.clone(),
                args.all,
                relist_err_tx,
            )));
        }
        board.wait_first().await;
    } else {
        for name in &args.containers {
            board.add(client, name, stream);
        }
        board.wait_first().await;
        if let Err(e) = first_errors(&board) {
            board.stop_all();
            return Err(e);
        }
    }
    let spec = FormatSpec::parse(args.format.as_deref().unwrap_or(""), DEFAULT_TABLE);
    let result = redraw(
        &board,
        &spec,
        !args.no_trunc,
        stream,
        show_all,
        &mut relist_err,
    )
    .await;
    if let Some(w) = watcher {
        w.abort();
    }
    board.stop_all();
    result
}

/// Docker's ticker loop: render every 500 ms. `--no-stream` renders once, as
/// soon as every container has answered: docker waits for its first tick
/// too, which only adds half a second to every call.
async fn redraw(
    board: &Board,
    spec: &FormatSpec,
    trunc: bool,
    stream: bool,
    show_all: bool,
    relist_err: &mut mpsc::Receiver<CliError>,
) -> Result<(), CliError> {
    let first = if stream { REDRAW } else { Duration::ZERO };
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + first, REDRAW);
    loop {
        ticker.tick().await;
        let entries = board.entries();
        let text = render(spec, &entries, trunc)?;
        let frame = if stream { live_frame(&text) } else { text };
        // One write per frame, as docker does, against flicker. A reader that
        // went away (`| head`) ends the command quietly, where Go's CLI dies
        // of SIGPIPE.
        let mut out = std::io::stdout().lock();
        if out
            .write_all(frame.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return Ok(());
        }
        drop(out);
        if (entries.is_empty() && !show_all) || !stream {
            return Ok(());
        }
        if let Ok(e) = relist_err.try_recv() {
            return Err(e);
        }
    }
}

/// Keeps the followed set equal to the daemon's list: new containers are
/// added; without `-a`, stopped ones are dropped (docker reacts to the
/// `start`, `create` and `die` events the same way).
async fn follow_list(client: Client, board: Board, all: bool, errors: mpsc::Sender<CliError>) {
    loop {
        tokio::time::sleep(RELIST).await;
        match list_ids(&client, all).await {
            Ok(ids) => {
                if !all {
                    board.retain(&ids);
                }
                for id in &ids {
                    board.add(&client, id, true);
                }
            }
            Err(e) => {
                let _ = errors.send(e).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A cgroup v1 sample as dockerd 20.10 sends it (trimmed).
    fn v1_sample() -> Value {
        json!({
            "read": "2026-11-22T03:14:00.5Z", "preread": "2026-11-22T03:13:59.5Z",
            "name": "/berth-s1", "id": "7392214da6b966d69827a0517751c79ae0af77dade7d1849d1e9783f35cf87cb",
            "pids_stats": {"current": 3},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 1200},
                {"major": 8, "minor": 0, "op": "Write", "value": 4096},
                {"major": 8, "minor": 0, "op": "Sync", "value": 5296},
                {"major": 8, "minor": 0, "op": "Total", "value": 5296}
            ]},
            "cpu_stats": {"cpu_usage": {"total_usage": 1_500_000_000u64, "percpu_usage": [1, 2, 3, 4]},
                          "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000u64},
                             "system_cpu_usage": 18_000_000_000u64, "online_cpus": 2},
            "memory_stats": {"usage": 2_097_152, "limit": 33_554_432,
                             "stats": {"total_inactive_file": 524_288, "inactive_file": 1}},
            "networks": {"eth0": {"rx_bytes": 1234, "tx_bytes": 0}, "eth1": {"rx_bytes": 1000, "tx_bytes": 10}}
        })
    }

    #[test]
    fn figures_follow_docker_v1() {
        let e = StatsEntry::from_sample("berth-s1", &v1_sample());
        // 0.5 s of CPU over 2 s of host time on 2 CPUs.
        assert_eq!(e.cpu_percentage, 50.0);
        assert_eq!(e.memory, 1_572_864.0);
        assert_eq!(e.memory_limit, 33_554_432.0);
        assert_eq!(e.memory_percentage, 4.6875);
        assert_eq!((e.block_read, e.block_write), (1200.0, 4096.0));
        assert_eq!((e.network_rx, e.network_tx), (2234.0, 10.0));
        assert_eq!(e.pids_current, 3);
        let row = e.row(true);
        assert_eq!(
            row,
            json!({
                "Container": "berth-s1", "Name": "berth-s1", "ID": "7392214da6b9",
                "CPUPerc": "50.00%", "MemUsage": "1.5MiB / 32MiB", "MemPerc": "4.69%",
                "NetIO": "2.23kB / 10B", "BlockIO": "1.2kB / 4.1kB", "PIDs": "3"
            })
        );
        assert_eq!(e.row(false)["ID"], e.id.as_str());
    }

    #[test]
    fn figures_follow_docker_v2_and_edge_cases() {
        let v2 = json!({
            "name": "/c", "id": "abc",
            "cpu_stats": {"cpu_usage": {"total_usage": 100, "percpu_usage": [50, 50]}, "system_cpu_usage": 1000},
            "precpu_stats": {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0},
            "memory_stats": {"usage": 1000, "limit": 0, "stats": {"inactive_file": 400}},
            "blkio_stats": {"io_service_bytes_recursive": null},
            "networks": null
        });
        let e = StatsEntry::from_sample("c", &v2);
        // No online_cpus: the per-CPU list's length stands in.
        assert_eq!(e.cpu_percentage, 20.0);
        assert_eq!(e.memory, 600.0);
        assert_eq!(e.memory_percentage, 0.0);
        assert_eq!((e.block_read, e.network_rx), (0.0, 0.0));
        // An inactive figure above the usage is ignored; v1's key wins when present.
        let big = json!({"memory_stats": {"usage": 10, "stats": {"inactive_file": 20}}});
        assert_eq!(mem_usage_no_cache(&big), 10.0);
        let v1 = json!({"memory_stats": {"usage": 10, "stats": {"total_inactive_file": 20, "inactive_file": 4}}});
        assert_eq!(mem_usage_no_cache(&v1), 6.0);
        // A counter going backwards is no negative percentage.
        let back = json!({"cpu_stats": {"cpu_usage": {"total_usage": 1}, "system_cpu_usage": 10},
                          "precpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 5}});
        assert_eq!(cpu_percent_unix(&back), 0.0);
        // A stopped container's zero sample.
        let zero = StatsEntry::from_sample("x", &json!({"name": "/x", "id": ""}));
        let row = zero.row(true);
        assert_eq!(row["MemUsage"], "0B / 0B");
        assert_eq!(row["CPUPerc"], "0.00%");
        assert_eq!(row["NetIO"], "0B / 0B");
        // No name at all.
        assert_eq!(StatsEntry::default().row(true)["Name"], "--");
    }

    #[test]
    fn invalid_entries_show_dashes() {
        let mut e = StatsEntry::from_sample("berth-s1", &v1_sample());
        e.reset();
        assert!(e.is_invalid);
        assert_eq!(e.memory, 0.0);
        let row = e.row(true);
        assert_eq!(row["Name"], "berth-s1");
        assert_eq!(row["ID"], "7392214da6b9");
        for k in ["CPUPerc", "MemPerc", "NetIO", "BlockIO", "PIDs"] {
            assert_eq!(row[k], "--", "{k}");
        }
        assert_eq!(row["MemUsage"], "-- / --");
    }

    #[test]
    fn table_json_and_templates_render_like_docker() {
        let e = StatsEntry::from_sample("berth-s1", &v1_sample());
        let table = render(
            &FormatSpec::parse("", DEFAULT_TABLE),
            std::slice::from_ref(&e),
            true,
        )
        .unwrap();
        assert_eq!(
            table,
            "CONTAINER ID   NAME       CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        BLOCK I/O       PIDS\n\
             7392214da6b9   berth-s1   50.00%    1.5MiB / 32MiB      4.69%     2.23kB / 10B   1.2kB / 4.1kB   3\n"
        );
        let header_only = render(&FormatSpec::parse("table", DEFAULT_TABLE), &[], true).unwrap();
        assert_eq!(
            header_only,
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS\n"
        );
        let json_line = render(
            &FormatSpec::parse("json", DEFAULT_TABLE),
            std::slice::from_ref(&e),
            true,
        )
        .unwrap();
        assert_eq!(
            json_line,
            "{\"BlockIO\":\"1.2kB / 4.1kB\",\"CPUPerc\":\"50.00%\",\"Container\":\"berth-s1\",\"ID\":\"7392214da6b9\",\"MemPerc\":\"4.69%\",\"MemUsage\":\"1.5MiB / 32MiB\",\"Name\":\"berth-s1\",\"NetIO\":\"2.23kB / 10B\",\"PIDs\":\"3\"}\n"
        );
        let custom = render(
            &FormatSpec::parse("table {{.Container}}\\t{{.CPUPerc}}", DEFAULT_TABLE),
            std::slice::from_ref(&e),
            true,
        )
        .unwrap();
        assert_eq!(custom, "CONTAINER   CPU %\nberth-s1    50.00%\n");
        let plain = render(
            &FormatSpec::parse("{{.Name}}: {{.PIDs}}", DEFAULT_TABLE),
            &[e],
            true,
        )
        .unwrap();
        assert_eq!(plain, "berth-s1: 3\n");
    }

    #[test]
    fn live_frames_redraw_in_place() {
        assert_eq!(
            live_frame("A   B\n1   2\n"),
            "\x1b[HA   B \x1b[K\n1   2 \x1b[K\n \x1b[K\n\x1b[J"
        );
    }

    #[test]
    fn ids_truncate_like_docker() {
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("abc"), "abc");
    }
}
