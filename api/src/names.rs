//! Names users give to containers, networks and volumes.

/// Docker's rule for user-given names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["web", "a", "db-1", "x_y.z", "9lives"] {
            assert!(super::valid_name(ok), "{ok}");
        }
        for bad in ["", "-web", ".x", "_x", "a/b", "a b", "ü"] {
            assert!(!super::valid_name(bad), "{bad}");
        }
    }
}
