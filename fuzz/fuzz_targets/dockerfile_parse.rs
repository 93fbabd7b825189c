//! Arbitrary bytes (lossy UTF-8) into the Dockerfile parser; every word of whatever parses
//! is then expanded as a word, as a word list and as a heredoc body. None of it may panic.
#![no_main]

use berth::image::build::words::parse_and_expand_all;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Some variables set, some empty, some unset, so every expansion branch is reachable.
    let env = |name: &str| match name.len() % 3 {
        0 => None,
        1 => Some(String::new()),
        _ => Some(format!("v {name}")),
    };
    parse_and_expand_all(&text, &env);
});
