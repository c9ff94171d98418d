//! No import circles and no back-imports in any crate, and a safety crate that knows nothing of
//! the engine.
//!
//! Each module's `use crate::…`, `use super::…` and inline `crate::…` paths (tests left out)
//! name the modules it depends on **as written**: a path through a module's re-export counts
//! as a dependency on that module (so `history` taking `Command` through `attempt` is an edge
//! to `attempt`, not hidden behind `command`); only the crate root, which is an index, is
//! looked through to the module that defines the item. A parent declaring its children is not
//! a dependency. Every strongly connected component of that graph must be a single module.
//!
//! The top-level folders of `belay-migrate` and `migrate-guard` are layers, listed bottom to top
//! in [`LAYERS`]: a module may use its own layer and those below, never one above.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use migrate_tests::workspace;

/// Module path (`backup::store`, `` for the crate root) to its file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts.last().is_some_and(|p| p == "mod") {
                    parts.pop();
                }
                if parts == ["lib"] || parts == ["main"] {
                    parts.clear();
                }
                out.insert(parts.join("::"), path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The file's code without its unit tests and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` expanded to every path it names.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let prefix: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&inner[start..]);
        return out
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .flat_map(|p| {
                expand(p).into_iter().map(|rest| {
                    let mut path = prefix.clone();
                    path.extend(rest);
                    path
                })
            })
            .collect();
    }
    let name = tree.split(" as ").next().unwrap_or(tree);
    vec![
        name.split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    ]
}

/// Each `use` statement's base (`crate`, `super`, `self`) and the paths it names, and every
/// inline `crate::…`/`super::…` path.
fn references(code: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let after = &rest[at + 4..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = after.find(';') else { break };
        let statement = after[..end].trim();
        for base in ["crate", "super", "self"] {
            if let Some(tree) = statement.strip_prefix(&format!("{base}::")) {
                out.extend(expand(tree).into_iter().map(|p| (base.to_owned(), p)));
            }
        }
    }
    for base in ["crate", "super"] {
        let needle = format!("{base}::");
        let mut from = 0;
        while let Some(at) = code[from..].find(&needle) {
            let start = from + at;
            from = start + needle.len();
            if code[..start]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let path: String = code[from..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let parts: Vec<String> = path
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            out.push((base.to_owned(), parts));
        }
    }
    out
}

/// The module a path (already absolute) lands in: the longest prefix that is a module, or
/// the module a re-exported name comes from.
fn resolve(
    path: &[String],
    modules: &BTreeMap<String, PathBuf>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    (1..=path.len()).rev().find_map(|k| {
        let candidate = path[..k].join("::");
        if let Some(target) = reexports.get(&candidate) {
            return Some(target.clone());
        }
        modules.contains_key(&candidate).then_some(candidate)
    })
}

fn absolute(module: &str, file: &Path, base: &str, path: &[String]) -> Vec<String> {
    let mut parts: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let _ = file;
    match base {
        "crate" => path.to_vec(),
        "super" => {
            parts.pop();
            parts.extend_from_slice(path);
            parts
        }
        _ => {
            parts.extend_from_slice(path);
            parts
        }
    }
}

/// The dependency graph of the crate whose sources are in `src`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    let codes: BTreeMap<&String, String> = modules.iter().map(|(m, p)| (m, code(p))).collect();
    // Names the crate root re-exports (`pub use` / `pub(crate) use`), to the module that
    // defines them: the root is an index, never a dependency. Every other module's re-exports
    // are taken as written (the module re-exporting is the dependency).
    let mut reexports = BTreeMap::new();
    for (module, code) in codes.iter().filter(|(m, _)| m.is_empty()) {
        for line in code.split(';') {
            let line = line.trim();
            let Some(tree) = line
                .strip_prefix("pub use ")
                .or_else(|| line.strip_prefix("pub(crate) use "))
            else {
                continue;
            };
            let (base, tree) = match tree.split_once("::") {
                Some((b, t)) if ["crate", "self", "super"].contains(&b) => (b, t),
                _ => ("self", tree),
            };
            for path in expand(tree) {
                let abs = absolute(module, &modules[*module], base, &path);
                let Some(name) = path.last() else { continue };
                if let Some(target) = resolve(&abs, &modules, &BTreeMap::new())
                    && !modules.contains_key(&abs.join("::"))
                {
                    let key = if module.is_empty() {
                        name.clone()
                    } else {
                        format!("{module}::{name}")
                    };
                    reexports.insert(key, target);
                }
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &codes {
        let edges = graph.entry((*module).clone()).or_default();
        for (base, path) in references(code) {
            let abs = absolute(module, &modules[*module], &base, &path);
            let Some(target) = resolve(&abs, &modules, &reexports) else {
                continue;
            };
            let child = !module.is_empty() && target.starts_with(&format!("{module}::"));
            if target != **module && !target.is_empty() && !child && !module.is_empty() {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Strongly connected components of more than one module (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.on.contains(w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

/// The layers of each crate, bottom to top: the top-level folders (or files) of `src/`.
const LAYERS: [(&str, &[&str]); 2] = [
    (
        "migrate-guard",
        &[
            "vocab",
            "files",
            "remote",
            "foreign_keys",
            "database",
            "connect",
            "integrity",
            "backup",
            "archive",
            "repair",
            "watch",
        ],
    ),
    (
        "migrate-core",
        &[
            "vocab", "read", "planning", "record", "run", "takeover", "net", "migrator",
        ],
    ),
];

/// Every import from a layer to one above it: `(module, imported module)`.
fn back_imports(
    graph: &BTreeMap<String, BTreeSet<String>>,
    layers: &[&str],
) -> Vec<(String, String)> {
    let layer = |module: &str| {
        let top = module.split("::").next().unwrap_or(module);
        layers.iter().position(|l| *l == top)
    };
    let mut found = Vec::new();
    for (from, targets) in graph {
        for to in targets {
            if let (Some(a), Some(b)) = (layer(from), layer(to))
                && b > a
            {
                found.push((from.clone(), to.clone()));
            }
        }
    }
    found
}

/// Where the crate in `dir` names `belay_migrate` (or depends on `belay-migrate`) outside
/// comments: the safety crate must stand without the engine.
fn engine_references(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    if manifest
        .lines()
        .any(|l| l.trim_start().starts_with("belay-migrate"))
    {
        found.push("Cargo.toml depends on belay-migrate".to_owned());
    }
    for (module, path) in modules(&dir.join("src")) {
        if code(&path).contains("belay_migrate") {
            found.push(format!("module `{module}` names belay_migrate"));
        }
    }
    found
}

#[test]
fn every_layer_uses_only_those_below_it() {
    for (krate, layers) in LAYERS {
        let src = workspace().join(krate).join("src");
        let graph = graph(&src);
        let tops: BTreeSet<&str> = graph
            .keys()
            .filter_map(|m| m.split("::").next())
            .filter(|t| !t.is_empty())
            .collect();
        for top in &tops {
            assert!(
                layers.contains(top),
                "{krate}: `{top}` is in no layer (add it to LAYERS and docs/architecture.md)"
            );
        }
        let found = back_imports(&graph, layers);
        assert!(
            found.is_empty(),
            "{krate} imports upward: {}",
            found
                .iter()
                .map(|(a, b)| format!("{a} -> {b}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

#[test]
fn the_safety_crate_knows_nothing_of_the_engine() {
    let found = engine_references(&workspace().join("migrate-guard"));
    assert!(found.is_empty(), "{}", found.join("; "));
}

/// The checks above find what they look for: an upward import, a path through a re-export, an
/// engine import in the safety crate.
#[test]
fn a_planted_back_import_and_a_planted_engine_import_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for folder in ["low", "high"] {
        std::fs::create_dir_all(src.join(folder)).unwrap();
    }
    std::fs::write(src.join("lib.rs"), "mod low;\nmod high;\n").unwrap();
    std::fs::write(src.join("low/mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("high/mod.rs"), "pub mod c;\n").unwrap();
    // `b` re-exports what `a` defines; `a` takes it back through `b` (a circle only when paths
    // are read as written), and reaches up into `high`.
    std::fs::write(
        src.join("low/a.rs"),
        "use crate::low::b::Thing;\nuse crate::high::c::f;\npub struct Item;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("low/b.rs"),
        "pub use crate::low::a::Item as Thing;\n",
    )
    .unwrap();
    std::fs::write(src.join("high/c.rs"), "pub fn f() {}\n").unwrap();
    let graph = graph(&src);
    assert_eq!(
        circles(&graph),
        [vec!["low::a".to_owned(), "low::b".to_owned()]]
    );
    assert_eq!(
        back_imports(&graph, &["low", "high"]),
        [("low::a".to_owned(), "high::c".to_owned())]
    );
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[dependencies]\nbelay-migrate = { path = \"../migrate-core\" }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("high/c.rs"),
        "pub fn f() { belay_migrate::version_text(None); }\n",
    )
    .unwrap();
    assert_eq!(engine_references(dir.path()).len(), 2);
}

#[test]
fn no_crate_has_an_import_circle() {
    for krate in [
        "migrate-guard",
        "migrate-core",
        "migrate-cli",
        "migrate-macros",
    ] {
        let src = workspace().join(krate).join("src");
        let graph = graph(&src);
        assert!(graph.len() > 2, "{krate}: no modules found");
        let found = circles(&graph);
        assert!(
            found.is_empty(),
            "{krate} has import circles: {}",
            found
                .iter()
                .map(|c| c.join(" <-> "))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
}

/// The detector finds a circle where there is one (so that its silence above means something).
#[test]
fn a_planted_circle_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod c;\npub use c::Thing;\n",
    )
    .unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::f;\npub fn g() {}\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub fn f() { crate::Thing::new(); }\n").unwrap();
    std::fs::write(
        src.join("c.rs"),
        "use crate::{a::{self, g}};\npub struct Thing;\n#[cfg(test)]\nmod tests { use crate::b; }\n",
    )
    .unwrap();
    let found = circles(&graph(src));
    assert_eq!(
        found,
        [vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
    );
}
