//! The Dockerfile front end on arbitrary text: parsing, the `check`
//! directive, stage dependencies, and every step's words expanded as the
//! builder expands them (config steps through `State::apply`, the others'
//! words through the lexer), with both escape characters. No panic.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use skiff_agent::build::dockerfile::{self, Op, Src};
use skiff_agent::build::state::State;
use skiff_agent::build::{checks, words};
use skiff_api::ImageConfigFile;

fn step_words(st: &mut State, op: &Op, lex: &words::Lexer) {
    let env = |n: &str| st.lookup(n);
    match op {
        Op::From { image, platform } => {
            let _ = lex.process_word(image, &env);
            let _ = platform.as_deref().map(|p| lex.process_word(p, &env));
        }
        Op::Copy { flags, srcs, dest, .. } => {
            for f in flags {
                let _ = f.value.as_deref().map(|v| lex.process_word(v, &env));
            }
            for s in srcs {
                match s {
                    Src::Path(p) => drop(lex.process_word(p, &env)),
                    Src::Heredoc {
                        content, expand: true, ..
                    } => drop(lex.process_word(content, &env)),
                    Src::Heredoc { .. } => {}
                }
            }
            let _ = lex.process_word(dest, &env);
        }
        Op::Run { cmd, .. } => drop(st.argv(cmd)),
        Op::Onbuild(trigger) => drop(dockerfile::parse_trigger(trigger, lex.escape())),
        other => {
            let _ = st.apply(other, lex, &BTreeMap::new());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for escape in ['\\', '`'] {
        let lex = words::Lexer::new(escape);
        let env = |n: &str| (n.len() % 2 == 0).then(|| format!("v{n} x"));
        let _ = lex.process_word_with_matches(text, &env);
        let _ = lex.process_words(text, &env);
        let _ = words::split_words(text, escape);
        let _ = words::parse_name_vals(text, escape, "ENV");
        let _ = words::parse_args(text, escape);
        let _ = words::join_continuations(text, escape);
    }
    let Ok(df) = dockerfile::parse(text) else { return };
    if let Some(c) = df.check.as_deref().and_then(|c| checks::parse(c).ok()) {
        let _ = checks::warnings(&df, &c);
    }
    let lex = words::Lexer::new(df.escape);
    for stage in &df.stages {
        let _ = dockerfile::dependencies(&df, stage);
        let _ = stage.label();
        let mut st = State::new(String::new(), ImageConfigFile::default(), None);
        step_words(&mut st, &stage.from.op, &lex);
        for step in &stage.steps {
            step_words(&mut st, &step.op, &lex);
        }
    }
});
