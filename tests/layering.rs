//! The project's own invariants about its code, checked on the source text (in the manner of
//! rust-analyzer's tidy tests): which layer may import which, that only surfaces hold the
//! `App`, and that no import loop crosses folders. `docs/architecture.md` has the table of
//! layers this encodes; a new top-level module must be placed in it here and there.
//!
//! The import graph is read from paths in the code (`crate::…`, `super::…`, `self::…`,
//! `use crate::{…}` groups, and child modules used as `child::…`), outside comments, string
//! literals and the trailing `#[cfg(test)] mod tests` of a file (tests may reach anywhere).
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Lower layers first. A file may import its own layer and those below it, never above.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "alloc",
            "bufpool",
            "clock",
            "config",
            "error",
            "sched",
            "telemetry",
        ],
    ),
    ("storage", &["store", "blobs"]),
    ("model", &[]),
    ("schema", &["schema"]),
    (
        "services",
        &[
            "accounts",
            "files",
            "groupware",
            "notify",
            "appliance",
            "net",
        ],
    ),
    (
        "surfaces",
        &[
            "http", "dav", "ocs", "pages", "control", "cli", "state", "lib", "main",
        ],
    ),
];

/// Folders (top-level modules) of `src/`, by file: `dav/gw/mod.rs` is in `dav`, `state.rs`
/// in `state`.
fn folder(file: &str) -> &str {
    match file.split_once('/') {
        Some((dir, _)) => dir,
        None => file.trim_end_matches(".rs"),
    }
}

/// The services' record types (and the pure helper they use): the schema layer types its
/// tables with them, so they sit below it and import only base and storage.
const MODEL_FILES: &[&str] = &[
    "accounts/model.rs",
    "files/model.rs",
    "groupware/model.rs",
    "groupware/content.rs",
    "notify/model.rs",
];

fn layer_of(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, fs)| fs.contains(&folder))
}

fn layer_of_file(file: &str) -> Option<usize> {
    match MODEL_FILES.contains(&file) {
        true => LAYERS.iter().position(|(name, _)| *name == "model"),
        false => layer_of(folder(file)),
    }
}

struct Graph {
    /// file (relative to `src/`) → files it imports.
    edges: BTreeMap<String, BTreeSet<String>>,
}

#[test]
fn every_folder_has_a_layer() {
    let g = Graph::read(&src_dir());
    let unplaced: BTreeSet<&str> = g
        .edges
        .keys()
        .map(|f| folder(f))
        .filter(|f| layer_of(f).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "place these top-level modules in LAYERS (tests/layering.rs) and in the table of \
         docs/architecture.md: {unplaced:?}"
    );
}

#[test]
fn no_file_imports_a_layer_above_its_own() {
    let g = Graph::read(&src_dir());
    let mut upward = Vec::new();
    for (from, tos) in &g.edges {
        let Some(l) = layer_of_file(from) else {
            continue;
        };
        for to in tos {
            if let Some(m) = layer_of_file(to)
                && m > l
            {
                upward.push(format!(
                    "{from} ({}) imports {to} ({})",
                    LAYERS[l].0, LAYERS[m].0
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layering (docs/architecture.md, Layers):\n{}",
        upward.join("\n")
    );
}

/// The application context is for surfaces: services, storage and jobs take what they use.
#[test]
fn only_surfaces_name_the_app() {
    let surfaces = LAYERS[LAYERS.len() - 1].1;
    let mut named = Vec::new();
    for (file, text) in sources(&src_dir()) {
        if surfaces.contains(&folder(&file)) {
            continue;
        }
        let code = code_of(&text);
        if code.contains("state::App") || code.contains("crate::state") {
            named.push(file);
        }
    }
    assert!(
        named.is_empty(),
        "only surfaces may name state::App; pass these the services they use: {named:?}"
    );
}

/// Two files of one folder may import each other; a loop through two folders means neither
/// can be understood (or moved) without the other.
#[test]
fn no_import_loop_crosses_folders() {
    let g = Graph::read(&src_dir());
    let mut loops = Vec::new();
    for scc in g.strongly_connected() {
        let folders: BTreeSet<&str> = scc.iter().map(|f| folder(f)).collect();
        if folders.len() > 1 {
            loops.push(format!("{folders:?}: {scc:?}"));
        }
    }
    assert!(
        loops.is_empty(),
        "import loops across folders:\n{}",
        loops.join("\n")
    );
}

/// The checks must see real imports: a reader that found nothing would pass everything.
#[test]
fn the_reader_sees_known_imports() {
    let g = Graph::read(&src_dir());
    let has = |a: &str, b: &str| g.edges.get(a).is_some_and(|t| t.contains(b));
    assert!(
        has("files/mod.rs", "store/mod.rs"),
        "use crate::store::{{…}}"
    );
    assert!(
        has("dav/locks.rs", "files/locks.rs"),
        "use crate::files::locks::…"
    );
    assert!(has("http/server.rs", "state.rs"), "crate::state::App");
    assert!(
        has("store/mod.rs", "store/commit.rs"),
        "mod commit; commit::…"
    );
    assert!(
        has("schema/migrate.rs", "schema/mod.rs"),
        "use crate::schema as …"
    );
    // And a loop is found when there is one.
    let mut looped = Graph {
        edges: BTreeMap::new(),
    };
    looped
        .edges
        .insert("a/x.rs".into(), ["b/y.rs".to_owned()].into());
    looped
        .edges
        .insert("b/y.rs".into(), ["a/x.rs".to_owned()].into());
    assert_eq!(looped.strongly_connected().len(), 1);
}

fn src_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as (path relative to `dir` with `/`, text).
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("src/ is readable") {
            let p = e.expect("a directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p
                    .strip_prefix(dir)
                    .expect("below src/")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&p).expect("UTF-8 source")));
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file: `dav/gw/mod.rs` → [dav, gw]; `lib.rs` and `main.rs` → [].
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// The text with comments and string and char literals blanked out, and without the
/// trailing test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && !b
                    .get(i.wrapping_sub(1))
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') =>
            {
                // A raw string: r"…" or r#"…"#.
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = j + close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}'), or else a lifetime.
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else if let Some(len) = text[i + 1..].chars().next().map(char::len_utf8)
                    && b.get(i + 1 + len) == Some(&b'\'')
                {
                    i += 2 + len;
                } else {
                    out.push('\'');
                    i += 1;
                }
                out.push(' ');
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Paths written in `code` that start with `crate`, `super` or `self`, expanded from `{…}`
/// groups, as their segments (`crate` included).
fn rooted_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if matches!(word.as_str(), "crate" | "super" | "self") {
                i = read_path(&chars, i, vec![word], &mut out);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Continues a path at `i` (after its segments `prefix`); pushes every full path, and
/// returns where it ended.
fn read_path(
    chars: &[char],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if !(chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':')) {
            break;
        }
        j += 2;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if chars.get(j) == Some(&'{') {
            // A group: each item is a path continuing this one.
            j += 1;
            loop {
                while j < chars.len() && (chars[j].is_whitespace() || chars[j] == ',') {
                    j += 1;
                }
                if j >= chars.len() || chars[j] == '}' {
                    return j + 1;
                }
                let start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                if start == j {
                    // `*` or something else: skip a character.
                    j += 1;
                    continue;
                }
                let word: String = chars[start..j].iter().collect();
                let mut p = prefix.clone();
                if word != "self" {
                    p.push(word);
                }
                j = read_path(chars, j, p, out);
                // Skip an `as name` rename.
                while j < chars.len() && !matches!(chars[j], ',' | '}' | '{') {
                    j += 1;
                }
            }
        }
        let start = j;
        while j < chars.len() && is_ident(chars[j]) {
            j += 1;
        }
        if start == j {
            break;
        }
        prefix.push(chars[start..j].iter().collect());
        i = j;
    }
    out.push(prefix);
    i
}

impl Graph {
    fn read(dir: &Path) -> Graph {
        let files = sources(dir);
        let modules: BTreeMap<Vec<String>, String> = files
            .iter()
            .map(|(f, _)| (module_of(f), f.clone()))
            .collect();
        // The file of the longest module prefix of `path`.
        let resolve = |path: &[String]| -> Option<String> {
            (1..=path.len())
                .rev()
                .find_map(|n| modules.get(&path[..n]).cloned())
        };
        let mut edges = BTreeMap::new();
        for (file, text) in &files {
            let me = module_of(file);
            let code = code_of(text);
            let mut targets = BTreeSet::new();
            for path in rooted_paths(&code) {
                let mut base: Vec<String> = match path[0].as_str() {
                    "crate" => Vec::new(),
                    "super" => me[..me.len().saturating_sub(1)].to_vec(),
                    _ => me.clone(),
                };
                let mut rest = &path[1..];
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                if let Some(t) = resolve(&base) {
                    targets.insert(t);
                }
            }
            // Child modules used by name: `mod tree;` … `tree::Reader`.
            for line in code.lines() {
                let l = line.trim_start();
                let l = l
                    .strip_prefix("pub ")
                    .or_else(|| l.strip_prefix("pub(crate) "))
                    .unwrap_or(l);
                if let Some(name) = l.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                    let used = format!("{name}::");
                    let named = code
                        .match_indices(&used)
                        .any(|(i, _)| !code[..i].ends_with(|c: char| is_ident(c) || c == ':'));
                    if named {
                        let mut child = me.clone();
                        child.push(name.trim().to_owned());
                        if let Some(t) = modules.get(&child) {
                            targets.insert(t.clone());
                        }
                    }
                }
            }
            targets.remove(file);
            edges.insert(file.clone(), targets);
        }
        Graph { edges }
    }

    /// Tarjan's strongly connected components with more than one file.
    fn strongly_connected(&self) -> Vec<Vec<String>> {
        struct State<'g> {
            g: &'g Graph,
            index: BTreeMap<&'g str, usize>,
            low: BTreeMap<&'g str, usize>,
            stack: Vec<&'g str>,
            on_stack: BTreeSet<&'g str>,
            next: usize,
            out: Vec<Vec<String>>,
        }
        fn visit<'g>(s: &mut State<'g>, v: &'g str) {
            s.index.insert(v, s.next);
            s.low.insert(v, s.next);
            s.next += 1;
            s.stack.push(v);
            s.on_stack.insert(v);
            for w in s.g.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if s.low[v] == s.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack.remove(w);
                    scc.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    s.out.push(scc);
                }
            }
        }
        let mut s = State {
            g: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            out: Vec::new(),
        };
        for v in self.edges.keys() {
            if !s.index.contains_key(v.as_str()) {
                visit(&mut s, v);
            }
        }
        s.out
    }
}
