//! Decode time per image, full size and DCT-scaled for a classifier (shorter side ≥ 512):
//! `cargo run -p sightline-vision --example decode_time -- FILE…` (each way decoded 5 times
//! after a warm-up; prints the median ms).

use std::time::Instant;

use sightline_vision::{decode_at_least, DecodeLimits, MinDecodeSize};

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut ms: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let limits = DecodeLimits {
        max_pixels: 200_000_000,
    };
    let classifier = Some(MinDecodeSize {
        short: 512,
        long: 0,
    });
    println!("file\toriginal\tfull ms\tscaled to\tscaled ms");
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let decode = |min| decode_at_least(&bytes, limits, min);
        let (full, scaled) = (decode(None)?, decode(classifier)?);
        let full_ms = median_ms(|| drop(std::hint::black_box(decode(None))));
        let scaled_ms = median_ms(|| drop(std::hint::black_box(decode(classifier))));
        println!(
            "{path}\t{}x{}\t{full_ms:.1}\t{}x{}\t{scaled_ms:.1}",
            full.image.width, full.image.height, scaled.image.width, scaled.image.height
        );
    }
    Ok(())
}
