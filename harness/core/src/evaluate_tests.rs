//! Table tests of every stage's verdicts.
