//! How many SMS a text takes. A text of GSM 03.38 characters only goes as GSM-7 (160
//! septets in one message; 153 per part when concatenated, the rest is the part header),
//! where the extension table's characters (`€ [ ] { } \ ^ ~ |` and form feed) take two
//! septets. Any other character makes the whole text UCS-2: 70 UTF-16 units in one
//! message, 67 per part. A character is never split across parts.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum SmsEncoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// The encoding and size of an SMS text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct SmsSegments {
    pub encoding: SmsEncoding,
    /// Characters in the text.
    pub characters: usize,
    /// Its length in the encoding: septets for GSM-7 (extension characters count 2),
    /// UTF-16 code units for UCS-2.
    pub units: usize,
    /// Messages it is sent as (billed per segment).
    pub segments: usize,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Septets a character takes in GSM-7, or `None` when GSM-7 cannot encode it.
fn gsm7_width(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts the segments of `text` (see the module's documentation).
pub fn segments(text: &str) -> SmsSegments {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_width).collect();
    let (encoding, widths, single, part) = match gsm {
        Some(widths) => (SmsEncoding::Gsm7, widths, 160, 153),
        None => (
            SmsEncoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let units: usize = widths.iter().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        // Fill each part greedily; a character that does not fit starts the next one.
        let mut count = 1;
        let mut used = 0;
        for width in widths {
            if used + width > part {
                count += 1;
                used = 0;
            }
            used += width;
        }
        count
    };
    SmsSegments {
        encoding,
        characters: text.chars().count(),
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> (SmsEncoding, usize, usize) {
        let s = segments(text);
        (s.encoding, s.units, s.segments)
    }

    #[test]
    fn gsm7_fits_160_in_one_and_153_per_part() {
        use SmsEncoding::Gsm7;
        assert_eq!(count(""), (Gsm7, 0, 0));
        assert_eq!(count("Hello, world!"), (Gsm7, 13, 1));
        assert_eq!(count(&"a".repeat(160)), (Gsm7, 160, 1));
        assert_eq!(count(&"a".repeat(161)), (Gsm7, 161, 2));
        assert_eq!(count(&"a".repeat(306)), (Gsm7, 306, 2));
        assert_eq!(count(&"a".repeat(307)), (Gsm7, 307, 3));
        // Accents of the GSM alphabet stay GSM-7.
        assert_eq!(count("Olá, você está em São Paulo?").0, SmsEncoding::Ucs2);
        assert_eq!(count("é è à ù ì ò Ñ ü ß Δ £ ¥ ¿ ¡ §"), (Gsm7, 29, 1));
    }

    #[test]
    fn extension_characters_count_two_and_are_not_split() {
        use SmsEncoding::Gsm7;
        assert_eq!(count("€"), (Gsm7, 2, 1));
        assert_eq!(count("[x]{y}\\^~|"), (Gsm7, 18, 1));
        assert_eq!(count(&"€".repeat(80)), (Gsm7, 160, 1));
        assert_eq!(count(&"€".repeat(81)), (Gsm7, 162, 2));
        // 152 septets, then a two-septet character: it goes whole to the second part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let s = segments(&text);
        assert_eq!((s.units, s.segments), (164, 2));
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(segments(&text).segments, 3);
    }

    #[test]
    fn anything_else_is_ucs2_with_70_or_67_per_part() {
        use SmsEncoding::Ucs2;
        assert_eq!(count("ã"), (Ucs2, 1, 1));
        assert_eq!(count(&"ç".repeat(70)), (Ucs2, 70, 1));
        assert_eq!(count(&"ç".repeat(71)), (Ucs2, 71, 2));
        assert_eq!(count(&"ç".repeat(134)), (Ucs2, 134, 2));
        assert_eq!(count(&"ç".repeat(135)), (Ucs2, 135, 3));
        // One non-GSM character turns the whole text UCS-2.
        assert_eq!(count(&format!("{}ã", "a".repeat(100))), (Ucs2, 101, 2));
        // An emoji is two UTF-16 units, kept in one part.
        let s = segments("🎉");
        assert_eq!((s.characters, s.units, s.segments), (1, 2, 1));
        let text = format!("{}🎉", "x".repeat(66));
        assert_eq!(segments(&text).units, 68);
        assert_eq!(segments(&text).segments, 1);
        let text = format!("{}🎉", "ã".repeat(70));
        assert_eq!((segments(&text).units, segments(&text).segments), (72, 2));
        let text = format!("{}🎉{}", "ã".repeat(66), "ã".repeat(10));
        assert_eq!(segments(&text).segments, 2);
        let text = format!("{}🎉{}", "ã".repeat(66), "ã".repeat(66));
        assert_eq!(segments(&text).segments, 3);
    }
}
