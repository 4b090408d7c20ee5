//! Unit tests of the word layer. The tables of expansion and splitting
//! cases are BuildKit's (`frontend/dockerfile/shell/envVarTest`,
//! `wordsTest` and `lex_test.go`): facts of Docker's behaviour.

use std::collections::HashMap;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn expand(word: &str, env: &HashMap<String, String>) -> Result<String, WordError> {
    Lexer::default().process_word(word, &|k: &str| env.get(k).cloned())
}

fn reason(word: &str, env: &HashMap<String, String>) -> String {
    match expand(word, env) {
        Err(WordError::Expand { reason, .. }) => reason.to_string(),
        other => panic!("{word:?}: expected an expansion error, got {other:?}"),
    }
}

/// BuildKit's `envVarTest` (its Unix lines, alignment dropped):
/// `A|source|expected`, where `error` means the expansion fails.
const ENV_VAR_TEST: &str = include_str!("env_var_test.txt");

#[test]
fn env_var_table() {
    let env = env_of(&[("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")]);
    let mut cases = 0;
    for line in ENV_VAR_TEST.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 3, "{line}");
        let (source, expected) = (parts[1], parts[2]);
        match expand(source, &env) {
            Ok(got) => assert_eq!(got, expected, "{source:?}"),
            Err(err) => assert_eq!(expected, "error", "{source:?}: {err}"),
        }
        cases += 1;
    }
    assert_eq!(cases, 228);
}

#[test]
fn words_table() {
    // BuildKit's `wordsTest`: (env, source, words); `None` is an error.
    let none: &[(&str, &str)] = &[];
    let hi = &[("hi", "hi")];
    let space = &[("hi", "hi"), ("space", "abc  def")];
    let leading = &[("hi", "hi"), ("space", "abc  def"), ("leading", "  ab c")];
    let trailing = &[("leading", "  ab c"), ("trailing", "ab c   ")];
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a [&'a str]>);
    let cases: &[Case] = &[
        (none, "hello", Some(&["hello"])),
        (none, "hello${hi}bye", Some(&["hellobye"])),
        (hi, "hello${hi}bye", Some(&["hellohibye"])),
        (space, "hello${space}bye", Some(&["helloabc", "defbye"])),
        (space, "hello\"${space}\"bye", Some(&["helloabc  defbye"])),
        (space, "hello \"${space}\"bye", Some(&["hello", "abc  defbye"])),
        (leading, "hello${leading}def", Some(&["hello", "ab", "cdef"])),
        (leading, "hello\"${leading}\" def", Some(&["hello  ab c", "def"])),
        (leading, "hello\"${leading}\"", Some(&["hello  ab c"])),
        (leading, "hello${leading}", Some(&["hello", "ab", "c"])),
        (trailing, "hello${trailing}", Some(&["helloab", "c"])),
        (trailing, "hello${trailing}d", Some(&["helloab", "c", "d"])),
        (trailing, "hello\"${trailing}\"d", Some(&["helloab c   d"])),
        (trailing, "hel\"lo${trailing}\"", Some(&["helloab c   "])),
        (none, "hello\" there  \"", Some(&["hello there  "])),
        (none, "hello there", Some(&["hello", "there"])),
        (none, "hello\\ there", Some(&["hello there"])),
        (none, "hello\" there", None),
        (none, "hello\\\" there", Some(&["hello\"", "there"])),
        (none, "hello\"\\\\there\"", Some(&["hello\\there"])),
        (none, "hello\"\\there\"", Some(&["hello\\there"])),
        (none, "hello'\\\\there'", Some(&["hello\\\\there"])),
        (none, "hello'\\there'", Some(&["hello\\there"])),
        (none, "hello'$there'", Some(&["hello$there"])),
        // Beyond BuildKit's table: empty expansions and quotes give no word.
        (none, "a $NOPE b", Some(&["a", "b"])),
        (none, "a \"\" '' b", Some(&["a", "b"])),
        (none, "", Some(&[])),
        (none, "  ", Some(&[])),
        (space, "x${NOPE:-a b}y", Some(&["xa", "by"])),
        (none, "cat << EOF", Some(&["cat", "<< EOF"])),
    ];
    for (env, source, expected) in cases {
        let env = env_of(env);
        let got = Lexer::default().process_words(source, &|k: &str| env.get(k).cloned());
        match expected {
            Some(words) => assert_eq!(got.unwrap(), *words, "{source:?}"),
            None => assert!(got.is_err(), "{source:?}: {got:?}"),
        }
    }
}

/// (input, env, expected, matched, unmatched); `None` is an error.
type MatchCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);
const FB: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];
const XXYY: &[(&str, &str)] = &[("FOO", "xxyy")];

/// BuildKit's TestProcessWithMatches.
const MATCH_CASES: &[MatchCase] = &[
    ("x", &[("DUMMY", "dummy")], Some("x"), &[], &[]),
    ("x ${UNUSED}", &[("DUMMY", "dummy")], Some("x "), &[], &["UNUSED"]),
    ("x ${FOO}", &[("FOO", "y")], Some("x y"), &["FOO"], &[]),
    (
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        FB,
        Some("xxx  ccc"),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    (
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        FB,
        Some("xxx bbb ccc"),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ("${FOO:-}", FB, Some("xxx"), &["FOO"], &[]),
    ("${FOO:-}", &[], Some(""), &[], &["FOO"]),
    (
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        FB,
        Some("aaa bbb "),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    (
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        FB,
        Some("aaa  "),
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ("${FOO?aaa}", FB, Some("xxx"), &["FOO"], &[]),
    ("${BAR?bbb}", FB, Some(""), &["BAR"], &[]),
    ("${BAZ?ccc}", FB, None, &[], &[]),
    ("${FOO:?aaa}", FB, Some("xxx"), &["FOO"], &[]),
    ("${BAR:?bbb}", FB, None, &[], &[]),
    ("${BAZ:?ccc}", FB, None, &[], &[]),
    ("${BAZ:?}", FB, None, &[], &[]),
    ("${FOO=aaa}", FB, None, &[], &[]),
    ("${FOO=:aaa}", FB, None, &[], &[]),
    ("${FOO=}", &[], None, &[], &[]),
    (
        "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
        &[("FOO", "()[]{}^$.*?|\\x")],
        Some("x"),
        &["FOO"],
        &[],
    ),
    ("${FOO%%\\**}", &[("FOO", "xx**")], Some("xx"), &["FOO"], &[]),
    ("${FOO#*x*y}", XXYY, Some("y"), &["FOO"], &[]),
    ("${FOO#*}", XXYY, Some("xxyy"), &["FOO"], &[]),
    (
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        Some("xyy"),
        &["FOO", "BAR"],
        &[],
    ),
    (
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("xxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO#}", XXYY, Some("xxyy"), &["FOO"], &[]),
    ("${FOO##*x}", XXYY, Some("yy"), &["FOO"], &[]),
    ("${FOO##}", XXYY, Some("xxyy"), &["FOO"], &[]),
    ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y"), &["FOO"], &[]),
    ("${ABC:-.}${FOO%x}${ABC:-.}", XXYY, Some(".xxyy."), &["FOO"], &["ABC"]),
    ("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], Some("a"), &["FOO"], &[]),
    ("${FOO%}", XXYY, Some("xxyy"), &["FOO"], &[]),
    (
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("xxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO:#}", &[], None, &[], &[]),
    ("${FOO:##}", &[], None, &[], &[]),
    ("${FOO:%}", &[], None, &[], &[]),
    ("${FOO:%%}", &[], None, &[], &[]),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
        Some("/foo.*/*.txt - /foo..*.txt"),
        &["FOO", "NEEDLE"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        Some("/tmp/bar.txt - /bar.txt"),
        &["FOO", "NEEDLE"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[("FOO", "/a/foo/b/c.txt"), ("NEEDLE", "/?/"), ("REPLACEMENT", "/")],
        Some("/foo/b/c.txt - /foo/c.txt"),
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ],
        Some("https://google.de"),
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    (
        "${FOO//\\//\\/}",
        &[("FOO", "/tmp/foo.txt")],
        Some("\\/tmp\\/foo.txt"),
        &["FOO"],
        &[],
    ),
    (
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        Some("wwxxyy"),
        &["FOO", "BAR"],
        &[],
    ),
    ("${FOO//ww}", XXYY, None, &[], &[]),
    ("${FOO//}", XXYY, None, &[], &[]),
    ("${FOO///}", XXYY, Some("xxyy"), &["FOO"], &[]),
    ("${FOO///}", &[], Some(""), &[], &["FOO"]),
];

#[test]
fn matches_table() {
    for (input, env, expected, matched, unmatched) in MATCH_CASES {
        let env = env_of(env);
        let got = Lexer::default().process_word_with_matches(input, &|k: &str| env.get(k).cloned());
        let Some(expected) = expected else {
            assert!(got.is_err(), "{input:?}: {got:?}");
            continue;
        };
        let got = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(got.value, *expected, "{input:?}");
        let names = |s: &[&str]| s.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(got.matched, names(matched), "{input:?}");
        assert_eq!(got.unmatched, names(unmatched), "{input:?}");
    }
}

#[test]
fn platform_release_name() {
    let word = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let arm = env_of(&[base[0], base[1], ("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")]);
    assert_eq!(expand(word, &arm).unwrap(), "something-v1.2.3.linux-arm-v7.tar.gz");
    let empty = env_of(&[base[0], base[1], ("TARGETARCH", "arm64"), ("TARGETVARIANT", "")]);
    assert_eq!(expand(word, &empty).unwrap(), "something-v1.2.3.linux-arm64.tar.gz");
    let unset = env_of(&[base[0], base[1], ("TARGETARCH", "arm64")]);
    assert_eq!(expand(word, &unset).unwrap(), "something-v1.2.3.linux-arm64.tar.gz");
}

#[test]
fn mandatory_vars_and_messages() {
    let set = env_of(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env_of(&[("VAR", ""), ("ARG", "x")]);
    let unset = env_of(&[("ARG", "x")]);
    let (no_empty, no_unset) = ("${VAR:?message here$ARG}", "${VAR?message here$ARG}");
    assert_eq!(expand(no_empty, &set).unwrap(), "plain");
    assert_eq!(reason(no_empty, &empty), "VAR: message herex");
    assert_eq!(reason(no_empty, &unset), "VAR: message herex");
    assert_eq!(expand(no_unset, &set).unwrap(), "plain");
    assert_eq!(expand(no_unset, &empty).unwrap(), "");
    assert_eq!(reason(no_unset, &unset), "VAR: message herex");
    assert_eq!(reason("${A:?}", &unset), "A: is not allowed to be unset");
    assert_eq!(reason("${A?}", &unset), "A: is not allowed to be unset");
    assert_eq!(reason("${VAR:?}", &empty), "VAR: is not allowed to be empty");
}

#[test]
fn error_texts() {
    let env = env_of(&[("PWD", "/home")]);
    let cases = [
        ("he${PWD", "syntax error: missing '}'"),
        ("${", "syntax error: missing '}'"),
        ("${A:", "syntax error: missing '}'"),
        ("${A:-x", "syntax error: missing '}'"),
        ("${A:-'x}", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:-x}", "syntax error: bad substitution"),
        ("${{a}", "syntax error: bad substitution"),
        ("${A/x", "syntax error: missing '/' in ${}"),
        ("${A:=x}", "unsupported modifier (:=) in substitution"),
        ("${A=x}", "unsupported modifier (=) in substitution"),
        ("${A:#x}", "unsupported modifier (:#) in substitution"),
        ("${A:%%x}", "unsupported modifier (:%) in substitution"),
        ("${.}", "unsupported modifier (.) in substitution"),
        (
            "'abc",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"abc",
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            "${PWD#\\x}",
            "invalid pattern (\\x) in substitution: invalid escape '\\x'",
        ),
        (
            "${PWD%a\\q}",
            "invalid pattern (\\qa) in substitution: invalid escape '\\q'",
        ),
        (
            "${PWD/\\q/}",
            "invalid pattern (\\q) in substitution: invalid escape '\\q'",
        ),
    ];
    for (word, text) in cases {
        assert_eq!(reason(word, &env), text, "{word:?}");
    }
    let err = expand("a${A?gone}", &env).unwrap_err();
    assert_eq!(err.to_string(), "failed to process \"a${A?gone}\": A: gone");
}

#[test]
fn patterns_and_replacements() {
    let env = env_of(&[("P", "/usr/local/lib/libfoo.so.1"), ("N", "a\nb"), ("D", "x.y.z")]);
    let cases = [
        ("${P##*/}", "libfoo.so.1"),
        ("${P#*/}", "usr/local/lib/libfoo.so.1"),
        ("${P%/*}", "/usr/local/lib"),
        ("${P%%.*}", "/usr/local/lib/libfoo"),
        ("${P%.*}", "/usr/local/lib/libfoo.so"),
        ("${D/./-}", "x-y.z"),
        ("${D//./-}", "x-y-z"),
        ("${D//?/_}", "_____"),
        ("${D//y/$$}", "x..z"),
        ("${D//y/'$$'}", "x.$.z"),
        ("${D//y/'$0'}", "x.y.z"),
        ("${D//y/'<$1>'}", "x.<>.z"),
        ("${D//y/'$.'}", "x.$..z"),
        ("${D/y/'$0'}", "x.$0.z"),
        ("${D///-}", "-x-.-y-.-z-"),
        // `*` and `?` never match a newline (Go regexp's `.`).
        ("${N#*}", "a\nb"),
        ("${N##*}", "\nb"),
        ("${N#a?}", "a\nb"),
        ("${N%%*}", "a\n"),
        ("${D#\"x.\"}", "y.z"),
        ("${NOPE#x}", ""),
        ("${D:-\"a b\"}", "x.y.z"),
        ("${NOPE:-\"a b\"}", "a b"),
        ("${NOPE:-'a b'}c", "a bc"),
        ("${NOPE:-\\}}", "}"),
    ];
    for (word, expected) in cases {
        assert_eq!(expand(word, &env).unwrap(), expected, "{word:?}");
    }
}

#[test]
fn backtick_escape() {
    let env = env_of(&[("A", "x")]);
    let lexer = Lexer::new('`');
    let get = |k: &str| env.get(k).cloned();
    assert_eq!(lexer.escape(), '`');
    assert_eq!(lexer.process_word("C:\\dir\\$A", &get).unwrap(), "C:\\dir\\x");
    assert_eq!(lexer.process_word("`$A", &get).unwrap(), "$A");
    assert_eq!(lexer.process_word("\"`\"q`$A\"", &get).unwrap(), "\"q$A");
    assert_eq!(lexer.process_words("a` b c", &get).unwrap(), ["a b", "c"]);
    assert_eq!(split_words("a` b \"c` d\" `", '`'), ["a` b", "\"c` d\""]);
}

#[test]
fn split_words_cases() {
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        ("   ", &[]),
        ("a b  c", &["a", "b", "c"]),
        ("  a\tb\n", &["a", "b"]),
        ("\"a b\" c\\ d", &["\"a b\"", "c\\ d"]),
        ("'a \\' b", &["'a \\'", "b"]),
        ("\"a \\\" b\" c", &["\"a \\\" b\"", "c"]),
        ("x\"y z\"w v", &["x\"y z\"w", "v"]),
        ("a \\", &["a"]),
        ("\"a \\", &["\"a "]),
        ("\"unterminated quote", &["\"unterminated quote"]),
        ("k=\"v 1\" k2=v\\ 2", &["k=\"v 1\"", "k2=v\\ 2"]),
        ("\"\"", &["\"\""]),
    ];
    for (text, words) in cases {
        assert_eq!(split_words(text, '\\'), *words, "{text:?}");
    }
}

#[test]
fn name_vals() {
    let pairs = |text: &str, instruction: &str| parse_name_vals(text, '\\', instruction);
    let ok = |v: &[(&str, &str)]| -> Result<Vec<(String, String)>, WordError> {
        Ok(v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    };
    assert_eq!(
        pairs("A=\"x y\" B=z\\ w", "ENV"),
        ok(&[("A", "\"x y\""), ("B", "z\\ w")])
    );
    assert_eq!(
        pairs("A=\"x y\"   B=z\\ w", "ENV"),
        ok(&[("A", "\"x y\""), ("B", "z\\ w")])
    );
    assert_eq!(
        pairs("\"k 1\"=\"v 1\" k2=v2", "LABEL"),
        ok(&[("\"k 1\"", "\"v 1\""), ("k2", "v2")])
    );
    assert_eq!(pairs("A= B=a=b", "ENV"), ok(&[("A", ""), ("B", "a=b")]));
    assert_eq!(pairs("legacy  some value  ", "ENV"), ok(&[("legacy", "some value")]));
    assert_eq!(pairs("  k \t \"v  w\" x", "ENV"), ok(&[("k", "\"v  w\" x")]));
    assert_eq!(pairs("k v=w", "ENV"), ok(&[("k", "v=w")]));
    assert_eq!(pairs("\"a b\" c", "LABEL"), ok(&[("\"a", "b\" c")]));
    let err = |text: &str, instruction: &str| pairs(text, instruction).unwrap_err().to_string();
    assert_eq!(err("=x", "ENV"), "ENV names can not be blank");
    assert_eq!(err("a=1 =x", "LABEL"), "LABEL names can not be blank");
    assert_eq!(
        err("a=1 x", "ENV"),
        "Syntax error - can't find = in \"x\". Must be of the form: name=value"
    );
    assert_eq!(
        err("=1 x", "LABEL"),
        "Syntax error - can't find = in \"x\". Must be of the form: name=value"
    );
    assert_eq!(err("key", "ENV"), "ENV must have two arguments");
    assert_eq!(err("  ", "LABEL"), "LABEL requires at least one argument");
    // Values are raw: the caller expands them.
    let env = env_of(&[("X", "1")]);
    let (key, value) = &pairs("K=\"$X y\"", "ENV").unwrap()[0];
    assert_eq!(
        (expand(key, &env).unwrap(), expand(value, &env).unwrap()),
        ("K".into(), "1 y".into())
    );
}

#[test]
fn args() {
    let parsed = parse_args("X Y=1  Z=\"a b\" W=", '\\').unwrap();
    let expected: Vec<(String, Option<String>)> = vec![
        ("X".into(), None),
        ("Y".into(), Some("1".into())),
        ("Z".into(), Some("\"a b\"".into())),
        ("W".into(), Some(String::new())),
    ];
    assert_eq!(parsed, expected);
    assert_eq!(
        parse_args("A =b", '\\').unwrap_err().to_string(),
        "ARG names can not be blank"
    );
    assert_eq!(
        parse_args("", '\\').unwrap_err().to_string(),
        "ARG requires at least one argument"
    );
}

#[test]
fn continuations() {
    let cases = [
        ("echo hi", "echo hi"),
        ("echo a \\\n  && echo b", "echo a   && echo b"),
        ("echo a\\  \t\n&& b", "echo a&& b"),
        ("a \\\n# comment\n   # indented comment\n\n \t \n b", "a  b"),
        ("a \\\r\n b\r", "a  b"),
        ("echo \\\\\nnext", "echo \\\\"),
        ("\\\n x", "x"),
        ("a \\\n b \\", "a  b"),
        ("a \\\n b \\\n", "a  b"),
        ("a # not a comment \\\n b", "a # not a comment  b"),
    ];
    for (raw, joined) in cases {
        assert_eq!(join_continuations(raw, '\\'), joined, "{raw:?}");
    }
    assert_eq!(join_continuations("dir c:\\ `\n  x", '`'), "dir c:\\   x");
    assert_eq!(join_continuations("a ``\nb", '`'), "a ``");
}

/// Checks `join_continuations` on what `parse-dockerfile` hands over.
#[test]
fn continuations_from_parse_dockerfile() {
    use parse_dockerfile::{Command, Instruction};
    let text = "FROM busybox\n\
                RUN echo \"$A\" \\\n  && echo hi \\\n# a comment\n\t\n    && echo 'x  y'\n\
                CMD [\"sh\"]\n\
                ENTRYPOINT printf '%s' \\\n \"a b\"\n";
    let dockerfile = parse_dockerfile::parse(text).unwrap();
    let shell: Vec<String> = dockerfile
        .instructions
        .iter()
        .filter_map(|i| match i {
            Instruction::Run(run) => Some(&run.arguments),
            Instruction::Entrypoint(e) => Some(&e.arguments),
            _ => None,
        })
        .map(|command| match command {
            Command::Shell(raw) => join_continuations(raw.value, '\\'),
            _ => panic!("not shell form"),
        })
        .collect();
    assert_eq!(
        shell,
        ["echo \"$A\"   && echo hi     && echo 'x  y'", "printf '%s'  \"a b\""]
    );
}

/// ENV, LABEL and ARG come from `parse-dockerfile` joined but raw.
#[test]
fn name_vals_from_parse_dockerfile() {
    use parse_dockerfile::Instruction;
    let text = "FROM busybox\nENV A=\"x y\" \\\n  B=z\\ w\nLABEL \"k 1\"=\"v 1\" k2=v2\nARG X Y=1\n";
    let dockerfile = parse_dockerfile::parse(text).unwrap();
    let env = env_of(&[]);
    let mut seen = Vec::new();
    for instruction in &dockerfile.instructions {
        let pairs = match instruction {
            Instruction::Env(e) => parse_name_vals(&e.arguments.value, '\\', "ENV").unwrap(),
            Instruction::Label(l) => parse_name_vals(&l.arguments.value, '\\', "LABEL").unwrap(),
            Instruction::Arg(a) => parse_args(&a.arguments.value, '\\')
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_else(|| "-".into())))
                .collect(),
            _ => continue,
        };
        for (k, v) in pairs {
            seen.push((expand(&k, &env).unwrap(), expand(&v, &env).unwrap()));
        }
    }
    let expected = [
        ("A", "x y"),
        ("B", "z w"),
        ("k 1", "v 1"),
        ("k2", "v2"),
        ("X", "-"),
        ("Y", "1"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(seen, expected);
}

/// Random strings over the characters that matter never make anything
/// panic (deterministic xorshift, 20k cases).
#[test]
fn never_panics() {
    const ALPHABET: &[char] = &[
        '$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\'', '"', '\\', '`', 'a', 'b', '=', ' ', '*', '\n', '<',
        '0', 'é',
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let env = env_of(&[("a", "x y"), ("b", ""), ("ab", "*a\n?b")]);
    let get = |k: &str| env.get(k).cloned();
    for case in 0..20_000 {
        let len = (next() % 24) as usize;
        let text: String = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        let escape = if case % 4 == 0 { '`' } else { '\\' };
        let lexer = Lexer::new(escape);
        let _ = lexer.process_word_with_matches(&text, &get);
        let _ = lexer.process_words(&text, &get);
        let words = split_words(&text, escape);
        let _ = parse_name_vals(&text, escape, "ENV");
        let _ = parse_args(&text, escape);
        let _ = join_continuations(&text, escape);
        for word in &words {
            let _ = lexer.process_word(word, &get);
        }
    }
}
