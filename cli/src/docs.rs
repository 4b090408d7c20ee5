//! What the shell and `man` know of skiff, generated from the same clap
//! definition the parser uses: `skiff completion SHELL` and the hidden
//! `skiff man DIR` (skiff.1, and skiff-run.1, skiff-network-ls.1, … for
//! every subcommand that is not hidden).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// The completion script for `shell`, for a binary called `skiff`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "skiff", &mut out);
    out
}

/// `skiff completion SHELL`: the script on stdout.
pub fn print_completion(shell: Shell) -> i32 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&completion(shell)).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        // `skiff completion bash | head`: the reader has all it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("skiff completion: {e}");
            1
        }
    }
}

/// Write skiff.1 and one page per subcommand into `dir` (made if missing).
pub fn man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}

/// `skiff man DIR`.
pub fn write_man_pages(dir: &Path) -> i32 {
    match man_pages(dir) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("skiff man: {}: {e}", dir.display());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bash_completion_names_the_subcommands() {
        let script = String::from_utf8(completion(Shell::Bash)).unwrap();
        assert!(script.contains("complete -F _skiff"), "{script}");
        for sub in ["run", "ps", "inspect", "network", "service", "completion"] {
            assert!(
                script.contains(&format!("skiff,{sub})")),
                "no {sub} in the bash completion"
            );
        }
        assert!(script.contains("--publish"));
        for shell in [Shell::Zsh, Shell::Fish] {
            assert!(String::from_utf8(completion(shell)).unwrap().contains("inspect"));
        }
    }

    #[test]
    fn man_pages_one_per_subcommand() {
        let dir = std::env::temp_dir().join(format!("skiff-man-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        man_pages(&dir).unwrap();
        for page in [
            "skiff.1",
            "skiff-run.1",
            "skiff-ps.1",
            "skiff-network-ls.1",
            "skiff-completion.1",
        ] {
            assert!(dir.join(page).is_file(), "no {page}");
        }
        assert!(!dir.join("skiff-man.1").exists(), "a page for the hidden man command");
        let run = std::fs::read_to_string(dir.join("skiff-run.1")).unwrap();
        assert!(run.starts_with(".ie"), "{run}");
        assert!(run.contains("publish"), "{run}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
