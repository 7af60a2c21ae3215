//! What a catalog's redacted copy hides and how: `redact`, `redact_style` and
//! `redact_classes` of a catalog's `[faces]` (see [`crate::FaceConfig`]).

use serde::{Deserialize, Deserializer};

/// What a catalog's redacted copy hides (`[faces] redact`). In TOML: `false` (the
/// default: no copy), `true` or `"faces"`, or `"faces_and_unfaced_people"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Redact {
    /// No redacted copy.
    #[default]
    Off,
    /// Every face found (and every box of `redact_classes`).
    Faces,
    /// As `Faces`, and every person box of the detector in which no face was found is
    /// hidden whole (a head turned away, too small or too blurred for the face model).
    /// Needs a `[detector]` with a `person` label.
    FacesAndUnfacedPeople,
}

impl Redact {
    /// Whether a redacted copy is written.
    pub fn is_on(self) -> bool {
        self != Redact::Off
    }
}

impl<'de> Deserialize<'de> for Redact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Switch(bool),
            Name(String),
        }
        match Given::deserialize(d)? {
            Given::Switch(false) => Ok(Redact::Off),
            Given::Switch(true) => Ok(Redact::Faces),
            Given::Name(n) if n == "faces" => Ok(Redact::Faces),
            Given::Name(n) if n == "faces_and_unfaced_people" => Ok(Redact::FacesAndUnfacedPeople),
            Given::Name(n) => Err(serde::de::Error::custom(format!(
                "redact = {n:?}: expected true, false, \"faces\" or \"faces_and_unfaced_people\""
            ))),
        }
    }
}

/// How a redacted region is hidden (`[faces] redact_style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactLook {
    /// One flat colour, the region's mean (the default): independent face detectors find
    /// no face in it (a mosaic of 8 cells still scores as one: scripts/privacy_bench.sh).
    #[default]
    Fill,
    /// At most 8 flat cells across the region.
    Pixelate,
    /// A strong blur (a radius of at least 1/8 of the region).
    Blur,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        redact: Redact,
        #[serde(default)]
        style: RedactLook,
    }

    fn parse(text: &str) -> Result<T, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn redact_reads_a_switch_or_a_name() {
        for (text, want) in [
            ("redact = false", Redact::Off),
            ("redact = true", Redact::Faces),
            ("redact = \"faces\"", Redact::Faces),
            (
                "redact = \"faces_and_unfaced_people\"",
                Redact::FacesAndUnfacedPeople,
            ),
        ] {
            let t = parse(text).unwrap();
            assert_eq!(t.redact, want, "{text}");
            assert_eq!(t.style, RedactLook::Fill);
        }
        let e = parse("redact = \"people\"").unwrap_err().to_string();
        assert!(e.contains("faces_and_unfaced_people"), "{e}");
        assert!(parse("redact = 1").is_err());
        let t = parse("redact = true\nstyle = \"pixelate\"").unwrap();
        assert_eq!(t.style, RedactLook::Pixelate);
        assert!(parse("redact = true\nstyle = \"mosaic\"").is_err());
        assert!(!Redact::Off.is_on() && Redact::FacesAndUnfacedPeople.is_on());
    }
}
