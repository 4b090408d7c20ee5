//! What `skiff build` shows while the agent builds: BuildKit-style plain
//! lines (`#N [stage k/m] RUN …`, `#N 0.123 output`, `#N DONE 1.2s`), a
//! live terminal view (one line per running step, a summary line per
//! finished one), or the classic builder's text as the agent sends it
//! (`Step 1/3 : FROM busybox`), which is also what an agent that sends no
//! `BuildProgress` event gets.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skiff_api::{BuildProgress, BuildStatus};
use skiff_client::BuildEvent;

/// How the build is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// BuildKit's `--progress plain`.
    Plain,
    /// The live view of a terminal.
    Tty,
    /// The agent's text as it comes (`DOCKER_BUILDKIT=0`).
    Classic,
}

/// The drawing of one build.
pub struct View {
    mode: Mode,
    /// Where plain lines and the live view go (stderr, as BuildKit's).
    progress: Box<dyn Write>,
    /// Where classic text goes (stdout, as Docker's classic builder).
    classic: Box<dyn Write>,
    plain: Plain,
    tty: Tty,
    /// Whether a `BuildProgress` came: until one does, classic text
    /// switches the view to classic.
    seen_progress: bool,
    /// The bytes of context sent, for classic's `Sending build context`
    /// line (printed once, before the first text).
    sent: Option<Arc<AtomicU64>>,
}

impl View {
    /// A view in `mode`, `width` columns wide for the live one.
    pub fn new(mode: Mode, progress: Box<dyn Write>, classic: Box<dyn Write>, width: usize, now: Instant) -> Self {
        Self {
            mode,
            progress,
            classic,
            plain: Plain::default(),
            tty: Tty::new(width, now),
            seen_progress: false,
            sent: None,
        }
    }

    /// Count the context's bytes for classic's `Sending build context to
    /// Docker daemon` line.
    pub fn with_sent(mut self, sent: Arc<AtomicU64>) -> Self {
        self.sent = Some(sent);
        self
    }

    /// Whether the agent should be asked for `BuildProgress` events.
    pub fn wants_progress(&self) -> bool {
        self.mode != Mode::Classic
    }

    /// Show one message of the answer.
    pub fn event(&mut self, e: &BuildEvent, now: Instant) {
        if let BuildEvent::Progress(_) = e {
            self.seen_progress = true;
        }
        if matches!(e, BuildEvent::Stream(_)) && !self.seen_progress && self.mode != Mode::Classic {
            if self.mode == Mode::Tty {
                self.tty.clear(&mut self.progress);
            }
            self.mode = Mode::Classic;
        }
        if self.mode == Mode::Classic {
            if let Some(sent) = self.sent.take() {
                let size = super::format::human(sent.load(Ordering::Relaxed) as f64, 4);
                let _ = writeln!(self.classic, "Sending build context to Docker daemon {size:>8}");
            }
        }
        let _ = match self.mode {
            Mode::Classic => classic(&mut self.classic, e),
            Mode::Plain => self.plain.event(&mut self.progress, e, now),
            Mode::Tty => self.tty.event(&mut self.progress, e, now),
        };
    }

    /// Redraw the live view (elapsed times), if there is one.
    pub fn tick(&mut self, now: Instant) {
        if self.mode == Mode::Tty {
            let _ = self.tty.draw(&mut self.progress, now, false);
        }
    }

    /// The build ended: with an image and its tags, or not (`None`).
    pub fn finish(&mut self, image: Option<(&str, &[String])>, now: Instant) {
        let _ = match self.mode {
            Mode::Classic => self.classic.flush(),
            Mode::Plain => self.plain.finish(&mut self.progress, image),
            Mode::Tty => self.tty.finish(&mut self.progress, image, now),
        };
    }
}

/// Classic text: `stream` as is, `status` a line each.
fn classic(out: &mut dyn Write, e: &BuildEvent) -> std::io::Result<()> {
    match e {
        BuildEvent::Stream(s) => write!(out, "{s}")?,
        BuildEvent::Status(s) => writeln!(out, "{s}")?,
        _ => {}
    }
    out.flush()
}

/// `[stage k/m]` as BuildKit labels a step: the stage's name, or
/// `stage-N` for an unnamed one.
fn label(p: &BuildProgress) -> String {
    let counts = format!("{}/{}", p.step, p.total);
    if p.stage.is_empty() {
        format!("[{counts}]")
    } else if p.stage.chars().all(|c| c.is_ascii_digit()) {
        format!("[stage-{} {counts}]", p.stage)
    } else {
        format!("[{} {counts}]", p.stage)
    }
}

/// The `writing image` and `naming to` lines of the end.
fn export_lines(id: &str, tags: &[String]) -> Vec<String> {
    let mut lines = vec![format!("writing image {id} done")];
    lines.extend(
        tags.iter()
            .map(|t| format!("naming to {} done", skiff_api::qualified_reference(t))),
    );
    lines
}

/// BuildKit's plain output.
#[derive(Default)]
struct Plain {
    /// When each announced step began (client time).
    started: HashMap<usize, Instant>,
    /// The step printed last, for `status` lines.
    current: Option<usize>,
    last_step: usize,
    any: bool,
}

impl Plain {
    fn event(&mut self, out: &mut dyn Write, e: &BuildEvent, now: Instant) -> std::io::Result<()> {
        match e {
            BuildEvent::Progress(p) => self.progress(out, p, now)?,
            BuildEvent::Status(s) => {
                if let Some(n) = self.current {
                    writeln!(out, "#{n} {s}")?;
                }
            }
            _ => {}
        }
        out.flush()
    }

    /// `#N [stage k/m] INSTRUCTION`, once per step.
    fn announce(&mut self, out: &mut dyn Write, p: &BuildProgress, now: Instant) -> std::io::Result<()> {
        self.current = Some(p.step);
        self.last_step = self.last_step.max(p.step);
        if self.started.contains_key(&p.step) {
            return Ok(());
        }
        self.started.insert(p.step, now);
        if self.any {
            writeln!(out)?;
        }
        self.any = true;
        writeln!(out, "#{} {} {}", p.step, label(p), p.instruction)
    }

    fn progress(&mut self, out: &mut dyn Write, p: &BuildProgress, now: Instant) -> std::io::Result<()> {
        let n = p.step;
        if p.status == BuildStatus::Warning {
            let log = p.log.as_deref().unwrap_or_default();
            return match n {
                0 => writeln!(out, "WARNING: {log}"),
                n => writeln!(out, "#{n} WARNING: {log}"),
            };
        }
        self.announce(out, p, now)?;
        let since = now.saturating_duration_since(self.started[&n]).as_secs_f64();
        match p.status {
            BuildStatus::Started | BuildStatus::Warning => {}
            BuildStatus::Cached => writeln!(out, "#{n} CACHED")?,
            BuildStatus::Log => {
                for line in p.log.as_deref().unwrap_or_default().lines() {
                    writeln!(out, "#{n} {since:.3} {line}")?;
                }
            }
            BuildStatus::Done => writeln!(out, "#{n} DONE {:.1}s", p.seconds.unwrap_or(since))?,
            BuildStatus::Failed => writeln!(out, "#{n} ERROR: {}", p.log.as_deref().unwrap_or_default())?,
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write, image: Option<(&str, &[String])>) -> std::io::Result<()> {
        if let Some((id, tags)) = image {
            let n = self.last_step + 1;
            if self.any {
                writeln!(out)?;
            }
            writeln!(out, "#{n} exporting to image")?;
            for line in export_lines(id, tags) {
                writeln!(out, "#{n} {line}")?;
            }
            writeln!(out, "#{n} DONE 0.0s")?;
        }
        out.flush()
    }
}

/// Where a step of the live view is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Running,
    Cached,
    Done(f64),
    Failed(f64),
}

/// One step of the live view.
struct Step {
    label: String,
    instruction: String,
    started: Instant,
    /// The last lines of output (the last one shows; all show on failure).
    tail: VecDeque<String>,
    state: State,
}

/// How many lines of output a step keeps for its failure report.
const TAIL: usize = 10;

/// The live view: finished steps printed once above, then the header
/// and one line per running step, redrawn in place.
struct Tty {
    width: usize,
    start: Instant,
    steps: BTreeMap<usize, Step>,
    total: usize,
    /// Lines of the live area on screen.
    drawn: usize,
    /// Summary lines waiting to be printed above the live area.
    finished: Vec<String>,
    last_draw: Option<Instant>,
}

impl Tty {
    fn new(width: usize, start: Instant) -> Self {
        Self {
            width: width.max(20),
            start,
            steps: BTreeMap::new(),
            total: 0,
            drawn: 0,
            finished: Vec::new(),
            last_draw: None,
        }
    }

    fn event(&mut self, out: &mut dyn Write, e: &BuildEvent, now: Instant) -> std::io::Result<()> {
        let changed = match e {
            BuildEvent::Progress(p) => self.progress(p, now),
            BuildEvent::Status(s) => {
                if let Some(step) = self.steps.values_mut().rev().find(|s| s.state == State::Running) {
                    step.tail.push_back(s.clone());
                }
                false
            }
            _ => false,
        };
        self.draw(out, now, changed)
    }

    /// Record an event; whether a step began or ended.
    fn progress(&mut self, p: &BuildProgress, now: Instant) -> bool {
        self.total = self.total.max(p.total);
        if p.status == BuildStatus::Warning {
            self.finished
                .push(format!("WARNING: {}", p.log.as_deref().unwrap_or_default()));
            return true;
        }
        let step = self.steps.entry(p.step).or_insert_with(|| Step {
            label: label(p),
            instruction: p.instruction.clone(),
            started: now,
            tail: VecDeque::new(),
            state: State::Running,
        });
        let since = now.saturating_duration_since(step.started).as_secs_f64();
        step.state = match p.status {
            BuildStatus::Started | BuildStatus::Warning => return true,
            BuildStatus::Log => {
                for line in p.log.as_deref().unwrap_or_default().lines() {
                    if step.tail.len() == TAIL {
                        step.tail.pop_front();
                    }
                    step.tail.push_back(line.to_string());
                }
                return false;
            }
            BuildStatus::Cached => State::Cached,
            BuildStatus::Done => State::Done(p.seconds.unwrap_or(since)),
            BuildStatus::Failed => {
                if let Some(log) = &p.log {
                    step.tail.push_back(log.clone());
                }
                State::Failed(p.seconds.unwrap_or(since))
            }
        };
        let line = summary(step);
        self.finished.push(line);
        true
    }

    /// Move up over the live area and clear it.
    fn clear(&mut self, out: &mut dyn Write) {
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A\r\x1b[J", self.drawn);
            let _ = out.flush();
        }
        self.drawn = 0;
    }

    /// Redraw: pending summary lines, then the header and running steps.
    /// Without a change, at most every 50 ms.
    fn draw(&mut self, out: &mut dyn Write, now: Instant, changed: bool) -> std::io::Result<()> {
        let recent = self
            .last_draw
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_millis(50));
        if !changed && recent {
            return Ok(());
        }
        self.last_draw = Some(now);
        self.clear(out);
        for line in self.finished.drain(..) {
            writeln!(out, "{}", fit(&line, self.width))?;
        }
        let done = self.steps.values().filter(|s| s.state != State::Running).count();
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        let mut live = vec![format!("[+] Building {elapsed:.1}s ({done}/{})", self.total)];
        for s in self.steps.values().filter(|s| s.state == State::Running) {
            let t = now.saturating_duration_since(s.started).as_secs_f64();
            let mut line = format!(" => {} {} {t:.1}s", s.label, s.instruction);
            if let Some(last) = s.tail.back() {
                line.push_str(&format!("  > {last}"));
            }
            live.push(line);
        }
        for line in &live {
            writeln!(out, "{}", fit(line, self.width))?;
        }
        self.drawn = live.len();
        out.flush()
    }

    fn finish(&mut self, out: &mut dyn Write, image: Option<(&str, &[String])>, now: Instant) -> std::io::Result<()> {
        self.draw(out, now, true)?;
        self.clear(out);
        let done = self.steps.values().filter(|s| s.state != State::Running).count();
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        let how = if image.is_some() { "FINISHED" } else { "" };
        writeln!(out, "[+] Building {elapsed:.1}s ({done}/{}) {how}", self.total)?;
        if let Some((id, tags)) = image {
            writeln!(out, " => exporting to image")?;
            for line in export_lines(id, tags) {
                writeln!(out, " => => {line}")?;
            }
        }
        for s in self.steps.values().filter(|s| matches!(s.state, State::Failed(_))) {
            writeln!(out, "------")?;
            writeln!(out, " > {} {}:", s.label, s.instruction)?;
            for line in &s.tail {
                writeln!(out, "{line}")?;
            }
            writeln!(out, "------")?;
        }
        out.flush()
    }
}

/// The line a finished step leaves: ` => CACHED [stage 1/3] FROM …  0.0s`.
fn summary(s: &Step) -> String {
    match s.state {
        State::Running => format!(" => {} {}", s.label, s.instruction),
        State::Cached => format!(" => CACHED {} {}  0.0s", s.label, s.instruction),
        State::Done(t) => format!(" => {} {}  {t:.1}s", s.label, s.instruction),
        State::Failed(t) => format!(" => ERROR {} {}  {t:.1}s", s.label, s.instruction),
    }
}

/// A line cut to the terminal's width (so lines never wrap and the live
/// area keeps its height).
fn fit(line: &str, width: usize) -> String {
    let line = line.replace(['\r', '\t'], " ");
    if line.chars().count() < width {
        return line;
    }
    line.chars().take(width - 1).collect()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use super::{Mode, View};
    use skiff_api::{BuildProgress, BuildStatus};
    use skiff_client::BuildEvent;

    /// A writer whose bytes the test reads afterwards.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.borrow().clone()).unwrap()
        }
    }

    fn ev(step: usize, stage: &str, instruction: &str, status: BuildStatus, log: Option<&str>) -> BuildEvent {
        BuildEvent::Progress(BuildProgress {
            step,
            total: 3,
            stage: stage.into(),
            instruction: instruction.into(),
            status,
            log: log.map(Into::into),
            seconds: None,
        })
    }

    fn run(mode: Mode, events: &[(u64, BuildEvent)], image: Option<(&str, &[String])>) -> (String, String) {
        let (progress, classic) = (Shared::default(), Shared::default());
        let t0 = Instant::now();
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(3_003_904));
        let mut v = View::new(mode, Box::new(progress.clone()), Box::new(classic.clone()), 80, t0).with_sent(sent);
        for (ms, e) in events {
            v.event(e, t0 + Duration::from_millis(*ms));
        }
        v.finish(image, t0 + Duration::from_secs(5));
        (progress.text(), classic.text())
    }

    #[test]
    fn plain_progress_reads_like_buildkit() {
        use BuildStatus::*;
        let events = [
            (0, ev(1, "0", "FROM busybox", Started, None)),
            (10, ev(1, "0", "FROM busybox", Cached, None)),
            (20, ev(2, "0", "RUN echo hi", Started, None)),
            (143, ev(2, "0", "RUN echo hi", Log, Some("hi\nthere\n"))),
            (1220, ev(2, "0", "RUN echo hi", Done, None)),
            (1230, ev(3, "app", "COPY . /src", Started, None)),
            (1300, ev(3, "app", "COPY . /src", Failed, Some("no such file"))),
        ];
        let tags = ["app:v1".to_string()];
        let (out, classic) = run(Mode::Plain, &events, Some(("sha256:ab", &tags)));
        assert_eq!(classic, "");
        let want = "\
#1 [stage-0 1/3] FROM busybox
#1 CACHED

#2 [stage-0 2/3] RUN echo hi
#2 0.123 hi
#2 0.123 there
#2 DONE 1.2s

#3 [app 3/3] COPY . /src
#3 ERROR: no such file

#4 exporting to image
#4 writing image sha256:ab done
#4 naming to docker.io/library/app:v1 done
#4 DONE 0.0s
";
        assert_eq!(out, want);
    }

    #[test]
    fn classic_text_passes_through_and_an_agent_without_progress_gets_it() {
        let events = [
            (0, BuildEvent::Stream("Step 1/2 : FROM busybox\n".into())),
            (1, BuildEvent::Stream(" ---> Using cache\n".into())),
            (2, BuildEvent::Image("sha256:ab".into())),
        ];
        for mode in [Mode::Classic, Mode::Plain, Mode::Tty] {
            let (progress, classic) = run(mode, &events, None);
            let want = "Sending build context to Docker daemon  3.004MB\nStep 1/2 : FROM busybox\n ---> Using cache\n";
            assert_eq!(classic, want, "{mode:?}");
            assert_eq!(progress, "", "{mode:?}");
        }
    }

    #[test]
    fn the_live_view_ends_with_a_line_per_step() {
        use BuildStatus::*;
        let events = [
            (0, ev(1, "a", "RUN sleep 1", Started, None)),
            (0, ev(2, "b", "RUN sleep 2", Started, None)),
            (500, ev(1, "a", "RUN sleep 1", Log, Some("one"))),
            (1000, ev(1, "a", "RUN sleep 1", Done, None)),
            (2000, ev(2, "b", "RUN sleep 2", Done, None)),
            (2000, ev(3, "b", "COPY --from=a / /", Cached, None)),
        ];
        let (out, _) = run(Mode::Tty, &events, Some(("sha256:ab", &[])));
        assert!(out.contains(" => [a 1/3] RUN sleep 1 0.5s  > one"), "{out}");
        assert!(out.contains(" => [a 1/3] RUN sleep 1  1.0s\n"), "{out}");
        assert!(out.contains(" => [b 2/3] RUN sleep 2  2.0s\n"), "{out}");
        assert!(out.contains(" => CACHED [b 3/3] COPY --from=a / /  0.0s\n"), "{out}");
        assert!(
            out.ends_with(
                "[+] Building 5.0s (3/3) FINISHED\n => exporting to image\n => => writing image sha256:ab done\n"
            ),
            "{out}"
        );
    }
}
