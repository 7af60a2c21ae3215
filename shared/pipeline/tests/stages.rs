//! The pipeline's stages with a fake inference backend: routing, retries, deduplication,
//! face gating and redaction, row building and the Parquet writer, checked on the rows
//! read back from the files written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sightline_core::{Detection, ErrorKind, RedactionSkip, ResultRow, Settings};
use sightline_pipeline::analyze::faces_within;
use sightline_pipeline::redact::{redacted_key, CopyLimit};
use support::{
    checker_png, files_under, harness, harness_with, png, settings, tall_png, Harness, FACE_SIZE,
    SECURITY,
};

const CLASSIFY: &str = r#"
name = "shop"
[classifier]
model = "fake_cls"
top_k = 2
tag_min_score = 0.5
[taxonomy]
lit = ["bright"]
"#;

fn shop(batch: usize) -> Harness {
    harness(CLASSIFY, settings(batch))
}

#[tokio::test]
async fn rows_carry_labels_tags_embeddings_and_models() {
    let h = shop(16);
    h.put("bright.png", &png(20, 10, 230));
    h.put("dark.png", &png(10, 20, 20));
    let report = h
        .process(&h.messages("shop", &[&["bright.png"], &["dark.png"]]))
        .await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        (report.rows, report.error_rows, report.files.len()),
        (2, 0, 1)
    );
    let rows = h.rows_on_disk();
    let mut written: Vec<&str> = report.written.iter().map(|r| r.key.as_str()).collect();
    written.sort();
    assert_eq!(
        written,
        rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>()
    );
    let (bright, dark) = (&rows[0], &rows[1]);
    assert_eq!(bright.labels[0].label, "bright");
    assert_eq!(dark.labels[0].label, "dark");
    assert_eq!(bright.tags, vec!["lit"]);
    assert!(dark.tags.is_empty());
    assert_eq!((bright.width, bright.height), (Some(20), Some(10)));
    let emb = bright.embedding.as_ref().expect("embedding");
    assert_eq!(
        emb.len(),
        4,
        "the width comes from the manifest's embedding_dim"
    );
    assert!((emb[0] - 230.0 / 255.0).abs() < 0.01, "{emb:?}");
    assert_eq!(
        (bright.model.as_str(), bright.model_version.as_str()),
        ("fake_cls", "0.1")
    );
    assert_eq!(bright.execution_provider, "fake");
    assert_eq!(bright.catalog, "shop");
}

#[tokio::test]
async fn images_decoded_while_the_model_is_busy_share_a_run_up_to_the_batch_size() {
    let h = harness(CLASSIFY, settings(3));
    *h.fake.delay.lock().unwrap() = std::time::Duration::from_millis(100);
    let names: Vec<String> = (0..8).map(|i| format!("{i}.png")).collect();
    for (i, name) in names.iter().enumerate() {
        h.put(name, &png(8, 8, 100 + i as u8));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let report = h.process(&h.messages("shop", &[&names])).await;
    assert_eq!(report.rows, 8);
    let runs = h.fake.runs.lock().unwrap().clone();
    assert_eq!(runs.iter().map(|r| r.1).sum::<usize>(), 8, "{runs:?}");
    assert!(
        runs.iter().all(|r| r.1 <= 3),
        "runs never exceed the batch size: {runs:?}"
    );
    assert!(
        runs.iter().any(|r| r.1 == 3),
        "waiting images are batched: {runs:?}"
    );
}

#[tokio::test]
async fn a_transient_failure_retries_its_whole_message_and_writes_none_of_it() {
    let h = shop(1);
    h.put("ok.png", &png(8, 8, 30));
    h.put("poison.png", &png(8, 8, 200));
    h.put("alone.png", &png(8, 8, 60));
    *h.fake.fail_on_mean.lock().unwrap() = Some(200.0 / 255.0);
    let messages = h.messages("shop", &[&["ok.png", "poison.png"], &["alone.png"]]);
    let report = h.process(&messages).await;
    assert_eq!(report.failed, vec!["m0".to_string()]);
    let keys: Vec<String> = h.rows_on_disk().into_iter().map(|r| r.key).collect();
    assert_eq!(
        keys,
        vec!["incoming/shop/alone.png"],
        "nothing of the failed message is written"
    );
    // The retry succeeds once the failure is gone, and writes the rest.
    *h.fake.fail_on_mean.lock().unwrap() = None;
    let report = h.process(&messages[..1]).await;
    assert!(report.failed.is_empty());
    assert_eq!(h.rows_on_disk().len(), 3);
}

#[tokio::test]
async fn redelivered_duplicates_in_one_batch_give_one_row() {
    let h = shop(16);
    h.put("a.png", &png(8, 8, 90));
    let report = h
        .process(&h.messages("shop", &[&["a.png"], &["a.png"], &["a.png", "a.png"]]))
        .await;
    assert!(report.failed.is_empty());
    assert_eq!(h.rows_on_disk().len(), 1);
    // The same batch again overwrites its file instead of adding rows.
    h.process(&h.messages("shop", &[&["a.png"], &["a.png"]]))
        .await;
    assert_eq!(h.rows_on_disk().len(), 1);
}

#[tokio::test]
async fn bad_inputs_become_error_rows_and_unknown_catalogs_go_unrouted() {
    let h = shop(16);
    h.put("empty.png", b"");
    h.put("text.png", b"hello, not an image");
    let mut messages = h.messages("shop", &[&["empty.png", "text.png", "missing.png"]]);
    messages.extend(
        h.messages("nosuch", &[&["x.png"]])
            .into_iter()
            .map(|mut m| {
                m.id = "other".into();
                m
            }),
    );
    let report = h.process(&messages).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let rows = h.rows_on_disk();
    let kinds: Vec<(String, String, Option<ErrorKind>)> = rows
        .iter()
        .map(|r| {
            (
                r.catalog.clone(),
                r.key.rsplit('/').next().unwrap().to_string(),
                r.error_kind,
            )
        })
        .collect();
    assert!(kinds.contains(&(
        "shop".into(),
        "empty.png".into(),
        Some(ErrorKind::EmptyObject)
    )));
    assert!(kinds.contains(&(
        "shop".into(),
        "text.png".into(),
        Some(ErrorKind::NotAnImage)
    )));
    assert!(kinds.contains(&(
        "shop".into(),
        "missing.png".into(),
        Some(ErrorKind::NotFound)
    )));
    assert!(kinds.contains(&(
        "_unrouted".into(),
        "x.png".into(),
        Some(ErrorKind::UnknownCatalog)
    )));
    assert!(rows
        .iter()
        .all(|r| r.embedding.is_none() && r.labels.is_empty()));
    assert_eq!(
        rows.iter()
            .find(|r| r.key.ends_with("missing.png"))
            .unwrap()
            .model,
        "fake_cls"
    );
}

/// A face inside the fake detector's person and one outside it.
const INSIDE: [f32; 4] = [112.0, 112.0, 144.0, 144.0];
const OUTSIDE: [f32; 4] = [8.0, 8.0, 40.0, 40.0];

/// One square image (1:1 onto the 256-px face input; the fake detector's person covers the
/// middle half, input 4..12 of 16) through `catalog`, the fake face model finding
/// [`INSIDE`] and [`OUTSIDE`]: its row.
async fn row_with_two_faces(h: &Harness) -> ResultRow {
    h.put("cam.png", &checker_png(FACE_SIZE, FACE_SIZE));
    *h.fake.faces.lock().unwrap() = vec![INSIDE, OUTSIDE];
    let report = h.process(&h.messages("cams", &[&["cam.png"]])).await;
    assert!(report.failed.is_empty(), "{report:?}");
    h.rows_on_disk().remove(0)
}

fn faces_of(row: &ResultRow) -> Vec<&Detection> {
    row.detections
        .iter()
        .filter(|d| d.label == "face")
        .collect()
}

/// A catalog that does not redact keeps only the faces inside a person box; a catalog that
/// redacts reports every face it redacted, inside a person or not.
#[tokio::test]
async fn faces_are_gated_by_people_unless_redacted() {
    let catalog = SECURITY.replace("redact = true", "redact = false");
    let h = harness(&catalog, settings(16));
    let row = row_with_two_faces(&h).await;
    let faces = faces_of(&row);
    assert_eq!(faces.len(), 1, "only the face inside the person: {faces:?}");
    assert!((faces[0].x_min - 112.0).abs() < 1.0 && (faces[0].y_max - 144.0).abs() < 1.0);
    assert!(row.redacted_key.is_none() && row.faces_redacted.is_none());
}

#[tokio::test]
async fn every_redacted_face_is_in_the_row_inside_a_person_or_not() {
    let h = harness(SECURITY, settings(16));
    let row = row_with_two_faces(&h).await;
    let faces = faces_of(&row);
    let (inside, outside) = (INSIDE, OUTSIDE);
    // The fake face model answers every turned pass with the same boxes, so the corner
    // face also comes back at its three turned places: five faces redacted, five reported.
    assert_eq!(faces.len(), 5, "every redacted face is reported: {faces:?}");
    assert_eq!(row.faces_redacted, Some(5));
    let at = |b: [f32; 4]| {
        faces
            .iter()
            .any(|f| (f.x_min - b[0]).abs() < 1.0 && (f.y_max - b[3]).abs() < 1.0)
    };
    assert!(at(inside) && at(outside), "{faces:?}");
    assert!(
        faces.iter().all(|f| f.class_id == 2),
        "face ids follow the detector's two classes"
    );
    assert!(row.detections.iter().any(|d| d.label == "person"));
    assert!(
        !row.detections.iter().any(|d| d.label == "cup"),
        "below the detector's 0.3"
    );
    assert_eq!(row.tags, vec!["face", "people"]);
    assert_eq!(row.model, "fake_cls+fake_det+fake_face");
    let key = redacted_key("incoming/cams/cam.png");
    assert_eq!(row.redacted_key.as_deref(), Some(key.as_str()));
    let copy = image::open(h.output.path().join(&key)).unwrap().to_rgb8();
    let original = image::load_from_memory(&checker_png(FACE_SIZE, FACE_SIZE))
        .unwrap()
        .to_rgb8();
    let changed = |x: u32, y: u32| copy.get_pixel(x, y) != original.get_pixel(x, y);
    let changed_in = |[x1, y1, x2, y2]: [f32; 4]| {
        (y1 as u32..y2 as u32)
            .flat_map(|y| (x1 as u32..x2 as u32).map(move |x| (x, y)))
            .filter(|&(x, y)| changed(x, y))
            .count()
    };
    assert!(changed_in(inside) > 500, "the kept face is pixelated");
    assert!(
        changed_in(outside) > 500,
        "the gated-out face is pixelated too"
    );
    assert_eq!(
        changed_in([200.0, 60.0, 250.0, 100.0]),
        0,
        "pixels far from faces stay"
    );
}

/// `cam.png` (256 × 256) through `catalog` with the fake face model finding `faces`: its
/// row, and the redacted copy beside the original.
async fn redacted_with(catalog: &str, faces: Vec<[f32; 4]>) -> (ResultRow, RgbCopy) {
    let h = harness(catalog, settings(16));
    h.put("cam.png", &checker_png(FACE_SIZE, FACE_SIZE));
    *h.fake.faces.lock().unwrap() = faces;
    let report = h.process(&h.messages("cams", &[&["cam.png"]])).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let row = h.rows_on_disk().remove(0);
    let key = row.redacted_key.clone().expect("a redacted copy");
    let copy = image::open(h.output.path().join(&key)).unwrap().to_rgb8();
    let original = image::load_from_memory(&checker_png(FACE_SIZE, FACE_SIZE))
        .unwrap()
        .to_rgb8();
    (row, RgbCopy { copy, original })
}

/// A redacted copy and its original.
struct RgbCopy {
    copy: image::RgbImage,
    original: image::RgbImage,
}

impl RgbCopy {
    /// Pixels of `x1..x2` × `y1..y2`: how many changed, and how many colours the copy has.
    fn inspect(&self, [x1, y1, x2, y2]: [u32; 4]) -> (usize, usize) {
        let at = (y1..y2).flat_map(|y| (x1..x2).map(move |x| (x, y)));
        let changed = at
            .clone()
            .filter(|&(x, y)| self.copy.get_pixel(x, y) != self.original.get_pixel(x, y))
            .count();
        let colours: std::collections::HashSet<_> =
            at.map(|(x, y)| self.copy.get_pixel(x, y).0).collect();
        (changed, colours.len())
    }
}

/// The fake detector's person, in image pixels, and its weak cup.
const PERSON: [u32; 4] = [64, 64, 192, 192];
const CUP: [u32; 4] = [0, 0, 32, 32];

#[tokio::test]
async fn redact_classes_hide_every_box_of_the_class_and_the_row_reports_it() {
    // The cup (score 0.1) is kept by its own threshold but left out of the row by the
    // cap of one detection: the copy hides it whole (one flat colour, no margin), and the
    // row reports it all the same.
    let catalog = SECURITY
        .replace(
            "model = \"fake_det\"\n",
            "model = \"fake_det\"\nclass_min_score = { cup = 0.05 }\nmax_detections = 1\n",
        )
        .replace("redact = true", "redact = true\nredact_classes = [\"cup\"]");
    let (row, copy) = redacted_with(&catalog, Vec::new()).await;
    let cups: Vec<_> = row.detections.iter().filter(|d| d.label == "cup").collect();
    assert_eq!(cups.len(), 1, "{:?}", row.detections);
    assert!((cups[0].x_max - 32.0).abs() < 0.5 && (cups[0].score - 0.1).abs() < 1e-3);
    assert!(row.detections.iter().any(|d| d.label == "person"));
    assert_eq!(row.faces_redacted, Some(0));
    let (changed, colours) = copy.inspect(CUP);
    assert!(
        changed > 400 && colours == 1,
        "{changed} changed, {colours} colours"
    );
    assert_eq!(
        copy.inspect([40, 40, 256, 256]).0,
        0,
        "nothing else is hidden"
    );
}

#[tokio::test]
async fn unfaced_people_are_hidden_whole_and_people_with_a_face_are_not() {
    let catalog = SECURITY.replace("redact = true", "redact = \"faces_and_unfaced_people\"");
    // A face in the corner only: the person has none, so all of it is hidden.
    let (row, copy) = redacted_with(&catalog, vec![OUTSIDE]).await;
    let (changed, colours) = copy.inspect(PERSON);
    assert!(
        changed > 128 * 128 / 2 && colours == 1,
        "{changed} changed, {colours} colours"
    );
    assert!(row.detections.iter().any(|d| d.label == "person"));
    // The face inside the person: only the face (and its margin) is hidden.
    let (row, copy) = redacted_with(&catalog, vec![INSIDE]).await;
    assert!(faces_of(&row).iter().any(|f| (f.x_min - 112.0).abs() < 1.0));
    let (_, colours) = copy.inspect(PERSON);
    assert!(colours > 1, "the person is not hidden whole");
    assert_eq!(
        copy.inspect([64, 64, 100, 100]).0,
        0,
        "the person's corner stays"
    );
}

#[tokio::test]
async fn only_catalogs_that_redact_run_the_turned_face_passes() {
    for (redact, per_image) in [(false, 1), (true, 4)] {
        let catalog = SECURITY.replace("redact = true", &format!("redact = {redact}"));
        let h = harness(&catalog, settings(16));
        h.put("a.png", &checker_png(32, 32));
        h.put("b.png", &checker_png(48, 32));
        let report = h.process(&h.messages("cams", &[&["a.png", "b.png"]])).await;
        assert_eq!(report.rows, 2);
        let runs = h.fake.runs.lock().unwrap().clone();
        let inputs =
            |model: &str| -> usize { runs.iter().filter(|r| r.0 == model).map(|r| r.1).sum() };
        assert_eq!(
            inputs("fake_face"),
            2 * per_image,
            "redact = {redact}: {runs:?}"
        );
        assert_eq!(inputs("fake_det"), 2, "{runs:?}");
    }
}

#[tokio::test]
async fn without_faces_the_copy_equals_the_original() {
    let h = harness(SECURITY, settings(16));
    h.put("empty-room.png", &checker_png(64, 48));
    let report = h.process(&h.messages("cams", &[&["empty-room.png"]])).await;
    assert_eq!(report.rows, 1);
    let row = &h.rows_on_disk()[0];
    assert!(row.detections.iter().all(|d| d.label != "face"));
    assert!(!row.tags.contains(&"face".to_string()));
    let copy = image::open(h.output.path().join(redacted_key(&row.key)))
        .unwrap()
        .to_rgb8();
    let original = image::load_from_memory(&checker_png(64, 48))
        .unwrap()
        .to_rgb8();
    assert_eq!(copy, original);
}

#[tokio::test]
async fn a_tall_thin_image_gets_a_small_copy_and_one_over_the_bound_is_skipped_not_failed() {
    // 1 × 200,000 pixels of one grey: a 194 KB 1 × 100,000,000 PNG of this kind once gave a
    // 125 MB copy (PNG at the fastest level, ~1.25 bytes a row, the level such narrow rows
    // still get: see sightline_vision::encode::png_compression).
    let tall = tall_png(200_000);
    let h = harness(SECURITY, settings(16));
    h.put("tall.png", &tall);
    let report = h.process(&h.messages("cams", &[&["tall.png"]])).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let row = &h.rows_on_disk()[0];
    let key = row
        .redacted_key
        .as_ref()
        .expect("a copy within the default bound");
    let copy = std::fs::metadata(h.output.path().join(key)).unwrap().len();
    let bound = CopyLimit::default().bytes(tall.len() as u64);
    assert!(copy as usize <= bound, "{copy} bytes, bound {bound}");
    assert_eq!(row.redaction_skipped, None);

    // A bound below the copy's size: no copy, and a success row that says why.
    let exact = CopyLimit {
        factor: 1,
        floor_bytes: 0,
    };
    let h = harness_with(SECURITY, settings(16), exact);
    h.put("tall.png", &tall);
    let report = h.process(&h.messages("cams", &[&["tall.png"]])).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!((report.rows, report.error_rows), (1, 0));
    let row = &h.rows_on_disk()[0];
    assert_eq!(row.redacted_key, None);
    assert_eq!(row.redaction_skipped, Some(RedactionSkip::TooLarge));
    assert_eq!((row.error_kind, row.error.as_deref()), (None, None));
    assert!(!row.labels.is_empty() && row.embedding.is_some(), "{row:?}");
    assert_eq!((row.width, row.height), (Some(1), Some(200_000)));
    assert!(
        files_under(&h.output.path().join("redacted")).is_empty(),
        "nothing is written"
    );
}

#[tokio::test]
async fn an_unwritable_sink_retries_every_message() {
    let h = shop(16);
    h.put("a.png", &png(8, 8, 90));
    // The results folder is a file: nothing can be written under it.
    std::fs::write(h.output.path().join("results"), b"in the way").unwrap();
    let report = h
        .process(&h.messages("shop", &[&["a.png"], &["a.png"]]))
        .await;
    assert_eq!(report.failed, vec!["m0".to_string(), "m1".to_string()]);
    assert_eq!(report.rows, 0);
}

#[tokio::test]
async fn a_failed_redaction_write_retries_instead_of_writing_a_row() {
    let h = harness(SECURITY, settings(16));
    h.put("cam.png", &checker_png(32, 32));
    std::fs::write(h.output.path().join("redacted"), b"in the way").unwrap();
    let report = h.process(&h.messages("cams", &[&["cam.png"]])).await;
    assert_eq!(report.failed, vec!["m0".to_string()]);
    assert!(h.rows_on_disk().is_empty());
}

#[test]
fn faces_within_keeps_faces_centred_in_a_named_label() {
    let det = |label: &str, b: [f32; 4]| sightline_core::Detection {
        class_id: 0,
        label: label.into(),
        score: 0.9,
        x_min: b[0],
        y_min: b[1],
        x_max: b[2],
        y_max: b[3],
    };
    let person = det("person", [0.0, 0.0, 10.0, 10.0]);
    let dog = det("dog", [20.0, 20.0, 30.0, 30.0]);
    let in_person = det("face", [2.0, 2.0, 4.0, 4.0]);
    let in_dog = det("face", [22.0, 22.0, 24.0, 24.0]);
    let straddling = det("face", [8.0, 8.0, 14.0, 14.0]); // centre (11, 11): outside
    let faces = vec![in_person.clone(), in_dog.clone(), straddling.clone()];
    let within = vec!["person".to_string()];
    assert_eq!(
        faces_within(&faces, &[person.clone(), dog.clone()], &within),
        vec![in_person]
    );
    assert_eq!(
        faces_within(&faces, &[person, dog], &[]),
        faces,
        "no gate: every face"
    );
    assert!(faces_within(&faces, &[], &within).is_empty());
}

#[test]
fn settings_default_keeps_results_beside_the_source() {
    let s = Settings::default();
    assert_eq!(s.results_bucket_for("photos"), "photos");
    let s = Settings {
        results_bucket: Some("lake".into()),
        ..s
    };
    assert_eq!(s.results_bucket_for("photos"), "lake");
}
