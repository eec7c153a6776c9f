//! The images a node can pull: what podcheck's registry serves and what the simulated
//! runtime agrees exists. Built-in images come from the recipes (pause, busybox); the user's
//! come from archives (`--image-archive`, a suite's `spec.images`). Both go through
//! [`read_archive`], so an image is served exactly as an archive holds it.
//!
//! The distribution API scopes blobs by repository; so does the catalog: a blob is served
//! under a repository only if an image of that repository names it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use super::archive::{ArchiveImage, Blob, read_archive};
use super::{ImageError, ImageRecipe, build_archive, builtin_recipe, normalize_reference};

/// What one image reference resolves to, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// `docker.io/library/busybox:latest`.
    pub reference: String,
    /// The manifest's digest: what a pull by this reference resolves to.
    pub digest: String,
    /// The bytes a pull fetches: manifest, config and layers.
    pub size: u64,
    /// Where the image came from: `built-in` or the archive's path.
    pub source: String,
}

/// The images, shared by the registry and the nodes; images may be added while it serves.
#[derive(Debug, Default)]
pub struct Catalog {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Repository (`docker.io/library/busybox`) → tag → manifest digest.
    tags: BTreeMap<String, BTreeMap<String, String>>,
    /// Repository → the digests it may serve (its manifests, configs and layers).
    scope: HashMap<String, BTreeSet<String>>,
    /// Digest → blob, for every repository.
    blobs: HashMap<String, Blob>,
    /// Manifest digest → where it came from.
    sources: HashMap<String, String>,
}

/// The source named for built-in images.
pub const BUILTIN_SOURCE: &str = "built-in";

/// The registries whose images podcheck's nodes pull from podcheck's registry, each served
/// under a path of its own (`/v2/docker.io/…`). Every other registry fails fast.
pub const MIRRORED_REGISTRIES: [&str; 4] = ["docker.io", "registry.k8s.io", "quay.io", "ghcr.io"];

/// The full references of the built-in images, as [`Catalog::builtin`] names them, without
/// building them: what the simulated runtime can pull.
pub fn builtin_references() -> Vec<String> {
    // Reading the host's busybox for its version is done once per process.
    static REFERENCES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    REFERENCES
        .get_or_init(|| {
            super::BUILTIN_RECIPES
                .iter()
                .filter_map(|(name, _)| Some(builtin_names(name, &builtin_recipe(name).ok()?)))
                .flatten()
                .collect()
        })
        .clone()
}

impl Catalog {
    /// The built-in images: the sandbox image and busybox, tagged `latest` and with the
    /// version of the host's busybox (`docker.io/library/busybox:1.35.0`).
    pub fn builtin() -> Result<Catalog, ImageError> {
        let catalog = Catalog::default();
        for name in ["pause", "busybox"] {
            let recipe = builtin_recipe(name)?;
            let archive = build_archive(&recipe)?;
            let names = builtin_names(name, &recipe);
            for mut image in read_archive(&archive.bytes, name)? {
                image.names = names.clone();
                catalog.insert(image, BUILTIN_SOURCE);
            }
        }
        Ok(catalog)
    }

    /// Adds every image of an archive (an OCI layout or a `docker save` tar); returns the
    /// references added. A name already in the catalog now resolves to the new image, as a
    /// push of the same tag would.
    pub fn add_archive(&self, bytes: &[u8], origin: &str) -> Result<Vec<String>, ImageError> {
        let images = read_archive(bytes, origin)?;
        let mut added = Vec::new();
        for image in images {
            added.extend(image.names.iter().cloned());
            self.insert(image, origin);
        }
        Ok(added)
    }

    /// Adds one image under each of its names.
    pub fn insert(&self, image: ArchiveImage, source: &str) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let digest = image.manifest.digest.clone();
        let mut digests: Vec<String> = image.blobs.iter().map(|b| b.digest.clone()).collect();
        digests.push(digest.clone());
        for name in &image.names {
            let Ok(reference) = normalize_reference(name) else {
                continue;
            };
            let repository = format!("{}/{}", reference.domain, reference.path);
            inner
                .tags
                .entry(repository.clone())
                .or_default()
                .insert(reference.tag, digest.clone());
            inner
                .scope
                .entry(repository)
                .or_default()
                .extend(digests.iter().cloned());
        }
        for blob in image.blobs.into_iter().chain([image.manifest]) {
            inner.blobs.insert(blob.digest.clone(), blob);
        }
        inner.sources.insert(digest, source.to_owned());
    }

    /// The manifest a repository serves under a tag or a digest.
    pub fn manifest(&self, repository: &str, reference: &str) -> Option<Blob> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let digest = if reference.starts_with("sha256:") {
            reference.to_owned()
        } else {
            inner.tags.get(repository)?.get(reference)?.clone()
        };
        let manifest = inner.scoped(repository, &digest)?;
        inner
            .tags
            .get(repository)?
            .values()
            .any(|d| *d == digest)
            .then_some(manifest)
    }

    /// A blob (config or layer) of a repository.
    pub fn blob(&self, repository: &str, digest: &str) -> Option<Blob> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.scoped(repository, digest)
    }

    /// Whether the repository exists.
    pub fn has_repository(&self, repository: &str) -> bool {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.tags.contains_key(repository)
    }

    /// Every repository, sorted.
    pub fn repositories(&self) -> Vec<String> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.tags.keys().cloned().collect()
    }

    /// A repository's tags, sorted; `None` when there is no such repository.
    pub fn tags(&self, repository: &str) -> Option<Vec<String>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        Some(inner.tags.get(repository)?.keys().cloned().collect())
    }

    /// The manifest digest a name as a pod writes it (`busybox`, `nosuch:1.0`) resolves to,
    /// normalised as containerd's CRI does; `None` when no image has that name.
    pub fn resolve(&self, name: &str) -> Option<String> {
        let reference = normalize_reference(name).ok()?;
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .tags
            .get(&format!("{}/{}", reference.domain, reference.path))?
            .get(&reference.tag)
            .cloned()
    }

    /// Every reference, sorted, with its digest, size and source.
    pub fn entries(&self) -> Vec<CatalogEntry> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (repository, tags) in &inner.tags {
            for (tag, digest) in tags {
                out.push(CatalogEntry {
                    reference: format!("{repository}:{tag}"),
                    digest: digest.clone(),
                    size: inner.pull_size(digest),
                    source: inner.sources.get(digest).cloned().unwrap_or_default(),
                });
            }
        }
        out
    }
}

impl Inner {
    fn scoped(&self, repository: &str, digest: &str) -> Option<Blob> {
        self.scope
            .get(repository)?
            .contains(digest)
            .then(|| self.blobs.get(digest).cloned())?
    }

    /// The manifest's size plus those of the blobs it names.
    fn pull_size(&self, manifest: &str) -> u64 {
        let Some(blob) = self.blobs.get(manifest) else {
            return 0;
        };
        let named: u64 = serde_json::from_slice::<serde_json::Value>(&blob.bytes)
            .ok()
            .map(|m| {
                let config = m.pointer("/config/size").and_then(|s| s.as_u64());
                let layers = m
                    .get("layers")
                    .and_then(|l| l.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.get("size")?.as_u64());
                config.into_iter().chain(layers).sum()
            })
            .unwrap_or(0);
        blob.bytes.len() as u64 + named
    }
}

/// A built-in image's names: its recipe's reference, and for busybox also the tag of the
/// host busybox's version (pause is pause 3.9 whatever busybox it runs).
fn builtin_names(name: &str, recipe: &ImageRecipe) -> Vec<String> {
    let version = (name == "busybox").then(|| version_tag(recipe)).flatten();
    let mut names = vec![recipe.reference.clone()];
    names.extend(version.map(|tag| retag(&recipe.reference, &tag)));
    names
}

/// The tag of the version of the binary a recipe's applets run (`1.35.0` for Debian 12's
/// busybox), as `docker.io/library/busybox:1.35.0` is the image of busybox 1.35.0.
fn version_tag(recipe: &ImageRecipe) -> Option<String> {
    let binary = &recipe.layer.applets.as_ref()?.binary;
    let file = recipe
        .layer
        .files
        .iter()
        .find(|f| f.path.trim_start_matches('/') == binary.trim_start_matches('/'))?;
    let bytes = std::fs::read(file.source.as_ref()?).ok()?;
    busybox_version(&bytes)
}

/// The version busybox prints in its banner (`BusyBox v1.35.0 (Debian …)`).
pub fn busybox_version(binary: &[u8]) -> Option<String> {
    const MARKER: &[u8] = b"BusyBox v";
    let at = binary.windows(MARKER.len()).position(|w| w == MARKER)? + MARKER.len();
    let version: String = binary[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|b| char::from(*b))
        .collect();
    let version = version.trim_end_matches('.');
    (version.contains('.') && version.starts_with(|c: char| c.is_ascii_digit()))
        .then(|| version.to_owned())
}

/// `docker.io/library/busybox:latest` with another tag.
fn retag(reference: &str, tag: &str) -> String {
    match normalize_reference(reference) {
        Ok(r) => format!("{}/{}:{tag}", r.domain, r.path),
        Err(_) => reference.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_versions_are_read_from_the_banner() {
        let banner = b"\x00junk BusyBox v1.35.0 (Debian 1:1.35.0-4) multi-call binary.\x00";
        assert_eq!(busybox_version(banner).as_deref(), Some("1.35.0"));
        assert_eq!(busybox_version(b"BusyBox v (none)"), None);
        assert_eq!(busybox_version(b"no banner at all"), None);
    }

    fn tiny_archive(reference: &str) -> Vec<u8> {
        let recipe = super::super::parse_recipe(&format!(
            "reference: {reference}\nlayer:\n  files:\n    - path: /hello\n      contents: hi\n"
        ))
        .unwrap();
        build_archive(&recipe).unwrap().bytes
    }

    #[test]
    fn images_resolve_by_the_names_pods_write() {
        let catalog = Catalog::default();
        let added = catalog
            .add_archive(&tiny_archive("example.com/team/app:1.0"), "app.tar")
            .unwrap();
        assert_eq!(added, ["example.com/team/app:1.0"]);
        let digest = catalog.resolve("example.com/team/app:1.0").unwrap();
        assert!(
            catalog.resolve("example.com/team/app").is_none(),
            "no :latest"
        );
        assert!(catalog.resolve("nosuch:1.0").is_none());
        let manifest = catalog.manifest("example.com/team/app", "1.0").unwrap();
        assert_eq!(manifest.digest, digest);
        assert_eq!(
            catalog.manifest("example.com/team/app", &digest),
            Some(manifest)
        );
        let entries = catalog.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].source, "app.tar");
        assert!(entries[0].size > 0);
    }

    #[test]
    fn the_builtin_names_agree_with_the_builtin_images() {
        let Ok(catalog) = Catalog::builtin() else {
            return; // no static busybox here: nothing to build (the real tests need it)
        };
        let mut served: Vec<String> = catalog.entries().into_iter().map(|e| e.reference).collect();
        let mut named = builtin_references();
        served.sort();
        named.sort();
        assert_eq!(served, named);
        assert!(named.contains(&"registry.k8s.io/pause:3.9".to_string()));
        assert!(
            !named
                .iter()
                .any(|n| n.starts_with("registry.k8s.io/pause:1."))
        );
    }

    #[test]
    fn blobs_are_scoped_by_repository() {
        let catalog = Catalog::default();
        catalog
            .add_archive(&tiny_archive("docker.io/library/a:1"), "a")
            .unwrap();
        catalog
            .add_archive(&tiny_archive("docker.io/library/b:1"), "b")
            .unwrap();
        let a = catalog.manifest("docker.io/library/a", "1").unwrap();
        let config: serde_json::Value = serde_json::from_slice(&a.bytes).unwrap();
        let config = config.pointer("/config/digest").unwrap().as_str().unwrap();
        assert!(catalog.blob("docker.io/library/a", config).is_some());
        assert!(catalog.blob("docker.io/library/c", config).is_none());
        assert!(catalog.manifest("docker.io/library/c", &a.digest).is_none());
        assert_eq!(
            catalog.repositories(),
            ["docker.io/library/a", "docker.io/library/b"]
        );
        assert_eq!(catalog.tags("docker.io/library/a").unwrap(), ["1"]);
        assert!(catalog.tags("docker.io/library/c").is_none());
    }
}
