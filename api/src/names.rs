//! Names users give to containers, networks and volumes.

/// Docker's rule for user-given names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A reference spelled out as Docker prints it after a pull
/// (`docker.io/library/busybox:latest`).
pub fn qualified_reference(r: &str) -> String {
    let (first, rest) = r.split_once('/').unwrap_or(("", r));
    let has_domain = first.contains('.') || first.contains(':') || first == "localhost";
    let mut out = if has_domain {
        r.to_string()
    } else if r.contains('/') {
        format!("docker.io/{r}")
    } else {
        format!("docker.io/library/{rest}")
    };
    let last = out.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !out.contains('@') {
        out.push_str(":latest");
    }
    out
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

#[cfg(test)]
mod reference_tests {
    use super::qualified_reference as qualified;

    #[test]
    fn references_qualify_as_docker() {
        assert_eq!(qualified("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(qualified("team/app:v1"), "docker.io/team/app:v1");
        assert_eq!(qualified("127.0.0.1:5000/app"), "127.0.0.1:5000/app:latest");
        assert_eq!(qualified("localhost/app@sha256:ab"), "localhost/app@sha256:ab");
    }
}
