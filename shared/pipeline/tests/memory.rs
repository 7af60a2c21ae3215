//! The memory budget with a fake inference backend: large images wait for room instead
//! of being decoded all at once, and an image that cannot fit in the whole budget gets a
//! permanent `too_large` row while the rest of its batch succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sightline_core::{ErrorKind, Settings};
use sightline_pipeline::redact::redacted_key;
use support::{harness, png, settings, SECURITY};

/// A 6000 × 6000 RGB8 PNG (a few KB on disk) decodes to 108 MB; it is estimated at 4
/// bytes per pixel (144 MB) while decoded and 6 (216 MB) while kept for redaction, which
/// sets its reservation in a redacting catalog.
const BIG: u32 = 6000;

/// Test settings with a memory budget of `mb` MiB.
fn with_budget(mb: u64) -> Settings {
    Settings {
        memory_budget_mb: Some(mb),
        ..settings(4)
    }
}

#[tokio::test]
async fn large_images_wait_for_room_and_the_budget_is_never_exceeded() {
    // 400 MiB (419 MB) hold one image (≈ 217 MB) but not two.
    let h = harness(SECURITY, with_budget(400));
    let big = png(BIG, BIG, 120);
    let names = ["a.png", "b.png", "c.png"];
    for name in names {
        h.put(name, &big);
    }
    let report = h.process(&h.messages("cams", &[&names])).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!((report.rows, report.error_rows), (3, 0), "{report:?}");
    for row in h.rows_on_disk() {
        assert_eq!((row.width, row.height), (Some(6000), Some(6000)));
        assert!(row.labels.len() == 2 && row.error.is_none(), "{row:?}");
        let copy = h.output.path().join(redacted_key(&row.key));
        assert!(copy.is_file(), "redacted copy {copy:?}");
    }
    let budget = h.pipeline.memory_budget();
    let one_image = u64::from(BIG).pow(2) * 6;
    assert_eq!(budget.total_bytes(), 400 << 20);
    assert!(
        budget.high_water_bytes() <= budget.total_bytes(),
        "high water {} over the budget {}",
        budget.high_water_bytes(),
        budget.total_bytes()
    );
    assert!(
        budget.high_water_bytes() >= one_image,
        "each decode reserved its estimate: high water {}",
        budget.high_water_bytes()
    );
    assert_eq!(
        budget.peak_holders(),
        1,
        "a kept image holds its share until its redacted copy is written"
    );
    assert_eq!(budget.in_use_bytes(), 0, "everything was given back");
}

#[tokio::test]
async fn an_image_over_the_whole_budget_is_too_large_and_the_rest_succeed() {
    let h = harness(SECURITY, with_budget(150));
    h.put("huge.png", &png(BIG, BIG, 120));
    h.put("small.png", &png(64, 48, 200));
    h.put("tiny.png", &png(8, 8, 30));
    let names = ["huge.png", "small.png", "tiny.png"];
    let report = h.process(&h.messages("cams", &[&names])).await;
    assert!(report.failed.is_empty(), "never a retry: {report:?}");
    assert_eq!((report.rows, report.error_rows), (3, 1), "{report:?}");
    let rows = h.rows_on_disk();
    let huge = rows.iter().find(|r| r.key.ends_with("huge.png")).unwrap();
    assert_eq!(huge.error_kind, Some(ErrorKind::TooLarge));
    let message = huge.error.as_deref().unwrap();
    for part in ["6000x6000", "150 MiB", "SIGHTLINE_MEMORY_BUDGET_MB"] {
        assert!(message.contains(part), "{part:?} in {message:?}");
    }
    for row in rows.iter().filter(|r| !r.key.ends_with("huge.png")) {
        assert!(
            row.error_kind.is_none() && !row.labels.is_empty(),
            "{row:?}"
        );
    }
    let budget = h.pipeline.memory_budget();
    assert!(
        // The two small images hold their tensors (the fake face input at four turns,
        // counted twice: about 6 MB each); the huge one would need over 100 MB.
        budget.high_water_bytes() < 32 << 20,
        "the huge image was never decoded: high water {}",
        budget.high_water_bytes()
    );
}
