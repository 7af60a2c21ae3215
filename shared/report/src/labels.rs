//! Ground truth: labels for a catalog's images, read from `labels/<catalog>/` in the bucket
//! and joined to result rows by key.
//!
//! Formats (any mix of files under the prefix):
//! * `*.csv`: a header, a key column (`key`, `file`, `image` or `filename`) and a class
//!   column (`label`, `class_index`, `class_id`, `class` or `name`, first found wins). A
//!   class that parses as an integer is a class index of the model's label file; anything
//!   else is a class name.
//! * `*.parquet`: the same columns (strings or integers).
//! * `*.txt`: YOLO boxes for the image with the same stem: `class cx cy w h` per line,
//!   relative to the image size; `class` is the detector's class index.
//! * `*.json`: COCO annotations (`images[].file_name`, `annotations[].bbox` as
//!   `[x, y, w, h]` in pixels, `categories[].name` naming detector classes).
//!
//! A label's key joins a result row when it equals the row's key, the key below
//! `incoming/<catalog>/`, or the file name (YOLO: the file stem).

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use bytes::Bytes;
use sightline_storage::Store;

use crate::yolo::parse_yolo;
use crate::ReportError;

/// A class as a labels file gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClassRef {
    /// Index in the model's label file.
    Index(i32),
    /// Class name (matched case-insensitively, `_` as space).
    Name(String),
}

impl ClassRef {
    fn parse(s: &str) -> ClassRef {
        let s = s.trim();
        match s.parse::<i32>() {
            Ok(i) => ClassRef::Index(i),
            Err(_) => ClassRef::Name(s.to_string()),
        }
    }
}

/// A normalised class name for matching: lower case, `_` and runs of spaces as one space.
pub fn normalise_name(name: &str) -> String {
    name.replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// One ground-truth box.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthBox {
    /// Its class.
    pub class: ClassRef,
    /// Corners; relative to the image size (0..1) when `relative`, else pixels.
    pub bbox: [f64; 4],
    /// Whether `bbox` is relative (YOLO) or in pixels (COCO).
    pub relative: bool,
}

/// Every label found for a catalog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroundTruth {
    /// Image key (as the labels give it) → class.
    pub classes: HashMap<String, ClassRef>,
    /// Image key or stem → boxes.
    pub boxes: HashMap<String, Vec<TruthBox>>,
    /// Class names a labels table gives next to class indices (a `name` column beside
    /// `class_index`), to name classes the model never predicted.
    pub names: HashMap<i32, String>,
    /// Image key → tag, from a `tag`, `coarse_label` or `group` column beside the class
    /// (a trained head's classes give these tags).
    pub tags: HashMap<String, String>,
    /// Label files read.
    pub files: Vec<String>,
}

impl GroundTruth {
    /// Whether no label was found.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty() && self.boxes.is_empty()
    }

    /// The keys a result row's label may be filed under, most specific first.
    fn candidates(key: &str, catalog: &str, incoming_prefix: &str) -> Vec<String> {
        let mut out = vec![key.to_string()];
        if let Some(rest) = key.strip_prefix(&format!("{incoming_prefix}{catalog}/")) {
            out.push(rest.to_string());
        }
        let file = key.rsplit('/').next().unwrap_or(key);
        out.push(file.to_string());
        out
    }

    /// The class label of the image at `key`, if any.
    pub fn class_of(&self, key: &str, catalog: &str, incoming_prefix: &str) -> Option<&ClassRef> {
        Self::candidates(key, catalog, incoming_prefix)
            .iter()
            .find_map(|k| self.classes.get(k))
    }

    /// The tag a labels table gives the image at `key`, if any.
    pub fn tag_of(&self, key: &str, catalog: &str, incoming_prefix: &str) -> Option<&String> {
        Self::candidates(key, catalog, incoming_prefix)
            .iter()
            .find_map(|k| self.tags.get(k))
    }

    /// The boxes of the image at `key`, if any file labels it.
    pub fn boxes_of(&self, key: &str, catalog: &str, incoming_prefix: &str) -> Option<&[TruthBox]> {
        let mut c = Self::candidates(key, catalog, incoming_prefix);
        let file = c.last().cloned().unwrap_or_default();
        if let Some((stem, _)) = file.rsplit_once('.') {
            c.push(stem.to_string());
        }
        c.iter().find_map(|k| self.boxes.get(k)).map(Vec::as_slice)
    }

    /// Reads every labels file under `prefix` (e.g. `labels/retail/`) in `bucket`.
    pub async fn load(
        store: &Store,
        bucket: &str,
        prefix: &str,
        max_bytes: u64,
    ) -> Result<GroundTruth, ReportError> {
        let mut truth = GroundTruth::default();
        let mut objects = store.list(bucket, prefix).await?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        for o in objects {
            let ext = o.key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            let Some(ext) = ext.filter(|e| ["csv", "parquet", "txt", "json"].contains(&e.as_str()))
            else {
                continue;
            };
            let bytes = store.get(bucket, &o.key, max_bytes).await?.bytes;
            let bad = |message: String| ReportError::Labels {
                key: o.key.clone(),
                message,
            };
            match ext.as_str() {
                "csv" => {
                    let text = String::from_utf8(bytes.to_vec())
                        .map_err(|_| bad("not UTF-8 text".into()))?;
                    truth
                        .add_table(&parse_csv(&text).map_err(bad)?)
                        .map_err(bad)?;
                }
                "parquet" => truth
                    .add_table(&parquet_table(bytes).map_err(bad)?)
                    .map_err(bad)?,
                "txt" => {
                    let text = String::from_utf8(bytes.to_vec())
                        .map_err(|_| bad("not UTF-8 text".into()))?;
                    let file = o.key.rsplit('/').next().unwrap_or(&o.key);
                    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
                    truth
                        .boxes
                        .insert(stem.to_string(), yolo_boxes(&text).map_err(bad)?);
                }
                _ => truth.add_coco(&bytes).map_err(bad)?,
            }
            truth.files.push(o.key);
        }
        Ok(truth)
    }

    /// Adds `key → class` pairs from a table with a header row.
    fn add_table(&mut self, rows: &[Vec<String>]) -> Result<(), String> {
        let Some((header, rows)) = rows.split_first() else {
            return Ok(());
        };
        let find = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| header.iter().position(|h| h.trim().eq_ignore_ascii_case(n)))
        };
        let key = find(&["key", "file", "image", "filename"])
            .ok_or("no key column (key, file, image or filename)")?;
        let class = find(&["label", "class_index", "class_id", "class", "name"])
            .ok_or("no class column (label, class_index, class_id, class or name)")?;
        let name = find(&["name", "class_name"]).filter(|&n| n != class);
        let tag = find(&["tag", "coarse_label", "group"]);
        for (i, r) in rows.iter().enumerate() {
            let (Some(k), Some(c)) = (r.get(key), r.get(class)) else {
                return Err(format!("row {} has {} fields", i + 2, r.len()));
            };
            if k.trim().is_empty() || c.trim().is_empty() {
                continue;
            }
            let c = ClassRef::parse(c);
            if let (ClassRef::Index(i), Some(n)) = (&c, name.and_then(|n| r.get(n))) {
                if !n.trim().is_empty() {
                    self.names
                        .entry(*i)
                        .or_insert_with(|| n.trim().replace('_', " "));
                }
            }
            if let Some(t) = tag.and_then(|t| r.get(t)).filter(|t| !t.trim().is_empty()) {
                self.tags.insert(k.trim().to_string(), t.trim().to_string());
            }
            self.classes.insert(k.trim().to_string(), c);
        }
        Ok(())
    }

    /// Adds the boxes of a COCO annotations file.
    fn add_coco(&mut self, bytes: &[u8]) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct Coco {
            images: Vec<Image>,
            annotations: Vec<Annotation>,
            categories: Vec<Category>,
        }
        #[derive(serde::Deserialize)]
        struct Image {
            id: u64,
            file_name: String,
        }
        #[derive(serde::Deserialize)]
        struct Annotation {
            image_id: u64,
            category_id: u64,
            bbox: [f64; 4],
        }
        #[derive(serde::Deserialize)]
        struct Category {
            id: u64,
            name: String,
        }
        let coco: Coco = serde_json::from_slice(bytes).map_err(|e| format!("COCO JSON: {e}"))?;
        let names: HashMap<u64, &str> = coco
            .categories
            .iter()
            .map(|c| (c.id, c.name.as_str()))
            .collect();
        let files: HashMap<u64, &str> = coco
            .images
            .iter()
            .map(|i| (i.id, i.file_name.as_str()))
            .collect();
        for i in &coco.images {
            self.boxes.entry(i.file_name.clone()).or_default();
        }
        for a in coco.annotations {
            let (Some(file), Some(name)) = (files.get(&a.image_id), names.get(&a.category_id))
            else {
                return Err(format!(
                    "annotation refers to unknown image {} or category {}",
                    a.image_id, a.category_id
                ));
            };
            let [x, y, w, h] = a.bbox;
            self.boxes
                .entry(file.to_string())
                .or_default()
                .push(TruthBox {
                    class: ClassRef::Name(name.to_string()),
                    bbox: [x, y, x + w, y + h],
                    relative: false,
                });
        }
        Ok(())
    }
}

/// Parses a YOLO labels file (see [`crate::yolo`]) into relative corner boxes.
fn yolo_boxes(text: &str) -> Result<Vec<TruthBox>, String> {
    let boxes = parse_yolo(text).map_err(|e| e.to_string())?;
    Ok(boxes
        .iter()
        .map(|b| TruthBox {
            class: ClassRef::Index(b.class_id),
            bbox: b.corners(),
            relative: true,
        })
        .collect())
}

/// A line that the CSV reader can only see as its own record when the text before it
/// ends outside a quoted field (NUL does not occur in a labels file).
const CSV_SENTINEL: &str = "\u{0}";

/// Parses CSV (RFC 4180: quoted fields, `""` escapes, CRLF or LF; blank lines and a
/// UTF-8 byte order mark ignored) into rows of fields, with the `csv` crate.
///
/// # Errors
/// A quoted field left open at the end of the text (the `csv` crate would take the rest
/// of the file as its value: a sentinel line appended to the text detects that).
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let text = format!("{}\n{CSV_SENTINEL}\n", text.trim_start_matches('\u{feff}'));
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_string).collect::<Vec<_>>()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    match rows.pop() {
        Some(last) if last == [CSV_SENTINEL] => Ok(rows),
        _ => Err("unterminated quoted field".into()),
    }
}

/// Reads a Parquet labels file as a header row plus string rows.
fn parquet_table(bytes: Bytes) -> Result<Vec<Vec<String>>, String> {
    let batches = sightline_tables::results::read_parquet(bytes).map_err(|e| e.to_string())?;
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut rows = vec![header];
    for b in &batches {
        let cols: Vec<Vec<String>> = b
            .columns()
            .iter()
            .map(|c| {
                let c = arrow::compute::cast(c, &DataType::Utf8).map_err(|e| e.to_string())?;
                let s = c.as_string::<i32>();
                Ok((0..s.len())
                    .map(|i| {
                        if s.is_valid(i) {
                            s.value(i).to_string()
                        } else {
                            String::new()
                        }
                    })
                    .collect())
            })
            .collect::<Result<_, String>>()?;
        for i in 0..b.num_rows() {
            rows.push(cols.iter().map(|c| c[i].clone()).collect());
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_crlf() {
        let rows =
            parse_csv("key,label\r\n\"a, b.jpg\",cat\r\n\"say \"\"hi\"\".png\",3\n\n").unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["key".to_string(), "label".into()],
                vec!["a, b.jpg".into(), "cat".into()],
                vec!["say \"hi\".png".into(), "3".into()],
            ]
        );
        assert!(parse_csv("a,\"b").is_err());
        assert!(parse_csv("key,label\n\"a.jpg,3\nb.jpg,4\n").is_err());
        assert_eq!(
            parse_csv("\u{feff}key,label\n\n\"multi\nline\",x").unwrap(),
            vec![vec!["key", "label"], vec!["multi\nline", "x"]]
        );
        assert_eq!(parse_csv("").unwrap(), Vec::<Vec<String>>::new());
    }

    #[test]
    fn keys_join_by_full_key_relative_key_or_file_name() {
        let mut t = GroundTruth::default();
        t.add_table(&parse_csv("file,class_index,name\nx.jpg,7,cock\n").unwrap())
            .unwrap();
        t.add_table(
            &parse_csv("key,label\nincoming/retail/sub/y.jpg,Egyptian_cat\nsub/z.jpg,1\n").unwrap(),
        )
        .unwrap();
        let inc = "incoming/";
        assert_eq!(
            t.class_of("incoming/retail/a/x.jpg", "retail", inc),
            Some(&ClassRef::Index(7))
        );
        assert_eq!(
            t.class_of("incoming/retail/sub/y.jpg", "retail", inc),
            Some(&ClassRef::Name("Egyptian_cat".into()))
        );
        assert_eq!(
            t.class_of("incoming/retail/sub/z.jpg", "retail", inc),
            Some(&ClassRef::Index(1))
        );
        assert_eq!(t.class_of("incoming/retail/other.jpg", "retail", inc), None);
        assert_eq!(normalise_name("Egyptian_cat"), "egyptian cat");
        assert_eq!(t.names.get(&7).map(String::as_str), Some("cock"));
    }

    #[test]
    fn parquet_labels_from_other_tools_snappy_and_integer_classes() {
        use std::sync::Arc;

        use arrow::array::{Int64Array, RecordBatch, StringArray};
        use parquet::arrow::ArrowWriter;
        use parquet::basic::Compression;
        use parquet::file::properties::WriterProperties;

        let batch = RecordBatch::try_from_iter([
            (
                "file",
                Arc::new(StringArray::from(vec!["a.jpg", "b.jpg"])) as _,
            ),
            (
                "class_index",
                Arc::new(Int64Array::from(vec![285, 967])) as _,
            ),
        ])
        .unwrap();
        // pyarrow, Spark and DuckDB write Snappy by default.
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let mut t = GroundTruth::default();
        t.add_table(&parquet_table(Bytes::from(buf)).unwrap())
            .unwrap();
        assert_eq!(
            t.class_of("incoming/r/x/b.jpg", "r", "incoming/"),
            Some(&ClassRef::Index(967))
        );
        assert_eq!(t.classes.len(), 2);
    }

    #[test]
    fn yolo_and_coco_boxes() {
        let mut t = GroundTruth::default();
        t.boxes
            .insert("img1".into(), yolo_boxes("0 0.5 0.5 0.2 0.4\n\n").unwrap());
        let b = t
            .boxes_of("incoming/security/img1.jpg", "security", "incoming/")
            .unwrap();
        assert_eq!(b[0].class, ClassRef::Index(0));
        assert!(b[0].relative);
        assert!((b[0].bbox[0] - 0.4).abs() < 1e-12 && (b[0].bbox[3] - 0.7).abs() < 1e-12);
        assert_eq!(
            yolo_boxes("0 0.5 0.5 0.1 0.1\nperson 0.5 0.5 0.1 0.1").unwrap_err(),
            "line 2: class \"person\" is not an integer class index"
        );
        t.add_coco(
            br#"{"images":[{"id":1,"file_name":"a.jpg"}],"annotations":[{"image_id":1,"category_id":18,"bbox":[10,20,30,40]}],"categories":[{"id":18,"name":"dog"}]}"#,
        )
        .unwrap();
        let b = t
            .boxes_of("incoming/security/a.jpg", "security", "incoming/")
            .unwrap();
        assert_eq!(b[0].bbox, [10.0, 20.0, 40.0, 60.0]);
        assert_eq!(b[0].class, ClassRef::Name("dog".into()));
    }
}
