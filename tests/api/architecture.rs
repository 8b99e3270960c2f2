//! The shape of the code: no import circle between the top-level modules of
//! any crate (a module of `crates/*/src` is its file or folder; an edge is a
//! `crate::name` path in its source).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module -> the top-level modules it names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let targets = edges.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            if text[..i].ends_with('$') {
                continue; // `$crate::` in macros
            }
            let name: String = text[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty()
                && name != module
                && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            {
                targets.insert(name);
            }
        }
    }
    edges
}

/// A cycle through the graph, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if graph.contains_key(next)
                && let Some(found) = visit(next, graph, path, done)
            {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_circle() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap().map(Result::unwrap) {
        let src = entry.path().join("src");
        if src.is_dir() {
            let g = graph(&src);
            assert!(cycle(&g).is_none(), "{}: import circle {:?}", entry.path().display(), cycle(&g));
            checked += 1;
        }
    }
    assert!(checked >= 5, "checked {checked} crates");
}

/// The checker finds a circle when there is one (the http crate had
/// error -> request_meta -> state -> rate_limit -> error).
#[test]
fn the_checker_sees_a_circle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in [
        ("error", "request_meta"),
        ("request_meta", "state"),
        ("state", "rate_limit"),
        ("rate_limit", "error"),
    ] {
        g.entry(from.to_owned()).or_default().insert(to.to_owned());
    }
    let found = cycle(&g).expect("a circle");
    assert_eq!(found.first(), found.last());
    assert_eq!(found.len(), 5);
    g.get_mut("rate_limit").unwrap().clear();
    assert!(cycle(&g).is_none());
}

/// Errors keep their cause: no error variant in the application crate carries
/// its cause as text (`Variant(String)`).
#[test]
fn application_errors_carry_causes_not_strings() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../application/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut offenders = Vec::new();
    for file in files {
        for (n, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
            let t = line.trim();
            if t.ends_with("(String),") && t.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                offenders.push(format!("{}:{}: {t}", file.display(), n + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "String error payloads: {offenders:#?}");
}

/// A contract case cannot be written and never run: each suite defines its
/// cases inside `contract_suite!`, which registers exactly those cases. This
/// checks that no case sits outside it.
#[test]
fn every_contract_case_is_registered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infrastructure/src/contract");
    let mut outside = Vec::new();
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "mod.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let suite = text.find("contract_suite! {").unwrap_or(usize::MAX);
        for (at, _) in text.match_indices("\npub async fn ") {
            cases += 1;
            if at < suite {
                outside.push(format!("{}: case at byte {at} outside contract_suite!", path.display()));
            }
        }
    }
    assert!(cases > 40, "found only {cases} contract cases");
    assert!(outside.is_empty(), "contract cases that would never run: {outside:#?}");
}
