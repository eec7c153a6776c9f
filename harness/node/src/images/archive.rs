//! Reading image archives: an OCI image layout as a tar (what podcheck builds, `skopeo copy
//! … oci-archive:`, `docker save` since Docker 25) or a legacy `docker save` tar
//! (`manifest.json` with `RepoTags`). Each image comes out as its manifest and blobs, every
//! digest checked, ready for the registry to serve byte for byte.
//!
//! Archives are user input: every way one can be malformed is an [`ImageError::Archive`]
//! naming the archive and what is wrong, never a panic.

use std::collections::HashMap;
use std::io::Read as _;

use bytes::Bytes;
use serde::Deserialize;

use super::oci::{Descriptor, Manifest};
use super::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ImageError, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST, Platform, digest, normalize_reference,
};

/// The uncompressed layer media type (legacy `docker save` layers are plain tars).
pub const MEDIA_TYPE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker's manifest list: an index under another name.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's schema-2 manifest: a manifest under another name.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// One content-addressed document or layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:…` of `bytes`.
    pub digest: String,
    pub media_type: String,
    pub bytes: Bytes,
}

/// One image of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// Full references (`docker.io/library/busybox:latest`), at least one.
    pub names: Vec<String>,
    pub manifest: Blob,
    /// The config, then the layers, in the manifest's order.
    pub blobs: Vec<Blob>,
}

/// The images of an archive; `origin` names it in errors (its path).
pub fn read_archive(bytes: &[u8], origin: &str) -> Result<Vec<ArchiveImage>, ImageError> {
    let files = Files::read(bytes).map_err(|message| archive_error(origin, message))?;
    let images = if files.get("index.json").is_some() {
        read_layout(&files)
    } else if files.get("manifest.json").is_some() {
        read_docker_save(&files)
    } else {
        Err(
            "neither index.json (an OCI image layout) nor manifest.json (docker save) is in it"
                .into(),
        )
    };
    let images = images.map_err(|message| archive_error(origin, message))?;
    if images.is_empty() {
        return Err(archive_error(origin, "it holds no image"));
    }
    Ok(images)
}

fn archive_error(origin: &str, message: impl Into<String>) -> ImageError {
    ImageError::Archive {
        origin: origin.to_owned(),
        message: message.into(),
    }
}

/// The regular files of a tar, by normalised path; symlinks resolved (old `docker save`
/// links repeated layers).
struct Files(HashMap<String, Bytes>);

impl Files {
    fn read(bytes: &[u8]) -> Result<Files, String> {
        let mut files = HashMap::new();
        let mut links = Vec::new();
        let mut archive = tar::Archive::new(bytes);
        let entries = archive
            .entries()
            .map_err(|e| format!("not a tar archive: {e}"))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("not a tar archive: {e}"))?;
            let path = entry.path().map_err(|e| format!("bad entry name: {e}"))?;
            let path = normalise(&path.to_string_lossy());
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut data = Vec::with_capacity(entry.size() as usize);
                    entry
                        .read_to_end(&mut data)
                        .map_err(|e| format!("cannot read {path}: {e}"))?;
                    files.insert(path, Bytes::from(data));
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Ok(Some(target)) = entry.link_name() {
                        links.push((path, target.to_string_lossy().into_owned()));
                    }
                }
                _ => {}
            }
        }
        for (path, target) in links {
            let resolved = if target.starts_with('/') {
                normalise(&target)
            } else {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                normalise(&format!("{dir}/{target}"))
            };
            if let Some(data) = files.get(&resolved).cloned() {
                files.insert(path, data);
            }
        }
        Ok(Files(files))
    }

    fn get(&self, path: &str) -> Option<&Bytes> {
        self.0.get(&normalise(path))
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, String> {
        let data = self.get(path).ok_or_else(|| format!("{path} is missing"))?;
        serde_json::from_slice(data).map_err(|e| format!("{path} is not valid: {e}"))
    }

    /// The blob a descriptor names, checked against its digest and size.
    fn blob(&self, descriptor: &ReadDescriptor) -> Result<Blob, String> {
        let hex = descriptor
            .digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("unsupported digest {:?} (only sha256)", descriptor.digest))?;
        let path = format!("blobs/sha256/{hex}");
        let data = self
            .get(&path)
            .ok_or_else(|| format!("blob {} is missing", descriptor.digest))?;
        let actual = digest(data);
        if actual != descriptor.digest {
            return Err(format!("blob {} has digest {actual}", descriptor.digest));
        }
        if descriptor.size != data.len() as u64 {
            return Err(format!(
                "blob {} has {} bytes, its descriptor says {}",
                descriptor.digest,
                data.len(),
                descriptor.size
            ));
        }
        Ok(Blob {
            digest: actual,
            media_type: descriptor.media_type.clone(),
            bytes: data.clone(),
        })
    }
}

/// `./blobs//sha256/x` → `blobs/sha256/x`.
fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadIndex {
    #[serde(default)]
    manifests: Vec<ReadDescriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadManifest {
    config: ReadDescriptor,
    #[serde(default)]
    layers: Vec<ReadDescriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<ReadPlatform>,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct ReadPlatform {
    architecture: String,
    os: String,
}

/// One entry of `docker save`'s `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

fn read_layout(files: &Files) -> Result<Vec<ArchiveImage>, String> {
    let index: ReadIndex = files.json("index.json")?;
    let saved: Vec<SavedImage> = files.json("manifest.json").unwrap_or_default();
    let mut images = Vec::new();
    for top in &index.manifests {
        let nested;
        let manifest = match top.media_type.as_str() {
            MEDIA_TYPE_MANIFEST | MEDIA_TYPE_DOCKER_MANIFEST => top,
            super::MEDIA_TYPE_INDEX | MEDIA_TYPE_DOCKER_LIST => {
                nested = host_manifest(files, top)?.ok_or_else(|| {
                    let host = Platform::host();
                    format!(
                        "index {} has no manifest for {}/{}",
                        top.digest, host.os, host.architecture
                    )
                })?;
                &nested
            }
            other => return Err(format!("index.json names a {other}, not an image")),
        };
        let image = read_image(files, manifest)?;
        let names = layout_names(top, &image, &saved)?;
        images.push(ArchiveImage { names, ..image });
    }
    Ok(images)
}

/// The manifest of a nested index for this machine's platform.
fn host_manifest(files: &Files, index: &ReadDescriptor) -> Result<Option<ReadDescriptor>, String> {
    let blob = files.blob(index)?;
    let nested: ReadIndex = serde_json::from_slice(&blob.bytes)
        .map_err(|e| format!("index {} is not valid: {e}", index.digest))?;
    let host = Platform::host();
    Ok(nested.manifests.into_iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == host.os && p.architecture == host.architecture)
    }))
}

/// A manifest and the blobs it names.
fn read_image(files: &Files, descriptor: &ReadDescriptor) -> Result<ArchiveImage, String> {
    let manifest = files.blob(descriptor)?;
    let parsed: ReadManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| format!("manifest {} is not valid: {e}", descriptor.digest))?;
    let mut blobs = vec![files.blob(&parsed.config)?];
    for layer in &parsed.layers {
        blobs.push(files.blob(layer)?);
    }
    Ok(ArchiveImage {
        names: Vec::new(),
        manifest,
        blobs,
    })
}

/// An image's names: containerd's annotation, else a full reference in the OCI one, else
/// the `RepoTags` of Docker's `manifest.json` beside the layout.
fn layout_names(
    top: &ReadDescriptor,
    image: &ArchiveImage,
    saved: &[SavedImage],
) -> Result<Vec<String>, String> {
    let annotated = top.annotations.get(ANNOTATION_CONTAINERD_NAME).or_else(|| {
        top.annotations
            .get(ANNOTATION_REF_NAME)
            .filter(|n| n.contains('/') || n.contains(':'))
    });
    let config_hex = image.blobs[0].digest.trim_start_matches("sha256:");
    let names: Vec<&String> = match annotated {
        Some(name) => vec![name],
        None => saved
            .iter()
            .filter(|s| s.config.ends_with(config_hex))
            .flat_map(|s| s.repo_tags.iter().flatten())
            .collect(),
    };
    full_names(names, &image.manifest.digest)
}

fn full_names<'a>(
    names: impl IntoIterator<Item = &'a String>,
    digest: &str,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for name in names {
        let reference =
            normalize_reference(name).map_err(|e| format!("image name {name:?}: {e}"))?;
        let full = reference.to_string();
        if !out.contains(&full) {
            out.push(full);
        }
    }
    if out.is_empty() {
        return Err(format!(
            "image {digest} has no name; tag it (docker tag, or the {ANNOTATION_CONTAINERD_NAME} annotation) before saving"
        ));
    }
    Ok(out)
}

/// A legacy `docker save` tar: each entry becomes an OCI manifest over the same config and
/// layers (a layer's media type from its bytes: gzip or a plain tar).
fn read_docker_save(files: &Files) -> Result<Vec<ArchiveImage>, String> {
    let saved: Vec<SavedImage> = files.json("manifest.json")?;
    let mut images = Vec::new();
    for entry in &saved {
        let config = saved_blob(files, &entry.config, MEDIA_TYPE_CONFIG)?;
        let mut blobs = vec![config];
        for layer in &entry.layers {
            let data = files
                .get(layer)
                .ok_or_else(|| format!("layer {layer} is missing"))?;
            let media_type = if data.starts_with(&[0x1f, 0x8b]) {
                MEDIA_TYPE_LAYER_GZIP
            } else {
                MEDIA_TYPE_LAYER
            };
            blobs.push(saved_blob(files, layer, media_type)?);
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: MEDIA_TYPE_MANIFEST,
            config: descriptor_of(&blobs[0], MEDIA_TYPE_CONFIG),
            layers: blobs[1..]
                .iter()
                .map(|b| descriptor_of(b, media_type_static(&b.media_type)))
                .collect(),
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| format!("cannot encode: {e}"))?;
        let manifest = Blob {
            digest: digest(&bytes),
            media_type: MEDIA_TYPE_MANIFEST.to_owned(),
            bytes: Bytes::from(bytes),
        };
        let names = full_names(entry.repo_tags.iter().flatten(), &manifest.digest)?;
        images.push(ArchiveImage {
            names,
            manifest,
            blobs,
        });
    }
    Ok(images)
}

fn saved_blob(files: &Files, path: &str, media_type: &str) -> Result<Blob, String> {
    let data = files
        .get(path)
        .ok_or_else(|| format!("{path} is missing"))?;
    Ok(Blob {
        digest: digest(data),
        media_type: media_type.to_owned(),
        bytes: data.clone(),
    })
}

fn descriptor_of(blob: &Blob, media_type: &'static str) -> Descriptor {
    Descriptor::new(media_type, &blob.digest, blob.bytes.len())
}

fn media_type_static(media_type: &str) -> &'static str {
    if media_type == MEDIA_TYPE_LAYER_GZIP {
        MEDIA_TYPE_LAYER_GZIP
    } else {
        MEDIA_TYPE_LAYER
    }
}

#[cfg(test)]
mod tests;
