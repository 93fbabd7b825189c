//! Showing a classic-builder `POST /build` JSON stream: plain text exactly as
//! docker's `jsonmessage` prints it without a terminal, or a live display on a
//! terminal (each step on one line with its time, `CACHED` for cache hits,
//! the last lines of the running step's output under it).

use std::collections::VecDeque;
use std::io::Write;
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use crate::humanize::human_size;

/// One message of the build stream (docker's `jsonmessage.JSONMessage`).
#[derive(Debug, Default, Deserialize)]
pub struct JsonMessage {
    /// Text to print as is.
    pub stream: Option<String>,
    /// A status line (image pulls).
    pub status: Option<String>,
    /// What the status is about (a layer).
    pub id: Option<String>,
    /// `(from ...)` for old event streams.
    pub from: Option<String>,
    /// A rendered progress bar.
    pub progress: Option<String>,
    /// The failure message.
    pub error: Option<String>,
    /// The failure with its exit code.
    #[serde(rename = "errorDetail")]
    pub error_detail: Option<ErrorDetail>,
    /// Side data: `{"ID": "sha256:..."}` at the end of a build.
    pub aux: Option<Value>,
}

/// `errorDetail`: the failed RUN's exit code, 0 for other failures.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorDetail {
    /// The exit code (0 when there is none).
    #[serde(default)]
    pub code: i32,
    /// The message.
    #[serde(default)]
    pub message: String,
}

impl JsonMessage {
    /// The failure this message reports, as (exit code, message): the code is
    /// `errorDetail.code`, or 1 when it is absent or 0, as docker exits.
    pub fn failure(&self) -> Option<(i32, String)> {
        match (&self.error_detail, &self.error) {
            (Some(d), e) => {
                let message = if d.message.is_empty() {
                    e.clone().unwrap_or_default()
                } else {
                    d.message.clone()
                };
                Some((if d.code == 0 { 1 } else { d.code }, message))
            }
            (None, Some(e)) => Some((1, e.clone())),
            (None, None) => None,
        }
    }

    /// The image ID of an `aux` message.
    pub fn aux_id(&self) -> Option<String> {
        self.aux.as_ref()?.get("ID")?.as_str().map(str::to_string)
    }

    /// The text docker's `JSONMessage.Display` prints for this message
    /// without a terminal (`aux` and errors are handled by the caller).
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        if let Some(id) = self.id.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!("{id}: "));
        }
        if let Some(from) = self.from.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!("(from {from}) "));
        }
        let status = self.status.as_deref().unwrap_or_default();
        match (
            self.progress.as_deref().filter(|s| !s.is_empty()),
            self.stream.as_deref().filter(|s| !s.is_empty()),
        ) {
            (Some(progress), _) => out.push_str(&format!("{status} {progress}")),
            (None, Some(stream)) => out.push_str(stream),
            (None, None) => {
                out.push_str(status);
                out.push('\n');
            }
        }
        out
    }
}

/// Splits a byte stream into JSON messages, however it was chunked.
#[derive(Debug, Default)]
pub struct MessageDecoder {
    buf: Vec<u8>,
}

impl MessageDecoder {
    /// Adds bytes and returns the messages completed by them; `done` says no
    /// more bytes will come (then a partial message is an error).
    pub fn push(&mut self, data: &[u8], done: bool) -> Result<Vec<JsonMessage>, serde_json::Error> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&self.buf).into_iter::<JsonMessage>();
        let mut consumed = 0;
        loop {
            match stream.next() {
                Some(Ok(msg)) => {
                    consumed = stream.byte_offset();
                    out.push(msg);
                }
                Some(Err(e)) if e.is_eof() && !done => break,
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        self.buf.drain(..consumed);
        Ok(out)
    }
}

/// docker's upload line: `Sending build context to Docker daemon  2.048kB`.
pub fn sending_line(bytes: u64) -> String {
    format!(
        "Sending build context to Docker daemon {:>8}",
        human_size(bytes as f64)
    )
}

/// How many output lines of the running step stay visible.
const TAIL_LINES: usize = 6;
/// How many output lines of a failed step are printed.
const ERROR_LINES: usize = 20;

/// One `Step N/M : ...` of the build.
#[derive(Debug)]
struct Step {
    title: String,
    started: Instant,
    ended: Option<Instant>,
    cached: bool,
    tail: VecDeque<String>,
}

/// The live terminal display of a build.
#[derive(Debug)]
pub struct LiveDisplay {
    started: Instant,
    width: usize,
    sent: Option<u64>,
    total_steps: usize,
    done_steps: usize,
    step: Option<Step>,
    partial: String,
    /// Finished lines not yet written above the live area.
    commit: Vec<String>,
    /// Lines printed after the summary (`Successfully built`, warnings).
    notes: Vec<String>,
    /// How many live lines are on the screen now.
    drawn: usize,
}

impl LiveDisplay {
    /// A display for a terminal `width` columns wide.
    pub fn new(now: Instant, width: usize) -> LiveDisplay {
        LiveDisplay {
            started: now,
            width: width.max(20),
            sent: None,
            total_steps: 0,
            done_steps: 0,
            step: None,
            partial: String::new(),
            commit: Vec::new(),
            notes: Vec::new(),
            drawn: 0,
        }
    }

    /// Records how much of the context has been sent.
    pub fn context_sent(&mut self, bytes: u64) {
        self.sent = Some(bytes);
    }

    /// Feeds a message of the stream.
    pub fn message(&mut self, msg: &JsonMessage, now: Instant) {
        if let Some(stream) = msg.stream.as_deref() {
            self.stream(stream, now);
        } else if msg.status.is_some() {
            let line = msg.plain_text();
            let line = line.trim_end_matches('\n');
            let id = msg.id.as_deref().unwrap_or_default();
            match &mut self.step {
                Some(step) => {
                    // A layer's progress replaces its previous line.
                    if !id.is_empty()
                        && step
                            .tail
                            .back()
                            .is_some_and(|l| l.starts_with(&format!("{id}: ")))
                    {
                        step.tail.pop_back();
                    }
                    push_tail(&mut step.tail, clean_line(line));
                }
                None => self.commit.push(clean_line(line)),
            }
        }
    }

    fn stream(&mut self, text: &str, now: Instant) {
        self.partial.push_str(text);
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            self.line(line.trim_end_matches('\n'), now);
        }
    }

    /// One complete line of stream text.
    fn line(&mut self, line: &str, now: Instant) {
        let line = clean_line(line);
        if let Some((n, m, instruction)) = parse_step(&line) {
            self.finish_step(now);
            // The upload line stays above the steps once the build starts.
            if self.total_steps == 0
                && let Some(sent) = self.sent
            {
                self.commit.push(sending_line(sent));
            }
            self.total_steps = m;
            self.step = Some(Step {
                title: format!("[{n}/{m}] {instruction}"),
                started: now,
                ended: None,
                cached: false,
                tail: VecDeque::new(),
            });
            return;
        }
        if line == " ---> Using cache" {
            if let Some(step) = &mut self.step {
                step.cached = true;
            }
            return;
        }
        // The builder's own bookkeeping lines say nothing the display does not.
        if line.starts_with(" ---> ") || line.starts_with("Removing intermediate container ") {
            return;
        }
        if line.starts_with("Successfully built ")
            || line.starts_with("Successfully tagged ")
            || line.starts_with("[Warning]")
        {
            self.finish_step(now);
            self.notes.push(line);
            return;
        }
        match &mut self.step {
            Some(step) if !line.trim().is_empty() => push_tail(&mut step.tail, line),
            Some(_) => {}
            None => self.notes.push(line),
        }
    }

    /// Ends the running step: it collapses into one line with its time.
    fn finish_step(&mut self, now: Instant) {
        if let Some(mut step) = self.step.take() {
            step.ended = Some(now);
            self.done_steps += 1;
            let line = self.step_line(&step, now, "");
            self.commit.push(line);
        }
    }

    fn step_line(&self, step: &Step, now: Instant, flag: &str) -> String {
        let elapsed = step.ended.unwrap_or(now).duration_since(step.started);
        let flag = if step.cached { "CACHED " } else { flag };
        let left = format!(" => {flag}{}", step.title);
        let right = format!("{:.1}s", elapsed.as_secs_f64());
        fit(&left, &right, self.width)
    }

    /// The lines of the live area.
    fn live_lines(&self, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        match (&self.step, self.sent) {
            (Some(step), _) => {
                lines.push(self.step_line(step, now, ""));
                for l in step
                    .tail
                    .iter()
                    .skip(step.tail.len().saturating_sub(TAIL_LINES))
                {
                    lines.push(truncate(&format!(" => => {l}"), self.width - 1));
                }
            }
            (None, Some(sent)) if self.total_steps == 0 => {
                lines.push(truncate(&sending_line(sent), self.width - 1));
            }
            (None, _) => {}
        }
        lines.push(self.header(now, ""));
        lines
    }

    fn header(&self, now: Instant, suffix: &str) -> String {
        let total = if self.total_steps == 0 {
            String::new()
        } else {
            format!(" ({}/{})", self.done_steps, self.total_steps)
        };
        truncate(
            &format!(
                "[+] Building {:.1}s{total}{suffix}",
                now.duration_since(self.started).as_secs_f64()
            ),
            self.width - 1,
        )
    }

    /// Redraws: finished lines go above, the live area is rewritten.
    pub fn draw(&mut self, out: &mut dyn Write, now: Instant) {
        let live = self.live_lines(now);
        let mut frame = self.erase();
        for line in self.commit.drain(..) {
            frame.push_str(&line);
            frame.push('\n');
        }
        for line in &live {
            frame.push_str(line);
            frame.push('\n');
        }
        self.drawn = live.len();
        let _ = out.write_all(frame.as_bytes());
        let _ = out.flush();
    }

    /// Moves back over the live area and clears it.
    fn erase(&self) -> String {
        if self.drawn == 0 {
            String::new()
        } else {
            format!("\r\x1b[{}A\x1b[J", self.drawn)
        }
    }

    /// The last frame: every step collapsed, the failed step (if `failed`)
    /// with its output, the summary line, then the notes.
    pub fn finish(&mut self, out: &mut dyn Write, now: Instant, failed: bool) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.line(&rest, now);
        }
        if let Some(mut step) = self.step.take() {
            step.ended = Some(now);
            if failed {
                let line = self.step_line(&step, now, "ERROR ");
                self.commit.push(line);
                for l in step
                    .tail
                    .iter()
                    .skip(step.tail.len().saturating_sub(ERROR_LINES))
                {
                    self.commit.push(format!(" => => {l}"));
                }
            } else {
                self.done_steps += 1;
                let line = self.step_line(&step, now, "");
                self.commit.push(line);
            }
        }
        let mut frame = self.erase();
        self.drawn = 0;
        for line in self.commit.drain(..) {
            frame.push_str(&line);
            frame.push('\n');
        }
        frame.push_str(&self.header(now, if failed { " FAILED" } else { " FINISHED" }));
        frame.push('\n');
        for note in self.notes.drain(..) {
            frame.push_str(&note);
            frame.push('\n');
        }
        let _ = out.write_all(frame.as_bytes());
        let _ = out.flush();
    }
}

fn push_tail(tail: &mut VecDeque<String>, line: String) {
    tail.push_back(line);
    while tail.len() > ERROR_LINES {
        tail.pop_front();
    }
}

/// `Step 2/5 : RUN make` → (2, 5, "RUN make").
fn parse_step(line: &str) -> Option<(usize, usize, &str)> {
    let rest = line.strip_prefix("Step ")?;
    let (counts, instruction) = rest.split_once(" : ")?;
    let (n, m) = counts.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?, instruction))
}

/// A line as it would end up on a terminal: what follows the last `\r`,
/// without escape sequences (the builder colours stderr) or other controls.
fn clean_line(line: &str) -> String {
    let line = line.trim_end_matches('\r');
    let line = line.rsplit('\r').next().unwrap_or(line);
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters... final byte in @..~.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if c == '\t' {
            out.push_str("    ");
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// At most `max` characters.
fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `left` and `right` on one line `width` wide, `left` cut to make room.
fn fit(left: &str, right: &str, width: usize) -> String {
    let room = width.saturating_sub(right.chars().count() + 2);
    let left = truncate(left, room);
    let pad = room.saturating_sub(left.chars().count()) + 1;
    format!("{left}{}{right}", " ".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn msgs(raw: &str) -> Vec<JsonMessage> {
        MessageDecoder::default()
            .push(raw.as_bytes(), true)
            .unwrap()
    }

    #[test]
    fn decoder_handles_split_messages() {
        let mut d = MessageDecoder::default();
        assert!(d.push(b"{\"stream\":\"Ste", false).unwrap().is_empty());
        let got = d
            .push(
                b"p 1/1 : FROM x\"}\r\n{\"aux\":{\"ID\":\"sha256:ab\"}}\r\n",
                false,
            )
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].stream.as_deref(), Some("Step 1/1 : FROM x"));
        assert_eq!(got[1].aux_id().as_deref(), Some("sha256:ab"));
        assert!(d.push(b"{\"stream\":", true).is_err());
    }

    #[test]
    fn plain_text_like_jsonmessage() {
        let m = msgs(
            r#"{"stream":"Step 1/2 : FROM busybox"}{"status":"Pulling fs layer","id":"abc"}{"status":"Downloading","progress":"[=>  ] 1MB/2MB","id":"abc"}{"status":"Digest: sha256:x"}"#,
        );
        let texts: Vec<String> = m.iter().map(JsonMessage::plain_text).collect();
        assert_eq!(
            texts,
            vec![
                "Step 1/2 : FROM busybox",
                "abc: Pulling fs layer\n",
                "abc: Downloading [=>  ] 1MB/2MB",
                "Digest: sha256:x\n"
            ]
        );
    }

    #[test]
    fn failures_carry_docker_exit_codes() {
        let m = msgs(
            r#"{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}{"errorDetail":{"message":"COPY failed"},"error":"COPY failed"}{"error":"plain"}{"stream":"x"}"#,
        );
        assert_eq!(
            m[0].failure(),
            Some((
                3,
                "The command '/bin/sh -c exit 3' returned a non-zero code: 3".to_string()
            ))
        );
        assert_eq!(m[1].failure(), Some((1, "COPY failed".to_string())));
        assert_eq!(m[2].failure(), Some((1, "plain".to_string())));
        assert_eq!(m[3].failure(), None);
    }

    #[test]
    fn sending_line_matches_docker() {
        assert_eq!(
            sending_line(3072),
            "Sending build context to Docker daemon  3.072kB"
        );
        assert_eq!(
            sending_line(5120),
            "Sending build context to Docker daemon   5.12kB"
        );
    }

    fn render(stream: &[&str], failed: bool) -> String {
        let t0 = Instant::now();
        let mut d = LiveDisplay::new(t0, 60);
        d.context_sent(3072);
        let mut out = Vec::new();
        for (i, s) in stream.iter().enumerate() {
            let m = JsonMessage {
                stream: Some(s.to_string()),
                ..Default::default()
            };
            d.message(&m, t0 + Duration::from_millis(100 * i as u64));
            d.draw(&mut out, t0 + Duration::from_millis(100 * i as u64));
        }
        d.finish(&mut out, t0 + Duration::from_secs(2), failed);
        String::from_utf8(out).unwrap()
    }

    /// What stays on the screen: the output with each erase applied.
    fn screen(raw: &str) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("\r\x1b[") {
                let end = r.find('A').unwrap();
                let n: usize = r[..end].parse().unwrap();
                lines.truncate(lines.len() - n);
                rest = r[end + 1..].strip_prefix("\x1b[J").unwrap();
                continue;
            }
            let end = rest.find('\n').unwrap();
            lines.push(rest[..end].to_string());
            rest = &rest[end + 1..];
        }
        lines
    }

    #[test]
    fn live_display_collapses_steps() {
        let out = render(
            &[
                "Step 1/3 : FROM busybox",
                "\n",
                " ---> 44f1f98331af\n",
                "Step 2/3 : RUN echo hi",
                "\n",
                " ---> Using cache\n",
                " ---> f7f10ca73ca1\n",
                "Step 3/3 : RUN make",
                "\n",
                " ---> Running in 5938672e2da3\n",
                "line one\n\u{1b}[91mline two\n\u{1b}[0m",
                "Removing intermediate container 5938672e2da3\n",
                " ---> fa1a76045050\n",
                "Successfully built fa1a76045050\n",
                "Successfully tagged x:1\n",
            ],
            false,
        );
        let screen = screen(&out);
        assert_eq!(screen.len(), 7, "{screen:#?}");
        assert_eq!(screen[0], "Sending build context to Docker daemon  3.072kB");
        assert!(
            screen[1].starts_with(" => [1/3] FROM busybox "),
            "{screen:#?}"
        );
        assert!(screen[1].ends_with(" 0.3s"), "{screen:#?}");
        assert!(
            screen[2].starts_with(" => CACHED [2/3] RUN echo hi "),
            "{screen:#?}"
        );
        assert!(screen[3].starts_with(" => [3/3] RUN make "), "{screen:#?}");
        assert_eq!(screen[1].chars().count(), 59);
        assert_eq!(screen[4], "[+] Building 2.0s (3/3) FINISHED");
        assert_eq!(screen[5], "Successfully built fa1a76045050");
        assert_eq!(screen[6], "Successfully tagged x:1");
        // While step 3 ran, its output was shown under it, without colours.
        assert!(
            out.contains(" => => line one\n => => line two\n"),
            "{out:?}"
        );
    }

    #[test]
    fn live_display_keeps_a_failed_steps_output() {
        let out = render(
            &[
                "Step 1/2 : FROM busybox\n",
                "Step 2/2 : RUN exit 3\n",
                " ---> Running in f023\n",
                "oops\n",
            ],
            true,
        );
        let screen = screen(&out);
        assert!(
            screen[2].starts_with(" => ERROR [2/2] RUN exit 3"),
            "{screen:#?}"
        );
        assert_eq!(screen[3], " => => oops");
        assert_eq!(screen[4], "[+] Building 2.0s (1/2) FAILED");
    }

    #[test]
    fn lines_are_cleaned_for_the_terminal() {
        assert_eq!(clean_line("10%\r50%\r100%"), "100%");
        assert_eq!(clean_line("\u{1b}[91merr\u{1b}[0m"), "err");
        assert_eq!(clean_line("a\tb"), "a    b");
        assert_eq!(
            parse_step("Step 12/30 : COPY . /src"),
            Some((12, 30, "COPY . /src"))
        );
        assert_eq!(parse_step("Step x"), None);
        assert_eq!(fit("abcd", "1.0s", 12), "abcd   1.0s");
        assert_eq!(fit("abcdefghijkl", "1.0s", 12), "abcdef 1.0s");
    }
}
