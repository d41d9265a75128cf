//! The domain's top-level modules must form an acyclic graph: an aggregate
//! may build on another or on the shared vocabulary, never the other way
//! round as well. This reads every `crate::` path in `src/` (imports and
//! inline paths, tests included) and fails naming the first cycle it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/codes.rs` and
/// `src/codes/port.rs` are both `codes`; `src/lib.rs` is the crate root.
fn owner(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("a file under src/");
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(name) => Some(name.to_owned()),
        None => Some(first.to_owned()),
    }
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level module names a piece of source reaches through `crate::`,
/// including each branch of a `crate::{a::X, b}` group.
fn referenced_modules(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    for (at, _) in code.match_indices("crate::") {
        let rest = code[at + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        names.insert(identifier(&group[i..]).to_owned());
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(identifier(rest).to_owned());
        }
    }
    names.retain(|name| !name.is_empty() && name != "self");
    names
}

fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    source_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = owner(src, &file) else {
            continue;
        };
        let source = fs::read_to_string(&file).expect("a source file is readable");
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(
            referenced_modules(&source)
                .into_iter()
                .filter(|target| *target != module),
        );
    }
    graph
}

/// A cycle as the list of modules along it, if the graph has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_domain_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(graph.len() > 5, "read too few modules: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "the domain's modules import each other in a circle: {}",
            cycle.join(" -> ")
        );
    }
}

/// The shared vocabulary every aggregate may use; none of it may reach
/// back into an aggregate.
const LEAVES: [&str; 7] = ["clock", "field", "hex", "ids", "paging", "random", "store"];

#[test]
fn the_shared_vocabulary_imports_no_aggregate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    for leaf in LEAVES {
        let uses = graph
            .get(leaf)
            .unwrap_or_else(|| panic!("no module {leaf} in {graph:?}"));
        let aggregates: Vec<&String> = uses
            .iter()
            .filter(|used| !LEAVES.contains(&used.as_str()))
            .collect();
        assert!(
            aggregates.is_empty(),
            "the leaf module {leaf} imports {aggregates:?}"
        );
    }
}

#[test]
fn the_reader_sees_grouped_and_inline_paths() {
    let names = referenced_modules(
        "use crate::{clock::Timestamp, hex};\nfn f() { crate::random::x(); } // crate::ignored\n",
    );
    let expected: BTreeSet<String> = ["clock", "hex", "random"].map(String::from).into();
    assert_eq!(names, expected);
    let mut cyclic = BTreeMap::new();
    cyclic.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    cyclic.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&cyclic),
        Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()])
    );
    cyclic.remove("b");
    assert_eq!(find_cycle(&cyclic), None);
}
