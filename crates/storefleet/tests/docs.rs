//! The documentation's promises that a program can check: every relative link in the README and
//! the docs points at a file that exists in the repository.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop at the first surprise

use std::path::{Path, PathBuf};

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    for dir in [
        "docs",
        "bench",
        "scripts/images",
        "charts/storefleet",
        "charts/medusa",
        "charts/woocommerce",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
    }
    files
}

/// The targets of `[text](target)` links in `text`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = rest[..end].split_whitespace().next().unwrap_or("");
        out.push(target.to_owned());
        rest = &rest[end..];
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_points_at_a_file_that_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files(&root) {
        let text = std::fs::read_to_string(&file).expect("markdown");
        for link in links(&text) {
            let external = ["http://", "https://", "mailto:", "#"]
                .iter()
                .any(|p| link.starts_with(p));
            if external || link.is_empty() {
                continue;
            }
            let path = link.split('#').next().unwrap_or("");
            let target = file.parent().unwrap().join(path);
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: {link}", file.display()));
            }
        }
    }
    assert!(checked > 5, "the links were found ({checked})");
    assert!(
        broken.is_empty(),
        "links to files that do not exist:\n{}",
        broken.join("\n")
    );
}
