//! Every word a parsed Dockerfile carries, and the parse-then-expand walk over them that the
//! `fuzz/` target and the randomised unit test both run to show that neither the parser nor
//! the expander panics, whatever the input.

use super::dockerfile::{self, Command, Dockerfile, Instruction, Kind};
use super::expand::{expand_heredoc, expand_word, expand_words};

/// Parses `text` as a Dockerfile and, if it parses, expands every word of it (see
/// [`all_words`]) as a word, as a word list and as a heredoc body, with `env` answering
/// variable lookups. The expansions' results and errors are discarded: what matters is that
/// nothing panics or runs away. Returns the parsed Dockerfile, `None` when it did not parse.
pub fn parse_and_expand_all(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Dockerfile> {
    let df = dockerfile::parse(text).ok()?;
    for word in all_words(&df) {
        let _ = expand_word(&word, env, df.escape);
        let _ = expand_words(&word, env, df.escape);
        let _ = expand_heredoc(&word, env);
    }
    Some(df)
}

/// Every raw (unexpanded) word of a parsed Dockerfile, meta `ARG`s and `FROM`s included:
/// each instruction's original text, then its arguments, flag values and heredoc bodies,
/// recursing into `ONBUILD` triggers.
pub fn all_words(df: &Dockerfile) -> Vec<String> {
    let mut out = Vec::new();
    let instructions = df.meta_args.iter().chain(
        df.stages
            .iter()
            .flat_map(|s| std::iter::once(&s.from).chain(&s.instructions)),
    );
    for i in instructions {
        instruction_words(i, &mut out);
    }
    out
}

fn instruction_words(i: &Instruction, out: &mut Vec<String>) {
    let command = |c: &Command, out: &mut Vec<String>| match c {
        Command::Exec(v) => out.extend(v.iter().cloned()),
        Command::Shell(t) => out.push(t.clone()),
    };
    out.push(i.original.clone());
    match &i.kind {
        Kind::From {
            image,
            platform,
            alias,
        } => {
            out.push(image.clone());
            out.extend(platform.iter().chain(alias).cloned());
        }
        Kind::Run {
            command: c,
            mounts,
            network,
        } => {
            command(c, out);
            out.extend(network.iter().cloned());
            for m in mounts {
                out.push(m.target.clone());
                out.extend(m.id.iter().chain(&m.from).chain(&m.source).cloned());
            }
        }
        Kind::Cmd(c) | Kind::Entrypoint(c) => command(c, out),
        Kind::Env(p) | Kind::Label(p) => {
            for (k, v) in p {
                out.push(k.clone());
                out.push(v.clone());
            }
        }
        Kind::Arg(p) => {
            for (k, v) in p {
                out.push(k.clone());
                out.extend(v.iter().cloned());
            }
        }
        Kind::Expose(v) | Kind::Volume(v) | Kind::Shell(v) => out.extend(v.iter().cloned()),
        Kind::Copy(c) | Kind::Add(c) => {
            out.extend(c.sources.iter().cloned());
            out.push(c.dest.clone());
            out.extend(
                c.from
                    .iter()
                    .chain(&c.chown)
                    .chain(&c.chmod)
                    .chain(&c.checksum)
                    .cloned(),
            );
            out.extend(c.heredocs.iter().map(|h| h.content.clone()));
        }
        Kind::Workdir(w) | Kind::User(w) | Kind::StopSignal(w) | Kind::Maintainer(w) => {
            out.push(w.clone())
        }
        Kind::Healthcheck(h) => {
            if let Some(h) = h {
                command(&h.test, out);
            }
        }
        Kind::Onbuild(t) => instruction_words(t, out),
    }
}
