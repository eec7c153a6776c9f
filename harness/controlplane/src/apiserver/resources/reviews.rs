//! SelfSubjectAccessReview and SubjectAccessReview: questions to the authorizer, answered
//! by the HTTP layer and never stored.

use super::{Resource, Served, Strategy};

pub(super) static SELF_SUBJECT_ACCESS_REVIEWS: Resource = Resource::new(
    "authorization.k8s.io",
    "selfsubjectaccessreviews",
    "selfsubjectaccessreview",
    "SelfSubjectAccessReview",
    false,
    &AccessReview { own: true },
);

pub(super) static SUBJECT_ACCESS_REVIEWS: Resource = Resource::new(
    "authorization.k8s.io",
    "subjectaccessreviews",
    "subjectaccessreview",
    "SubjectAccessReview",
    false,
    &AccessReview { own: false },
);

/// `own`: the review asks about the requester itself.
struct AccessReview {
    own: bool,
}

impl Strategy for AccessReview {
    fn served_as(&self) -> Served {
        Served::AccessReview { own: self.own }
    }
}
