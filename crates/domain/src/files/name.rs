//! The client's file name is kept only as a display name: storage keys are
//! generated, so nothing the client sends ever becomes part of a path.

/// The longest display name kept, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 255;

/// The name a file is shown under: the last path part of what the client sent
/// (either separator), without control or bidirectional-override characters,
/// trimmed, at most [`DISPLAY_NAME_MAX_CHARS`] characters (the extension kept
/// when it has to be shortened); `upload` when nothing is left.
pub fn display_name(client_name: &str) -> String {
    let last = client_name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect();
    let name = cleaned.trim().trim_start_matches('.').trim();
    if name.is_empty() {
        return "upload".to_owned();
    }
    if name.chars().count() <= DISPLAY_NAME_MAX_CHARS {
        return name.to_owned();
    }
    let extension = name.rsplit_once('.').map(|(_, ext)| ext).filter(|ext| ext.chars().count() <= 16);
    match extension {
        Some(ext) => {
            let keep = DISPLAY_NAME_MAX_CHARS - ext.chars().count() - 1;
            format!("{}.{ext}", name.chars().take(keep).collect::<String>())
        }
        None => name.chars().take(DISPLAY_NAME_MAX_CHARS).collect(),
    }
}

/// A `Content-Disposition` that saves a download under its display name:
/// printable ASCII only (others become `_`), no quote or backslash to break
/// out of the quoted string.
pub fn attachment_disposition(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    format!("attachment; filename=\"{safe}\"")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dispositions_cannot_break_out_of_their_quotes() {
        assert_eq!(
            super::attachment_disposition("Q1 report.xlsx"),
            "attachment; filename=\"Q1 report.xlsx\""
        );
        assert_eq!(
            super::attachment_disposition("a\"b\\c\r\nd é.csv"),
            "attachment; filename=\"a_b_c__d _.csv\""
        );
    }

    use super::*;

    #[test]
    fn display_names_keep_only_a_harmless_last_part() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\ada\\credit report.xlsx", "credit report.xlsx"),
            ("/tmp/", "upload"),
            ("", "upload"),
            ("  spaced.csv  ", "spaced.csv"),
            ("bad\u{0}name\r\n.csv", "badname.csv"),
            ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
            (".hidden", "hidden"),
            ("..", "upload"),
            ("résumé.pdf", "résumé.pdf"),
        ];
        for (input, expected) in cases {
            assert_eq!(display_name(input), expected, "{input:?}");
        }
    }

    #[test]
    fn long_names_are_cut_on_characters_and_keep_their_extension() {
        let long = format!("{}.xlsx", "é".repeat(400));
        let name = display_name(&long);
        assert_eq!(name.chars().count(), DISPLAY_NAME_MAX_CHARS);
        assert!(name.ends_with(".xlsx"));
        let no_ext = "x".repeat(300);
        assert_eq!(display_name(&no_ext).chars().count(), DISPLAY_NAME_MAX_CHARS);
    }
}
