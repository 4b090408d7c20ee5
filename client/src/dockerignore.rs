//! `.dockerignore`: which files of a build context stay out of it, with
//! Docker's semantics (moby's `ignorefile.ReadAll` and `patternmatcher`).
//!
//! Reading: a UTF-8 BOM is dropped, lines starting with `#` are comments,
//! lines are trimmed, blank ones skipped, each pattern (after a leading `!`,
//! which makes it an exception) is cleaned as Go's `filepath.Clean` does and
//! loses a leading `/`.
//!
//! Matching: `*` is any run of characters but `/`, `?` one character but
//! `/`, `[…]` a class (`^` negates, `a-z` ranges, `\` escapes), `\c` the
//! character `c`, `**` any number of directories (`**/` may be empty, a
//! trailing `**` anything). A path is excluded when the last pattern that
//! matches it, or one of its parent directories, is not an exception.

use thiserror::Error;

/// Why a `.dockerignore` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DockerIgnoreError {
    /// A line holding only `!`.
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    /// A malformed class or a trailing `\` (Go's `filepath.ErrBadPattern`).
    #[error("syntax error in pattern: {0}")]
    BadPattern(String),
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// This character.
    Lit(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    One,
    /// `[…]`: one character in (or, negated, not in) the ranges.
    Class { negated: bool, ranges: Vec<(char, char)> },
    /// `**/` inside a pattern: nothing, or anything ending with `/`.
    Dirs,
    /// A trailing `**` after wildcards: anything (but a newline, as Go's `.*`).
    Rest,
}

/// How a pattern matches, as patternmatcher picks it: plain text compares,
/// a trailing or leading `**` is a prefix or suffix test, anything else runs
/// the compiled tokens over the whole path.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Exact,
    /// `foo**`: paths starting with `foo`.
    Prefix(String),
    /// `**foo`: paths ending with `foo` (`**/foo` also `foo` itself).
    Suffix(String),
    Tokens(Vec<Tok>),
}

/// One line of the file, compiled.
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    /// The cleaned text, without the `!`.
    text: String,
    exception: bool,
    kind: Kind,
}

/// The patterns of a `.dockerignore`, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Read a `.dockerignore` as Docker's CLI does.
    pub fn parse(text: &str) -> Result<Self, DockerIgnoreError> {
        Self::from_patterns(read_lines(text))
    }

    /// Compile patterns already read (`!` marks an exception).
    pub fn from_patterns<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> Result<Self, DockerIgnoreError> {
        let mut patterns = Vec::new();
        for line in lines {
            let p = line.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let p = clean(p);
            let (exception, p) = match p.strip_prefix('!') {
                Some("") => return Err(DockerIgnoreError::IllegalExclusion),
                Some(rest) => (true, rest.to_string()),
                None => (false, p),
            };
            let kind = compile(&p)?;
            patterns.push(Pattern {
                text: p,
                exception,
                kind,
            });
        }
        Ok(Self { patterns })
    }

    /// Whether there are no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is an exception (`!…`).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Make sure `path` is sent, as Docker's CLI does for the Dockerfile
    /// and `.dockerignore` (`TrimBuildFilesFromExcludes`): if it is
    /// excluded, an exception for it goes at the end.
    pub fn keep(&mut self, path: &str) {
        if !self.excluded(path) {
            return;
        }
        let text = clean(path);
        if let Ok(kind) = compile(&text) {
            self.patterns.push(Pattern {
                text,
                exception: true,
                kind,
            });
        }
    }

    /// Whether `rel_path` (relative to the context, `/`-separated) is left
    /// out: the last pattern matching it or one of its parents decides
    /// (patternmatcher's `MatchesOrParentMatches`).
    pub fn excluded(&self, rel_path: &str) -> bool {
        let file = clean(rel_path);
        if file == "." {
            return false;
        }
        let parents: Vec<&str> = match file.rfind('/') {
            Some(i) if i > 0 => file[..i].split('/').collect(),
            _ => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exception != matched {
                continue;
            }
            let mut hit = p.matches(&file);
            if !hit {
                hit = (1..=parents.len()).any(|n| p.matches(&parents[..n].join("/")));
            }
            if hit {
                matched = !p.exception;
            }
        }
        matched
    }

    /// Whether the directory `rel_dir` can be left out without looking
    /// inside: it is excluded and no exception could match anything below
    /// it (the question Docker's CLI asks before `filepath.SkipDir`, put
    /// conservatively: an exception whose leading components could match
    /// the directory's and that reaches deeper keeps it open).
    pub fn skip_dir(&self, rel_dir: &str) -> bool {
        if !self.excluded(rel_dir) {
            return false;
        }
        let dir = clean(rel_dir);
        let dir: Vec<&str> = dir.split('/').collect();
        !self
            .patterns
            .iter()
            .filter(|p| p.exception)
            .any(|p| reaches_below(&p.text, &dir))
    }
}

/// Whether an exception pattern could match a path strictly below `dir`
/// at a depth deeper than `dir` (what matches `dir` or a parent already
/// counted for `dir` itself).
fn reaches_below(pattern: &str, dir: &[&str]) -> bool {
    let comps: Vec<&str> = pattern.split('/').collect();
    for (i, comp) in comps.iter().enumerate() {
        if comp.contains("**") || comp.contains('[') || comp.contains('\\') {
            return true;
        }
        let Some(d) = dir.get(i) else {
            return true;
        };
        match compile(comp) {
            Ok(Kind::Exact) if comp != d => return false,
            Ok(Kind::Exact) => {}
            Ok(kind) => {
                let p = Pattern {
                    text: comp.to_string(),
                    exception: true,
                    kind,
                };
                if !p.matches(d) {
                    return false;
                }
            }
            Err(_) => return true,
        }
    }
    false
}

/// The patterns of a `.dockerignore` text as moby's `ReadAll` returns them.
fn read_lines(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut p = if p.is_empty() { String::new() } else { clean(p) };
        if p.len() > 1 && p.starts_with('/') {
            p.remove(0);
        }
        out.push(if invert { format!("!{p}") } else { p });
    }
    out
}

/// Go's `filepath.Clean` on a `/`-separated path: no `.` elements, no
/// doubled or trailing `/`, `..` resolved lexically; `.` when empty.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Compile a cleaned pattern (without `!`) as patternmatcher's `compile`
/// classifies it, checking the syntax as Go's `filepath.Match` would.
fn compile(p: &str) -> Result<Kind, DockerIgnoreError> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regexp,
    }
    let bad = || DockerIgnoreError::BadPattern(p.to_string());
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut detected = Detected::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        toks.push(Tok::Rest);
                        detected = Detected::Regexp;
                    }
                } else {
                    toks.push(Tok::Dirs);
                    detected = Detected::Regexp;
                }
                if first {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                toks.push(Tok::Star);
                detected = Detected::Regexp;
            }
            '?' => {
                toks.push(Tok::One);
                detected = Detected::Regexp;
            }
            '\\' => {
                let c = *chars.get(i).ok_or_else(bad)?;
                i += 1;
                toks.push(Tok::Lit(c));
                detected = Detected::Regexp;
            }
            '[' => {
                let (tok, next) = class(&chars, i).ok_or_else(bad)?;
                toks.push(tok);
                i = next;
                detected = Detected::Regexp;
            }
            ']' => {
                toks.push(Tok::Lit(']'));
                detected = Detected::Regexp;
            }
            c => toks.push(Tok::Lit(c)),
        }
        first = false;
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(p[..p.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(p[2..].to_string()),
        Detected::Regexp => Kind::Tokens(toks),
    })
}

/// A `[…]` class whose body starts at `chars[i]`: the token and the index
/// after its `]`, or `None` if malformed (empty, unclosed, a bare `-` or
/// `]` where a character belongs, a reversed range).
fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let esc = |i: &mut usize| -> Option<char> {
        let mut c = *chars.get(*i)?;
        if c == '-' || c == ']' {
            return None;
        }
        if c == '\\' {
            *i += 1;
            c = *chars.get(*i)?;
        }
        *i += 1;
        Some(c)
    };
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        let lo = esc(&mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            hi = esc(&mut i)?;
            if hi < lo {
                return None;
            }
        }
        ranges.push((lo, hi));
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Tokens(toks) => run(toks, path),
        }
    }
}

/// Whether the tokens match the whole of `path`: the set of positions
/// reachable after each token (no backtracking blow-up).
fn run(toks: &[Tok], path: &str) -> bool {
    let s: Vec<char> = path.chars().collect();
    let n = s.len();
    let mut at = vec![false; n + 1];
    at[0] = true;
    for tok in toks {
        let mut next = vec![false; n + 1];
        for pos in (0..=n).filter(|&p| at[p]) {
            match tok {
                Tok::Lit(c) => {
                    if s.get(pos) == Some(c) {
                        next[pos + 1] = true;
                    }
                }
                Tok::One => {
                    if s.get(pos).is_some_and(|&c| c != '/') {
                        next[pos + 1] = true;
                    }
                }
                Tok::Class { negated, ranges } => {
                    if let Some(&c) = s.get(pos) {
                        if ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated {
                            next[pos + 1] = true;
                        }
                    }
                }
                Tok::Star => {
                    next[pos] = true;
                    for q in pos..n {
                        if s[q] == '/' {
                            break;
                        }
                        next[q + 1] = true;
                    }
                }
                Tok::Dirs | Tok::Rest => {
                    next[pos] = true;
                    for q in pos..n {
                        if s[q] == '\n' {
                            break;
                        }
                        if *tok == Tok::Rest || s[q] == '/' {
                            next[q + 1] = true;
                        }
                    }
                }
            }
        }
        at = next;
        if !at.contains(&true) {
            return false;
        }
    }
    at[n]
}

#[cfg(test)]
mod tests {
    use super::{clean, DockerIgnore, DockerIgnoreError};

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        for (input, want) in [
            ("", "."),
            ("./a//b/", "a/b"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("a/./b/..", "a"),
            ("/", "/"),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
    }

    #[test]
    fn docker_documented_examples() {
        // (patterns, path, excluded)
        let table: &[(&str, &str, bool)] = &[
            ("*/temp*", "somedir/temporary.txt", true),
            ("*/temp*", "somedir/temp", true),
            ("*/temp*", "temp", false),
            ("*/temp*", "a/b/temp", false),
            ("*/*/temp*", "somedir/subdir/temporary.txt", true),
            ("*/*/temp*", "somedir/temporary.txt", false),
            ("temp?", "tempa", true),
            ("temp?", "tempab", false),
            ("temp?", "temp", false),
            ("temp?", "dir/tempa", false),
            ("**/*.go", "main.go", true),
            ("**/*.go", "a/b/c/main.go", true),
            ("**/*.go", "main.golang", false),
            ("*.md\n!README.md", "CHANGES.md", true),
            ("*.md\n!README.md", "README.md", false),
            ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", true),
            ("*.md\n!README*.md\nREADME-secret.md", "README-public.md", false),
            ("*.md\n!README*.md\nREADME-secret.md", "other.md", true),
            ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", false),
            ("# comment\n\n/foo/../bar\n", "bar", true),
            ("# comment", "# comment", false),
            (" # not a comment", "# not a comment", true),
            ("/foo", "foo/x", true),
            ("foo", "foo/bar/baz", true),
            ("foo/bar", "foo", false),
            ("foo/", "foo/x", true),
            ("\u{feff}foo", "foo", true),
            ("foo\r\nbar\r\n", "bar", true),
            ("docs/**", "docs/a/b", true),
            ("docs/**", "docs", false),
            ("**", "anything/at/all", true),
            ("**/temp", "temp", true),
            ("**/temp", "a/b/temp/c", true),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "a/xb", false),
            ("[a-c]x", "bx", true),
            ("[a-c]x", "dx", false),
            ("[^a-c]x", "dx", true),
            ("\\*x", "*x", true),
            ("\\*x", "ax", false),
            ("a\\[b", "a[b", true),
            ("*", "dir/file", true),
            ("*\n!dir/keep", "dir/keep", false),
            ("*\n!dir/keep", "dir/other", true),
            ("dir\n!dir/keep", "dir/keep/deep", false),
            ("!foo\nfoo", "foo", true),
            ("foo\n!foo", "foo/bar", false),
        ];
        for (patterns, path, want) in table {
            assert_eq!(ignore(patterns).excluded(path), *want, "{patterns:?} {path}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(DockerIgnore::parse("!"), Err(DockerIgnoreError::IllegalExclusion));
        assert_eq!(DockerIgnore::parse("! "), Err(DockerIgnoreError::IllegalExclusion));
        for bad in ["a\\", "[", "[]", "[a", "[a-]", "[-a]", "[z-a]"] {
            assert!(
                matches!(DockerIgnore::parse(bad), Err(DockerIgnoreError::BadPattern(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn directories_are_skipped_only_when_no_exception_reaches_inside() {
        let d = ignore("node_modules\nbuild\n!build/keep.txt\n*/cache");
        assert!(d.skip_dir("node_modules"));
        assert!(d.skip_dir("a/cache"));
        assert!(!d.skip_dir("build"));
        assert!(!d.skip_dir("src"));
        // `**` may re-include anything anywhere (Docker's CLI would skip).
        let d = ignore("node_modules\n!**/cache/README");
        assert!(!d.skip_dir("node_modules"));
        let d = ignore("*\n!src/main.rs");
        assert!(d.skip_dir("target"));
        assert!(!d.skip_dir("src"));
        let d = ignore("*\n!s*/main.rs");
        assert!(d.skip_dir("target"));
        assert!(!d.skip_dir("src"));
        let d = ignore("a\n!a");
        assert!(!d.skip_dir("a"));
    }

    #[test]
    fn kept_files_get_an_exception() {
        let mut d = ignore("*\n");
        d.keep("Dockerfile");
        d.keep(".dockerignore");
        assert!(!d.excluded("Dockerfile"));
        assert!(!d.excluded(".dockerignore"));
        assert!(d.excluded("src"));
        let mut d = ignore("sub\n");
        d.keep("sub/Dockerfile");
        assert!(!d.excluded("sub/Dockerfile"));
        assert!(d.excluded("sub/other"));
        assert!(!d.skip_dir("sub"));
    }

    /// Random patterns and paths from a small alphabet: no panics, and a
    /// directory that may be skipped hides only excluded paths.
    #[test]
    fn random_patterns_never_panic() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        const PAT: &[&str] = &[
            "a", "b", "/", "*", "**", "?", "[a-b]", "[^a]", "\\", "!", ".", "..", " ", "#", "\n",
        ];
        const PATH: &[&str] = &["a", "b", "/", "ab", "."];
        let start = std::time::Instant::now();
        for _ in 0..10_000 {
            let pattern: String = (0..next(8)).map(|_| PAT[next(PAT.len())]).collect();
            let path: String = (0..1 + next(6)).map(|_| PATH[next(PATH.len())]).collect();
            let Ok(d) = DockerIgnore::parse(&pattern) else {
                continue;
            };
            let excluded = d.excluded(&path);
            let dir = clean(&path);
            if d.skip_dir(&dir) && dir != "." && !dir.starts_with('/') {
                assert!(excluded, "{pattern:?} {path:?}");
                assert!(d.excluded(&format!("{dir}/a/b")), "{pattern:?} {dir:?}");
            }
        }
        assert!(start.elapsed().as_secs_f64() < 5.0);
    }
}
