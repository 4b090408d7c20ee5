//! The json-file driver's `compress`: rotated files gzipped as Docker's
//! (`NAME-json.log.1.gz`, …), `logs` reading across them in order, and
//! Docker's messages for options that cannot go together.

use std::io::Read;

use skiff_tests::Agent;

fn gunzip(path: &str) -> String {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(f).read_to_string(&mut s).unwrap();
    s
}

#[test]
fn compress_gzips_rotated_json_logs_and_logs_reads_across_them() {
    let a = Agent::start();
    let opts = [
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=4",
        "--log-opt",
        "compress=true",
    ];
    let script = "for i in $(seq 1 400); do echo line $i; done; echo err >&2";
    let run = [&["run", "--name", "gz"][..], &opts, &["busybox", "sh", "-c", script]].concat();
    a.skiff(&run).ok();
    let log = a.inspect("gz", "{{.LogPath}}");
    let exists = |p: &str| std::path::Path::new(p).exists();
    for i in 1..=3 {
        assert!(exists(&format!("{log}.{i}.gz")), "{log}.{i}.gz");
        assert!(!exists(&format!("{log}.{i}")), "{log}.{i} left uncompressed");
    }
    assert!(!exists(&format!("{log}.4.gz")) && !exists(&format!("{log}.4")));
    // Each rotated file is Docker's json lines, gzipped.
    let oldest = gunzip(&format!("{log}.3.gz"));
    let first: serde_json::Value = serde_json::from_str(oldest.lines().next().unwrap()).unwrap();
    assert_eq!(first["stream"], "stdout");
    assert!(first["log"].as_str().unwrap().starts_with("line "));
    // `logs` reads the gzipped files, oldest first, then the live one.
    let r = a.skiff(&["logs", "gz"]).ok();
    assert_eq!(r.stderr, "err\n");
    let n: Vec<u32> = r.stdout.lines().map(|l| l[5..].parse().unwrap()).collect();
    assert_eq!(n.last(), Some(&400));
    assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "gap or disorder: {n:?}");
    let plain_lines = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!(n.len() > plain_lines + 40, "only {} lines read", n.len());
    assert!(n.len() < 400, "nothing rotated away");
    let tail = a.skiff(&["logs", "--tail", "3", "gz"]).ok();
    assert_eq!(tail.stdout, "line 399\nline 400\n");
    assert_eq!(tail.stderr, "err\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--log-opt", "compress=true"],
            "compress cannot be enabled when max file count is 1 or max size is unlimited",
        ),
        (
            &["--log-opt", "max-size=1k", "--log-opt", "compress=maybe"],
            "strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
    ];
    for (flags, msg) in cases {
        let r = a.skiff(&[&["run"][..], flags, &["busybox", "true"]].concat());
        assert_eq!(r.code, 125, "{r:?}");
        assert!(r.stderr.contains(msg), "{}", r.stderr);
    }
    assert_eq!(a.skiff(&["ps", "-aq"]).ok().out(), &a.inspect("gz", "{{.Id}}")[..12]);
    a.finish();
}
