//! Documentation generated from the CLI's own clap definitions, so it never
//! drifts from the flags: `berth completion <shell>` (as `docker completion`)
//! prints a shell completion script, and the hidden `berth __gen-man <dir>`
//! writes a man page for `berth` and each of its commands (the Debian
//! package's build runs it; nothing generated is checked in).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::CliError;

/// `berth completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// Shell to generate the completion script for
    #[arg(value_enum)]
    shell: Shell,
}

/// The shells berth has completions for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `berth __gen-man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the section 1 pages into (created if missing)
    dir: PathBuf,
}

/// Prints the completion script of `cmd` (the whole `berth` command) for a
/// shell to stdout.
pub fn completion(args: &CompletionArgs, mut cmd: clap::Command) -> Result<(), CliError> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "berth", &mut out);
    match std::io::stdout().write_all(&out) {
        // `berth completion bash | head`: a closed pipe is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|source| CliError::Io {
            op: "write",
            path: "stdout".to_owned(),
            source,
        }),
    }
}

/// Writes `berth.1` and one `berth-<command>.1` per (visible) command.
pub fn man(args: &ManArgs, cmd: clap::Command) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        op: "write",
        path: args.dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&args.dir).map_err(io)?;
    clap_mangen::generate_to(cmd, &args.dir).map_err(io)
}
