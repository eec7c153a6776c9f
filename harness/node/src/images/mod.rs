//! Container images without a registry: a recipe (YAML, see `fixtures/images/README.md`)
//! becomes an OCI image-layout tarball that `ctr -n k8s.io images import FILE` imports.
//!
//! The archive holds `oci-layout`, `index.json` (one manifest, annotated with
//! `io.containerd.image.name` = the full reference and `org.opencontainers.image.ref.name` =
//! its tag) and `blobs/sha256/…`: one gzip layer, the image config (whose `rootfs.diff_ids`
//! names the sha256 of the *uncompressed* layer) and the manifest. Everything is
//! deterministic — entries sorted, mtime 0, uid/gid 0, fixed gzip header — so the same recipe
//! and sources give the same digests on every build.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub mod archive;
pub mod catalog;

/// The recipes of the images every real node has, compiled in (`fixtures/images` of the
/// source tree), so that an installed podcheck needs no source tree: the sandbox image and
/// busybox. Their sources are absolute host paths (`/bin/busybox`).
pub const BUILTIN_RECIPES: [(&str, &str); 2] = [
    (
        "pause",
        include_str!("../../../../fixtures/images/pause.yaml"),
    ),
    (
        "busybox",
        include_str!("../../../../fixtures/images/busybox.yaml"),
    ),
];

/// A built-in recipe by name (`pause`, `busybox`).
pub fn builtin_recipe(name: &str) -> Result<ImageRecipe, ImageError> {
    let (_, text) = BUILTIN_RECIPES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| ImageError::InvalidRecipe {
            recipe: name.to_string(),
            message: "no built-in recipe of that name".into(),
        })?;
    parse_recipe(text)
}

/// Media types of the OCI image spec.
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The index annotation containerd's importer reads as the image's name.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation naming a manifest's tag.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Every way loading a recipe or building its image fails.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The recipe file could not be read.
    #[error("cannot read image recipe {}", path.display())]
    ReadRecipe {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The recipe is not valid YAML for the schema (syntax, a missing or unknown field, a
    /// wrong type); the source says what and where. `path` is `<inline>` for
    /// [`parse_recipe`].
    #[error("invalid image recipe {}", path.display())]
    ParseRecipe {
        path: PathBuf,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// The recipe parsed but says something that cannot be built (a reference that is not
    /// fully qualified, a bad mode, a path used twice, an applet binary not in the layer, …).
    #[error("image recipe {recipe}: {message}")]
    InvalidRecipe { recipe: String, message: String },
    /// A file the layer copies from the host could not be read.
    #[error("cannot read {} (source of {image_path} in image {reference})", source_path.display())]
    ReadSource {
        reference: String,
        image_path: String,
        source_path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file marked `requireStatic` is not a statically linked ELF executable (it has a
    /// `PT_INTERP` program header, or is no ELF file at all); the image has no dynamic loader.
    #[error("{} (source of {image_path}) is not a statically linked ELF executable: {reason}", source_path.display())]
    NotStatic {
        image_path: String,
        source_path: PathBuf,
        reason: String,
    },
    /// Assembling the layer or the archive in memory failed.
    #[error("cannot assemble the {what} of image {reference}")]
    Assemble {
        reference: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Encoding a JSON document of the image failed.
    #[error("cannot encode the {what} of image {reference}")]
    Encode {
        reference: String,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// An image archive (`--image-archive`, a suite's `spec.images`) is not one podcheck can
    /// serve: not a tar, no index, a missing blob, a digest that does not match, no name.
    #[error("image archive {origin}: {message}")]
    Archive { origin: String, message: String },
    /// The archive could not be written to its destination.
    #[error("cannot write image archive {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

// ---------------------------------------------------------------------------------------------
// The recipe.

/// An image recipe, as read from YAML (`fixtures/images/README.md` documents the schema).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageRecipe {
    /// The fully qualified reference, `registry/repository:tag`, as containerd's CRI
    /// normalises what pods name (`busybox` → `docker.io/library/busybox:latest`).
    pub reference: String,
    /// The platform written into the config and the index; the host's when absent.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// The image config's runtime defaults.
    #[serde(default)]
    pub config: RecipeConfig,
    /// The image's single layer.
    pub layer: RecipeLayer,
    /// Where relative `source` paths are resolved: the recipe file's directory when loaded
    /// with [`load_recipe`], the current directory otherwise.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// An OCI platform (`architecture` as GOARCH, `os` as GOOS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
}

impl Platform {
    /// The platform of this machine, in Go's names (`amd64`/`linux` on x86-64 Linux).
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            architecture: architecture.to_owned(),
            os: std::env::consts::OS.to_owned(),
        }
    }
}

/// The runtime defaults of the image config (`config` of the OCI image config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecipeConfig {
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

/// What the layer holds. Parent directories that are not listed are added with mode 0755.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecipeLayer {
    #[serde(default)]
    pub directories: Vec<RecipeDirectory>,
    #[serde(default)]
    pub files: Vec<RecipeFile>,
    #[serde(default)]
    pub symlinks: Vec<RecipeSymlink>,
    #[serde(default)]
    pub applets: Option<RecipeApplets>,
}

/// A directory, with its mode as an octal string (`"1777"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeDirectory {
    pub path: String,
    #[serde(default)]
    pub mode: Option<String>,
}

/// A regular file: copied from `source` on the host, or given inline as `contents`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecipeFile {
    pub path: String,
    #[serde(default)]
    pub source: Option<PathBuf>,
    #[serde(default)]
    pub contents: Option<String>,
    /// Octal string; `"0644"` when absent (`"0755"` for a `source` that is executable).
    #[serde(default)]
    pub mode: Option<String>,
    /// Refuse a source that is not a statically linked ELF executable.
    #[serde(default)]
    pub require_static: bool,
}

/// A symbolic link `path` → `target` (the target is written as given).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeSymlink {
    pub path: String,
    pub target: String,
}

/// Applets of a multi-call binary: one symlink per name, beside the binary and pointing to
/// its file name (`/bin/sh` → `busybox`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeApplets {
    /// The binary's path in the image; it must be one of the layer's `files`.
    pub binary: String,
    pub names: Vec<String>,
}

/// Reads and parses a recipe; relative `source` paths resolve against the file's directory.
pub fn load_recipe(path: impl AsRef<Path>) -> Result<ImageRecipe, ImageError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ImageError::ReadRecipe {
        path: path.to_owned(),
        source,
    })?;
    let mut recipe: ImageRecipe =
        serde_saphyr::from_str(&text).map_err(|source| ImageError::ParseRecipe {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
    recipe.base_dir = path.parent().map(Path::to_owned);
    Ok(recipe)
}

/// Parses a recipe from YAML text; relative sources then resolve against the current
/// directory unless `base_dir` is set. Errors name the recipe `<inline>`.
pub fn parse_recipe(text: &str) -> Result<ImageRecipe, ImageError> {
    serde_saphyr::from_str(text).map_err(|source| ImageError::ParseRecipe {
        path: PathBuf::from("<inline>"),
        source: Box::new(source),
    })
}

// ---------------------------------------------------------------------------------------------
// References.

/// A parsed, fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `registry.k8s.io`, `localhost:5000`, …
    pub domain: String,
    /// `library/busybox`, `pause`, …
    pub path: String,
    pub tag: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.domain, self.path, self.tag)
    }
}

/// Normalises an image name as containerd's CRI does (docker's reference rules): a name
/// without a registry domain is on `docker.io`, a single-component `docker.io` name is under
/// `library/`, and a name without a tag is `:latest`. `busybox` →
/// `docker.io/library/busybox:latest`. Digest references (`@sha256:…`) are refused.
pub fn normalize_reference(name: &str) -> Result<Reference, String> {
    if name.is_empty() {
        return Err("the image name is empty".into());
    }
    if name.contains('@') {
        return Err(format!("{name}: digest references are not supported"));
    }
    if name
        .chars()
        .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
    {
        return Err(format!(
            "{name}: image names are lowercase and have no spaces"
        ));
    }
    let (domain, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => ("docker.io".to_owned(), name.to_owned()),
    };
    let (path, tag) = match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path.to_owned(), tag.to_owned()),
        _ => (rest, "latest".to_owned()),
    };
    if path.is_empty() || tag.is_empty() || path.split('/').any(str::is_empty) {
        return Err(format!("{name}: not an image reference"));
    }
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    Ok(Reference { domain, path, tag })
}

// ---------------------------------------------------------------------------------------------
// Building.

/// The digests of a built image (all `sha256:…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageArchive {
    /// The full reference the archive names (`docker.io/library/busybox:latest`).
    pub reference: String,
    pub manifest_digest: String,
    pub config_digest: String,
    /// Digest of the gzip layer blob.
    pub layer_digest: String,
    /// Digest of the uncompressed layer tar (the config's `rootfs.diff_ids[0]`).
    pub layer_diff_id: String,
    /// The OCI image-layout tarball.
    pub bytes: Vec<u8>,
}

/// An image archive written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub reference: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digest: String,
    pub layer_diff_id: String,
    /// Where the OCI image-layout tarball was written.
    pub path: PathBuf,
}

/// Builds the recipe's image and writes the tarball to `out` (replaced atomically; its
/// directory must exist).
pub fn build(recipe: &ImageRecipe, out: &Path) -> Result<BuiltImage, ImageError> {
    let archive = build_archive(recipe)?;
    let write_err = |source| ImageError::Write {
        path: out.to_owned(),
        source,
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    tmp.write_all(&archive.bytes).map_err(write_err)?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::Permissions::from_mode(0o644);
        tmp.as_file().set_permissions(mode).map_err(write_err)?;
    }
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(out).map_err(|e| write_err(e.error))?;
    Ok(BuiltImage {
        reference: archive.reference,
        manifest_digest: archive.manifest_digest,
        config_digest: archive.config_digest,
        layer_digest: archive.layer_digest,
        layer_diff_id: archive.layer_diff_id,
        path: out.to_owned(),
    })
}

/// Builds the recipe's image in memory.
pub fn build_archive(recipe: &ImageRecipe) -> Result<ImageArchive, ImageError> {
    let reference = normalize_reference(&recipe.reference)
        .map_err(|message| invalid(&recipe.reference, message))?;
    let full = reference.to_string();
    if full != recipe.reference {
        return Err(invalid(
            &recipe.reference,
            format!("the reference must be fully qualified: write {full}"),
        ));
    }
    let platform = recipe.platform.clone().unwrap_or_else(Platform::host);

    let nodes = layer_nodes(recipe, &full)?;
    let layer_tar = layer_tar(&nodes).map_err(|source| ImageError::Assemble {
        reference: full.clone(),
        what: "layer",
        source,
    })?;
    let layer_diff_id = digest(&layer_tar);
    let layer_gz = gzip(&layer_tar).map_err(|source| ImageError::Assemble {
        reference: full.clone(),
        what: "compressed layer",
        source,
    })?;
    let layer_digest = digest(&layer_gz);

    let encode = |what: &'static str, value: &dyn Fn() -> serde_json::Result<Vec<u8>>| {
        value().map_err(|source| ImageError::Encode {
            reference: full.clone(),
            what,
            source,
        })
    };

    let config = oci::ImageConfig {
        created: EPOCH,
        architecture: &platform.architecture,
        os: &platform.os,
        config: oci::RuntimeConfig {
            user: recipe.config.user.as_deref(),
            env: &recipe.config.env,
            entrypoint: recipe.config.entrypoint.as_deref(),
            cmd: recipe.config.cmd.as_deref(),
            working_dir: recipe.config.working_dir.as_deref(),
        },
        rootfs: oci::RootFs {
            kind: "layers",
            diff_ids: vec![layer_diff_id.clone()],
        },
        history: vec![oci::History {
            created: EPOCH,
            created_by: format!("podcheck image recipe for {full}"),
        }],
    };
    let config_json = encode("config", &|| serde_json::to_vec(&config))?;
    let config_digest = digest(&config_json);

    let manifest = oci::Manifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_MANIFEST,
        config: oci::Descriptor::new(MEDIA_TYPE_CONFIG, &config_digest, config_json.len()),
        layers: vec![oci::Descriptor::new(
            MEDIA_TYPE_LAYER_GZIP,
            &layer_digest,
            layer_gz.len(),
        )],
    };
    let manifest_json = encode("manifest", &|| serde_json::to_vec(&manifest))?;
    let manifest_digest = digest(&manifest_json);

    let mut manifest_desc =
        oci::Descriptor::new(MEDIA_TYPE_MANIFEST, &manifest_digest, manifest_json.len());
    manifest_desc.platform = Some(platform.clone());
    manifest_desc.annotations = Some(BTreeMap::from([
        (ANNOTATION_CONTAINERD_NAME, full.clone()),
        (ANNOTATION_REF_NAME, reference.tag.clone()),
    ]));
    let index = oci::Index {
        schema_version: 2,
        media_type: MEDIA_TYPE_INDEX,
        manifests: vec![manifest_desc],
    };
    let index_json = encode("index", &|| serde_json::to_vec(&index))?;
    let layout = oci::Layout {
        image_layout_version: "1.0.0",
    };
    let layout_json = encode("oci-layout", &|| serde_json::to_vec(&layout))?;

    let mut blobs: BTreeMap<String, &[u8]> = BTreeMap::new();
    blobs.insert(hex_of(&layer_digest).to_owned(), &layer_gz);
    blobs.insert(hex_of(&config_digest).to_owned(), &config_json);
    blobs.insert(hex_of(&manifest_digest).to_owned(), &manifest_json);
    let bytes =
        layout_tar(&layout_json, &index_json, &blobs).map_err(|source| ImageError::Assemble {
            reference: full.clone(),
            what: "archive",
            source,
        })?;

    Ok(ImageArchive {
        reference: full,
        manifest_digest,
        config_digest,
        layer_digest,
        layer_diff_id,
        bytes,
    })
}

/// The creation time written into configs: fixed, so builds are reproducible.
const EPOCH: &str = "1970-01-01T00:00:00Z";

fn invalid(recipe: &str, message: impl Into<String>) -> ImageError {
    ImageError::InvalidRecipe {
        recipe: recipe.to_owned(),
        message: message.into(),
    }
}

/// `sha256:HEX` of the bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// One entry of the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
}

/// The layer's entries by normalised path (no leading `/`), parents included.
fn layer_nodes(
    recipe: &ImageRecipe,
    reference: &str,
) -> Result<BTreeMap<String, Node>, ImageError> {
    let bad = |message: String| invalid(reference, message);
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let insert = |nodes: &mut BTreeMap<String, Node>, path: &str, node: Node| {
        let path = normalize_path(path).map_err(bad)?;
        if nodes.insert(path.clone(), node).is_some() {
            return Err(bad(format!("/{path} is listed twice in the layer")));
        }
        Ok(())
    };

    let layer = &recipe.layer;
    for dir in &layer.directories {
        let mode = parse_mode(dir.mode.as_deref(), 0o755).map_err(bad)?;
        insert(&mut nodes, &dir.path, Node::Dir { mode })?;
    }
    for file in &layer.files {
        let image_path = format!("/{}", normalize_path(&file.path).map_err(bad)?);
        let (data, default_mode) = match (&file.source, &file.contents) {
            (Some(source), None) => {
                let source_path = match &recipe.base_dir {
                    Some(base) if source.is_relative() => base.join(source),
                    _ => source.clone(),
                };
                let read_err = |source| ImageError::ReadSource {
                    reference: reference.to_owned(),
                    image_path: image_path.clone(),
                    source_path: source_path.clone(),
                    source,
                };
                let data = std::fs::read(&source_path).map_err(read_err)?;
                let executable = {
                    use std::os::unix::fs::PermissionsExt as _;
                    let meta = std::fs::metadata(&source_path).map_err(read_err)?;
                    meta.permissions().mode() & 0o111 != 0
                };
                if file.require_static
                    && let Err(reason) = check_static_elf(&data)
                {
                    return Err(ImageError::NotStatic {
                        image_path,
                        source_path,
                        reason,
                    });
                }
                (data, if executable { 0o755 } else { 0o644 })
            }
            (None, Some(contents)) => {
                if file.require_static {
                    return Err(bad(format!(
                        "{image_path}: requireStatic needs a source, not contents"
                    )));
                }
                (contents.clone().into_bytes(), 0o644)
            }
            _ => {
                return Err(bad(format!(
                    "{image_path}: a file needs exactly one of source and contents"
                )));
            }
        };
        let mode = parse_mode(file.mode.as_deref(), default_mode).map_err(bad)?;
        insert(&mut nodes, &file.path, Node::File { mode, data })?;
    }
    for link in &layer.symlinks {
        if link.target.is_empty() {
            return Err(bad(format!("symlink {}: the target is empty", link.path)));
        }
        insert(
            &mut nodes,
            &link.path,
            Node::Symlink {
                target: link.target.clone(),
            },
        )?;
    }
    if let Some(applets) = &layer.applets {
        let binary = normalize_path(&applets.binary).map_err(bad)?;
        let (dir, file_name) = match binary.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name.to_owned()),
            None => (String::new(), binary.clone()),
        };
        if !matches!(nodes.get(&binary), Some(Node::File { .. })) {
            return Err(bad(format!(
                "applets: the binary /{binary} is not one of the layer's files"
            )));
        }
        for name in &applets.names {
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(bad(format!("applets: {name:?} is not an applet name")));
            }
            insert(
                &mut nodes,
                &format!("{dir}{name}"),
                Node::Symlink {
                    target: file_name.clone(),
                },
            )?;
        }
    }

    // Parents: every ancestor must be a directory; missing ones are added as 0755.
    let paths: Vec<String> = nodes.keys().cloned().collect();
    for path in paths {
        let mut ancestor = path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            match nodes.get(parent) {
                None => {
                    nodes.insert(parent.to_owned(), Node::Dir { mode: 0o755 });
                }
                Some(Node::Dir { .. }) => {}
                Some(_) => {
                    return Err(bad(format!(
                        "/{parent} is a file or symlink but /{path} is under it"
                    )));
                }
            }
            ancestor = parent;
        }
    }
    Ok(nodes)
}

/// `/bin//busybox` → `bin/busybox`; refuses empty paths, `.` and `..`.
fn normalize_path(path: &str) -> Result<String, String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(format!("{path:?} is not a path in the image"));
    }
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(format!("{path}: . and .. are not allowed in image paths"));
    }
    Ok(parts.join("/"))
}

/// An octal mode string (`"0755"`, `"1777"`), or `default` when absent.
fn parse_mode(mode: Option<&str>, default: u32) -> Result<u32, String> {
    let Some(text) = mode else {
        return Ok(default);
    };
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(format!(
            "mode {text:?} is not an octal permission such as \"0755\""
        )),
    }
}

/// `Ok` when `data` is an ELF executable without a `PT_INTERP` program header (needs no
/// dynamic loader); the reason otherwise.
pub fn check_static_elf(data: &[u8]) -> Result<(), String> {
    const PT_INTERP: u32 = 3;
    if data.len() < 16 || &data[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let wide = match data[4] {
        1 => false,
        2 => true,
        _ => return Err("unknown ELF class".into()),
    };
    let little = match data[5] {
        1 => true,
        2 => false,
        _ => return Err("unknown ELF byte order".into()),
    };
    let read = |at: usize, len: usize| -> Result<u64, String> {
        let bytes = data
            .get(at..at + len)
            .ok_or_else(|| "truncated ELF header".to_string())?;
        let mut value = 0u64;
        for i in 0..len {
            let b = if little { bytes[len - 1 - i] } else { bytes[i] };
            value = (value << 8) | u64::from(b);
        }
        Ok(value)
    };
    let e_type = read(16, 2)?;
    if e_type != 2 && e_type != 3 {
        return Err(format!("ELF type {e_type} is not an executable"));
    }
    let (phoff, phentsize, phnum) = if wide {
        (read(32, 8)?, read(54, 2)?, read(56, 2)?)
    } else {
        (read(28, 4)?, read(42, 2)?, read(44, 2)?)
    };
    for i in 0..phnum {
        let at = usize::try_from(phoff + i * phentsize).map_err(|_| "bad ELF offsets")?;
        if read(at, 4)? == u64::from(PT_INTERP) {
            return Err("dynamically linked (has a PT_INTERP program header)".into());
        }
    }
    Ok(())
}

/// The uncompressed layer tar: sorted entries, mtime 0, uid/gid 0.
fn layer_tar(nodes: &BTreeMap<String, Node>) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, node) in nodes {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match node {
            Node::Dir { mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), std::io::empty())?;
            }
            Node::File { mode, data } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, data.as_slice())?;
            }
            Node::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target)?;
            }
        }
    }
    builder.into_inner()
}

/// gzip with a fixed header (no name, mtime 0, OS "Unix").
fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    GzEncoder::finish(encoder)
}

/// The image-layout tarball: `oci-layout`, `index.json`, `blobs/sha256/…`.
fn layout_tar(
    layout: &[u8],
    index: &[u8],
    blobs: &BTreeMap<String, &[u8]>,
) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let header = |kind: tar::EntryType, mode: u32, size: usize| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    };
    builder.append_data(
        &mut header(tar::EntryType::Regular, 0o644, layout.len()),
        "oci-layout",
        layout,
    )?;
    builder.append_data(
        &mut header(tar::EntryType::Regular, 0o644, index.len()),
        "index.json",
        index,
    )?;
    for dir in ["blobs/", "blobs/sha256/"] {
        builder.append_data(
            &mut header(tar::EntryType::Directory, 0o755, 0),
            dir,
            std::io::empty(),
        )?;
    }
    for (hex, blob) in blobs {
        builder.append_data(
            &mut header(tar::EntryType::Regular, 0o644, blob.len()),
            format!("blobs/sha256/{hex}"),
            *blob,
        )?;
    }
    builder.into_inner()
}

/// The OCI documents, as written (field order fixed by the structs).
mod oci {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::Platform;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Layout {
        pub image_layout_version: &'static str,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Index {
        pub schema_version: u32,
        pub media_type: &'static str,
        pub manifests: Vec<Descriptor>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Manifest {
        pub schema_version: u32,
        pub media_type: &'static str,
        pub config: Descriptor,
        pub layers: Vec<Descriptor>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Descriptor {
        pub media_type: &'static str,
        pub digest: String,
        pub size: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub platform: Option<Platform>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub annotations: Option<BTreeMap<&'static str, String>>,
    }

    impl Descriptor {
        pub fn new(media_type: &'static str, digest: &str, size: usize) -> Self {
            Descriptor {
                media_type,
                digest: digest.to_owned(),
                size,
                platform: None,
                annotations: None,
            }
        }
    }

    #[derive(Serialize)]
    pub struct ImageConfig<'a> {
        pub created: &'static str,
        pub architecture: &'a str,
        pub os: &'a str,
        pub config: RuntimeConfig<'a>,
        pub rootfs: RootFs,
        pub history: Vec<History>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct RuntimeConfig<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub user: Option<&'a str>,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        pub env: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub entrypoint: Option<&'a [String]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub cmd: Option<&'a [String]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub working_dir: Option<&'a str>,
    }

    #[derive(Serialize)]
    pub struct RootFs {
        #[serde(rename = "type")]
        pub kind: &'static str,
        pub diff_ids: Vec<String>,
    }

    #[derive(Serialize)]
    pub struct History {
        pub created: &'static str,
        pub created_by: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_normalise_as_cri_does() {
        let n = |s: &str| normalize_reference(s).map(|r| r.to_string());
        assert_eq!(n("busybox").unwrap(), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36").unwrap(), "docker.io/library/busybox:1.36");
        assert_eq!(
            n("library/busybox").unwrap(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(n("me/tool").unwrap(), "docker.io/me/tool:latest");
        assert_eq!(
            n("registry.k8s.io/pause:3.9").unwrap(),
            "registry.k8s.io/pause:3.9"
        );
        assert_eq!(n("localhost:5000/x").unwrap(), "localhost:5000/x:latest");
        assert!(n("busybox@sha256:00").is_err());
        assert!(n("").is_err());
        assert!(n("Busybox").is_err());
    }

    #[test]
    fn paths_and_modes() {
        assert_eq!(normalize_path("/bin//busybox").unwrap(), "bin/busybox");
        assert_eq!(normalize_path("tmp/").unwrap(), "tmp");
        assert!(normalize_path("/").is_err());
        assert!(normalize_path("/bin/../etc").is_err());
        assert_eq!(parse_mode(Some("1777"), 0).unwrap(), 0o1777);
        assert_eq!(parse_mode(Some("0o755"), 0).unwrap(), 0o755);
        assert_eq!(parse_mode(None, 0o644).unwrap(), 0o644);
        assert!(parse_mode(Some("0789"), 0).is_err());
        assert!(parse_mode(Some("77777"), 0).is_err());
    }

    #[test]
    fn elf_checks() {
        assert!(check_static_elf(b"#!/bin/sh\n").is_err());
        // The test binary itself is dynamically linked on this target (glibc).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let verdict = check_static_elf(&me);
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(verdict.unwrap_err().contains("PT_INTERP"));
        }
    }

    #[test]
    fn recipe_rejects_unknown_fields_and_conflicts() {
        let err = parse_recipe("reference: a.io/b:c\nlayer: {}\nextra: 1\n").unwrap_err();
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("extra"), "{cause}");

        let recipe = parse_recipe(
            "reference: a.io/b:c\nlayer:\n  files:\n    - {path: /x, contents: hi}\n  symlinks:\n    - {path: /x/y, target: z}\n",
        )
        .unwrap();
        let err = build_archive(&recipe).unwrap_err().to_string();
        assert!(err.contains("/x is a file"), "{err}");

        let recipe = parse_recipe("reference: busybox\nlayer: {}\n").unwrap();
        let err = build_archive(&recipe).unwrap_err().to_string();
        assert!(err.contains("docker.io/library/busybox:latest"), "{err}");
    }
}
