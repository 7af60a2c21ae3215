//! Every file of `tests/fixtures/bad/` is refused with a typed error, never a panic that
//! escapes: at full size and DCT-scaled. `fatal.jpg` takes libjpeg's fatal-error path
//! (a progressive scan with impossible parameters, found mid-decode), which the mozjpeg
//! crate reports by unwinding; a build with `panic = "abort"` would die here (the crate
//! refuses to compile that way).

use sightline_vision::decode::{decode_at_least, DecodeLimits, MinDecodeSize};
use sightline_vision::VisionError;

fn bad(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/bad/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_bad_fixture_is_a_typed_error() {
    let limits = DecodeLimits {
        max_pixels: 100_000_000,
    };
    let scaled = Some(MinDecodeSize {
        short: 64,
        long: 64,
    });
    for (name, want) in [
        ("empty.jpg", "Empty"),
        ("text.jpg", "NotAnImage"),
        ("truncated.jpg", "Corrupt"),
        ("fatal.jpg", "Corrupt"),
        ("corrupt.png", "Corrupt"),
        ("bomb.png", "TooLarge"),
    ] {
        for min in [None, scaled] {
            let got = decode_at_least(&bad(name), limits, min).map(|_| ());
            let kind = match &got {
                Err(VisionError::Empty) => "Empty",
                Err(VisionError::NotAnImage) => "NotAnImage",
                Err(VisionError::Corrupt(_)) => "Corrupt",
                Err(VisionError::TooLarge { .. }) => "TooLarge",
                other => panic!("{name} ({min:?}): {other:?}"),
            };
            assert_eq!(kind, want, "{name} ({min:?}): {got:?}");
        }
    }
    let Err(VisionError::Corrupt(why)) = decode_at_least(&bad("fatal.jpg"), limits, None) else {
        unreachable!("checked above");
    };
    assert!(why.contains("progressive"), "libjpeg's own message: {why}");
}
