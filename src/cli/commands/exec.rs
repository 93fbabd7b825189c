//! `berth exec` / `berth container exec`: Docker's `RunExec`. Creates the
//! exec, then either starts it detached or hijacks the start request and
//! copies the streams (raw terminal with `-t -i`, the exec's tty resized
//! with ours), and exits with the exec's exit code, read from its inspect
//! once the stream ends (as Docker's CLI does).

use std::io::IsTerminal;

use clap::Args;
use hyper::Method;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Ctx;
use super::attach::{AbortOnDrop, OutputCopier, monitor_size};
use super::container::{expand_env, parse_env_file};
use crate::client::{Attached, Client, ClientError, encode_path, json_body, next_chunk};
use crate::error::{CliError, go_io_error};
use crate::tty::RawTerminal;

/// `berth exec` options, Docker's names.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "string")]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    workdir: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// COMMAND [ARG...]; flags after COMMAND belong to it
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExecCreate {
    user: String,
    privileged: bool,
    tty: bool,
    attach_stdin: bool,
    attach_stderr: bool,
    attach_stdout: bool,
    detach: bool,
    detach_keys: String,
    env: Vec<String>,
    working_dir: String,
    cmd: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdResponse {
    id: String,
}

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExecStart {
    detach: bool,
    tty: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExecInspect {
    exit_code: Option<i64>,
}

fn build(args: &ExecArgs) -> Result<ExecCreate, CliError> {
    let mut env = Vec::new();
    for file in &args.env_file {
        let content = std::fs::read_to_string(file)
            .map_err(|e| CliError::usage(format!("open {file}: {}", go_io_error(&e))))?;
        env.extend(parse_env_file(&content).map_err(CliError::usage)?);
    }
    for e in &args.env {
        env.push(expand_env(e).map_err(CliError::usage)?);
    }
    let attach = !args.detach;
    Ok(ExecCreate {
        user: args.user.clone().unwrap_or_default(),
        privileged: args.privileged,
        tty: args.tty,
        attach_stdin: attach && args.interactive,
        attach_stderr: attach,
        attach_stdout: attach,
        detach: args.detach,
        detach_keys: args.detach_keys.clone().unwrap_or_default(),
        env,
        working_dir: args.workdir.clone().unwrap_or_default(),
        cmd: args.command.clone(),
    })
}

/// `berth exec`.
pub async fn exec(ctx: &Ctx, args: ExecArgs) -> Result<(), CliError> {
    let client = &ctx.client;
    let body = build(&args)?;
    if body.attach_stdin && args.tty && !std::io::stdin().is_terminal() {
        return Err(CliError::usage("the input device is not a TTY"));
    }
    let path = format!("/containers/{}/exec", encode_path(&args.container));
    let created: IdResponse = client.json(Method::POST, &path, json_body(&body)).await?;
    let id = created.id;
    let start_path = format!("/exec/{}/start", encode_path(&id));
    let start = ExecStart {
        detach: args.detach,
        tty: args.tty,
    };
    if args.detach {
        client
            .bytes(Method::POST, &start_path, json_body(&start))
            .await?;
        return Ok(());
    }
    let attached = client
        .hijack_with(&start_path, json_body(&start), "application/json")
        .await?;
    stream(
        client,
        &id,
        &start_path,
        args.tty,
        body.attach_stdin,
        attached,
    )
    .await?;
    let inspect: ExecInspect = client
        .get(&format!("/exec/{}/json", encode_path(&id)))
        .await?;
    match inspect.exit_code.unwrap_or(0) {
        0 => Ok(()),
        code => Err(CliError::Status {
            code: i32::try_from(code).unwrap_or(1),
            message: String::new(),
        }),
    }
}

/// Copies the exec's output to ours (and our stdin to it) until it ends.
async fn stream(
    client: &Client,
    id: &str,
    path: &str,
    tty: bool,
    stdin: bool,
    attached: Attached,
) -> Result<(), CliError> {
    let _raw = if tty && stdin {
        RawTerminal::stdin()?
    } else {
        None
    };
    let _resize = tty.then(|| {
        let resize = format!("/exec/{}/resize", encode_path(id));
        AbortOnDrop(monitor_size(client.clone(), resize))
    });
    let mut copier = OutputCopier::new(tty);
    match attached {
        Attached::Upgraded(io) => {
            let (mut reader, mut writer) = tokio::io::split(io);
            let _input = stdin.then(|| {
                AbortOnDrop(tokio::spawn(async move {
                    let mut input = tokio::io::stdin();
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match input.read(&mut buf).await {
                            Ok(0) => break,
                            Ok(n) => {
                                if writer.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                tracing::debug!("reading stdin: {e}");
                                break;
                            }
                        }
                    }
                    // Half-close: the exec's stdin reaches end of input.
                    let _ = writer.shutdown().await;
                }))
            });
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = reader
                    .read(&mut buf)
                    .await
                    .map_err(|source| ClientError::Stream {
                        path: path.to_string(),
                        source,
                    })?;
                if n == 0 {
                    break;
                }
                copier.write(&buf[..n])?;
            }
        }
        Attached::Body(mut body) => {
            while let Some(chunk) = next_chunk(path, &mut body).await? {
                copier.write(&chunk)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExecArgs,
    }

    #[test]
    fn flags_before_the_command_are_ours_and_after_it_the_commands() {
        let cli = Cli::parse_from([
            "exec", "-i", "-u", "nobody", "-w", "/tmp", "-e", "A=1", "c1", "ls", "-l", "-u",
        ]);
        let body = build(&cli.args).unwrap();
        assert_eq!(body.cmd, ["ls", "-l", "-u"]);
        assert_eq!(body.user, "nobody");
        assert_eq!(body.working_dir, "/tmp");
        assert_eq!(body.env, ["A=1"]);
        assert!(body.attach_stdin && body.attach_stdout && body.attach_stderr);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["AttachStdin"], true);
        assert_eq!(json["WorkingDir"], "/tmp");

        let cli = Cli::parse_from(["exec", "-d", "-i", "c1", "true"]);
        let body = build(&cli.args).unwrap();
        assert!(!body.attach_stdin && !body.attach_stdout && body.detach);
    }
}
