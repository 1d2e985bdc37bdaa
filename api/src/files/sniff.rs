//! What an uploaded file really is, against the content type it was sent as. Providers
//! check the bytes (WhatsApp refuses an "image" that is a text file, at send time, after
//! the notification was accepted), so the upload is refused now instead: 422 on `file`.
//!
//! Magic numbers (the `infer` crate). A type is refused when the bytes are recognisably
//! something else, and for the image and PDF types (whose every file starts with its magic
//! number) when they are not recognised at all. Audio and video containers are lenient
//! where one format is sold under several names (`audio/wav`, `audio/x-wav`; MP4 audio
//! detected as video).

/// Types whose files always start with a magic number `infer` knows.
const ALWAYS_RECOGNISED: [&str; 5] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
];

/// Declared types and the names `infer` gives the same format.
const SAME_FORMAT: [(&str, &str); 8] = [
    ("audio/wav", "audio/x-wav"),
    ("audio/mp4", "audio/m4a"),
    ("audio/mp4", "video/mp4"),
    ("audio/aac", "audio/m4a"),
    ("audio/ogg", "audio/opus"),
    ("video/mp4", "video/x-m4v"),
    ("video/3gpp", "video/mp4"),
    ("video/mp4", "video/quicktime"),
];

/// Why `bytes` are not a file of `declared` (an essence: `image/png`), if they are not.
pub fn mismatch(declared: &str, bytes: &[u8]) -> Option<String> {
    match infer::get(bytes).map(|kind| kind.mime_type()) {
        Some(found) if found == declared || SAME_FORMAT.contains(&(declared, found)) => None,
        Some(found) => Some(format!(
            "the file's content is `{found}`, not the `{declared}` it was sent as"
        )),
        None if ALWAYS_RECOGNISED.contains(&declared) => Some(format!(
            "the file's content is not `{declared}` (its first bytes are not that format's)"
        )),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n";

    #[test]
    fn a_file_of_its_declared_type_passes() {
        assert_eq!(mismatch("image/png", PNG), None);
        assert_eq!(mismatch("application/pdf", PDF), None);
        assert_eq!(mismatch("text/plain", b"just some text\n"), None);
    }

    #[test]
    fn text_sent_as_an_image_and_an_image_sent_as_another_are_refused() {
        let reason = mismatch("image/png", b"just some text, not an image\n").unwrap();
        assert!(reason.contains("not `image/png`"), "{reason}");
        let reason = mismatch("image/jpeg", PNG).unwrap();
        assert!(
            reason.contains("`image/png`, not the `image/jpeg`"),
            "{reason}"
        );
        // A binary format sent as text.
        assert!(mismatch("text/plain", PDF).is_some());
    }

    #[test]
    fn one_format_under_several_names_passes() {
        let wav = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0";
        assert_eq!(mismatch("audio/wav", wav), None);
        assert!(mismatch("audio/mpeg", wav).is_some());
    }
}
