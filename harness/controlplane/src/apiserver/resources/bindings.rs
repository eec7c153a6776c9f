//! Bindings (`POST .../bindings`, the older form of `pods/binding`): assign a pod to a
//! node through the registry and are never stored.

use super::{Resource, Served, Strategy};

pub(super) static RESOURCE: Resource =
    Resource::new("", "bindings", "binding", "Binding", true, &Bindings);

struct Bindings;

impl Strategy for Bindings {
    fn served_as(&self) -> Served {
        Served::Binding
    }
}
