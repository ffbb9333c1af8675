//! Directories made by the tasks that fill them: whatever the thread
//! count, and however the tasks' runs of directories cut through subtrees,
//! every directory ends up with its dependency's mode and nanosecond mtime
//! (a subdirectory made after its parent's metadata was set would leave
//! the parent with the current time), and holds what the dependency has.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

/// A tree of `width`-way nested directories, `depth` levels, a few files
/// in each, odd modes and mtimes on every directory.
fn tree(root: &Path, rel: &str, depth: u32, width: u32, rng: &mut Rng) {
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).unwrap();
    for f in 0..1 + rng.below(6) {
        std::fs::write(dir.join(format!("f{f}")), format!("{rel} {f}")).unwrap();
    }
    if depth > 0 {
        for w in 0..width {
            tree(root, &format!("{rel}/d{w}"), depth - 1, width, rng);
        }
    }
    let mode = *rng.pick(&[0o755, 0o750, 0o775, 0o700]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(&dir, 1_500_000_000 + rng.below(10_000) as i64, 123_456_789);
}

#[test]
fn directories_get_their_metadata_whatever_the_thread_count() {
    let t = tempfile::tempdir().unwrap();
    let pp = t.path().join("per-package");
    let mut rng = Rng(0xd1e5);
    for kind in ["host", "target"] {
        // About 340 directories and 1,200 files: many tasks' runs.
        tree(&pp.join("dep").join(kind), "usr", 4, 4, &mut rng);
    }
    for j in ["1", "3", "8"] {
        let pkg = format!("me{j}");
        let o = ok(ppd()
            .args(["prepare", "-j", j, "--per-package-dir"])
            .arg(&pp)
            .args(["--pkg", &pkg, "dep"]));
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        for kind in ["host", "target"] {
            let (src, dest) = (pp.join("dep").join(kind), pp.join(&pkg).join(kind));
            let (a, b) = (snapshot(&src), snapshot(&dest));
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "-j{j} {kind}"
            );
            for (k, x) in &a {
                let y = &b[k];
                let p = format!("-j{j} {kind} {}", String::from_utf8_lossy(k));
                assert_eq!(
                    (&x.kind, x.mode, x.mtime),
                    (&y.kind, y.mode, y.mtime),
                    "{p}"
                );
                if x.kind == "f" {
                    assert_eq!((x.dev, x.ino), (y.dev, y.ino), "{p}");
                }
            }
        }
    }
}
