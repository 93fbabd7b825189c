//! Arbitrary bytes (lossy UTF-8) into the Dockerfile parser; every word of whatever parses
//! is then expanded as a word and as a word list. Neither may panic.
#![no_main]

use berth::image::build::dockerfile::{self, Command, Instruction, Kind};
use berth::image::build::expand::{expand_heredoc, expand_word, expand_words};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(df) = dockerfile::parse(&text) else {
        return;
    };
    // Some variables set, some empty, some unset, so every expansion branch is reachable.
    let env = |name: &str| match name.len() % 3 {
        0 => None,
        1 => Some(String::new()),
        _ => Some(format!("v {name}")),
    };
    let mut words = Vec::new();
    let instructions = df.meta_args.iter().chain(
        df.stages
            .iter()
            .flat_map(|s| std::iter::once(&s.from).chain(&s.instructions)),
    );
    for i in instructions {
        collect(i, &mut words);
    }
    for w in &words {
        let _ = expand_word(w, &env, df.escape);
        let _ = expand_words(w, &env, df.escape);
        let _ = expand_heredoc(w, &env);
    }
});

fn collect(i: &Instruction, out: &mut Vec<String>) {
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
        Kind::Onbuild(t) => collect(t, out),
    }
}
