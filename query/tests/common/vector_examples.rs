//! Vector examples written once against [`ExampleDb`], so that they run on
//! the in-memory store (`query/tests/vectors.rs`, where the store keeps
//! HNSW graphs) and through `zerodb sql` on a `zerodb dev` cluster
//! (`cli/tests/vectors_dev.rs`, where the node searches exactly). Upstream
//! `zeroql-syntax.md` has one vector example, `index::hnsw(m = 16, ef =
//! 64)`, checked in `upstream.rs`; these use its forms.

use super::upstream::ExampleDb;

/// Five points in the plane, one without a vector.
pub fn create_points(db: &mut impl ExampleDb) {
    db.run(
        "CREATE point:a SET v = [0, 0]; CREATE point:b SET v = [3, 4]; \
         CREATE point:c SET v = [1, 1]; CREATE point:d SET v = [-2, 0.5]; \
         CREATE point:e SET name = 'no vector'",
    );
}

/// Distances, the similarity operator and nearest neighbours, with the
/// answers worked out by hand.
pub fn nearest_points(db: &mut impl ExampleDb) {
    create_points(db);
    assert_eq!(
        db.last("RETURN vector::distance::euclidean([0, 0], [3, 4])"),
        "5.0"
    );
    assert_eq!(db.last("RETURN vector::dot([1, 2, 3], [4, 5, 6])"), "32.0");
    assert_eq!(
        db.last("RETURN vector::similarity::cosine([1, 0], [0, 2])"),
        "0.0"
    );
    assert_eq!(db.last("RETURN [2, 0] <> [5, 0]"), "1.0");
    assert_eq!(
        db.last("RETURN vector::distance::cosine([1, 0], [-1, 0])"),
        "2.0"
    );
    // From (0.9, 0.9): c at 0.14, a at 1.27, b at 3.66, d at 2.93.
    assert_eq!(
        db.last("SELECT id FROM point WHERE v <|2|> [0.9, 0.9]"),
        "[{ id: point:c }, { id: point:a }]"
    );
    assert_eq!(
        db.last("SELECT id FROM point WHERE v <|3, euclidean|> [0.9, 0.9]"),
        "[{ id: point:c }, { id: point:a }, { id: point:d }]"
    );
    // By angle from (-1, 0): d first, then a (no direction, cosine 0),
    // then c and b (pointing away).
    assert_eq!(
        db.last("SELECT id FROM point WHERE v <|2, cosine|> [-1, 0]"),
        "[{ id: point:d }, { id: point:a }]"
    );
    // Largest dot product with (1, 1): b (7), c (2).
    assert_eq!(
        db.last("SELECT id FROM point WHERE v <|2, dot|> [1, 1]"),
        "[{ id: point:b }, { id: point:c }]"
    );
    // Other conditions pick the candidates first.
    assert_eq!(
        db.last("SELECT id FROM point WHERE v <|1|> [0, 0] AND id != point:a"),
        "[{ id: point:c }]"
    );
    // ORDER BY a distance with LIMIT is the same search.
    assert_eq!(
        db.last(
            "SELECT id, vector::distance::euclidean(v, [0, 3]) AS d FROM point \
             WHERE v != NONE ORDER BY d LIMIT 2"
        ),
        "[{ d: 2.23606797749979, id: point:c }, { d: 3.0, id: point:a }]"
    );
    assert_eq!(
        db.last("SELECT id FROM point WHERE v != NONE ORDER BY v <> [1, 0.9] DESC LIMIT 1"),
        "[{ id: point:c }]"
    );
    // The same answers with the upstream index form on the field.
    db.run("DEFINE INDEX point_v ON TABLE point FIELDS v WITH index::hnsw(m = 16, ef = 64)");
    assert_eq!(
        db.last("SELECT id FROM point WHERE v <|3|> [0.9, 0.9]"),
        "[{ id: point:c }, { id: point:a }, { id: point:d }]"
    );
    db.run("CREATE point:f SET v = [0.9, 1]");
    assert_eq!(
        db.last("SELECT id FROM point WHERE v <|2|> [0.9, 0.9]"),
        "[{ id: point:f }, { id: point:c }]"
    );
    db.run("DELETE point:f; UPDATE point:a SET v = [10, 10]");
    assert_eq!(
        db.last("SELECT id FROM point WHERE v <|2|> [0.9, 0.9]"),
        "[{ id: point:c }, { id: point:d }]"
    );
}

/// Each vector error, by its message.
pub fn vector_errors(db: &mut impl ExampleDb) {
    create_points(db);
    let cases = [
        (
            "RETURN vector::distance::euclidean([1, 2], [1, 2, 3])",
            "has 2 dimensions but the second argument of vector::distance::euclidean() has 3",
        ),
        (
            "RETURN vector::dot([1, 'a'], [1, 2])",
            "element 1 is string 'a'",
        ),
        (
            "RETURN [1, 2] <> 'x'",
            "must be an array of numbers, found string 'x'",
        ),
        ("RETURN vector::dot([], [])", "is an empty array"),
        (
            "SELECT * FROM point WHERE v <|0|> [1, 2]",
            "the number of neighbours must be between 1 and 1000 (KNN_NEIGHBOURS_MAX), found 0",
        ),
        (
            "SELECT * FROM point WHERE v <|1001|> [1, 2]",
            "between 1 and 1000 (KNN_NEIGHBOURS_MAX), found 1001",
        ),
        (
            "SELECT * FROM point WHERE v <|2|> [1, 2, 3]",
            "the query vector has 3 dimensions but field `v` of point:a has 2",
        ),
        (
            "SELECT * FROM point WHERE v <|2|> 'x'",
            "the query vector must be an array of numbers",
        ),
        (
            "SELECT * FROM point WHERE v <|2, manhattan|> [1, 2]",
            "unknown distance `manhattan`",
        ),
        (
            "SELECT * FROM point WHERE v <|2|> [1, 2] OR true",
            "write it as a condition of a SELECT's WHERE",
        ),
        (
            "SELECT * FROM point WHERE v <|2|> v",
            "must not depend on the record",
        ),
        (
            "DEFINE INDEX bad ON point FIELDS v, w WITH index::hnsw(m = 16)",
            "exactly one field",
        ),
        (
            "DEFINE INDEX bad ON point FIELDS v UNIQUE WITH index::hnsw(m = 16)",
            "cannot be UNIQUE",
        ),
        (
            "DEFINE INDEX bad ON point FIELDS v WITH index::hnsw(m = 1)",
            "option m must be an integer from 2 to 128, found 1",
        ),
        (
            "DEFINE INDEX bad ON point FIELDS v WITH index::hnsw(ef = 0)",
            "option ef must be an integer from 1 to 4096",
        ),
        (
            "DEFINE INDEX bad ON point FIELDS v WITH index::hnsw(size = 3)",
            "unknown index::hnsw option `size`",
        ),
    ];
    for (text, expected) in cases {
        let error = db.error(text);
        assert!(error.contains(expected), "{text}: {error}");
    }
    db.run("CREATE point:x SET v = [1, 'two']");
    let error = db.error("SELECT * FROM point WHERE v <|2|> [1, 2]");
    assert!(
        error.contains("field `v` of point:x must be an array of numbers, but element 1 is string"),
        "{error}"
    );
}
