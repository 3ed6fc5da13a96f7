//! Vectors: arrays of numbers as record fields, the distances between them,
//! and the approximate index (HNSW) that answers nearest-neighbour queries.
//!
//! - [`Metric`] and the distance functions behind `vector::distance::*`,
//!   `vector::similarity::cosine`, `vector::dot` and the similarity
//!   operator `<>` (cosine similarity).
//! - [`hnsw::Hnsw`]: a hierarchical navigable small-world graph (Malkov
//!   and Yashunin), written here rather than taken from a crate so that the
//!   query crate stays sans-IO (no threads, no global RNG: the graph's
//!   levels come from a seeded generator, so the same inserts give the same
//!   graph) and lean (no dependency).
//! - [`VectorIndexes`]: the derived structure a store keeps beside its
//!   committed records, one graph per `DEFINE INDEX ... WITH index::hnsw`,
//!   fed after each commit; what it has not indexed yet is reported with
//!   every answer so that the executor searches it exactly.

use crate::value::Value;

pub mod hnsw;
mod registry;

pub use registry::{Candidates, VectorIndexId, VectorIndexes};

/// Most numbers in one vector that a distance, a query or an index takes.
pub const VECTOR_DIMENSIONS_MAX: usize = 4_096;
/// Most neighbours one nearest-neighbour search returns (`<|k|>`).
pub const KNN_NEIGHBOURS_MAX: usize = 1_000;

/// How the distance between two vectors is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Straight-line distance, `sqrt(sum((a - b)^2))`.
    Euclidean,
    /// `1 - cos(angle)`: 0 for the same direction, 2 for opposite ones. A
    /// zero vector has no direction: its cosine with anything is 0.
    Cosine,
    /// The dot product, larger is nearer; as a distance, `-dot`.
    Dot,
}

impl Metric {
    /// The name zeroql writes (`distance = cosine`, `<|k, cosine|>`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Euclidean => "euclidean",
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
        }
    }

    /// The metric called `name` (any letter case).
    pub fn from_name(name: &str) -> Option<Metric> {
        match name.to_ascii_lowercase().as_str() {
            "euclidean" => Some(Metric::Euclidean),
            "cosine" => Some(Metric::Cosine),
            "dot" => Some(Metric::Dot),
            _ => None,
        }
    }

    /// The distance between `a` and `b` under this metric, smaller is
    /// nearer. Both must have the same length.
    pub fn distance(self, a: &[f64], b: &[f64]) -> f64 {
        match self {
            Metric::Euclidean => euclidean(a, b),
            Metric::Cosine => 1.0 - cosine_similarity(a, b),
            Metric::Dot => -dot(a, b),
        }
    }
}

/// Why a value cannot be used as a vector, or two vectors together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VectorError {
    /// Not an array at all.
    #[error("{what} must be an array of numbers, found {kind} {value}")]
    NotAnArray {
        /// Which operand, such as "the first argument".
        what: String,
        /// The kind of value found.
        kind: &'static str,
        /// The value, shortened.
        value: String,
    },
    /// An element that is not a number.
    #[error("{what} must be an array of numbers, but element {index} is {kind} {value}")]
    NotNumeric {
        /// Which operand.
        what: String,
        /// Position of the element.
        index: usize,
        /// Its kind.
        kind: &'static str,
        /// The element.
        value: String,
    },
    /// An element that is NaN or infinite.
    #[error("{what} must hold finite numbers, but element {index} is {value}")]
    NotFinite {
        /// Which operand.
        what: String,
        /// Position of the element.
        index: usize,
        /// The element.
        value: f64,
    },
    /// An empty array.
    #[error("{what} is an empty array: a vector needs at least one number")]
    Empty {
        /// Which operand.
        what: String,
    },
    /// Longer than [`VECTOR_DIMENSIONS_MAX`].
    #[error("{what} has {dimensions} numbers, more than the {max} a vector may have (VECTOR_DIMENSIONS_MAX)")]
    TooLong {
        /// Which operand.
        what: String,
        /// Its length.
        dimensions: usize,
        /// The limit.
        max: usize,
    },
    /// Two vectors of different lengths.
    #[error("{left} has {left_dimensions} dimensions but {right} has {right_dimensions}: vectors must have the same dimension")]
    DimensionMismatch {
        /// The first operand.
        left: String,
        /// Its length.
        left_dimensions: usize,
        /// The second operand.
        right: String,
        /// Its length.
        right_dimensions: usize,
    },
    /// A neighbour count of 0 or above [`KNN_NEIGHBOURS_MAX`].
    #[error(
        "the number of neighbours must be between 1 and {max} (KNN_NEIGHBOURS_MAX), found {found}"
    )]
    NeighbourCount {
        /// What was asked, as written.
        found: String,
        /// The limit.
        max: usize,
    },
}

/// The numbers of `value`, which must be a non-empty array of finite
/// numbers of at most [`VECTOR_DIMENSIONS_MAX`]; `what` names it in errors.
pub fn to_vector(value: &Value, what: &str) -> Result<Vec<f64>, VectorError> {
    let Value::Array(items) = value else {
        return Err(VectorError::NotAnArray {
            what: what.to_string(),
            kind: value.kind_name(),
            value: shorten(value),
        });
    };
    if items.is_empty() {
        return Err(VectorError::Empty {
            what: what.to_string(),
        });
    }
    if items.len() > VECTOR_DIMENSIONS_MAX {
        return Err(VectorError::TooLong {
            what: what.to_string(),
            dimensions: items.len(),
            max: VECTOR_DIMENSIONS_MAX,
        });
    }
    let mut numbers = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let number = match item {
            Value::Int(int) => *int as f64,
            Value::Float(float) => *float,
            other => {
                return Err(VectorError::NotNumeric {
                    what: what.to_string(),
                    index,
                    kind: other.kind_name(),
                    value: shorten(other),
                })
            }
        };
        if !number.is_finite() {
            return Err(VectorError::NotFinite {
                what: what.to_string(),
                index,
                value: number,
            });
        }
        numbers.push(number);
    }
    Ok(numbers)
}

/// An error unless `a` (called `left`) and `b` (`right`) have one length.
pub fn same_dimensions(a: &[f64], left: &str, b: &[f64], right: &str) -> Result<(), VectorError> {
    if a.len() == b.len() {
        return Ok(());
    }
    Err(VectorError::DimensionMismatch {
        left: left.to_string(),
        left_dimensions: a.len(),
        right: right.to_string(),
        right_dimensions: b.len(),
    })
}

/// A value as text of at most about 60 characters, for messages.
fn shorten(value: &Value) -> String {
    const SHOWN_CHARS_MAX: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= SHOWN_CHARS_MAX {
        return text;
    }
    let head: String = text.chars().take(SHOWN_CHARS_MAX).collect();
    format!("{head}...")
}

/// `sum(a[i] * b[i])`.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `sqrt(sum((a[i] - b[i])^2))`.
pub fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// The cosine of the angle between `a` and `b`, in `[-1, 1]`; 0 when
/// either is the zero vector (it has no direction).
pub fn cosine_similarity(a: &[f64], b: &[f64]) -> f64 {
    let norms = dot(a, a).sqrt() * dot(b, b).sqrt();
    if norms == 0.0 {
        return 0.0;
    }
    (dot(a, b) / norms).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(numbers: &[f64]) -> Value {
        Value::Array(numbers.iter().map(|n| Value::Float(*n)).collect())
    }

    #[test]
    fn distances_agree_with_their_definitions_on_a_worked_example() {
        let a = [1.0, 2.0, 2.0];
        let b = [4.0, 6.0, 2.0];
        assert_eq!(euclidean(&a, &b), 5.0);
        assert_eq!(dot(&a, &b), 20.0);
        // |a| = 3, |b| = sqrt(56): cos = 20 / (3 sqrt(56)).
        let expected = 20.0 / (3.0 * 56f64.sqrt());
        assert!((cosine_similarity(&a, &b) - expected).abs() < 1e-12);
        assert!((Metric::Cosine.distance(&a, &b) - (1.0 - expected)).abs() < 1e-12);
        assert_eq!(Metric::Dot.distance(&a, &b), -20.0);
        assert_eq!(cosine_similarity(&a, &[0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn bad_vectors_are_refused_with_the_element_at_fault() {
        let mixed = Value::Array(vec![Value::Int(1), Value::Str("x".into())]);
        let error = to_vector(&mixed, "the query").unwrap_err();
        assert!(matches!(error, VectorError::NotNumeric { index: 1, .. }));
        assert!(error.to_string().contains("element 1 is string"), "{error}");
        assert!(matches!(
            to_vector(&Value::Str("x".into()), "v").unwrap_err(),
            VectorError::NotAnArray { .. }
        ));
        assert!(matches!(
            to_vector(&Value::Array(vec![]), "v").unwrap_err(),
            VectorError::Empty { .. }
        ));
        assert!(matches!(
            to_vector(&floats(&[f64::NAN]), "v").unwrap_err(),
            VectorError::NotFinite { index: 0, .. }
        ));
        let long = floats(&vec![0.0; VECTOR_DIMENSIONS_MAX + 1]);
        assert!(matches!(
            to_vector(&long, "v").unwrap_err(),
            VectorError::TooLong { .. }
        ));
        let error = same_dimensions(&[1.0], "a", &[1.0, 2.0], "b").unwrap_err();
        assert!(error.to_string().contains("a has 1 dimensions but b has 2"));
    }
}
