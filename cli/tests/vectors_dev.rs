//! The vector examples (`query/tests/common/vector_examples.rs`, the same
//! code the query crate runs on its in-memory store) through `zerodb sql
//! --raw` on a `zerodb dev` cluster, with their results checked. The node
//! keeps no HNSW graph yet, so its nearest-neighbour answers come from the
//! exact search, and must be the same.

mod cluster_support;

#[path = "../../query/tests/common/upstream.rs"]
#[allow(dead_code)]
mod upstream;

#[path = "../../query/tests/common/vector_examples.rs"]
mod vector_examples;

use std::path::{Path, PathBuf};

use cluster_support::dev::Dev;
use cluster_support::{free_ports, zerodb, TempDir};
use upstream::ExampleDb;

/// One example's zeroql database on the shared cluster.
struct DevDb {
    dir: PathBuf,
    database: String,
}

impl DevDb {
    fn new(dir: &Path, database: &str) -> DevDb {
        DevDb {
            dir: dir.to_path_buf(),
            database: database.to_string(),
        }
    }

    fn sql(&self, text: &str) -> (Option<i32>, String, String) {
        let output = zerodb()
            .arg("--dir")
            .arg(&self.dir)
            .args(["--ns", "default", "--db", &self.database])
            .args(["sql", "--raw", text])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    }
}

impl ExampleDb for DevDb {
    fn run(&mut self, text: &str) -> Vec<String> {
        let (code, out, err) = self.sql(text);
        assert_eq!(code, Some(0), "{text}\nstdout: {out}\nstderr: {err}");
        out.lines().map(str::to_string).collect()
    }

    fn error(&mut self, text: &str) -> String {
        let (code, out, err) = self.sql(text);
        assert_ne!(code, Some(0), "{text} should fail\nstdout: {out}");
        err
    }

    fn set_strict(&mut self, _strict: bool) {}
}

#[test]
fn vector_examples_run_through_zerodb_sql_on_a_dev_cluster() {
    let temp = TempDir::new("vector-examples");
    let dir = temp.0.join("cluster");
    let dev = Dev::start(&dir, free_ports(3));
    vector_examples::nearest_points(&mut DevDb::new(&dir, "nearest"));
    vector_examples::vector_errors(&mut DevDb::new(&dir, "errors"));
    dev.stop();
}
