//! The Dockerfile word layer: how Docker turns the raw text of an
//! instruction's arguments into words and values.
//!
//! `parse-dockerfile` hands most arguments over raw (quotes, escapes kept).
//! This module reproduces what BuildKit does with such text
//! (`frontend/dockerfile/shell/lex.go`, `frontend/dockerfile/parser/`):
//! - [`split_words`]: split on unquoted whitespace, quotes kept;
//! - [`parse_name_vals`] / [`parse_args`]: the `ENV`/`LABEL` and `ARG` forms;
//! - [`Lexer`]: variable expansion and quote removal (`ProcessWord`);
//! - [`join_continuations`]: the command line a shell-form `RUN` runs.
//!
//! Which instruction gets what in Docker (non-JSON forms):
//! - `ENV`, `LABEL`: [`parse_name_vals`] on the arguments (parse-dockerfile
//!   has already joined continuation lines), then [`Lexer::process_word`]
//!   on every key and value, all with the environment from *before* the
//!   instruction (`ENV A=1 B=$A` gives B the previous A).
//! - `ARG`: [`parse_args`], then `process_word` on names and defaults.
//! - `COPY`, `ADD`, `VOLUME`: Docker splits on plain whitespace, quotes
//!   or not (as parse-dockerfile's `src`/`dest` already are), then runs
//!   `process_word` on each piece: `COPY "a b" /d` is an unterminated quote.
//! - `EXPOSE`: whitespace split, then [`Lexer::process_words`] on each piece.
//! - `WORKDIR`, `USER`, `STOPSIGNAL`, `FROM` image/`--platform`: one
//!   `process_word`.
//! - `RUN`, `CMD`, `ENTRYPOINT`, `HEALTHCHECK CMD` shell form: no
//!   expansion by the builder; [`join_continuations`] gives `sh -c` its
//!   argument.

mod expand;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

/// Docker's default escape character (`# escape=` may switch it to `` ` ``).
pub const DEFAULT_ESCAPE: char = '\\';

/// Why a word could not be expanded; the texts are BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${` without its closing brace.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${VAR/pattern` without the `/` before the replacement.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${:…}` or `${{…`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// A modifier other than `- + ? # % / :- :+ :?`, e.g. `=` or `:#`.
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${VAR?message}` with VAR unset, or `${VAR:?message}` with VAR
    /// unset or empty.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message given, or "is not allowed to be unset/empty".
        message: String,
    },
    /// A quote or `${…}` not closed: `single-quote`, `double-quote`, `}`, `/`.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(String),
    /// A bad escape in a `#`, `%` or `/` pattern.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        /// The pattern as BuildKit shows it (reversed for `%`).
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// An error of the word layer; the texts are Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordError {
    /// Expansion of `word` failed.
    #[error("failed to process {word:?}: {reason}")]
    Expand {
        /// The word as written.
        word: String,
        /// What went wrong.
        reason: ExpandError,
    },
    /// `ENV =x`, `LABEL =x`, `ARG =x`.
    #[error("{0} names can not be blank")]
    BlankName(String),
    /// A word without `=` after the first `name=value` word.
    #[error("Syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    /// The legacy `ENV name value` form with no value.
    #[error("{0} must have two arguments")]
    TwoArguments(String),
    /// No arguments at all.
    #[error("{0} requires at least one argument")]
    NoArguments(String),
}

/// The result of [`Lexer::process_word_with_matches`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessedWord {
    /// The expanded word.
    pub value: String,
    /// Variables referenced that were set.
    pub matched: BTreeSet<String>,
    /// Variables referenced that were not set.
    pub unmatched: BTreeSet<String>,
}

/// Docker's shell-word lexer: expands `$VAR`, `${VAR}` and the `${VAR…}`
/// modifiers, removes quotes and escapes, like BuildKit's `shell.Lex`.
///
/// Supported: `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`, `${VAR+w}`,
/// `${VAR:?msg}`, `${VAR?msg}`, `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`,
/// `${VAR%%pat}`, `${VAR/pat/repl}`, `${VAR//pat/repl}` (patterns are
/// globs with `*` and `?`, which like BuildKit's never match a newline).
/// Single quotes are literal; in double quotes `$` still expands and the
/// escape character escapes only `"`, `$` and itself. Positional and
/// special parameters (`$1`, `$@`, `$?`, …) are never set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer::new(DEFAULT_ESCAPE)
    }
}

impl Lexer {
    /// A lexer with `escape` (`\` or `` ` ``) as the escape character.
    pub fn new(escape: char) -> Self {
        Lexer { escape }
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands one word (BuildKit `ProcessWord`): whitespace is kept.
    pub fn process_word(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, WordError> {
        self.process_word_with_matches(word, env).map(|p| p.value)
    }

    /// [`Lexer::process_word`], also naming the variables the word
    /// referenced (for the unused-build-arg warning).
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProcessedWord, WordError> {
        let out = self.run(word, env)?;
        Ok(ProcessedWord {
            value: out.result,
            matched: out.matched,
            unmatched: out.unmatched,
        })
    }

    /// Expands and splits into words on whitespace outside quotes (BuildKit
    /// `ProcessWords`, used for `EXPOSE`). Whitespace from a variable's
    /// value splits too; text that expands to nothing gives no word.
    pub fn process_words(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, WordError> {
        self.run(word, env).map(|out| out.words)
    }

    fn run(&self, word: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<expand::Outcome, WordError> {
        expand::expand(word, self.escape, env).map_err(|reason| WordError::Expand {
            word: word.to_string(),
            reason,
        })
    }
}

/// Splits `text` into words on whitespace outside quotes, keeping quotes
/// and escapes in the words for [`Lexer::process_word`] to remove
/// (moby's `parseWords`). An escape character escapes any next character
/// outside quotes and inside double quotes; one at the very end is dropped.
pub fn split_words(text: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut phase = Phase::Spaces;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match phase {
            Phase::Spaces if ch.is_whitespace() => continue,
            Phase::Spaces | Phase::Word if ch.is_whitespace() => {
                phase = Phase::Spaces;
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            Phase::Spaces | Phase::Word => {
                phase = Phase::Word;
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                }
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                } else if ch == escape && quote != '\'' && i == chars.len() {
                    phase = Phase::Word;
                    continue;
                }
            }
        }
        let escapes = !matches!(phase, Phase::Quote('\''));
        if ch == escape && escapes {
            // Escape and escaped character both stay; a final escape goes.
            if let Some(&next) = chars.get(i) {
                word.push(ch);
                word.push(next);
                i += 1;
            }
            continue;
        }
        word.push(ch);
    }
    if phase != Phase::Spaces && !word.is_empty() {
        words.push(word);
    }
    words
}

/// Docker's whitespace for the legacy `ENV name value` split (`[\t\v\f\r ]`).
fn is_legacy_blank(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Parses the arguments of `ENV` or `LABEL` (`instruction` names it in
/// errors) into `(key, value)` pairs, both still raw: run
/// [`Lexer::process_word`] on each, all with the environment from before
/// the instruction.
///
/// If the first word has no `=`, this is the legacy form `ENV name value
/// with spaces`: one pair whose value is the rest of the line. Otherwise
/// every word must be `name=value`.
pub fn parse_name_vals(text: &str, escape: char, instruction: &str) -> Result<Vec<(String, String)>, WordError> {
    let words = split_words(text, escape);
    let Some(first) = words.first() else {
        return Err(WordError::NoArguments(instruction.to_string()));
    };
    if !first.contains('=') {
        let rest = text.trim();
        let Some(split) = rest.find(is_legacy_blank) else {
            return Err(WordError::TwoArguments(instruction.to_string()));
        };
        let value = rest[split..].trim_start_matches(is_legacy_blank);
        return Ok(vec![(rest[..split].to_string(), value.to_string())]);
    }
    let mut pairs = Vec::with_capacity(words.len());
    for word in &words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(WordError::MissingEquals(word.clone()));
        };
        pairs.push((key.to_string(), value.to_string()));
    }
    if pairs.iter().any(|(key, _)| key.is_empty()) {
        return Err(WordError::BlankName(instruction.to_string()));
    }
    Ok(pairs)
}

/// Parses the arguments of `ARG`: `name[=default] ...`, raw like
/// [`parse_name_vals`]; `None` when no default is given.
pub fn parse_args(text: &str, escape: char) -> Result<Vec<(String, Option<String>)>, WordError> {
    let words = split_words(text, escape);
    if words.is_empty() {
        return Err(WordError::NoArguments("ARG".into()));
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(WordError::BlankName("ARG".into())),
            Some((key, value)) => Ok((key.to_string(), Some(value.to_string()))),
            None => Ok((word, None)),
        })
        .collect()
}

/// The command line Docker runs for a shell-form `RUN`, `CMD`,
/// `ENTRYPOINT` or `HEALTHCHECK CMD`, from the raw text of its arguments.
///
/// A line ending in the escape character (plus blanks) continues on the
/// next: the escape and the blanks after it are removed and the lines
/// joined as they are (no separator added). Comment lines (first
/// non-blank character `#`) and empty lines inside a continuation are
/// dropped. An escape preceded by another escape does not continue the
/// line. The instruction ends at the first line that does not continue;
/// the result is trimmed.
pub fn join_continuations(raw: &str, escape: char) -> String {
    let mut out = String::new();
    for (n, line) in raw.split('\n').enumerate() {
        let line = line.trim_end_matches(['\r', '\n']);
        if n > 0 {
            let start = line.trim_start();
            if start.starts_with('#') || start.is_empty() {
                continue;
            }
        }
        match strip_continuation(line, escape) {
            Some(joined) => out.push_str(joined),
            None => {
                out.push_str(line);
                break;
            }
        }
    }
    out.trim().to_string()
}

/// `line` without its continuation escape and trailing blanks, or `None`
/// if the line does not continue.
fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let before = line.trim_end_matches([' ', '\t']).strip_suffix(escape)?;
    match before.chars().next_back() {
        Some(c) if c == escape => None,
        _ => Some(before),
    }
}
