use super::*;
use std::collections::HashMap;

fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn word(s: &str, env: &HashMap<String, String>) -> Result<String, ExpandError> {
    expand_word(s, &|k| env.get(k).cloned(), '\\')
}

/// BuildKit's `shell/envVarTest` (testdata/, Apache-2.0, moby/buildkit
/// 73ed6825c4b7569379ef89df0aedcdbe64473d31): `platform|input|expected`, `error` for a failure.
#[test]
fn buildkit_env_var_table() {
    let env = env_of(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    let mut checked = 0;
    for (n, line) in include_str!("../testdata/envVarTest").lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.trim().split('|').collect();
        assert_eq!(parts.len(), 3, "line {}", n + 1);
        if parts[0].trim() == "W" {
            continue;
        }
        let (source, expected) = (parts[1].trim(), parts[2].trim());
        let got = word(source, &env);
        if expected == "error" {
            assert!(got.is_err(), "line {}: {source:?} gave {got:?}", n + 1);
        } else {
            assert_eq!(got.as_deref(), Ok(expected), "line {}: {source:?}", n + 1);
        }
        checked += 1;
    }
    assert!(checked > 200, "only {checked} cases");
}

/// BuildKit's `shell/wordsTest`: `ENV k=v` lines add variables; `input | w1,w2`.
#[test]
fn buildkit_words_table() {
    let mut env = HashMap::new();
    let mut checked = 0;
    for (n, line) in include_str!("../testdata/wordsTest").lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            let (k, v) = rest.trim_start_matches(' ').split_once('=').unwrap();
            env.insert(k.to_string(), v.to_string());
            continue;
        }
        let (test, expected) = line.split_once('|').unwrap();
        let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
        let got = expand_words(test.trim(), &|k| env.get(k).cloned(), '\\')
            .unwrap_or_else(|_| vec!["error".to_string()]);
        assert_eq!(got, expected, "line {}: {test:?}", n + 1);
        checked += 1;
    }
    assert!(checked > 20);
}

#[test]
fn default_and_alternative_forms_distinguish_unset_from_empty() {
    let env = env_of(&[("SET", "v"), ("EMPTY", "")]);
    let cases = [
        ("${SET:-d}", "v"),
        ("${EMPTY:-d}", "d"),
        ("${UNSET:-d}", "d"),
        ("${SET-d}", "v"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${SET:+a}", "a"),
        ("${EMPTY:+a}", ""),
        ("${UNSET:+a}", ""),
        ("${SET+a}", "a"),
        ("${EMPTY+a}", "a"),
        ("${UNSET+a}", ""),
        ("${EMPTY?}", ""),
        ("${SET:?}", "v"),
        ("x${UNSET:-${SET}y}z", "xvyz"),
    ];
    for (input, expected) in cases {
        assert_eq!(word(input, &env).as_deref(), Ok(expected), "{input}");
    }
}

#[test]
fn mandatory_variables_report_their_message() {
    let env = env_of(&[("EMPTY", "")]);
    let err = word("${UNSET:?must be set}", &env).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"failed to process "${UNSET:?must be set}": UNSET: must be set"#
    );
    let err = word("${UNSET?}", &env).unwrap_err();
    assert_eq!(err.message, "UNSET: is not allowed to be unset");
    let err = word("${EMPTY:?}", &env).unwrap_err();
    assert_eq!(err.message, "EMPTY: is not allowed to be empty");
    assert_eq!(err.class(), ErrorClass::InvalidArgument);
}

#[test]
fn syntax_errors_are_moby_messages() {
    let env = HashMap::new();
    let msg = |s: &str| word(s, &env).unwrap_err().message;
    assert_eq!(msg("${}"), "syntax error: bad substitution");
    assert_eq!(msg("${A"), "syntax error: missing '}'");
    assert_eq!(msg("${A:-x"), "syntax error: missing '}'");
    assert_eq!(msg("${A b}"), "missing ':' in substitution");
    assert_eq!(msg("${A:=b}"), "unsupported modifier (=) in substitution");
    assert_eq!(
        msg("'abc"),
        "unexpected end of statement while looking for matching single-quote"
    );
    assert_eq!(
        msg("\"abc"),
        "unexpected end of statement while looking for matching double-quote"
    );
}

#[test]
fn backtick_escape_is_honoured_and_backslash_is_then_literal() {
    let env = env_of(&[("A", "1")]);
    let get = |k: &str| env.get(k).cloned();
    assert_eq!(expand_word("C:\\dir`$A", &get, '`').unwrap(), "C:\\dir$A");
    assert_eq!(expand_word("\"`\"$A\"", &get, '`').unwrap(), "\"1");
    assert_eq!(expand_word("a\\$A", &get, '`').unwrap(), "a\\1");
}

#[test]
fn words_split_on_unquoted_whitespace_only() {
    let env = env_of(&[("PORTS", "80/tcp  443")]);
    let get = |k: &str| env.get(k).cloned();
    assert_eq!(
        expand_words("$PORTS \"8080 x\" ''  9\\ 9", &get, '\\').unwrap(),
        vec!["80/tcp", "443", "8080 x", "9 9"]
    );
    assert_eq!(
        expand_words("  ", &get, '\\').unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let env = HashMap::new();
    let deep = "${A:-".repeat(10_000) + &"}".repeat(10_000);
    assert!(word(&deep, &env).is_err());
    let ok = "${A:-".repeat(10) + "x" + &"}".repeat(10);
    assert_eq!(word(&ok, &env).unwrap(), "x");
}

#[test]
fn raw_mode_keeps_quotes_and_escapes_and_unset_references() {
    let mode = Mode {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        skip_quotes: false,
    };
    assert_eq!(
        split_words_raw(r#"cat <<"EOF" a\ b $X ${Y:-z}"#, '\\', mode).unwrap(),
        vec!["cat", "<<\"EOF\"", "a\\ b", "$X", "${Y:-z}"]
    );
}

#[test]
fn heredoc_bodies_keep_quotes_but_expand_variables() {
    let env = env_of(&[("NAME", "berth")]);
    let get = |k: &str| env.get(k).cloned();
    assert_eq!(
        expand_heredoc("echo \"hi $NAME\" 'x ${NAME}'\n\\$NAME ${UNSET:-d}\n", &get).unwrap(),
        "echo \"hi berth\" 'x berth'\n$NAME d\n"
    );
    // An unbalanced quote is just a character here.
    assert_eq!(expand_heredoc("it's\n", &get).unwrap(), "it's\n");
}
