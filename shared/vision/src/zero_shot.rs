//! Zero-shot classes, CLIP-style: each class is a text embedding from the text tower of
//! the model whose image tower is the catalog's classifier; an image's class scores are
//! `softmax(logit_scale × cos(image, class))`, as open_clip computes them
//! (`image_features @ text_features.T` of L2-normalised features, times the model's
//! learned logit scale, 100 for the released CLIP models).
//!
//! The prompts file (JSON, documented in docs/models.md):
//! `{"logit_scale": 100.0, "classes": [{"label": "cat", "prompts": ["a photo of a cat"],
//! "embedding": [0.01, …]}, …]}`: `embedding` is the class's text embedding (for several
//! prompts, open_clip's way: the mean of the normalised prompt embeddings); `prompts` is
//! what it was computed from, kept for the reader.

use std::path::Path;

use serde::Deserialize;

use crate::VisionError;

/// One class of a prompts file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptClass {
    label: String,
    #[serde(default)]
    prompts: Vec<String>,
    embedding: Vec<f32>,
}

/// A prompts file as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptsFile {
    logit_scale: f32,
    classes: Vec<PromptClass>,
}

/// Zero-shot classes ready to score image embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroShot {
    /// Class names, index = class id.
    pub labels: Vec<String>,
    /// Unit-length class embeddings, one per label.
    classes: Vec<Vec<f32>>,
    logit_scale: f32,
}

impl ZeroShot {
    /// Reads a prompts file for image embeddings of `dim` values; errors name the file and
    /// what does not fit.
    pub fn load(path: &Path, dim: usize) -> Result<Self, VisionError> {
        let err = |message: String| VisionError::Model {
            model: format!("zero-shot classes {}", path.display()),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let file: PromptsFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if file.classes.len() < 2 {
            return Err(err("at least two classes are needed".into()));
        }
        if !(file.logit_scale.is_finite() && file.logit_scale > 0.0) {
            return Err(err(format!(
                "logit_scale {} is not a positive number",
                file.logit_scale
            )));
        }
        let mut labels = Vec::new();
        let mut classes = Vec::new();
        for c in file.classes {
            if c.embedding.len() != dim {
                return Err(err(format!(
                    "class {:?} has an embedding of {} values; the image encoder's has {dim}",
                    c.label,
                    c.embedding.len()
                )));
            }
            let unit = normalised(&c.embedding).ok_or_else(|| {
                err(format!(
                    "class {:?}: the embedding is zero or not finite",
                    c.label
                ))
            })?;
            labels.push(c.label);
            classes.push(unit);
        }
        Ok(ZeroShot {
            labels,
            classes,
            logit_scale: file.logit_scale,
        })
    }

    /// One image's logits: `logit_scale × cos(image, class)` per class (a zero or
    /// non-finite image embedding gives zeros: no class is preferred).
    pub fn logits(&self, image: &[f32]) -> Vec<f32> {
        let Some(unit) = normalised(image) else {
            return vec![0.0; self.classes.len()];
        };
        self.classes
            .iter()
            .map(|c| self.logit_scale * c.iter().zip(&unit).map(|(a, b)| a * b).sum::<f32>())
            .collect()
    }
}

/// `v / |v|`; `None` for a zero or non-finite vector.
fn normalised(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prompts.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn logits_are_the_scaled_cosines() {
        let (_d, p) = write(
            r#"{"logit_scale": 10, "classes": [
                {"label": "x", "embedding": [2, 0]}, {"label": "y", "embedding": [0, 0.5]}]}"#,
        );
        let z = ZeroShot::load(&p, 2).unwrap();
        assert_eq!(z.labels, ["x", "y"]);
        let l = z.logits(&[3.0, 3.0]);
        assert!(
            (l[0] - 10.0 / 2f32.sqrt()).abs() < 1e-5 && (l[0] - l[1]).abs() < 1e-5,
            "{l:?}"
        );
        assert_eq!(z.logits(&[0.0, 0.0]), [0.0, 0.0]);
        assert!(ZeroShot::load(&p, 3)
            .unwrap_err()
            .to_string()
            .contains("2 values"));
    }

    #[test]
    fn bad_files_are_clear_errors() {
        for (text, want) in [
            (
                r#"{"logit_scale": 10, "classes": [{"label": "x", "embedding": [1]}]}"#,
                "two classes",
            ),
            (
                r#"{"logit_scale": 0, "classes": [{"label": "x", "embedding": [1]}, {"label": "y", "embedding": [1]}]}"#,
                "logit_scale",
            ),
            (
                r#"{"logit_scale": 1, "classes": [{"label": "x", "embedding": [0]}, {"label": "y", "embedding": [1]}]}"#,
                "zero",
            ),
            ("not json", "expected"),
        ] {
            let (_d, p) = write(text);
            let e = ZeroShot::load(&p, 1).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("prompts.json"), "{e}");
        }
    }
}
