//! Volumes through the controller: `volume create` lands on a node,
//! `volume ls` lists every node's volumes, `inspect` and `rm` find the node
//! that holds the volume, a name on two nodes needs `--node`, and `prune`
//! runs everywhere.

use skiff_tests::cluster::Cluster;

#[test]
fn the_controller_routes_volume_calls_to_the_node_that_holds_the_volume() {
    let c = Cluster::up(2);
    c.skiff(&["volume", "create", "--label", "tier=db", "data"]).ok();
    let on = |i: u32, name: &str| {
        c.skiff_on(i, &["volume", "ls", "-q"])
            .ok()
            .stdout
            .lines()
            .any(|l| l == name)
    };
    let home = if on(1, "data") { 1 } else { 2 };
    assert!(on(home, "data") && !on(3 - home, "data"), "exactly one node has it");
    // Creating the same name again answers with that volume, on its node.
    c.skiff(&["volume", "create", "data"]).ok();
    assert!(!on(3 - home, "data"));
    c.skiff(&["--node", &format!("h{}", 3 - home), "volume", "create", "other"])
        .ok();
    let ls = c.skiff(&["volume", "ls", "-q"]).ok();
    assert_eq!(ls.stdout, "data\nother\n");
    let ls = c.skiff(&["volume", "ls", "--filter", "label=tier=db", "-q"]).ok();
    assert_eq!(ls.stdout, "data\n");
    assert_eq!(
        c.skiff(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Labels.tier}} {{.Driver}}",
            "data"
        ])
        .ok()
        .out(),
        "data db local"
    );
    let mp = c.skiff(&["volume", "inspect", "-f", "{{.Mountpoint}}", "other"]).ok();
    assert!(mp.out().ends_with("/volumes/other/_data"), "{}", mp.stdout);
    let r = c.skiff(&["volume", "inspect", "nope"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("No such volume: nope"), "{}", r.stderr);
    // A name on both nodes: the controller cannot choose.
    c.skiff(&["--node", &format!("h{}", 3 - home), "volume", "create", "data"])
        .ok();
    let r = c.skiff(&["volume", "rm", "data"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is on several nodes"), "{}", r.stderr);
    c.skiff(&["--node", &format!("h{}", 3 - home), "volume", "rm", "data"])
        .ok();
    assert_eq!(c.skiff(&["volume", "rm", "data"]).ok().out(), "data");
    assert!(!on(home, "data") && !on(3 - home, "data"));
    let r = c.skiff(&["volume", "rm", "data"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("No such volume: data"), "{}", r.stderr);
    // Prune reaches every node.
    c.skiff(&["--node", &format!("h{home}"), "volume", "create", "spare"])
        .ok();
    let r = c.skiff(&["volume", "prune", "-f"]).ok();
    assert!(r.stdout.contains("other") && r.stdout.contains("spare"), "{}", r.stdout);
    assert_eq!(c.skiff(&["volume", "ls", "-q"]).ok().stdout, "");
    c.finish();
}
