//! The lesson format's diagnostics, the verdict of an attempt, progress, and the words.

use std::collections::BTreeMap;

use rstest::rstest;

use super::*;
use crate::result::{CaseKind, Evidence, Source};

// --- files -------------------------------------------------------------------------------

const GOOD: &str = r#"title: A pod without credentials
teaches: auth
edit: [suite.yaml]
hints:
  - Who sends the create?
  - The case says identity none.
explanation: |
  The apiserver answers 401.
  More: `podcheck explain auth`.
"#;

/// A lesson directory `/l/01-x` with `lesson.yaml` and whatever else `files` holds.
fn files(lesson: &str, extra: &[&str]) -> BTreeMap<PathBuf, String> {
    let mut m = BTreeMap::new();
    m.insert(PathBuf::from("/l/01-x/lesson.yaml"), lesson.to_string());
    for f in ["README.md", "suite.yaml", "solution/suite.yaml"]
        .iter()
        .chain(extra)
    {
        m.insert(PathBuf::from("/l/01-x").join(f), String::new());
    }
    m
}

fn load_from(files: &BTreeMap<PathBuf, String>) -> Result<Lesson, SuiteError> {
    let read = |p: &Path| {
        files
            .get(p)
            .cloned()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    };
    load(Path::new("/l/01-x"), &read)
}

#[test]
fn a_good_lesson_loads() {
    let l = load_from(&files(GOOD, &[])).unwrap();
    assert_eq!(l.id, "01-x");
    assert_eq!(l.number(), "01");
    assert!(l.is_named("01") && l.is_named("01-x") && !l.is_named("1"));
    assert_eq!(l.teaches, Stage::Auth);
    assert_eq!(l.edit, vec!["suite.yaml"]);
    assert_eq!(l.hints.len(), 2);
}

#[rstest]
#[case::unknown_stage(
    &GOOD.replace("teaches: auth", "teaches: scheduling"),
    "lesson.yaml:2:10: unknown value `scheduling`"
)]
#[case::unknown_field(&format!("{GOOD}answer: 42\n"), "lesson.yaml:10:1: unknown field `answer`")]
#[case::no_hints(
    &GOOD.replace("  - Who sends the create?\n  - The case says identity none.\n", "").replace("hints:\n", "hints: []\n"),
    "lesson.yaml:4:8: a lesson needs at least one hint"
)]
#[case::edit_outside(&GOOD.replace("[suite.yaml]", "[../x.yaml]"), "lesson.yaml:3:8: \"../x.yaml\" is not a file inside the lesson")]
#[case::edit_without_solution(&GOOD.replace("[suite.yaml]", "[pod.yaml]"), "lesson.yaml:3:8: pod.yaml is not in the lesson")]
#[case::no_pointer(
    &GOOD.replace("More: `podcheck explain auth`.", "More: ask."),
    "lesson.yaml:8:3: the explanation does not point to `podcheck explain auth`"
)]
fn a_bad_lesson_names_file_line_and_column(#[case] lesson: &str, #[case] expected: &str) {
    let err = load_from(&files(lesson, &[])).unwrap_err();
    let rendered = err.to_string();
    assert!(
        rendered.contains(expected),
        "expected {expected:?} in:\n{rendered}"
    );
}

#[test]
fn an_edited_file_needs_its_solution() {
    let mut f = files(&GOOD.replace("[suite.yaml]", "[pod.yaml]"), &["pod.yaml"]);
    let err = load_from(&f).unwrap_err().to_string();
    assert!(err.contains("pod.yaml is not in solution/"), "{err}");
    f.insert(PathBuf::from("/l/01-x/solution/pod.yaml"), String::new());
    assert!(load_from(&f).is_ok());
}

#[test]
fn a_lesson_without_its_suite_is_refused() {
    let mut f = files(GOOD, &[]);
    f.remove(Path::new("/l/01-x/suite.yaml"));
    let err = load_from(&f).unwrap_err().to_string();
    assert!(err.contains("/l/01-x/suite.yaml: cannot read it"), "{err}");
}

#[test]
fn lesson_dirs_are_those_with_lesson_yaml_in_name_order() {
    let read = |p: &Path| {
        if p.ends_with("lesson.yaml") && !p.starts_with("/l/schema") {
            Ok(String::new())
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    };
    let entries = ["/l/02-b", "/l/schema", "/l/01-a", "/l/10-c"].map(PathBuf::from);
    assert_eq!(
        lesson_dirs(&entries, &read),
        ["/l/01-a", "/l/02-b", "/l/10-c"].map(PathBuf::from)
    );
}

// --- attempts and verify -------------------------------------------------------------------

fn stage(stage: Stage, status: StageStatus) -> StageResult {
    StageResult {
        stage,
        status,
        expected: "pass".into(),
        observed: format!("{} observed", stage.name()),
        at_ms: None,
        duration_ms: None,
        evidence: vec![Evidence {
            source: Source::Api,
            provider: "apiserver".into(),
            real: true,
            detail: "401 Unauthorized".into(),
            at_ms: None,
        }],
        message: (status == StageStatus::Failed).then(|| "it broke".into()),
        hint: Some("look here".into()),
    }
}

/// A case whose stages pass up to `broke`, which has `status`, and are skipped after.
fn case(broke: Option<(Stage, StageStatus)>) -> CaseResult {
    let stages = Stage::ALL
        .iter()
        .map(|&s| match broke {
            Some((b, status)) if s == b => stage(s, status),
            Some((b, _)) if s > b => stage(s, StageStatus::Skipped),
            _ => stage(s, StageStatus::Passed),
        })
        .collect();
    CaseResult {
        name: "c".into(),
        description: String::new(),
        tags: vec![],
        namespace: String::new(),
        pod: String::new(),
        identity: String::new(),
        verdict: if broke.is_some() {
            Verdict::Failed
        } else {
            Verdict::Passed
        },
        duration_ms: 1.0,
        error: None,
        kind: CaseKind::Pod { stages },
        timeline: vec![],
        batch: None,
    }
}

#[test]
fn an_attempt_is_the_first_stage_that_did_not_pass() {
    assert_eq!(Attempt::of(&[case(None)]), Attempt::Passed);
    let a = Attempt::of(&[
        case(None),
        case(Some((Stage::Binding, StageStatus::Failed))),
    ]);
    let Attempt::Broke { stage, .. } = a else {
        panic!("{a:?}")
    };
    assert_eq!(stage.stage, Stage::Binding);
    let mut errored = case(None);
    errored.verdict = Verdict::Error;
    errored.error = Some("no target".into());
    assert!(
        matches!(Attempt::of(&[errored]), Attempt::Error { message, .. } if message == "no target")
    );
}

#[test]
fn a_stage_skipped_for_a_later_failure_is_not_where_it_broke() {
    // dns not checked in a pod whose container exited; statusUpdate reports the exit.
    let mut c = case(Some((Stage::StatusUpdate, StageStatus::Failed)));
    let CaseKind::Pod { stages } = &mut c.kind else {
        panic!()
    };
    stages[6] = stage(Stage::Dns, StageStatus::Skipped);
    let a = Attempt::of(&[c]);
    let Attempt::Broke { stage, .. } = &a else {
        panic!("{a:?}")
    };
    assert_eq!(stage.stage, Stage::StatusUpdate);
    assert_eq!(verify(Stage::StatusUpdate, &a, &Attempt::Passed), None);
}

#[rstest]
#[case::holds(Some((Stage::Binding, StageStatus::Failed)), None, None)]
#[case::passes_unsolved(None, None, Some("unsolved, it passes all eight stages"))]
#[case::breaks_earlier(
    Some((Stage::Auth, StageStatus::Failed)),
    None,
    Some("unsolved, it breaks at auth instead of binding")
)]
#[case::breaks_later(
    Some((Stage::CriLaunch, StageStatus::Failed)),
    None,
    Some("unsolved, it breaks at criLaunch instead of binding")
)]
#[case::skipped_is_not_failed(
    Some((Stage::Binding, StageStatus::Skipped)),
    None,
    Some("unsolved, binding was Skipped, not failed")
)]
#[case::solution_fails(
    Some((Stage::Binding, StageStatus::Failed)),
    Some((Stage::Dns, StageStatus::Failed)),
    Some("with solution/, it breaks at dns: it broke")
)]
fn verify_holds_only_at_the_taught_stage_and_with_the_solution(
    #[case] unsolved: Option<(Stage, StageStatus)>,
    #[case] solved: Option<(Stage, StageStatus)>,
    #[case] expected: Option<&str>,
) {
    let got = verify(
        Stage::Binding,
        &Attempt::of(&[case(unsolved)]),
        &Attempt::of(&[case(solved)]),
    );
    assert_eq!(got.as_deref(), expected);
}

// --- progress ------------------------------------------------------------------------------

fn lessons() -> Vec<Lesson> {
    ["01-a", "02-b", "03-c"]
        .into_iter()
        .map(|id| Lesson {
            dir: PathBuf::from("/l").join(id),
            id: id.into(),
            title: format!("title {id}"),
            teaches: Stage::Auth,
            edit: vec!["pod.yaml".into()],
            hints: vec!["first".into(), "second".into()],
            explanation: "why. More: `podcheck explain auth`.".into(),
            story: "the story".into(),
        })
        .collect()
}

#[test]
fn progress_moves_on_when_a_lesson_passes_and_reset_forgets() {
    let ls = lessons();
    let mut p = Progress::default();
    assert_eq!(p.current(&ls).map(|l| l.id.as_str()), Some("01-a"));
    assert_eq!(p.standing(&ls, &ls[0]), Standing::Current);
    assert_eq!(p.standing(&ls, &ls[1]), Standing::Todo);
    p.passed(&ls[0]);
    assert_eq!(p.standing(&ls, &ls[0]), Standing::Done);
    assert_eq!(p.current(&ls).map(|l| l.id.as_str()), Some("02-b"));
    p.passed(&ls[1]);
    p.passed(&ls[2]);
    assert_eq!(p.current(&ls), None);
    p.reset(Some(&ls[1]));
    assert_eq!(p.current(&ls).map(|l| l.id.as_str()), Some("02-b"));
    p.reset(None);
    assert_eq!(p, Progress::default());
}

#[test]
fn hints_come_in_order_and_stop_at_the_last() {
    let ls = lessons();
    let mut p = Progress::default();
    assert_eq!(p.next_hint(&ls[0]), Some(0));
    assert_eq!(p.next_hint(&ls[0]), Some(1));
    assert_eq!(p.next_hint(&ls[0]), Some(1));
    assert_eq!(p.hints_shown(&ls[0]), 2);
    assert_eq!(p.hints_shown(&ls[1]), 0);
    p.reset(Some(&ls[0]));
    assert_eq!(p.hints_shown(&ls[0]), 0);
}

#[test]
fn state_round_trips_through_json() {
    let ls = lessons();
    let mut state = State::default();
    let p = state.dirs.entry("/l".into()).or_default();
    p.passed(&ls[0]);
    p.next_hint(&ls[1]);
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(
        json,
        r#"{"dirs":{"/l":{"done":["01-a"],"hints":{"02-b":1}}}}"#
    );
    assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
}

// --- words ---------------------------------------------------------------------------------

#[test]
fn the_list_marks_done_current_and_todo() {
    let ls = lessons();
    let mut p = Progress::default();
    p.passed(&ls[0]);
    let words = list_words(&ls, &p);
    assert!(words.contains("✓ 01-a"), "{words}");
    assert!(
        words.contains("→ 02-b                     current"),
        "{words}"
    );
    assert!(words.contains("  03-c                     todo"), "{words}");
    assert!(words.contains("1 of 3 done; next: 02-b"), "{words}");
}

#[test]
fn a_broken_attempt_says_the_stage_in_plain_words_with_its_evidence() {
    let ls = lessons();
    let a = Attempt::of(&[case(Some((Stage::Auth, StageStatus::Failed)))]);
    let words = attempt_words(&ls[0], &a, 0);
    assert!(
        words.contains("✗ broke at auth — the apiserver did not let the create in"),
        "{words}"
    );
    assert!(words.contains("owner: kube-apiserver"), "{words}");
    assert!(
        words.contains("evidence (api, apiserver): 401 Unauthorized"),
        "{words}"
    );
    assert!(words.contains("message: it broke"), "{words}");
    assert!(words.contains("2 hints: `podcheck learn hint`"), "{words}");
    assert!(attempt_words(&ls[0], &a, 1).contains("1 more hint: `podcheck learn hint`"));
    let elsewhere = Attempt::of(&[case(Some((Stage::Binding, StageStatus::Failed)))]);
    assert!(attempt_words(&ls[0], &elsewhere, 0).contains("moved the break elsewhere"));
}

#[test]
fn a_pass_shows_the_explanation_and_what_comes_next() {
    let ls = lessons();
    let words = passed_words(&ls[0], Some(&ls[1]));
    assert!(
        words.contains("  why. More: `podcheck explain auth`."),
        "{words}"
    );
    assert!(words.contains("lesson 01 done. next: 02-b"), "{words}");
    assert!(passed_words(&ls[2], None).contains("every lesson passes"));
    assert!(
        hint_words(&ls[0], 1).contains("hint 2 of 2 (01-a):\n  second\nthat was the last hint")
    );
}

// --- lessons that cannot run here --------------------------------------------------------

#[test]
fn a_skipped_suite_skips_the_attempt_and_the_learner_goes_on() {
    let skip = crate::result::SuiteSkip {
        reason: "its CNI conflist needs the real pod network: needs root".into(),
        install: Some("apt-get install -y containerd".into()),
    };
    let suite = SuiteResult::skipped("s", "s/suite.yaml", "pods", &[("c", "")], skip);
    let a = Attempt::of_run(&[suite]);
    assert_eq!(
        a,
        Attempt::Skipped {
            reason: "its CNI conflist needs the real pod network: needs root".into(),
            install: Some("apt-get install -y containerd".into()),
        }
    );
    let ls = lessons();
    let words = skipped_words(&ls[0], &a, Some(&ls[1]));
    assert!(
        words.contains("- skipped here: lesson 01-a cannot run on this machine"),
        "{words}"
    );
    assert!(
        words.contains("install: apt-get install -y containerd"),
        "{words}"
    );
    assert!(words.contains("`podcheck learn reset 01`"), "{words}");
    assert!(words.contains("next: 02-b — title 02-b"), "{words}");
    assert!(
        verify_skip_line(&ls[0], "needs root", None)
            .starts_with("skip  01-a                     teaches auth: needs root")
    );

    let mut p = Progress::default();
    p.skip(&ls[0]);
    assert_eq!(p.standing(&ls, &ls[0]), Standing::Skipped);
    assert_eq!(p.current(&ls).map(|l| l.id.as_str()), Some("02-b"));
    let list = list_words(&ls, &p);
    assert!(
        list.contains("- 01-a                     skipped"),
        "{list}"
    );
    assert!(list.contains("0 of 3 done, 1 skipped"), "{list}");
    p.reset(Some(&ls[0]));
    assert_eq!(p.current(&ls).map(|l| l.id.as_str()), Some("01-a"));
    // A lesson skipped once and passed later is done.
    p.skip(&ls[0]);
    p.passed(&ls[0]);
    assert_eq!(p.standing(&ls, &ls[0]), Standing::Done);
    assert!(p.skipped.is_empty());
}

// --- the schema ------------------------------------------------------------------------

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_committed_lesson_schema_is_current() {
    let committed = std::fs::read_to_string(workspace().join(SCHEMA_PATH)).unwrap_or_default();
    // Not assert_eq!: a diff of two schemas helps less than the command that fixes it.
    assert!(
        committed == json_schema(),
        "{SCHEMA_PATH} is stale or missing: it differs from podcheck_core::lesson::json_schema(). \
         Regenerate it from the workspace root with\n\n    \
         cargo run -p podcheck -- schema --lesson > {SCHEMA_PATH}\n"
    );
}

#[test]
fn every_lesson_file_names_the_schema() {
    let lessons = workspace().join("lessons");
    let mut seen = 0;
    for entry in std::fs::read_dir(&lessons).unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join(LESSON_FILE)) else {
            continue;
        };
        seen += 1;
        assert_eq!(
            text.lines().next(),
            Some("# yaml-language-server: $schema=../schema/lesson.v1.json"),
            "{}",
            entry.path().display()
        );
    }
    assert!(seen >= 9, "{seen} lessons");
}

#[test]
fn watch_follows_the_files_to_edit_and_the_suite_once_each() {
    let mut ls = lessons();
    assert_eq!(
        ls[0].watched_files(),
        [
            PathBuf::from("/l/01-a/pod.yaml"),
            PathBuf::from("/l/01-a/suite.yaml")
        ]
    );
    ls[0].edit = vec!["suite.yaml".into()];
    assert_eq!(ls[0].watched_files(), [PathBuf::from("/l/01-a/suite.yaml")]);
    assert_eq!(
        watching_words(&ls[1]),
        "watching /l/02-b (pod.yaml, suite.yaml): save to run 02 again · h hint · r run now · q quit\n"
    );
    assert_eq!(
        story_words(&ls[0]),
        "lesson 01-a: title 01-a\n\n  the story\n\n"
    );
}
