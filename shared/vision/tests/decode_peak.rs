//! The memory estimates that the pipeline's budget is charged with are upper bounds of
//! what decoding and preprocessing really allocate: measured here with a counting global
//! allocator (this test binary only), on PNGs of several pixel layouts and real JPEGs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};

use sightline_vision::probe::Codec;
use sightline_vision::{
    decode_image, probe_header, ClassifierPreprocess, DecodeLimits, Letterbox, Preprocess,
};

/// The system allocator, counting the bytes live now and the most live since a reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::SeqCst) + n;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block allocated before the old one is freed, as a moving
        // realloc does.
        grow(new_size);
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Held by each test: the counters and the resident memory are process-wide.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The most bytes `f` had allocated at once beyond what was live before it, and its result.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = f();
    (PEAK.load(Ordering::SeqCst) - before, out)
}

fn png(img: image::DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn encoded(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// An RGB8 PNG whose EXIF orientation (6) asks for a 90° rotation.
fn rotated_png(img: &image::RgbImage) -> Vec<u8> {
    use image::ImageEncoder;
    let exif = [
        b"MM\x00\x2a\x00\x00\x00\x08\x00\x01".as_slice(),
        b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00",
    ]
    .concat();
    let mut out = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut out);
    encoder.set_exif_metadata(exif).unwrap();
    let (w, h) = img.dimensions();
    encoder
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// A progressive JPEG (libjpeg keeps all its coefficients while decoding) of `w` × `h`
/// pixels of `pixel(x, y)`, encoded row by row (no image-sized buffer is freed before the
/// decode that is measured).
fn progressive_jpeg(w: u32, h: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(w as usize, h as usize);
    c.set_progressive_mode();
    c.set_quality(90.0);
    let mut started = c.start_compress(Vec::new()).unwrap();
    for y in 0..h {
        let row: Vec<u8> = (0..w).flat_map(|x| pixel(x, y)).collect();
        started.write_scanlines(&row).unwrap();
    }
    started.finish().unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

/// Every case runs in this one test: the counters are process-wide.
#[test]
fn decode_and_preprocess_stay_within_their_estimates() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (w, h) = (1500u32, 1000u32);
    let noise = |x: u32, y: u32| ((x * 7919 + y * 104_729) % 251) as u8;
    let photo = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([noise(x, y), 9, 200]));
    let small = image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([noise(x, y), 9, 200]));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("rgb8 png", png(photo.clone().into())),
        ("rotated png", rotated_png(&photo)),
        (
            "progressive jpeg",
            progressive_jpeg(w, h, |x, y| [noise(x, y), 9, 200]),
        ),
        (
            "webp (lossless)",
            encoded(photo.clone().into(), image::ImageFormat::WebP),
        ),
        ("gif", encoded(small.into(), image::ImageFormat::Gif)),
        ("grey png", png(image::GrayImage::new(w, h).into())),
        ("rgba16 png", png(image::DynamicImage::new_rgba16(w, h))),
        ("chelsea.jpg", fixture("chelsea.jpg")),
        ("camera.jpg", fixture("camera.jpg")),
        ("coffee.jpg", fixture("coffee.jpg")),
    ];
    let limits = DecodeLimits {
        max_pixels: 100_000_000,
    };
    let models = [
        Preprocess::CenterCrop(ClassifierPreprocess {
            resize_shorter: 256,
            crop: 224,
            mean: [0.0; 3],
            std: [1.0; 3],
            layout: sightline_vision::Layout::Nchw,
            channels: sightline_vision::Channels::Rgb,
        }),
        Preprocess::Letterbox(Letterbox {
            size: 512,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad: 0,
            layout: sightline_vision::Layout::Nhwc,
            channels: sightline_vision::Channels::Rgb,
        }),
    ];
    for (name, bytes) in cases {
        let header = probe_header(&bytes).unwrap();
        assert_eq!(header.rotated, name.starts_with("rotated"), "{name}");
        if name.starts_with("progressive") {
            assert!(
                matches!(
                    header.codec,
                    Codec::Jpeg {
                        progressive: true,
                        components: 3
                    }
                ),
                "{header:?}"
            );
        }
        let (decode_peak, img) = peak_of(|| decode_image(&bytes, limits).unwrap());
        let estimate = header.decode_peak_bytes() as usize;
        eprintln!(
            "{name}: {}x{}, decode allocated {:.2} bytes per pixel, estimated {:.2}",
            header.width,
            header.height,
            decode_peak as f64 / header.pixels() as f64,
            estimate as f64 / header.pixels() as f64
        );
        assert!(
            decode_peak <= estimate,
            "{name}: decoding allocated {decode_peak} bytes, estimated {estimate}"
        );
        // Not needlessly pessimistic: per pixel, within 1.6 × what was measured (libjpeg
        // allocates with C's malloc, unseen here: see the resident-memory test for JPEGs).
        let per_pixel = header.decode_bytes_per_pixel() * header.pixels();
        assert!(
            matches!(header.codec, Codec::Jpeg { .. })
                || per_pixel as f64 <= 1.6 * decode_peak as f64,
            "{name}: estimated {estimate} bytes, decoding allocated {decode_peak}"
        );
        for pp in &models {
            let mut tensor = vec![0f32; pp.tensor_len()];
            let (scratch, _) = peak_of(|| pp.run(&img, &mut tensor));
            let rows = header.width.max(header.height);
            assert!(
                scratch as u64 <= pp.scratch_bytes(rows),
                "{name}: preprocessing allocated {scratch} bytes, estimated {}",
                pp.scratch_bytes(rows)
            );
        }
    }
}

/// Resident KiB of this process: (now, peak since the last reset).
fn resident_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// libjpeg's buffers (C allocations, which the counting allocator does not see) are
/// measured by the peak resident memory of a fresh process (this binary again, running
/// only [`progressive_jpeg_child`]): a progressive JPEG keeps every DCT coefficient while
/// it decodes. Linux only.
#[test]
fn progressive_jpeg_decodes_within_its_estimate_in_resident_memory() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "progressive_jpeg_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let Some(line) = text
        .lines()
        .find_map(|l| l.split_once("grew ").map(|(_, m)| m))
    else {
        assert!(text.contains("skipped"), "{text}");
        return;
    };
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (grew, estimate) = (numbers[0], numbers[1]);
    eprintln!("progressive jpeg 4000x3000: resident grew {grew} bytes, estimated {estimate}");
    // 12 MP: 3 bytes per pixel of output, up to 6 of coefficients.
    assert!(grew <= estimate, "{line}");
    assert!(
        grew >= 4.0 * 12e6,
        "the output and the coefficients were resident: {line}"
    );
}

/// Set in the child process of the resident-memory test.
const CHILD: &str = "SIGHTLINE_DECODE_PEAK_CHILD";

/// The child of [`progressive_jpeg_decodes_within_its_estimate_in_resident_memory`]:
/// nothing unless [`CHILD`] is set.
#[test]
fn progressive_jpeg_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let noise = |x: u32, y: u32| ((x * 7919 + y * 104_729) % 251) as u8;
    let bytes = progressive_jpeg(4000, 3000, |x, y| {
        [noise(x, y), noise(y, x), (x / 16) as u8]
    });
    let header = probe_header(&bytes).unwrap();
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        println!("peak resident memory cannot be reset here: skipped");
        return;
    }
    let (before, _) = resident_kib();
    let img = decode_image(
        &bytes,
        DecodeLimits {
            max_pixels: 100_000_000,
        },
    )
    .unwrap();
    let (_, peak) = resident_kib();
    drop(img);
    println!(
        "grew {} bytes, estimated {}",
        (peak - before) * 1024,
        header.decode_peak_bytes()
    );
}
