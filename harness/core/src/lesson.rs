//! Lessons: pod suites that fail on purpose at one stage, for `podcheck learn`.
//!
//! A lesson is a directory (`lessons/NN-name/`) with a story (`README.md`), its
//! `lesson.yaml` (the stage it teaches, the files the learner edits, hints, the explanation
//! shown once it passes), a normal pod `suite.yaml` that expects all eight stages to pass,
//! the editable files in their broken state, and `solution/` with the fixed ones.
//!
//! Everything here is pure: the lesson format and its diagnostics, the verdict of an
//! attempt (where the pod's path broke), the progress a learner keeps and its transitions,
//! and the words `podcheck learn` shows. The runs and the state file are the CLI's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::load::{Problem, ReadFile, SuiteError, problem, read_source, syntax_problem};
use crate::result::{CaseResult, StageResult, StageStatus, SuiteResult, Verdict};
use crate::stage::Stage;

/// The file that makes a directory a lesson.
pub const LESSON_FILE: &str = "lesson.yaml";
/// The lesson's pod suite, beside `lesson.yaml`.
pub const SUITE_FILE: &str = "suite.yaml";
/// The story.
pub const STORY_FILE: &str = "README.md";
/// The directory of fixed files, named as the files they replace.
pub const SOLUTION_DIR: &str = "solution";

/// Where the committed JSON schema of `lesson.yaml` is, from the repository's root; each
/// lesson.yaml names it in its `yaml-language-server` comment.
pub const SCHEMA_PATH: &str = "lessons/schema/lesson.v1.json";

/// `lesson.yaml` as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "podcheck lesson",
    description = "A lesson of `podcheck learn`: the stage its suite.yaml breaks on purpose, the files the learner edits (each fixed under solution/), hints, and the explanation shown once it passes."
)]
pub struct LessonFile {
    /// One line: what the learner meets.
    pub title: String,
    /// The stage the lesson breaks (and `learn verify` checks it breaks at).
    #[schemars(with = "Stage")]
    pub teaches: Spanned<Stage>,
    /// The files the learner edits, relative to the lesson's directory; each has its
    /// fixed version under `solution/`.
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub edit: Spanned<Vec<Spanned<String>>>,
    /// In increasing detail; the last one all but gives the answer.
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub hints: Spanned<Vec<String>>,
    /// Shown once the lesson passes: what broke, which component owns it, how it looks on
    /// a real cluster with kubectl; it ends by pointing to `podcheck explain STAGE`.
    #[schemars(with = "String")]
    pub explanation: Spanned<String>,
}

/// The JSON schema of `lesson.yaml` (committed at [`SCHEMA_PATH`]).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(LessonFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// A lesson ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    /// The lesson's directory.
    pub dir: PathBuf,
    /// The directory's name (`01-no-credentials`): the key of its progress.
    pub id: String,
    pub title: String,
    pub teaches: Stage,
    pub edit: Vec<String>,
    pub hints: Vec<String>,
    pub explanation: String,
    /// README.md, as written.
    pub story: String,
}

impl Lesson {
    /// `01` of `01-no-credentials` (what `learn reset NN` takes).
    pub fn number(&self) -> &str {
        self.id.split('-').next().unwrap_or(&self.id)
    }

    /// Whether `key` names this lesson: its number or its whole id.
    pub fn is_named(&self, key: &str) -> bool {
        key == self.id || key == self.number()
    }

    pub fn suite_path(&self) -> PathBuf {
        self.dir.join(SUITE_FILE)
    }

    /// The files whose saves `learn watch` answers with a run: the files to edit and the
    /// suite, each once, in that order. (Not the whole directory: editors write swap and
    /// backup files beside the file they edit.)
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = Vec::new();
        for name in self.edit.iter().map(String::as_str).chain([SUITE_FILE]) {
            let path = self.dir.join(name);
            if !files.contains(&path) {
                files.push(path);
            }
        }
        files
    }
}

/// Reads and checks the lesson in `dir`. Every problem is located (file:line:col).
pub fn load(dir: &Path, read: ReadFile<'_>) -> Result<Lesson, SuiteError> {
    let path = dir.join(LESSON_FILE);
    let (file, source) = read_source(&path, read)?;
    let parsed: LessonFile = serde_saphyr::from_str(&source)
        .map_err(|e| SuiteError(vec![syntax_problem(&file, &source, &e)]))?;
    let mut problems = Vec::new();
    let teaches = parsed.teaches.value;
    if parsed.hints.value.is_empty() {
        problems.push(problem(
            &file,
            &source,
            &parsed.hints.referenced,
            "a lesson needs at least one hint".into(),
            "no hints",
            Some(
                "write hints in increasing detail: the first points, the last all but answers"
                    .into(),
            ),
        ));
    }
    if parsed.edit.value.is_empty() {
        problems.push(problem(
            &file,
            &source,
            &parsed.edit.referenced,
            "a lesson names the files the learner edits".into(),
            "no files",
            Some(
                "for example: `edit: [pod.yaml]`, each with its fixed version in solution/".into(),
            ),
        ));
    }
    for f in &parsed.edit.value {
        let name = &f.value;
        let inside = !name.is_empty()
            && Path::new(name)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            problems.push(problem(
                &file,
                &source,
                &f.referenced,
                format!("{name:?} is not a file inside the lesson"),
                "this file",
                Some("name it relative to the lesson's directory, without `..`".into()),
            ));
            continue;
        }
        for (at, what) in [
            (dir.join(name), "the lesson"),
            (dir.join(SOLUTION_DIR).join(name), "solution/"),
        ] {
            if read(&at).is_err() {
                problems.push(problem(
                    &file,
                    &source,
                    &f.referenced,
                    format!("{name} is not in {what}"),
                    "this file",
                    Some(format!("looked for {}", at.display())),
                ));
            }
        }
    }
    let pointer = format!("podcheck explain {}", teaches.name());
    if !parsed.explanation.value.contains(&pointer) {
        problems.push(problem(
            &file,
            &source,
            &parsed.explanation.referenced,
            format!("the explanation does not point to `{pointer}`"),
            "this explanation",
            Some(format!("end it with a line such as: More: `{pointer}`.")),
        ));
    }
    let missing = |name: &str| {
        let at = dir.join(name);
        read(&at).err().map(|e| Problem {
            rendered: format!("{}: cannot read it: {e}", at.display()),
            file: at.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read it: {e}"),
        })
    };
    let story = read(&dir.join(STORY_FILE)).unwrap_or_default();
    problems.extend(missing(STORY_FILE));
    problems.extend(missing(SUITE_FILE));
    if !problems.is_empty() {
        return Err(SuiteError(problems));
    }
    Ok(Lesson {
        dir: dir.to_path_buf(),
        id: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        title: parsed.title,
        teaches,
        edit: parsed.edit.value.into_iter().map(|f| f.value).collect(),
        hints: parsed.hints.value,
        explanation: parsed.explanation.value,
        story,
    })
}

/// The lesson directories among `entries` (a lessons directory's subdirectories): those
/// holding `lesson.yaml`, in the order of their names.
pub fn lesson_dirs(entries: &[PathBuf], read: ReadFile<'_>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = entries
        .iter()
        .filter(|d| read(&d.join(LESSON_FILE)).is_ok())
        .cloned()
        .collect();
    dirs.sort();
    dirs
}

/// How one run of a lesson's suite went.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Every case passed all eight stages.
    Passed,
    /// A case's path broke: `stage` is its first stage that failed (or, when none failed,
    /// the first that did not pass).
    Broke { case: String, stage: StageResult },
    /// A case could not be run at all.
    Error { case: String, message: String },
    /// The lesson's suite cannot run on this machine (it needs a real component that is
    /// not here): why, and the command that installs what is missing.
    Skipped {
        reason: String,
        install: Option<String>,
    },
}

impl Attempt {
    /// The attempt of a run of a lesson's suite: skipped where the suite was, else as its
    /// cases went.
    pub fn of_run(suites: &[SuiteResult]) -> Attempt {
        if let Some(skip) = suites.iter().find_map(|s| s.skipped.as_ref()) {
            return Attempt::Skipped {
                reason: skip.reason.clone(),
                install: skip.install.clone(),
            };
        }
        let cases: Vec<CaseResult> = suites.iter().flat_map(|s| s.cases.clone()).collect();
        Attempt::of(&cases)
    }

    /// The attempt of a lesson's cases (their results, in order).
    pub fn of(cases: &[CaseResult]) -> Attempt {
        for case in cases {
            if case.verdict == Verdict::Error {
                return Attempt::Error {
                    case: case.name.clone(),
                    message: case
                        .error
                        .clone()
                        .unwrap_or_else(|| "no reason given".into()),
                };
            }
            // The first stage that failed: a stage skipped before it was skipped for its
            // sake (dns is not checked in a pod whose container exited, which statusUpdate
            // reports). Else the first that did not pass.
            let stages = case.stages();
            let broke = stages
                .iter()
                .find(|s| s.status == StageStatus::Failed)
                .or_else(|| stages.iter().find(|s| s.status != StageStatus::Passed));
            if let Some(stage) = broke {
                return Attempt::Broke {
                    case: case.name.clone(),
                    stage: stage.clone(),
                };
            }
            if case.verdict != Verdict::Passed {
                return Attempt::Error {
                    case: case.name.clone(),
                    message: format!(
                        "the case did not pass ({:?}) yet no stage failed",
                        case.verdict
                    ),
                };
            }
        }
        Attempt::Passed
    }
}

/// Why a lesson does not hold (`learn verify`): `None` when it fails unsolved at exactly
/// the stage it teaches (no earlier stage failed, that one did) and passes solved.
pub fn verify(teaches: Stage, unsolved: &Attempt, solved: &Attempt) -> Option<String> {
    let unsolved_wrong = match unsolved {
        Attempt::Broke { stage, .. }
            if stage.stage == teaches && stage.status == StageStatus::Failed =>
        {
            None
        }
        Attempt::Broke { stage, .. } if stage.stage == teaches => Some(format!(
            "unsolved, {} was {:?}, not failed",
            teaches.name(),
            stage.status
        )),
        Attempt::Broke { stage, .. } => Some(format!(
            "unsolved, it breaks at {} instead of {}",
            stage.stage.name(),
            teaches.name()
        )),
        Attempt::Passed => Some("unsolved, it passes all eight stages".into()),
        Attempt::Error { case, message } => {
            Some(format!("unsolved, case {case} could not run: {message}"))
        }
        Attempt::Skipped { reason, .. } => Some(format!("unsolved, it was skipped: {reason}")),
    };
    let solved_wrong = match solved {
        Attempt::Passed => None,
        Attempt::Broke { stage, .. } => Some(format!(
            "with solution/, it breaks at {}: {}",
            stage.stage.name(),
            stage.message.as_deref().unwrap_or(&stage.observed)
        )),
        Attempt::Error { case, message } => Some(format!(
            "with solution/, case {case} could not run: {message}"
        )),
        Attempt::Skipped { reason, .. } => {
            Some(format!("with solution/, it was skipped: {reason}"))
        }
    };
    match (unsolved_wrong, solved_wrong) {
        (None, None) => None,
        (Some(a), None) | (None, Some(a)) => Some(a),
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
    }
}

/// A learner's progress through every lessons directory they used, as the state file
/// keeps it (keyed by the lessons directory's absolute path).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(default)]
    pub dirs: BTreeMap<String, Progress>,
}

/// Progress through one lessons directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The lessons (by id) that passed.
    #[serde(default)]
    pub done: BTreeSet<String>,
    /// How many hints each lesson has shown.
    #[serde(default)]
    pub hints: BTreeMap<String, usize>,
    /// The lessons skipped because they cannot run on this machine (a real component is
    /// missing); `learn reset` brings them back.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub skipped: BTreeSet<String>,
}

/// Where a lesson stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Done,
    /// The first lesson neither done nor skipped: the one `learn next` runs.
    Current,
    Todo,
    /// It cannot run on this machine (`learn next` said why).
    Skipped,
}

impl Standing {
    fn word(self) -> &'static str {
        match self {
            Standing::Done => "done",
            Standing::Current => "current",
            Standing::Todo => "todo",
            Standing::Skipped => "skipped",
        }
    }
}

impl Progress {
    /// The first lesson (of `lessons`, in order) neither done nor skipped.
    pub fn current<'a>(&self, lessons: &'a [Lesson]) -> Option<&'a Lesson> {
        lessons
            .iter()
            .find(|l| !self.done.contains(&l.id) && !self.skipped.contains(&l.id))
    }

    pub fn standing(&self, lessons: &[Lesson], lesson: &Lesson) -> Standing {
        if self.done.contains(&lesson.id) {
            Standing::Done
        } else if self.skipped.contains(&lesson.id) {
            Standing::Skipped
        } else if self.current(lessons).is_some_and(|c| c.id == lesson.id) {
            Standing::Current
        } else {
            Standing::Todo
        }
    }

    /// The lesson passed.
    pub fn passed(&mut self, lesson: &Lesson) {
        self.skipped.remove(&lesson.id);
        self.done.insert(lesson.id.clone());
    }

    /// The lesson cannot run here: `learn next` goes on with the one after it.
    pub fn skip(&mut self, lesson: &Lesson) {
        self.skipped.insert(lesson.id.clone());
    }

    /// The next hint of `lesson` (its index), counted as shown; once all are shown, the
    /// last again.
    pub fn next_hint(&mut self, lesson: &Lesson) -> Option<usize> {
        if lesson.hints.is_empty() {
            return None;
        }
        let shown = self.hints.entry(lesson.id.clone()).or_default();
        *shown = (*shown + 1).min(lesson.hints.len());
        Some(*shown - 1)
    }

    /// How many hints of `lesson` were shown.
    pub fn hints_shown(&self, lesson: &Lesson) -> usize {
        self.hints.get(&lesson.id).copied().unwrap_or(0)
    }

    /// Forgets one lesson (done and hints), or every lesson.
    pub fn reset(&mut self, lesson: Option<&Lesson>) {
        match lesson {
            Some(l) => {
                self.done.remove(&l.id);
                self.hints.remove(&l.id);
                self.skipped.remove(&l.id);
            }
            None => *self = Progress::default(),
        }
    }
}

/// The stage in plain words: what should have happened there.
pub fn plain(stage: Stage) -> &'static str {
    match stage {
        Stage::Auth => {
            "the apiserver did not let the create in: it authenticates who sends it, authorizes them (RBAC), then validates the pod"
        }
        Stage::EtcdWrite => "the apiserver did not write the pod to the store (etcd)",
        Stage::Pending => "the pod was never seen Pending, waiting for a node",
        Stage::Binding => "no scheduler bound the pod to a node",
        Stage::CriLaunch => {
            "the kubelet could not have the container runtime start the pod's containers"
        }
        Stage::CniAttach => "the runtime could not attach the pod to the pod network (CNI)",
        Stage::Dns => "names did not resolve from inside the pod",
        Stage::StatusUpdate => {
            "the kubelet did not report the pod Running and Ready, or not for long (a container exited)"
        }
    }
}

/// `podcheck learn`: one line per lesson with where it stands.
pub fn list_words(lessons: &[Lesson], progress: &Progress) -> String {
    let mut out = String::new();
    for l in lessons {
        let standing = progress.standing(lessons, l);
        let mark = match standing {
            Standing::Done => "✓",
            Standing::Current => "→",
            Standing::Todo => " ",
            Standing::Skipped => "-",
        };
        out.push_str(&format!(
            "{mark} {:<24} {:<8} {:<13} {}\n",
            l.id,
            standing.word(),
            l.teaches.name(),
            l.title
        ));
    }
    let done = lessons
        .iter()
        .filter(|l| progress.done.contains(&l.id))
        .count();
    out.push_str(&format!("{done} of {} done", lessons.len()));
    let skipped = lessons
        .iter()
        .filter(|l| progress.standing(lessons, l) == Standing::Skipped)
        .count();
    if skipped > 0 {
        out.push_str(&format!(
            ", {skipped} skipped (they cannot run here; `podcheck learn reset NN` to try again)"
        ));
    }
    match progress.current(lessons) {
        Some(c) => out.push_str(&format!(
            "; next: {} (`podcheck learn next`; edit {} in {})\n",
            c.id,
            c.edit.join(", "),
            c.dir.display()
        )),
        None if skipped > 0 => out.push_str("; no lesson left to run here\n"),
        None => out.push_str(": every lesson passes\n"),
    }
    out
}

/// `podcheck learn next` before the lesson passes: the story, then where
/// the pod's path broke, in plain words, with the evidence.
pub fn attempt_words(lesson: &Lesson, attempt: &Attempt, hints_shown: usize) -> String {
    let mut out = story_words(lesson);
    match attempt {
        Attempt::Passed => {
            out.push_str("✓ all eight stages pass\n");
            return out;
        }
        Attempt::Error { case, message } => {
            out.push_str(&format!("case {case} could not run: {message}\n"));
        }
        Attempt::Skipped { .. } => {
            out.push_str(&skipped_words(lesson, attempt, None));
            return out;
        }
        Attempt::Broke { case, stage } => {
            let s = stage.stage;
            out.push_str(&format!(
                "✗ broke at {} — {}\n  owner: {}\n",
                s.name(),
                plain(s),
                s.component()
            ));
            out.push_str(&format!("  case {case}: {}\n", stage.observed));
            if let Some(m) = &stage.message
                && *m != stage.observed
            {
                out.push_str(&format!("  message: {m}\n"));
            }
            for e in &stage.evidence {
                out.push_str(&format!(
                    "  evidence ({}, {}): {}\n",
                    source_name(e.source),
                    e.provider,
                    e.detail
                ));
            }
            if let Some(h) = &stage.hint {
                out.push_str(&format!("  podcheck's hint: {h}\n"));
            }
            if s != lesson.teaches {
                out.push_str(&format!(
                    "  (this lesson is about {}: an edit moved the break elsewhere)\n",
                    lesson.teaches.name()
                ));
            }
        }
    }
    out.push_str(&format!(
        "\nedit: {}\n",
        lesson
            .edit
            .iter()
            .map(|f| lesson.dir.join(f).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let left = lesson.hints.len().saturating_sub(hints_shown);
    out.push_str(&match (hints_shown, left) {
        (_, 0) => format!(
            "all {} hints shown (`podcheck learn hint` shows the last again)\n",
            lesson.hints.len()
        ),
        (0, 1) => "1 hint: `podcheck learn hint`\n".into(),
        (0, n) => format!("{n} hints: `podcheck learn hint`\n"),
        (_, 1) => "1 more hint: `podcheck learn hint`\n".into(),
        (_, n) => format!("{n} more hints: `podcheck learn hint`\n"),
    });
    out
}

/// A lesson's title and story (what `learn next` and `learn watch` show first).
pub fn story_words(lesson: &Lesson) -> String {
    let mut out = format!("lesson {}: {}\n\n", lesson.id, lesson.title);
    for line in lesson.story.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push('\n');
    out
}

/// `podcheck learn watch`, waiting: the files whose saves run the lesson again, the keys.
pub fn watching_words(lesson: &Lesson) -> String {
    let names: Vec<String> = lesson
        .watched_files()
        .iter()
        .map(|f| {
            f.strip_prefix(&lesson.dir)
                .unwrap_or(f)
                .display()
                .to_string()
        })
        .collect();
    format!(
        "watching {} ({}): save to run {} again · h hint · r run now · q quit\n",
        lesson.dir.display(),
        names.join(", "),
        lesson.number()
    )
}

/// `podcheck learn next` once the lesson passes: the explanation, and what comes next.
pub fn passed_words(lesson: &Lesson, next: Option<&Lesson>) -> String {
    let mut out = format!(
        "lesson {}: {}\n✓ all eight stages pass\n\n",
        lesson.id, lesson.title
    );
    for line in lesson.explanation.trim_end().lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push('\n');
    match next {
        Some(n) => out.push_str(&format!(
            "lesson {} done. next: {} — {} (`podcheck learn next`)\n",
            lesson.number(),
            n.id,
            n.title
        )),
        None => out.push_str(&format!(
            "lesson {} done: every lesson passes\n",
            lesson.number()
        )),
    }
    out
}

/// `podcheck learn next` when the lesson cannot run on this machine: why, what to install,
/// and the lesson `learn next` goes on with.
pub fn skipped_words(lesson: &Lesson, attempt: &Attempt, next: Option<&Lesson>) -> String {
    let Attempt::Skipped { reason, install } = attempt else {
        return String::new();
    };
    let mut out = format!(
        "- skipped here: lesson {} cannot run on this machine\n  {reason}\n",
        lesson.id
    );
    if let Some(install) = install {
        out.push_str(&format!("  install: {install}\n"));
    }
    out.push_str(&format!(
        "  then, as root: `podcheck learn reset {}` and `podcheck learn next`\n",
        lesson.number()
    ));
    if let Some(n) = next {
        out.push_str(&format!(
            "\nnext: {} — {} (`podcheck learn next`)\n",
            n.id, n.title
        ));
    }
    out
}

/// `podcheck learn hint`: hint `index` of the lesson.
pub fn hint_words(lesson: &Lesson, index: usize) -> String {
    let total = lesson.hints.len();
    let mut out = format!("hint {} of {total} ({}):\n", index + 1, lesson.id);
    for line in lesson.hints[index].trim_end().lines() {
        out.push_str(&format!("  {line}\n"));
    }
    if index + 1 == total {
        out.push_str("that was the last hint; the fix is in its solution/ if you are stuck\n");
    }
    out
}

/// `podcheck learn verify`: the line of a lesson that cannot run on this machine.
pub fn verify_skip_line(lesson: &Lesson, reason: &str, install: Option<&str>) -> String {
    let install = install
        .map(|i| format!(" (install: {i})"))
        .unwrap_or_default();
    format!(
        "skip  {:<24} teaches {}: {reason}{install}",
        lesson.id,
        lesson.teaches.name()
    )
}

/// `podcheck learn verify`: one line per lesson.
pub fn verify_line(lesson: &Lesson, problem: Option<&str>) -> String {
    match problem {
        None => format!(
            "ok    {:<24} fails at {} unsolved, passes with solution/",
            lesson.id,
            lesson.teaches.name()
        ),
        Some(p) => format!(
            "FAIL  {:<24} teaches {}: {p}",
            lesson.id,
            lesson.teaches.name()
        ),
    }
}

fn source_name(source: crate::result::Source) -> String {
    serde_json::to_value(source)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "lesson_tests.rs"]
mod tests;
