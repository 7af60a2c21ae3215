//! Decode time per image: `cargo run -p sightline-vision --example decode_time -- FILE…`
//! (each file decoded 5 times after one warm-up; prints the median ms per file).

use std::time::Instant;

use sightline_vision::{decode_image, DecodeLimits};

fn main() {
    let limits = DecodeLimits {
        max_pixels: 200_000_000,
    };
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("read");
        let img = decode_image(&bytes, limits).expect("decode");
        let mut ms: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(decode_image(&bytes, limits).expect("decode"));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!("{path}\t{}x{}\t{:.1} ms", img.width, img.height, ms[2]);
    }
}
