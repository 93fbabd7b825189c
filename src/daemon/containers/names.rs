//! Container names: Docker's validity rule and generated `adjective_surname` names.

/// Whether `name` (without the leading `/`) is a valid container name:
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, as dockerd requires.
pub fn is_valid(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

const LEFT: &[&str] = &[
    "admiring", "bold", "brave", "busy", "calm", "clever", "eager", "elated", "focused", "gallant",
    "happy", "jolly", "keen", "kind", "loving", "modest", "nifty", "quirky", "serene", "sharp",
    "stoic", "tender", "vibrant", "wizardly", "zealous",
];

const RIGHT: &[&str] = &[
    "archimedes",
    "babbage",
    "bell",
    "curie",
    "darwin",
    "einstein",
    "euler",
    "fermi",
    "galileo",
    "hopper",
    "hypatia",
    "kepler",
    "lovelace",
    "maxwell",
    "meitner",
    "newton",
    "noether",
    "pasteur",
    "ritchie",
    "shannon",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "yalow",
];

/// A random `adjective_surname` name; `attempt` > 0 appends a digit like dockerd
/// does after a collision.
pub fn generate(attempt: u32) -> String {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).expect("the kernel's random source is available");
    let base = format!(
        "{}_{}",
        LEFT[b[0] as usize % LEFT.len()],
        RIGHT[b[1] as usize % RIGHT.len()]
    );
    if attempt == 0 {
        base
    } else {
        format!("{base}{attempt}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_follows_docker() {
        assert!(is_valid("web-1"));
        assert!(is_valid("a.b_c"));
        assert!(!is_valid("a"));
        assert!(!is_valid("-web"));
        assert!(!is_valid("web/1"));
        assert!(!is_valid(""));
    }

    #[test]
    fn generated_names_are_valid() {
        for i in 0..50 {
            assert!(is_valid(&generate(i % 3)));
        }
    }
}
