use super::*;

fn ok(text: &str) -> Dockerfile {
    match parse(text) {
        Ok(df) => df,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(df) => panic!("{text:?} parsed: {df:?}"),
        Err(e) => e,
    }
}

/// The instructions of the only stage.
fn body(text: &str) -> Vec<Instruction> {
    let df = ok(text);
    assert_eq!(df.stages.len(), 1, "{text:?}");
    df.stages.into_iter().next().unwrap().instructions
}

/// The kind of the only instruction after `FROM scratch`.
fn one(rest: &str) -> Kind {
    let mut body = body(&format!("FROM scratch\n{rest}\n"));
    assert_eq!(body.len(), 1, "{rest:?}: {body:?}");
    body.remove(0).kind
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn shell(text: &str) -> Command {
    Command::Shell(text.into())
}

fn exec(v: &[&str]) -> Command {
    Command::Exec(s(v))
}

#[test]
fn stages_names_meta_args_and_lines() {
    let df = ok("# syntax=docker/dockerfile:1\n\
                 ARG BASE=busybox\n\
                 ARG A B=2\n\
                 FROM $BASE AS Build\n\
                 RUN echo hi\n\
                 \n\
                 from --platform=linux/amd64 scratch\n\
                 COPY --from=build /x /x\n");
    assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.escape, '\\');
    assert_eq!(df.meta_args.len(), 2);
    assert_eq!(
        df.meta_args[1].kind,
        Kind::Arg(vec![("A".into(), None), ("B".into(), Some("2".into()))])
    );
    assert_eq!(df.stages.len(), 2);
    let (s0, s1) = (&df.stages[0], &df.stages[1]);
    assert_eq!((s0.index, s0.name.as_deref()), (0, Some("build")));
    assert_eq!(
        s0.from.kind,
        Kind::From {
            image: "$BASE".into(),
            platform: None,
            alias: Some("build".into())
        }
    );
    assert_eq!(s0.from.line, 4);
    assert_eq!(s0.from.original, "FROM $BASE AS Build");
    assert_eq!(s0.instructions[0].line, 5);
    assert_eq!(s1.index, 1);
    assert_eq!(s1.name, None);
    assert_eq!(s1.from.line, 7);
    assert_eq!(
        s1.from.kind,
        Kind::From {
            image: "scratch".into(),
            platform: Some("linux/amd64".into()),
            alias: None
        }
    );
    assert_eq!(s1.from.original, "from --platform=linux/amd64 scratch");
}

#[test]
fn from_errors() {
    assert_eq!(
        err("FROM a b\n").message,
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM\n").message,
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM a AS 1x\n").message,
        "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
    );
    assert_eq!(err("FROM --foo=1 a\n").message, "Unknown flag: foo");
    assert_eq!(
        err("FROM --platform a\n").message,
        "Missing a value on flag: platform"
    );
}

#[test]
fn first_instruction_must_be_from_or_arg() {
    let e = err("# comment\nRUN true\n");
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "no build stage in current context")
    );
    assert_eq!(
        e.to_string(),
        "dockerfile parse error line 2: no build stage in current context"
    );
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    assert_eq!(e.dockerd_message(), "no build stage in current context");
    assert_eq!(err("").message, "file with no instructions");
    assert_eq!(
        err("\n").dockerd_message(),
        "failed to parse Dockerfile: file with no instructions"
    );
    assert_eq!(err("# only\n\n   \n").message, "file with no instructions");
    // ARGs only: no stage, no error (dockerd fails later, when there is nothing to build).
    assert!(ok("ARG A\n").stages.is_empty());
}

#[test]
fn run_cmd_entrypoint_forms() {
    assert_eq!(
        one("RUN echo  \"a b\"  'c'"),
        Kind::Run {
            command: shell("echo  \"a b\"  'c'"),
            mounts: vec![],
            network: None
        }
    );
    assert_eq!(
        one(r#"RUN ["/bin/echo", "a b"]"#),
        Kind::Run {
            command: exec(&["/bin/echo", "a b"]),
            mounts: vec![],
            network: None
        }
    );
    assert_eq!(
        one(r#"CMD ["sh", "-c", "x"]"#),
        Kind::Cmd(exec(&["sh", "-c", "x"]))
    );
    assert_eq!(one("CMD echo $HOME"), Kind::Cmd(shell("echo $HOME")));
    assert_eq!(one("CMD []"), Kind::Cmd(exec(&[])));
    assert_eq!(one("CMD"), Kind::Cmd(shell("")));
    assert_eq!(one("ENTRYPOINT"), Kind::Entrypoint(exec(&[])));
    assert_eq!(
        one(r#"ENTRYPOINT ["/bin/app", "--x"]"#),
        Kind::Entrypoint(exec(&["/bin/app", "--x"]))
    );
    // Invalid JSON falls back to shell form, as in Docker.
    assert_eq!(one("CMD [\"a\", b]"), Kind::Cmd(shell("[\"a\", b]")));
    // dockerd 20.10 reads the first JSON value and ignores what follows.
    assert_eq!(one("CMD [\"a\"] x"), Kind::Cmd(exec(&["a"])));
    assert_eq!(one("CMD [\"a\"] [\"b\"]"), Kind::Cmd(exec(&["a"])));
    assert_eq!(
        one("CMD [\"a\" [\"b\"]"),
        Kind::Cmd(shell("[\"a\" [\"b\"]"))
    );
    assert_eq!(
        err("FROM a\nCMD [\"a\", 1]\n").message,
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(err("FROM a\nCMD --x=1 a\n").message, "Unknown flag: x");
}

#[test]
fn run_flags() {
    let kind = one(
        "RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1,gid=2 \
         --mount=type=bind,source=src,target=/src,from=build,rw --network=none make",
    );
    let Kind::Run {
        command,
        mounts,
        network,
    } = kind
    else {
        panic!("{kind:?}")
    };
    assert_eq!(command, shell("make"));
    assert_eq!(network.as_deref(), Some("none"));
    assert_eq!(
        mounts[0],
        RunMount {
            kind: "cache".into(),
            target: "/root/.cache".into(),
            id: Some("pip".into()),
            sharing: Some("locked".into()),
            readonly: false,
            from: None,
            source: None,
            mode: Some(0o755),
            uid: Some(1),
            gid: Some(2),
        }
    );
    assert_eq!(mounts[1].kind, "bind");
    assert_eq!(mounts[1].source.as_deref(), Some("src"));
    assert_eq!(mounts[1].from.as_deref(), Some("build"));
    assert!(!mounts[1].readonly);
    let Kind::Run { mounts, .. } = one("RUN --mount=target=/x true") else {
        panic!()
    };
    assert_eq!(mounts[0].kind, "bind");
    assert!(mounts[0].readonly, "bind mounts default to read-only");
    let Kind::Run { mounts, .. } = one("RUN --mount=type=cache,dst=/c,ro true") else {
        panic!()
    };
    assert!(mounts[0].readonly);
    let msg = |line: &str| err(&format!("FROM a\n{line}\n")).message;
    assert_eq!(
        msg("RUN --network=bridge x"),
        "invalid network mode \"bridge\""
    );
    assert_eq!(
        msg("RUN --security=bogus x"),
        "security \"bogus\" is not valid"
    );
    assert_eq!(
        msg("RUN --mount=type=nfs,target=/x x"),
        "unsupported mount type \"nfs\""
    );
    assert_eq!(
        msg("RUN --mount=type=cache,target=/x,color=red x"),
        "unexpected key 'color' in 'color=red'"
    );
    assert_eq!(
        msg("RUN --mount=type=cache x"),
        "mount type cache requires a target"
    );
    assert_eq!(
        msg("RUN --mount=type=bind,target=/x,mode=0700 x"),
        "mode not allowed for \"bind\" type mounts"
    );
    assert_eq!(
        msg("RUN --mount=type=bind,target=/x,sharing=locked x"),
        "invalid cache sharing set for bind mount"
    );
    assert_eq!(
        msg("RUN --mount=type=cache,target=/x,uid=x x"),
        "invalid value x for uid"
    );
    assert_eq!(
        msg("RUN --mount=type=cache,target=/x,bogus x"),
        "invalid field 'bogus' must be a key=value pair"
    );
    assert_eq!(msg("RUN --mount x"), "Missing a value on flag: mount");
    assert_eq!(msg("RUN --rm x"), "Unknown flag: rm");
    assert_eq!(
        msg("RUN --network=host --network=none x"),
        "Duplicate flag specified: network"
    );
}

#[test]
fn env_and_label_forms() {
    assert_eq!(
        one(r#"ENV A=1 B="two words" C=three\ words D="""#),
        Kind::Env(pairs(&[
            ("A", "1"),
            ("B", "\"two words\""),
            ("C", "three\\ words"),
            ("D", "\"\"")
        ]))
    );
    assert_eq!(
        one("ENV PATH /usr/local/bin:$PATH  and more "),
        Kind::Env(pairs(&[("PATH", "/usr/local/bin:$PATH  and more")]))
    );
    assert_eq!(
        one(r#"LABEL "com.example.vendor"="ACME" version=1.0"#),
        Kind::Label(pairs(&[
            ("\"com.example.vendor\"", "\"ACME\""),
            ("version", "1.0")
        ]))
    );
    assert_eq!(one("LABEL a b c"), Kind::Label(pairs(&[("a", "b c")])));
    let msg = |line: &str| err(&format!("FROM a\n{line}\n")).message;
    assert_eq!(msg("ENV =x"), "ENV names can not be blank");
    assert_eq!(msg("LABEL =x"), "LABEL names can not be blank");
    assert_eq!(msg("ENV A"), "ENV must have two arguments");
    assert_eq!(msg("LABEL A"), "LABEL must have two arguments");
    assert_eq!(msg("ENV"), "ENV requires at least one argument");
    assert_eq!(
        msg("ENV A=1 B"),
        "Syntax error - can't find = in \"B\". Must be of the form: name=value"
    );
}

#[test]
fn arg_forms() {
    assert_eq!(
        one(r#"ARG A B= C="x y" D=$A"#),
        Kind::Arg(vec![
            ("A".into(), None),
            ("B".into(), Some(String::new())),
            ("C".into(), Some("\"x y\"".into())),
            ("D".into(), Some("$A".into())),
        ])
    );
    assert_eq!(
        err("FROM a\nARG =1\n").message,
        "ARG names can not be blank"
    );
    assert_eq!(
        err("FROM a\nARG\n").message,
        "ARG requires at least one argument"
    );
}

#[test]
fn expose_volume_and_single_word_instructions() {
    assert_eq!(
        one("EXPOSE 80 443/tcp  53/udp"),
        Kind::Expose(s(&["80", "443/tcp", "53/udp"]))
    );
    assert_eq!(one("VOLUME /a /b"), Kind::Volume(s(&["/a", "/b"])));
    assert_eq!(
        one(r#"VOLUME ["/a b", "/c"]"#),
        Kind::Volume(s(&["/a b", "/c"]))
    );
    assert_eq!(one("WORKDIR /a b"), Kind::Workdir("/a b".into()));
    assert_eq!(one("USER app:app"), Kind::User("app:app".into()));
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        Kind::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER Jane <j@x>"),
        Kind::Maintainer("Jane <j@x>".into())
    );
    assert_eq!(
        one(r#"SHELL ["/bin/bash", "-c"]"#),
        Kind::Shell(s(&["/bin/bash", "-c"]))
    );
    let msg = |line: &str| err(&format!("FROM a\n{line}\n")).message;
    assert_eq!(msg("EXPOSE"), "EXPOSE requires at least one argument");
    assert_eq!(msg("VOLUME"), "VOLUME requires at least one argument");
    assert_eq!(msg("VOLUME []"), "VOLUME requires at least one argument");
    assert_eq!(
        msg(r#"VOLUME [" "]"#),
        "VOLUME specified can not be an empty string"
    );
    assert_eq!(msg("WORKDIR"), "WORKDIR requires exactly one argument");
    assert_eq!(msg("USER"), "USER requires exactly one argument");
    assert_eq!(
        msg("STOPSIGNAL"),
        "STOPSIGNAL requires exactly one argument"
    );
    assert_eq!(
        msg("MAINTAINER"),
        "MAINTAINER requires exactly one argument"
    );
    assert_eq!(
        msg("SHELL /bin/sh -c"),
        "SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(msg("SHELL []"), "SHELL requires at least one argument");
    assert_eq!(msg("USER --x=1 a"), "Unknown flag: x");
}

#[test]
fn copy_and_add() {
    assert_eq!(
        one("COPY --from=build --chown=1:2 --chmod=0644 --link a b* /dst/"),
        Kind::Copy(CopySpec {
            sources: s(&["a", "b*"]),
            dest: "/dst/".into(),
            from: Some("build".into()),
            chown: Some("1:2".into()),
            chmod: Some("0644".into()),
            link: true,
            ..CopySpec::default()
        })
    );
    assert_eq!(
        one(r#"COPY ["a b", "/c d/"]"#),
        Kind::Copy(CopySpec {
            sources: s(&["a b"]),
            dest: "/c d/".into(),
            ..CopySpec::default()
        })
    );
    assert_eq!(
        one("ADD --checksum=sha256:abc --keep-git-dir=true http://x/y /y"),
        Kind::Add(CopySpec {
            sources: s(&["http://x/y"]),
            dest: "/y".into(),
            checksum: Some("sha256:abc".into()),
            keep_git_dir: true,
            ..CopySpec::default()
        })
    );
    let msg = |line: &str| err(&format!("FROM a\n{line}\n")).message;
    assert_eq!(
        msg("COPY a"),
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(
        msg("ADD a"),
        "ADD requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(msg("COPY --checksum=x a b"), "Unknown flag: checksum");
    assert_eq!(msg("ADD --from=x a b"), "Unknown flag: from");
    assert_eq!(msg("COPY --foo=1 a b"), "Unknown flag: foo");
    assert_eq!(
        msg("COPY --link=maybe a b"),
        "Expecting boolean value for flag link, not: maybe"
    );
    assert_eq!(msg("COPY --link= a b"), "Missing a value on flag: link");
    assert_eq!(msg("COPY --chown a b"), "Missing a value on flag: chown");
    assert_eq!(
        msg("COPY --from=a --from=b a b"),
        "Duplicate flag specified: from"
    );
}

#[test]
fn quoted_flag_values_and_double_dash() {
    let Kind::Copy(spec) = one(r#"COPY --chown="a b" --from='x' -- --weird /d"#) else {
        panic!()
    };
    assert_eq!(spec.chown.as_deref(), Some("a b"));
    assert_eq!(spec.from.as_deref(), Some("x"));
    assert_eq!(spec.sources, s(&["--weird"]));
}

#[test]
fn healthcheck_forms() {
    assert_eq!(one("HEALTHCHECK NONE"), Kind::Healthcheck(None));
    assert_eq!(one("healthcheck none"), Kind::Healthcheck(None));
    assert_eq!(
        one(
            "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=3 CMD curl -f http://x/ || exit 1"
        ),
        Kind::Healthcheck(Some(Healthcheck {
            test: shell("curl -f http://x/ || exit 1"),
            interval: Some(Duration::from_secs(90)),
            timeout: Some(Duration::from_millis(500)),
            start_period: Some(Duration::from_secs(2)),
            retries: Some(3),
        }))
    );
    assert_eq!(
        one(r#"HEALTHCHECK CMD ["/bin/check", "-q"]"#),
        Kind::Healthcheck(Some(Healthcheck {
            test: exec(&["/bin/check", "-q"]),
            interval: None,
            timeout: None,
            start_period: None,
            retries: None,
        }))
    );
    let Kind::Healthcheck(Some(h)) = one("HEALTHCHECK --interval=1.5h --timeout=1ms CMD x") else {
        panic!()
    };
    assert_eq!(h.interval, Some(Duration::from_secs(5400)));
    assert_eq!(h.timeout, Some(Duration::from_millis(1)));
    // dockerd 20.10 checks flags only for CMD.
    assert_eq!(
        one("HEALTHCHECK --interval=bogus NONE"),
        Kind::Healthcheck(None)
    );
    let msg = |line: &str| err(&format!("FROM a\n{line}\n")).message;
    assert_eq!(
        msg("HEALTHCHECK"),
        "HEALTHCHECK requires at least one argument"
    );
    assert_eq!(
        msg("HEALTHCHECK NONE x"),
        "HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        msg("HEALTHCHECK CMD"),
        "Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        msg("HEALTHCHECK RUN x"),
        "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        msg("HEALTHCHECK --interval=5 CMD x"),
        "time: missing unit in duration \"5\""
    );
    assert_eq!(
        msg("HEALTHCHECK --interval=x CMD x"),
        "time: invalid duration \"x\""
    );
    assert_eq!(
        msg("HEALTHCHECK --interval=5y CMD x"),
        "time: unknown unit \"y\" in duration \"5y\""
    );
    assert_eq!(
        msg("HEALTHCHECK --timeout=10us CMD x"),
        "Interval \"timeout\" cannot be less than 1ms"
    );
    assert_eq!(
        msg("HEALTHCHECK --interval=-1s CMD x"),
        "Interval \"interval\" cannot be less than 1ms"
    );
    assert_eq!(
        msg("HEALTHCHECK --retries=0 CMD x"),
        "--retries must be at least 1 (not 0)"
    );
    assert_eq!(
        msg("HEALTHCHECK --interval=0s CMD x"),
        "Interval \"interval\" cannot be less than 1ms"
    );
    assert_eq!(
        msg("HEALTHCHECK --retries=x CMD x"),
        "strconv.ParseInt: parsing \"x\": invalid syntax"
    );
    assert_eq!(msg("HEALTHCHECK --bogus=1 CMD x"), "Unknown flag: bogus");
}

#[test]
fn go_durations() {
    let d = |s: &str| words::parse_go_duration(s);
    assert_eq!(d("0"), Ok(Some(Duration::ZERO)));
    assert_eq!(
        d("1h2m3s4ms5us6ns"),
        Ok(Some(Duration::new(3723, 4_005_006)))
    );
    assert_eq!(d("1.5s"), Ok(Some(Duration::from_millis(1500))));
    assert_eq!(d(".5m"), Ok(Some(Duration::from_secs(30))));
    assert_eq!(d("3µs"), Ok(Some(Duration::from_micros(3))));
    assert_eq!(d("-2s"), Ok(None));
    assert!(d("").is_err());
    assert!(d(".s").is_err());
    assert!(d("9999999999999999999h").is_err());
    assert!(d("2562048h").is_err(), "beyond Go's int64 nanoseconds");
}

#[test]
fn onbuild() {
    let kind = one("ONBUILD RUN echo hi");
    let Kind::Onbuild(trigger) = kind else {
        panic!("{kind:?}")
    };
    assert_eq!(trigger.original, "RUN echo hi");
    assert_eq!(trigger.line, 2);
    assert_eq!(
        trigger.kind,
        Kind::Run {
            command: shell("echo hi"),
            mounts: vec![],
            network: None
        }
    );
    let Kind::Onbuild(trigger) = one("onbuild copy --chown=1 a /b") else {
        panic!()
    };
    assert_eq!(trigger.original, "copy --chown=1 a /b");
    let msg = |line: &str| err(&format!("FROM a\n{line}\n")).message;
    assert_eq!(
        msg("ONBUILD ONBUILD RUN x"),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        msg("ONBUILD onbuild onbuild x"),
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        msg("ONBUILD FROM x"),
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        msg("ONBUILD maintainer x"),
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(msg("ONBUILD"), "ONBUILD requires at least one argument");
    assert_eq!(msg("ONBUILD FOO x"), "unknown instruction: FOO");
    assert_eq!(
        msg("ONBUILD COPY a"),
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
}

#[test]
fn unknown_instruction_reports_its_line() {
    let e = err("FROM a\nRUN x\n\n# c\nFOO bar\n");
    assert_eq!(e.line, 5);
    assert_eq!(e.message, "unknown instruction: FOO");
    assert_eq!(
        e.to_string(),
        "dockerfile parse error line 5: unknown instruction: FOO"
    );
    assert_eq!(err("FROM a\nfoo\n").message, "unknown instruction: FOO");
    assert_eq!(e.dockerd_message(), e.to_string());
    // Errors of dockerd's line parser carry no line in its message (recorded from 20.10).
    let e = err("FROM a\nENV A=1 B\n");
    assert_eq!(e.line, 2);
    assert_eq!(
        e.dockerd_message(),
        "failed to parse Dockerfile: Syntax error - can't find = in \"B\". Must be of the form: name=value"
    );
}

#[test]
fn continuation_lines_comments_and_blank_lines() {
    let body = body(concat!(
        "FROM a\n",
        "RUN apt-get update && \\\n",
        "# a comment inside\n",
        "\n",
        "    apt-get install -y \\\n",
        "   x   \n",
        "RUN echo one \\\\\n",
        "RUN echo \\  \n",
        "two\n",
    ));
    assert_eq!(body.len(), 3);
    assert_eq!(body[0].line, 2);
    assert_eq!(
        body[0].kind,
        Kind::Run {
            command: shell("apt-get update &&     apt-get install -y    x"),
            mounts: vec![],
            network: None
        }
    );
    assert_eq!(
        body[0].original,
        "RUN apt-get update &&     apt-get install -y    x"
    );
    // An escaped escape at the end does not continue the line.
    assert_eq!(body[1].line, 7);
    assert_eq!(body[1].original, "RUN echo one \\\\");
    // Blanks after the continuation escape are ignored.
    assert_eq!(body[2].line, 8);
    assert_eq!(body[2].original, "RUN echo two");
}

#[test]
fn crlf_bom_and_indentation() {
    let df = ok("\u{feff}FROM a\r\n  RUN echo hi \\\r\n  there\r\n\tCMD [\"x\"]\r\n");
    let body = &df.stages[0].instructions;
    assert_eq!(body[0].original, "RUN echo hi   there");
    assert_eq!(body[1].kind, Kind::Cmd(exec(&["x"])));
    assert_eq!(body[1].line, 4);
}

#[test]
fn continuation_at_end_of_file_is_fine() {
    let body = body("FROM a\nRUN echo \\");
    assert_eq!(body[0].original, "RUN echo");
}

#[test]
fn escape_directive_with_backtick() {
    let df = ok("# escape=`\n\
                 FROM a\n\
                 RUN dir C:\\ `\n  /b\n\
                 COPY C:\\src\\ C:\\dst\\\n");
    assert_eq!(df.escape, '`');
    let body = &df.stages[0].instructions;
    assert_eq!(body[0].original, "RUN dir C:\\   /b");
    assert_eq!(
        body[1].kind,
        Kind::Copy(CopySpec {
            sources: s(&["C:\\src\\"]),
            dest: "C:\\dst\\".into(),
            ..CopySpec::default()
        })
    );
}

#[test]
fn directives_only_count_at_the_very_top() {
    // After a plain comment, `# escape=` is just a comment.
    let df = ok("# hello\n# escape=`\nFROM a\n");
    assert_eq!(df.escape, '\\');
    // After a blank line too.
    let df = ok("\n# escape=`\nFROM a\n");
    assert_eq!(df.escape, '\\');
    // Directives in any order, with blanks around `=`, keys case-insensitive.
    let df = ok("#  SYNTAX = docker/dockerfile:1.4  \n# escape = `\nFROM a\n");
    assert_eq!(df.escape, '`');
    assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1.4"));
    let e = err("# escape=\\\n# escape=`\nFROM a\n");
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "only one escape parser directive can be used")
    );
    assert_eq!(
        err("# escape=x\nFROM a\n").message,
        "invalid escape token 'x' does not match ` or \\"
    );
    // Unknown directives end the directive section.
    let df = ok("# foo=bar\n# escape=`\nFROM a\n");
    assert_eq!(df.escape, '\\');
}

#[test]
fn heredoc_run_alone_is_the_script() {
    let body = body("FROM a\nRUN <<EOF\necho one\n  echo two\nEOF\nRUN echo after\n");
    assert_eq!(body.len(), 2);
    assert_eq!(
        body[0].kind,
        Kind::Run {
            command: shell("echo one\n  echo two\n"),
            mounts: vec![],
            network: None
        }
    );
    assert_eq!(body[0].original, "RUN <<EOF");
    assert_eq!(body[1].line, 6);
}

#[test]
fn heredoc_with_command_is_kept_for_the_shell() {
    let body = body("FROM a\nRUN python3 <<EOF\nprint(1)\nEOF\n");
    assert_eq!(
        body[0].kind,
        Kind::Run {
            command: shell("python3 <<EOF\nprint(1)\nEOF"),
            mounts: vec![],
            network: None
        }
    );
    // Two heredocs on one line, read one after the other.
    let body = self::body("FROM a\nRUN cat <<A && cat <<-\"B\"\na1\nA\n\tb1\n\tB\nRUN x\n");
    assert_eq!(
        body[0].kind,
        Kind::Run {
            command: shell("cat <<A && cat <<-\"B\"\na1\nA\n\tb1\nB"),
            mounts: vec![],
            network: None
        }
    );
    assert_eq!(body[1].line, 7);
}

#[test]
fn heredoc_chomp_removes_leading_tabs_of_a_lone_run() {
    let body = body("FROM a\nRUN <<-EOT\n\techo a\n\t\techo b\n\tEOT\n");
    assert_eq!(
        body[0].kind,
        Kind::Run {
            command: shell("echo a\necho b\n"),
            mounts: vec![],
            network: None
        }
    );
}

#[test]
fn heredoc_copy_inline_files() {
    let body = body(
        "FROM a\nCOPY <<one.txt <<\"two.txt\" other /dst/\nhello $X\none.txt\nraw $X\ntwo.txt\n",
    );
    assert_eq!(
        body[0].kind,
        Kind::Copy(CopySpec {
            sources: s(&["other"]),
            dest: "/dst/".into(),
            heredocs: vec![
                Heredoc {
                    name: "one.txt".into(),
                    content: "hello $X\n".into(),
                    expand: true,
                    chomp_tabs: false
                },
                Heredoc {
                    name: "two.txt".into(),
                    content: "raw $X\n".into(),
                    expand: false,
                    chomp_tabs: false
                },
            ],
            ..CopySpec::default()
        })
    );
    let Kind::Copy(spec) = self::body("FROM a\nCOPY <<-'EOF' /f\n\t\tx\n\tEOF\n")
        .remove(0)
        .kind
    else {
        panic!()
    };
    assert_eq!(spec.heredocs[0].content, "x\n");
    assert!(spec.heredocs[0].chomp_tabs);
    assert!(!spec.heredocs[0].expand);
    assert_eq!(
        err("FROM a\nCOPY x <<EOF\nEOF\n").message,
        "COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn heredoc_errors_and_non_heredocs() {
    let e = err("FROM a\nRUN <<EOF\nno end\n");
    assert_eq!((e.line, e.message.as_str()), (2, "unterminated heredoc"));
    // Exec form, other instructions and `<<` inside quotes do not open heredocs.
    let body = body("FROM a\nRUN [\"cat\", \"<<EOF\"]\nCMD cat <<EOF\nRUN echo '<<EOF'\n");
    assert_eq!(body.len(), 3);
    assert_eq!(
        body[2].kind,
        Kind::Run {
            command: shell("echo '<<EOF'"),
            mounts: vec![],
            network: None
        }
    );
}

#[test]
fn heredoc_in_onbuild() {
    let kind = one("ONBUILD RUN <<EOF\necho hi\nEOF");
    let Kind::Onbuild(trigger) = kind else {
        panic!("{kind:?}")
    };
    assert_eq!(trigger.original, "RUN <<EOF\necho hi\nEOF");
    assert_eq!(
        trigger.kind,
        Kind::Run {
            command: shell("echo hi\n"),
            mounts: vec![],
            network: None
        }
    );
    // The stored trigger re-parses to the same instruction.
    let reparsed = self::body(&format!("FROM a\n{}\n", trigger.original));
    assert_eq!(reparsed[0].kind, trigger.kind);
}

#[test]
fn heredoc_words() {
    let h = |s: &str| words::parse_heredoc_word(s).unwrap();
    let w = |name: &str, expand: bool, chomp: bool| {
        Some(words::HeredocWord {
            name: name.into(),
            expand,
            chomp,
        })
    };
    assert_eq!(h("<<EOF"), w("EOF", true, false));
    assert_eq!(h("<<-EOF"), w("EOF", true, true));
    assert_eq!(h("<<'EOF'"), w("EOF", false, false));
    assert_eq!(h("<<E\"O\"F"), w("EOF", false, false));
    assert_eq!(h("3<<EOF"), w("EOF", true, false));
    assert_eq!(h("<<"), None);
    assert_eq!(h("<<<EOF"), None);
    assert_eq!(h("x<<EOF"), None);
    assert_eq!(h("<<\"a b\""), w("a b", false, false));
}

#[test]
fn parse_words_keeps_quotes_and_escapes() {
    assert_eq!(
        words::parse_words(r#"a="b c" d='e \' f=g\ h "i\"j" k\"#, '\\'),
        s(&[r#"a="b c""#, r#"d='e \'"#, r#"f=g\ h"#, r#""i\"j""#, "k"])
    );
    assert_eq!(words::parse_words("  ", '\\'), Vec::<String>::new());
    assert_eq!(words::parse_words("''", '\\'), s(&["''"]));
}

#[test]
fn csv_mount_fields() {
    assert_eq!(
        words::csv_fields(r#"type=bind,"source=a,b",target=/x"#).unwrap(),
        s(&["type=bind", "source=a,b", "target=/x"])
    );
    assert!(words::csv_fields("a\"b").is_err());
    assert!(words::csv_fields("\"a").is_err());
    assert!(words::csv_fields("").is_err());
}

#[test]
fn non_ascii_and_odd_whitespace_is_handled() {
    let body = body("FROM a\nRUN echo héllo wörld\u{a0}\nLABEL k=\"ü\"\nCOPY --chown=ü a b\n");
    assert_eq!(body[0].original, "RUN echo héllo wörld");
    assert_eq!(body[1].kind, Kind::Label(pairs(&[("k", "\"ü\"")])));
    let Kind::Copy(spec) = &body[2].kind else {
        panic!()
    };
    assert_eq!(spec.chown.as_deref(), Some("ü"));
}

/// A deterministic pseudo-random walk over mutated Dockerfiles: `parse` (and expanding every
/// word it returns) must never panic. The `fuzz/` target does this with coverage guidance.
#[test]
fn mutated_dockerfiles_never_panic() {
    const SEEDS: &[&str] = &[
        "# syntax=x\n# escape=`\nARG A=1\nFROM --platform=$P busybox AS b\nRUN --mount=type=cache,target=/c echo `\n hi\n",
        "FROM a\nRUN <<EOF\necho\nEOF\nCOPY <<-\"F\" /f\n\tx\n\tF\nONBUILD RUN <<X\ny\nX\n",
        "FROM a\nENV A=\"b c\" D=${E:-f}\nLABEL x y\nHEALTHCHECK --interval=1m30s CMD [\"a\"]\nEXPOSE 80/tcp\n",
        "FROM a\nCOPY [\"a\", \"b\"]\nADD --checksum=sha256:0 http://x /y\nSHELL [\"sh\"]\nVOLUME [\"/v\"]\n",
        "FROM a\nCMD [1]\nENTRYPOINT\nSTOPSIGNAL 9\nUSER u\nWORKDIR /w\nMAINTAINER m\n",
    ];
    const TOKENS: &[&str] = &[
        "\\",
        "`",
        "\n",
        "\r\n",
        " ",
        "\t",
        "#",
        "<<",
        "<<-",
        "EOF",
        "\"",
        "'",
        "[",
        "]",
        ",",
        "=",
        "--",
        "--mount=",
        "${",
        "}",
        ":-",
        "$",
        "ONBUILD ",
        "RUN ",
        "COPY ",
        "FROM ",
        "\u{feff}",
        "é",
        "\u{a0}",
        "\u{85}",
        "0",
        "-",
        "HEALTHCHECK ",
        "NONE",
        "CMD ",
        "{",
        ":",
        "?",
        "+",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift64*: fixed seed, so every run walks the same inputs.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let env = |name: &str| name.len().is_multiple_of(2).then(|| format!("v{name}"));
    for _ in 0..4000 {
        let mut text: Vec<char> = SEEDS[(next() % SEEDS.len() as u64) as usize]
            .chars()
            .collect();
        for _ in 0..=(next() % 8) {
            let pos = (next() % (text.len() as u64 + 1)) as usize;
            match next() % 4 {
                0 if !text.is_empty() => {
                    let end = (pos + (next() % 6) as usize).min(text.len());
                    text.drain(pos.min(end)..end);
                }
                1 => {
                    let token = TOKENS[(next() % TOKENS.len() as u64) as usize];
                    for (i, c) in token.chars().enumerate() {
                        text.insert(pos + i, c);
                    }
                }
                2 => {
                    let c = char::from_u32((next() % 0x250) as u32).unwrap_or('x');
                    text.insert(pos, c);
                }
                _ => {
                    let other: Vec<char> = SEEDS[(next() % SEEDS.len() as u64) as usize]
                        .chars()
                        .collect();
                    let cut = (next() % (other.len() as u64 + 1)) as usize;
                    text.splice(pos..pos, other[cut..].iter().copied());
                }
            }
        }
        let text: String = text.into_iter().collect();
        crate::image::build::words::parse_and_expand_all(&text, &env);
    }
}

#[test]
fn pathological_inputs_stay_bounded() {
    let chain = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(50_000));
    assert_eq!(
        err(&chain).message,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    let nested = format!(
        "FROM a\nENV A={}x{}\n",
        "${B:-".repeat(50_000),
        "}".repeat(50_000)
    );
    let df = ok(&nested);
    for word in crate::image::build::words::all_words(&df) {
        let _ = crate::image::build::expand::expand_word(&word, &|_| None, '\\');
    }
    let slashes = format!("FROM a\nRUN {}\n", "\\".repeat(100_001));
    assert_eq!(body(&slashes).len(), 1);
    let many = format!("FROM a\nRUN {} x\n", "<<A ".repeat(2_000));
    assert_eq!(err(&many).message, "unterminated heredoc");
    let brackets = format!("FROM a\nCMD {}\n", "[".repeat(100_000));
    assert_eq!(body(&brackets).len(), 1);
}
