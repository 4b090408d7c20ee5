//! The Dockerfile front end: `parse-dockerfile` (heredocs, the `syntax`,
//! `escape` and `check` directives; tested by its authors on every
//! Dockerfile of moby, buildkit and buildah) reads the text; this module
//! turns its borrowed tree into the builder's own owned steps, numbered as
//! Docker's `Step N/M`, each with its line and its text as Docker prints
//! it. Arguments stay raw here: expansion happens when a step runs, with
//! the environment of that moment (`words.rs`).

use parse_dockerfile::{Command, HealthcheckArguments, Instruction, JsonOrStringArray, Source};

/// A parsed Dockerfile.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// The `# escape=` character (`\` by default).
    pub escape: char,
    /// The `# syntax=` directive, if any (a remote frontend is not fetched).
    pub syntax: Option<String>,
    /// The `# check=` directive, if any (`checks.rs`).
    pub check: Option<String>,
    /// `ARG`s before the first `FROM`.
    pub global_args: Vec<Step>,
    pub stages: Vec<Stage>,
    /// Instructions in the file (Docker's `M` in `Step N/M`).
    pub total: usize,
}

/// One `FROM` and the instructions up to the next.
#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lowercased as Docker compares them.
    pub name: Option<String>,
    /// The `FROM` step itself.
    pub from: Step,
    pub steps: Vec<Step>,
}

impl Stage {
    /// The name progress shows for the stage.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// One instruction.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based over the whole file.
    pub number: usize,
    /// 1-based line of the instruction's keyword.
    pub line: usize,
    /// The instruction as Docker prints it (continuations joined).
    pub original: String,
    pub op: Op,
}

/// An option flag such as `--from=build`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// RUN, CMD, ENTRYPOINT and HEALTHCHECK commands.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    /// JSON form: run as is.
    Exec(Vec<String>),
    /// Shell form, continuations joined: run by the `SHELL`.
    Shell(String),
}

/// A COPY/ADD source.
#[derive(Debug, Clone, PartialEq)]
pub enum Src {
    Path(String),
    /// `<<NAME`: a file named NAME with this content.
    Heredoc {
        name: String,
        content: String,
        expand: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    From {
        image: String,
        platform: Option<String>,
    },
    Run {
        flags: Vec<Flag>,
        cmd: Cmd,
    },
    Cmd(Cmd),
    Entrypoint(Cmd),
    Copy {
        add: bool,
        flags: Vec<Flag>,
        srcs: Vec<Src>,
        dest: String,
    },
    Env(String),
    Label(String),
    Arg(String),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Stopsignal(String),
    Shell(Vec<String>),
    /// `None` for `HEALTHCHECK NONE`.
    Healthcheck {
        flags: Vec<Flag>,
        cmd: Option<Cmd>,
    },
    /// The trigger's text, as stored in the image's `OnBuild`.
    Onbuild(String),
    Maintainer(String),
}

/// A Dockerfile that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("Dockerfile parse error line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parse `text`.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let df = parse_dockerfile::parse(text).map_err(|e| {
        let msg = e.to_string();
        let message = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        ParseError {
            line: e.line(),
            column: e.column(),
            message: format!("{message} (column {})", e.column()),
        }
    })?;
    let escape = df.parser_directives.escape.as_ref().map_or('\\', |d| d.value.value);
    let syntax = df.parser_directives.syntax.as_ref().map(|d| d.value.value.to_string());
    let check = df.parser_directives.check.as_ref().map(|d| d.value.value.to_string());
    let mut out = Dockerfile {
        escape,
        syntax,
        check,
        global_args: Vec::new(),
        stages: Vec::new(),
        total: df.instructions.len(),
    };
    let starts: Vec<usize> = df.instructions.iter().map(start_of).collect();
    for (i, ins) in df.instructions.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        let step = Step {
            number: i + 1,
            line: text[..starts[i]].matches('\n').count() + 1,
            original: original(&text[starts[i]..end], escape),
            op: op_of(ins, text, escape),
        };
        match (&step.op, out.stages.last_mut()) {
            (Op::From { .. }, _) => {
                let name = match ins {
                    Instruction::From(f) => f.as_.as_ref().map(|(_, n)| n.value.to_lowercase()),
                    _ => None,
                };
                out.stages.push(Stage {
                    index: out.stages.len(),
                    name,
                    from: step,
                    steps: Vec::new(),
                });
            }
            (_, Some(stage)) => stage.steps.push(step),
            (_, None) => out.global_args.push(step),
        }
    }
    Ok(out)
}

/// Parse one `ONBUILD` trigger (`RUN echo hi`) as a step.
pub fn parse_trigger(trigger: &str, escape: char) -> Result<Step, ParseError> {
    let text = format!("# escape={escape}\nFROM scratch\n{trigger}\n");
    let mut df = parse(&text)?;
    let stage = df.stages.pop();
    let step = stage.and_then(|mut s| s.steps.pop());
    step.ok_or_else(|| ParseError {
        line: 1,
        column: 1,
        message: format!("invalid ONBUILD trigger: {trigger}"),
    })
}

fn start_of(ins: &Instruction) -> usize {
    match ins {
        Instruction::Add(i) => i.add.span.start,
        Instruction::Arg(i) => i.arg.span.start,
        Instruction::Cmd(i) => i.cmd.span.start,
        Instruction::Copy(i) => i.copy.span.start,
        Instruction::Entrypoint(i) => i.entrypoint.span.start,
        Instruction::Env(i) => i.env.span.start,
        Instruction::Expose(i) => i.expose.span.start,
        Instruction::From(i) => i.from.span.start,
        Instruction::Healthcheck(i) => i.healthcheck.span.start,
        Instruction::Label(i) => i.label.span.start,
        Instruction::Maintainer(i) => i.maintainer.span.start,
        Instruction::Onbuild(i) => i.onbuild.span.start,
        Instruction::Run(i) => i.run.span.start,
        Instruction::Shell(i) => i.shell.span.start,
        Instruction::Stopsignal(i) => i.stopsignal.span.start,
        Instruction::User(i) => i.user.span.start,
        Instruction::Volume(i) => i.volume.span.start,
        Instruction::Workdir(i) => i.workdir.span.start,
        _ => 0,
    }
}

/// The instruction's text as Docker prints it: continuation lines joined,
/// comment lines inside dropped; for a heredoc, its first line only.
fn original(slice: &str, escape: char) -> String {
    let mut out = String::new();
    for line in slice.lines() {
        let t = line.trim_start();
        if !out.is_empty() && (t.starts_with('#') || t.is_empty()) {
            continue;
        }
        let body = line.trim_end();
        match body.strip_suffix(escape) {
            Some(head) if !line.contains("<<") => out.push_str(head),
            _ => {
                out.push_str(body);
                break;
            }
        }
    }
    out.trim().to_string()
}

fn flags(list: &[parse_dockerfile::Flag]) -> Vec<Flag> {
    list.iter()
        .map(|f| Flag {
            name: f.name.value.to_string(),
            value: f.value.as_ref().map(|v| v.value.to_string()),
        })
        .collect()
}

fn cmd_of(c: &Command, escape: char) -> Cmd {
    match c {
        Command::Exec(v) => Cmd::Exec(v.value.iter().map(|s| s.value.to_string()).collect()),
        Command::Shell(s) => Cmd::Shell(super::words::join_continuations(s.value, escape)),
        _ => Cmd::Exec(Vec::new()),
    }
}

/// The delimiters the `<<` markers of an instruction's first line name
/// (`<<EOF`, `<<-EOF`, `<<"EOF"`), in order.
fn heredoc_names(line: &str) -> Vec<String> {
    line.match_indices("<<")
        .map(|(i, _)| {
            let rest = line[i + 2..].trim_start_matches('-');
            rest.chars()
                .filter(|c| *c != '"' && *c != '\'')
                .take_while(|c| !c.is_whitespace())
                .collect()
        })
        .collect()
}

fn op_of(ins: &Instruction, text: &str, escape: char) -> Op {
    match ins {
        Instruction::From(f) => Op::From {
            image: f.image.value.to_string(),
            platform: f
                .options
                .iter()
                .find(|o| o.name.value == "platform")
                .and_then(|o| o.value.as_ref().map(|v| v.value.to_string())),
        },
        Instruction::Run(r) => {
            let cmd = match (&r.arguments, r.here_docs.as_slice()) {
                (Command::Shell(s), [doc]) if s.value.trim().is_empty() => Cmd::Shell(doc.value.to_string()),
                (Command::Shell(s), [.., last]) => {
                    // The shell gets the heredocs as written: it runs them.
                    Cmd::Shell(text[s.span.start..last.span.end].to_string())
                }
                (c, _) => cmd_of(c, escape),
            };
            Op::Run {
                flags: flags(&r.options),
                cmd,
            }
        }
        Instruction::Cmd(c) => Op::Cmd(cmd_of(&c.arguments, escape)),
        Instruction::Entrypoint(c) => Op::Entrypoint(cmd_of(&c.arguments, escape)),
        Instruction::Copy(c) => Op::Copy {
            add: false,
            flags: flags(&c.options),
            srcs: sources(&c.src, text, c.copy.span.start),
            dest: c.dest.value.to_string(),
        },
        Instruction::Add(c) => Op::Copy {
            add: true,
            flags: flags(&c.options),
            srcs: sources(&c.src, text, c.add.span.start),
            dest: c.dest.value.to_string(),
        },
        Instruction::Env(e) => Op::Env(e.arguments.value.to_string()),
        Instruction::Label(l) => Op::Label(l.arguments.value.to_string()),
        Instruction::Arg(a) => Op::Arg(a.arguments.value.to_string()),
        Instruction::Workdir(w) => Op::Workdir(w.arguments.value.to_string()),
        Instruction::User(u) => Op::User(u.arguments.value.to_string()),
        Instruction::Expose(e) => Op::Expose(e.arguments.iter().map(|s| s.value.to_string()).collect()),
        Instruction::Volume(v) => Op::Volume(match &v.arguments {
            JsonOrStringArray::Json(a) => a.value.iter().map(|s| s.value.to_string()).collect(),
            JsonOrStringArray::String(a) => a.iter().map(|s| s.value.to_string()).collect(),
        }),
        Instruction::Stopsignal(s) => Op::Stopsignal(s.arguments.value.to_string()),
        Instruction::Shell(s) => Op::Shell(s.arguments.iter().map(|s| s.value.to_string()).collect()),
        Instruction::Healthcheck(h) => Op::Healthcheck {
            flags: flags(&h.options),
            cmd: match &h.arguments {
                HealthcheckArguments::Cmd { arguments, .. } => Some(cmd_of(arguments, escape)),
                _ => None,
            },
        },
        Instruction::Onbuild(o) => {
            let start = start_of(&o.instruction);
            let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
            Op::Onbuild(original(&text[start..end], escape))
        }
        Instruction::Maintainer(m) => Op::Maintainer(m.name.value.to_string()),
        _ => Op::Maintainer(String::new()),
    }
}

/// COPY/ADD sources; heredocs are named by the markers of the
/// instruction's line (at `start`).
fn sources(list: &[Source], text: &str, start: usize) -> Vec<Src> {
    let line = text[start..].lines().next().unwrap_or_default();
    let mut names = heredoc_names(line).into_iter();
    list.iter()
        .map(|s| match s {
            Source::Path(p) => Src::Path(p.value.to_string()),
            Source::HereDoc(h) => Src::Heredoc {
                name: names.next().unwrap_or_default(),
                content: h.value.to_string(),
                expand: h.expand,
            },
            _ => Src::Path(String::new()),
        })
        .collect()
}

/// Stage dependencies: the stages `stage` needs built first (by index):
/// its `FROM` when it names an earlier stage, `COPY --from`, and
/// `RUN --mount=…,from=`.
pub fn dependencies(df: &Dockerfile, stage: &Stage) -> Vec<usize> {
    let find = |name: &str| -> Option<usize> {
        let lower = name.to_lowercase();
        df.stages[..stage.index]
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .map(|s| s.index)
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < stage.index))
    };
    let mut deps = Vec::new();
    if let Op::From { image, .. } = &stage.from.op {
        deps.extend(find(image));
    }
    for step in &stage.steps {
        let named = match &step.op {
            Op::Copy { flags, .. } => flags
                .iter()
                .filter(|f| f.name == "from")
                .filter_map(|f| f.value.clone())
                .collect(),
            Op::Run { flags, .. } => flags
                .iter()
                .filter(|f| f.name == "mount")
                .filter_map(|f| f.value.as_deref())
                .flat_map(|v| v.split(','))
                .filter_map(|kv| kv.strip_prefix("from="))
                .map(str::to_string)
                .collect(),
            _ => Vec::<String>::new(),
        };
        deps.extend(named.iter().filter_map(|n| find(n)));
    }
    deps.sort_unstable();
    deps.dedup();
    deps
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS build
ENV A=\"x y\"
# a comment
RUN echo \"$A\" \\
  # inside
  && echo hi
RUN <<EOF
echo heredoc
EOF
COPY <<out.txt /f
content $A
out.txt
FROM busybox
COPY --from=build /f /g
CMD [\"sh\", \"-c\", \"echo\"]
";

    #[test]
    fn steps_are_numbered_with_lines_and_text() {
        let df = parse(SAMPLE).unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.total, 9);
        let s0 = &df.stages[0];
        assert_eq!(s0.name.as_deref(), Some("build"));
        assert_eq!(s0.from.line, 3);
        assert_eq!(s0.steps[1].original, "RUN echo \"$A\"   && echo hi");
        assert_eq!(s0.steps[1].line, 6);
        assert_eq!(s0.steps[1].number, 4);
        match &s0.steps[2].op {
            Op::Run { cmd: Cmd::Shell(s), .. } => assert_eq!(s, "echo heredoc\n"),
            o => panic!("{o:?}"),
        }
        match &s0.steps[3].op {
            Op::Copy { srcs, dest, .. } => {
                assert_eq!(dest, "/f");
                assert_eq!(
                    srcs[0],
                    Src::Heredoc {
                        name: "out.txt".into(),
                        content: "content $A\n".into(),
                        expand: true
                    }
                );
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(dependencies(&df, &df.stages[1]), vec![0]);
        assert!(dependencies(&df, &df.stages[0]).is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM busybox\nFOO bar\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e
            .to_string()
            .starts_with("Dockerfile parse error line 2: unknown instruction"));
        assert!(parse("RUN x\n").is_err());
    }

    #[test]
    fn onbuild_triggers_parse_alone() {
        let s = parse_trigger("RUN echo hi", '\\').unwrap();
        assert_eq!(
            s.op,
            Op::Run {
                flags: vec![],
                cmd: Cmd::Shell("echo hi".into())
            }
        );
    }

    /// A bounded property test: random Dockerfile-like text never makes
    /// the front end panic, and what parses yields consistent stages.
    #[test]
    fn random_text_never_panics() {
        const TOKENS: [&str; 36] = [
            "FROM ",
            "busybox",
            " AS ",
            "a",
            "b",
            "RUN ",
            "COPY ",
            "--from=",
            "<<EOF\n",
            "EOF\n",
            "\\\n",
            "\n",
            "#",
            " ",
            "\"",
            "[",
            "]",
            "$",
            "{",
            "}",
            "ARG ",
            "ENV ",
            "=",
            "ONBUILD ",
            "HEALTHCHECK ",
            "NONE",
            "CMD ",
            "WORKDIR ",
            "x",
            "# escape=`\n",
            "`",
            "--mount=type=bind,from=a,target=/m ",
            "ADD ",
            "/",
            "LABEL ",
            "0",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let n = (next() % 40) as usize;
            let text: String = (0..n)
                .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize])
                .collect();
            if let Ok(df) = parse(&text) {
                for st in &df.stages {
                    assert!(dependencies(&df, st).iter().all(|d| *d < st.index));
                    for step in &st.steps {
                        assert!(step.number <= df.total && step.line >= 1);
                        if let Op::Onbuild(t) = &step.op {
                            let _ = parse_trigger(t, df.escape);
                        }
                    }
                }
            }
        }
    }
}
