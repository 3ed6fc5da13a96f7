//! The upstream `zeroql-syntax.md` examples (`common/upstream.rs`) on the
//! in-memory store.

mod common;

use common::db::Db;
use common::upstream::{self, ExampleDb};

impl ExampleDb for Db {
    fn run(&mut self, text: &str) -> Vec<String> {
        Db::run(self, text)
    }

    fn error(&mut self, text: &str) -> String {
        Db::error(self, text)
    }

    fn set_strict(&mut self, strict: bool) {
        self.session.strict = strict;
    }
}

#[test]
fn create_forms() {
    upstream::create_forms(&mut Db::new());
}

#[test]
fn variables() {
    upstream::variables(&mut Db::new());
}

#[test]
fn select_forms() {
    upstream::select_forms(&mut Db::new());
}

#[test]
fn record_links_and_subqueries() {
    upstream::record_links_and_subqueries(&mut Db::new());
}

#[test]
fn update_delete_and_operations() {
    upstream::update_delete_and_operations(&mut Db::new());
}

#[test]
fn use_define_describe_remove() {
    upstream::use_define_describe_remove(&mut Db::new());
}

#[test]
fn transactions() {
    upstream::transactions(&mut Db::new());
}

#[test]
fn relate() {
    upstream::relate(&mut Db::new());
}

#[test]
fn graph_queries() {
    upstream::graph_queries(&mut Db::new());
}

#[test]
fn graph_levels_and_delete() {
    upstream::graph_levels_and_delete(&mut Db::new());
}
