//! Docker's (cobra's) wording for command-line mistakes in the container
//! commands: wrong argument counts exit 1, unknown flags and bad flag values
//! exit 125, each with the command's usage line and the help hint.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// How many positional arguments a command takes, as Docker's checkers word it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arity {
    /// `cli.NoArgs`.
    None,
    /// `cli.RequiresMinArgs(1)`.
    AtLeastOne,
    /// `cli.ExactArgs(n)`.
    Exactly(usize),
    /// `cli.RequiresRangeArgs(1, 2)`.
    OneOrTwo,
    /// `cli.RequiresMinArgs(0)`: never a count error.
    Any,
}

/// Docker's usage line (after the command path) and arity of a container or
/// network command; `path` is the command path without `berth`.
fn spec(path: &[String]) -> Option<(&'static str, Arity)> {
    let leaf = path.last()?.as_str();
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    match names.as_slice() {
        ["build"] | ["image", "build"] => {
            return Some((crate::commands::build::USAGE, Arity::Exactly(1)));
        }
        ["builder", "prune"]
        | ["container", "prune"]
        | ["image", "prune"]
        | ["system", "prune"]
        | ["system", "df"] => return Some(("[OPTIONS]", Arity::None)),
        _ => {}
    }
    if path.len() == 2 && path[0] == "network" {
        return Some(match leaf {
            "connect" | "disconnect" => ("[OPTIONS] NETWORK CONTAINER", Arity::Exactly(2)),
            "create" => ("[OPTIONS] NETWORK", Arity::Exactly(1)),
            "inspect" => ("[OPTIONS] NETWORK [NETWORK...]", Arity::AtLeastOne),
            "ls" | "prune" => ("[OPTIONS]", Arity::None),
            "rm" => ("NETWORK [NETWORK...]", Arity::AtLeastOne),
            _ => return None,
        });
    }
    if path.len() > 2 || (path.len() == 2 && path[0] != "container") {
        return None;
    }
    Some(match leaf {
        "run" | "create" => ("[OPTIONS] IMAGE [COMMAND] [ARG...]", Arity::AtLeastOne),
        "start" | "stop" | "kill" | "restart" | "rm" | "inspect" => {
            ("[OPTIONS] CONTAINER [CONTAINER...]", Arity::AtLeastOne)
        }
        "ps" | "ls" => ("[OPTIONS]", Arity::None),
        "wait" => ("CONTAINER [CONTAINER...]", Arity::AtLeastOne),
        "rename" => ("CONTAINER NEW_NAME", Arity::Exactly(2)),
        "top" => ("CONTAINER [ps OPTIONS]", Arity::AtLeastOne),
        "attach" => ("[OPTIONS] CONTAINER", Arity::Exactly(1)),
        "port" => ("CONTAINER [PRIVATE_PORT[/PROTO]]", Arity::OneOrTwo),
        "pause" | "unpause" => ("CONTAINER [CONTAINER...]", Arity::AtLeastOne),
        "update" => ("[OPTIONS] CONTAINER [CONTAINER...]", Arity::AtLeastOne),
        "stats" => ("[OPTIONS] [CONTAINER...]", Arity::Any),
        _ => return None,
    })
}

/// The subcommands the user named, by their canonical names (`container ls`
/// for `container list`), and the clap command they lead to.
pub fn command_path(root: &clap::Command, argv: &[String]) -> (Vec<String>, clap::Command) {
    let mut path = Vec::new();
    let mut cmd = root.clone();
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        if cmd.get_subcommands().next().is_none() {
            break;
        }
        if arg == "-H" || arg == "--host" {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        let sub = cmd
            .get_subcommands()
            .find(|s| s.get_name() == arg || s.get_all_aliases().any(|a| a == arg))
            .cloned();
        match sub {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                cmd = sub;
            }
            None => break,
        }
    }
    (path, cmd)
}

fn context_string(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Docker's message and exit code for a clap error in a container command;
/// `None` leaves other commands (and help) to clap.
pub fn docker_error(
    e: &clap::Error,
    path: &[String],
    leaf: &clap::Command,
    argv: &[String],
) -> Option<(String, i32)> {
    let (usage, arity) = spec(path)?;
    let full = format!("berth {}", path.join(" "));
    let usage_block = format!("Usage:  {full} {usage}");
    let count_error = || {
        let (phrase, verb) = match arity {
            Arity::None => ("accepts no arguments".to_string(), "Run"),
            Arity::AtLeastOne => ("requires at least 1 argument".to_string(), "See"),
            Arity::Exactly(1) => ("requires 1 argument".to_string(), "Run"),
            Arity::Exactly(n) => (format!("requires {n} arguments"), "Run"),
            Arity::OneOrTwo => (
                "requires at least 1 and at most 2 arguments".to_string(),
                "Run",
            ),
            Arity::Any => return None,
        };
        Some((
            format!(
                "berth: '{full}' {phrase}\n\n{usage_block}\n\n{verb} '{full} --help' for more information"
            ),
            1,
        ))
    };
    let flag_error = |message: String| {
        Some((
            format!("{message}\n\n{usage_block}\n\nRun '{full} --help' for more information"),
            125,
        ))
    };
    match e.kind() {
        ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues => count_error(),
        ErrorKind::UnknownArgument => {
            let arg = context_string(e, ContextKind::InvalidArg)?;
            if let Some(long) = arg.strip_prefix("--") {
                let long = long.split('=').next().unwrap_or(long);
                flag_error(format!("unknown flag: --{long}"))
            } else if let Some(short) = arg.strip_prefix('-') {
                let c = short.chars().next()?;
                flag_error(format!("unknown shorthand flag: '{c}' in {arg}"))
            } else {
                count_error()
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let described = context_string(e, ContextKind::InvalidArg)?;
            let long = described
                .trim_start_matches('-')
                .split([' ', '[', '='])
                .next()?
                .to_string();
            let arg = leaf
                .get_arguments()
                .find(|a| a.get_long() == Some(long.as_str()))?;
            let value = context_string(e, ContextKind::InvalidValue).unwrap_or_default();
            let names = match arg.get_short() {
                Some(s) => format!("-{s}, --{long}"),
                None => format!("--{long}"),
            };
            // Our own value parsers carry Go's reason already.
            if let Some(reason) = std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<crate::commands::resources::FlagValueError>())
            {
                return flag_error(format!(
                    "invalid argument {value:?} for {names:?} flag: {reason}"
                ));
            }
            if value.is_empty() {
                let typed_long = argv.last().is_some_and(|a| *a == format!("--{long}"));
                return match arg.get_short() {
                    Some(s) if !typed_long => {
                        flag_error(format!("flag needs an argument: '{s}' in -{s}"))
                    }
                    _ => flag_error(format!("flag needs an argument: --{long}")),
                };
            }
            let is_int = arg
                .get_value_names()
                .is_some_and(|v| v.iter().any(|n| n.as_str() == "int"));
            let reason = if is_int {
                format!("strconv.ParseInt: parsing {value:?}: invalid syntax")
            } else {
                format!("strconv.ParseBool: parsing {value:?}: invalid syntax")
            };
            flag_error(format!(
                "invalid argument {value:?} for {names:?} flag: {reason}"
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// The Docker-worded error for `argv`, as `main` prints it.
    fn error_for(argv: &[&str]) -> Option<(String, i32)> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let e = crate::Cli::try_parse_from(&argv).expect_err("a usage error");
        let (path, leaf) = command_path(&crate::Cli::command(), &argv);
        docker_error(&e, &path, &leaf, &argv)
    }

    #[test]
    fn argument_counts_read_like_docker() {
        assert_eq!(
            error_for(&["berth", "-H", "unix:///x", "stop"]),
            Some((
                "berth: 'berth stop' requires at least 1 argument\n\nUsage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]\n\nSee 'berth stop --help' for more information".to_string(),
                1
            ))
        );
        let (msg, code) = error_for(&["berth", "container", "list", "x"]).unwrap();
        assert_eq!(code, 1);
        assert!(
            msg.starts_with("berth: 'berth container ls' accepts no arguments\n\nUsage:  berth container ls [OPTIONS]\n"),
            "{msg}"
        );
        let (msg, _) = error_for(&["berth", "rename", "a", "b", "c"]).unwrap();
        assert!(
            msg.starts_with("berth: 'berth rename' requires 2 arguments"),
            "{msg}"
        );
        let (msg, _) = error_for(&["berth", "port"]).unwrap();
        assert!(
            msg.starts_with("berth: 'berth port' requires at least 1 and at most 2 arguments"),
            "{msg}"
        );
    }

    #[test]
    fn flag_errors_read_like_docker() {
        let flag = |argv: &[&str]| {
            let (msg, code) = error_for(argv).unwrap();
            assert_eq!(code, 125, "{msg}");
            msg.lines().next().unwrap_or_default().to_string()
        };
        assert_eq!(
            flag(&["berth", "stop", "--bogus", "x"]),
            "unknown flag: --bogus"
        );
        assert_eq!(
            flag(&["berth", "stop", "-x", "x"]),
            "unknown shorthand flag: 'x' in -x"
        );
        assert_eq!(
            flag(&["berth", "kill", "-s"]),
            "flag needs an argument: 's' in -s"
        );
        assert_eq!(
            flag(&["berth", "kill", "--signal"]),
            "flag needs an argument: --signal"
        );
        assert_eq!(
            flag(&["berth", "ps", "-n", "x"]),
            "invalid argument \"x\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            flag(&["berth", "attach", "--sig-proxy=maybe", "x"]),
            "invalid argument \"maybe\" for \"--sig-proxy\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        let (msg, _) = error_for(&["berth", "stop", "--bogus", "x"]).unwrap();
        let tail = "\n\nUsage:  berth stop [OPTIONS] CONTAINER [CONTAINER...]\n\n\
                    Run 'berth stop --help' for more information";
        assert!(msg.ends_with(tail), "{msg}");
    }

    #[test]
    fn network_commands_read_like_docker() {
        let (msg, code) = error_for(&["berth", "network", "create"]).unwrap();
        assert_eq!(code, 1);
        assert_eq!(
            msg,
            "berth: 'berth network create' requires 1 argument\n\nUsage:  berth network create [OPTIONS] NETWORK\n\nRun 'berth network create --help' for more information"
        );
        let (msg, _) = error_for(&["berth", "network", "connect", "n"]).unwrap();
        assert!(
            msg.starts_with("berth: 'berth network connect' requires 2 arguments"),
            "{msg}"
        );
        let (msg, _) = error_for(&["berth", "network", "rm"]).unwrap();
        assert!(
            msg.starts_with("berth: 'berth network rm' requires at least 1 argument"),
            "{msg}"
        );
        let (msg, code) = error_for(&["berth", "network", "list", "--bogus"]).unwrap();
        assert_eq!(code, 125);
        assert!(
            msg.starts_with("unknown flag: --bogus\n\nUsage:  berth network ls [OPTIONS]\n"),
            "{msg}"
        );
        let (msg, _) = error_for(&["berth", "network", "prune", "x"]).unwrap();
        assert!(
            msg.starts_with("berth: 'berth network prune' accepts no arguments"),
            "{msg}"
        );
    }

    #[test]
    fn resource_commands_read_like_docker() {
        let (msg, code) = error_for(&["berth", "unpause"]).unwrap();
        assert_eq!(code, 1);
        assert!(
            msg.starts_with("berth: 'berth unpause' requires at least 1 argument\n\nUsage:  berth unpause CONTAINER [CONTAINER...]\n"),
            "{msg}"
        );
        // `stats` takes any number of containers: no count error to make.
        assert_eq!(error_for(&["berth", "stats", "--bogus"]).unwrap().1, 125);
        let (msg, code) = error_for(&["berth", "container", "update", "--cpus", "x", "c"]).unwrap();
        assert_eq!(code, 125);
        assert_eq!(
            msg,
            "invalid argument \"x\" for \"--cpus\" flag: failed to parse x as a rational number\n\n\
             Usage:  berth container update [OPTIONS] CONTAINER [CONTAINER...]\n\n\
             Run 'berth container update --help' for more information"
        );
        let (msg, _) = error_for(&["berth", "run", "-m", "", "busybox"]).unwrap();
        assert!(
            msg.starts_with("invalid argument \"\" for \"-m, --memory\" flag: invalid size: ''\n"),
            "{msg}"
        );
        let (msg, _) = error_for(&["berth", "update", "--blkio-weight", "70000", "c"]).unwrap();
        assert!(
            msg.starts_with("invalid argument \"70000\" for \"--blkio-weight\" flag: strconv.ParseUint: parsing \"70000\": value out of range\n"),
            "{msg}"
        );
    }

    #[test]
    fn other_commands_keep_clap_errors() {
        assert_eq!(error_for(&["berth", "images", "--bogus"]), None);
        assert_eq!(error_for(&["berth", "tag"]), None);
    }

    #[test]
    fn build_commands_read_like_docker() {
        assert_eq!(
            error_for(&["berth", "build"]),
            Some((
                "berth: 'berth build' requires 1 argument\n\nUsage:  berth build [OPTIONS] PATH | URL | -\n\nRun 'berth build --help' for more information".to_string(),
                1
            ))
        );
        let (msg, code) = error_for(&["berth", "image", "build", "--bogus", "."]).unwrap();
        assert_eq!(code, 125);
        assert!(
            msg.starts_with(
                "unknown flag: --bogus\n\nUsage:  berth image build [OPTIONS] PATH | URL | -\n"
            ),
            "{msg}"
        );
        let (msg, code) = error_for(&["berth", "builder", "prune", "x"]).unwrap();
        assert_eq!(code, 1);
        assert!(
            msg.starts_with("berth: 'berth builder prune' accepts no arguments"),
            "{msg}"
        );
    }
}
