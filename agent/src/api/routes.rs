//! `api/openapi.yaml` and the router cannot drift apart: every route the
//! router serves (read from this module's source, `mod.rs` and
//! `swarm.rs`) is a documented operation, and every documented operation
//! reaches a route that serves its method, as axum picks routes (literal
//! segments before parameters before wildcards).

const ROUTER_SRC: &str = include_str!("mod.rs");
const SWARM_SRC: &str = include_str!("swarm.rs");
const DOCUMENT: &str = include_str!("../../../api/openapi.yaml");

const METHODS: [&str; 6] = ["get", "post", "put", "delete", "head", "any"];

#[derive(Debug)]
struct Route {
    path: String,
    methods: Vec<String>,
}

/// Each `.route("PATH", get(..).post(..))` of a source file whose path is
/// a string literal, with the methods its handler chain names.
fn literal_routes(src: &str) -> Vec<Route> {
    let mut out = Vec::new();
    for (at, _) in src.match_indices(".route(") {
        let rest = src[at + ".route(".len()..].trim_start();
        let Some(lit) = rest.strip_prefix('"') else { continue };
        let Some(end) = lit.find('"') else { continue };
        let path = lit[..end].to_string();
        // The handler chain: up to the parenthesis that closes `.route(`.
        let (mut depth, mut close) = (1, lit.len());
        for (i, c) in lit[end..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                close = end + i;
                break;
            }
        }
        out.push(Route {
            path,
            methods: methods_called(&lit[end..close]),
        });
    }
    out
}

/// The method routers called in `chain`: `get(`, `.head(`, …, not `x::get(`.
fn methods_called(chain: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in METHODS {
        for (at, _) in chain.match_indices(&format!("{m}(")) {
            let before = chain[..at].chars().next_back().unwrap_or(' ');
            if !(before.is_alphanumeric() || before == '_' || before == ':') {
                out.push(m.to_string());
            }
        }
    }
    out
}

/// Every route of the agent's router.
fn router_routes() -> Vec<Route> {
    let mut out = literal_routes(ROUTER_SRC);
    out.extend(literal_routes(SWARM_SRC));
    for kind in super::swarm::SWARM_KINDS {
        for path in [format!("/{kind}"), format!("/{kind}/{{*rest}}")] {
            out.push(Route {
                path,
                methods: vec!["any".into()],
            });
        }
    }
    out
}

/// The document's operations: (path, method).
fn documented() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut path = None;
    let paths = DOCUMENT.split_once("\npaths:\n").expect("a paths section").1;
    for line in paths.lines() {
        if !line.is_empty() && !line.starts_with(' ') && !line.starts_with('#') {
            break; // the next top-level key
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if let Some(m) = line.strip_prefix("    ").and_then(|m| m.strip_suffix(':')) {
            if METHODS.contains(&m) {
                out.push((path.clone().expect("a method under a path"), m.to_string()));
            }
        }
    }
    out
}

/// How well `route` matches a concrete documented path: `None` when it
/// does not, else a rank (higher is what axum prefers).
fn matches(route: &str, path: &str) -> Option<usize> {
    let r: Vec<&str> = route.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    let mut rank = 0;
    for (i, seg) in r.iter().enumerate() {
        if seg.starts_with("{*") {
            return (p.len() > i).then_some(rank);
        }
        let other = p.get(i)?;
        if seg.starts_with('{') {
            rank += 1;
        } else if seg == other {
            rank += 2;
        } else {
            return None;
        }
    }
    (r.len() == p.len()).then_some(rank + 1)
}

/// The route axum picks for a documented path.
fn best<'a>(routes: &'a [Route], path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .filter_map(|r| matches(&r.path, path).map(|rank| (rank, r)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, r)| r)
}

#[test]
fn every_documented_operation_is_routed() {
    let routes = router_routes();
    for (path, method) in documented() {
        let r = best(&routes, &path).unwrap_or_else(|| panic!("{method} {path} is documented but not routed"));
        assert!(
            r.methods.iter().any(|m| m == &method || m == "any"),
            "{method} {path} is documented but {} serves only {:?}",
            r.path,
            r.methods
        );
    }
}

#[test]
fn every_route_is_documented() {
    let routes = router_routes();
    let docs = documented();
    assert!(routes.len() > 60 && docs.len() > 90, "parsing failed: {routes:?}");
    for r in &routes {
        assert!(!r.methods.is_empty(), "no methods read for {}", r.path);
        for m in &r.methods {
            let served = docs
                .iter()
                .any(|(path, dm)| (dm == m || m == "any") && best(&routes, path).is_some_and(|b| std::ptr::eq(b, r)));
            assert!(served, "{m} {} is routed but not in api/openapi.yaml", r.path);
        }
    }
}

#[test]
fn the_route_parser_reads_chains() {
    let r = literal_routes(r#".route("/a/{id}", get(x::get).head(x::head).put(x::put)) .route("/b", post(y))"#);
    assert_eq!(r[0].path, "/a/{id}");
    assert_eq!(r[0].methods, ["get", "put", "head"]);
    assert_eq!(r[1].methods, ["post"]);
    assert_eq!(matches("/images/{*rest}", "/images/{name}/json"), Some(4));
    assert!(matches("/images/json", "/images/json") > matches("/images/{*rest}", "/images/json"));
    assert_eq!(matches("/containers/{id}", "/containers/{id}/json"), None);
}
