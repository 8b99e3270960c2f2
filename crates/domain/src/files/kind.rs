//! File types by magic bytes. The sniffer sees the upload as it streams: it keeps
//! the first [`SNIFF_WINDOW`] bytes for the signatures and checks every byte for
//! text, since csv has no signature and is accepted only when all of it is text.

use std::fmt;
use std::str::FromStr;

/// How many leading bytes the signatures are looked for in.
pub const SNIFF_WINDOW: usize = 8 * 1024;

/// The types Portcullis can recognise and inspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    Pdf,
    Csv,
    /// Legacy Excel: an OLE2 compound document.
    Xls,
    /// Office Open XML workbook: a zip holding `xl/` parts.
    Xlsx,
}

impl FileType {
    pub const ALL: [FileType; 4] = [FileType::Pdf, FileType::Csv, FileType::Xls, FileType::Xlsx];

    /// The short name used in configuration (`ALLOWED_FILE_TYPES`) and the API.
    pub fn name(self) -> &'static str {
        match self {
            FileType::Pdf => "pdf",
            FileType::Csv => "csv",
            FileType::Xls => "xls",
            FileType::Xlsx => "xlsx",
        }
    }

    /// The media type the file is served and reported with.
    pub fn content_type(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Csv => "text/csv",
            FileType::Xls => "application/vnd.ms-excel",
            FileType::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A type name that is not one of [`FileType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown file type {0:?} (known: pdf, csv, xls, xlsx)")]
pub struct UnknownFileType(pub String);

impl FromStr for FileType {
    type Err = UnknownFileType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().trim_start_matches('.').to_ascii_lowercase();
        FileType::ALL.into_iter().find(|t| t.name() == wanted).ok_or_else(|| UnknownFileType(s.to_owned()))
    }
}

/// A set of allowed types, e.g. from `ALLOWED_FILE_TYPES=pdf,csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTypes(Vec<FileType>);

impl FileTypes {
    pub fn all() -> Self {
        Self(FileType::ALL.to_vec())
    }

    /// A comma-separated list; empty items are ignored, an unknown one is an
    /// error, and an empty list is refused (nothing could ever be uploaded).
    pub fn parse(list: &str) -> Result<Self, UnknownFileType> {
        let mut types = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let kind: FileType = item.parse()?;
            if !types.contains(&kind) {
                types.push(kind);
            }
        }
        if types.is_empty() {
            return Err(UnknownFileType(list.to_owned()));
        }
        types.sort();
        Ok(Self(types))
    }

    pub fn allows(&self, kind: FileType) -> bool {
        self.0.contains(&kind)
    }

    pub fn iter(&self) -> impl Iterator<Item = FileType> + '_ {
        self.0.iter().copied()
    }
}

const PDF: &[u8] = b"%PDF-";
const OLE2: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const ZIP: &[u8] = b"PK\x03\x04";

/// Decides a file's type from its bytes, fed in any chunking.
#[derive(Debug, Default)]
pub struct Sniffer {
    head: Vec<u8>,
    /// Bytes of a UTF-8 sequence cut by a chunk boundary.
    pending: Vec<u8>,
    text: bool,
    seen: u64,
}

impl Sniffer {
    pub fn new() -> Self {
        Self { head: Vec::with_capacity(SNIFF_WINDOW), pending: Vec::new(), text: true, seen: 0 }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.seen += chunk.len() as u64;
        if self.head.len() < SNIFF_WINDOW {
            let room = SNIFF_WINDOW - self.head.len();
            self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if self.text {
            self.check_text(chunk);
        }
    }

    fn check_text(&mut self, chunk: &[u8]) {
        let joined;
        let bytes = if self.pending.is_empty() {
            chunk
        } else {
            joined = [self.pending.as_slice(), chunk].concat();
            joined.as_slice()
        };
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(s) => (s, &[][..]),
            Err(e) if e.error_len().is_none() => {
                // An incomplete sequence at the end: wait for the next chunk.
                let cut = e.valid_up_to();
                (std::str::from_utf8(&bytes[..cut]).unwrap_or_default(), &bytes[cut..])
            }
            Err(_) => {
                self.text = false;
                return;
            }
        };
        if valid.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}')) {
            self.text = false;
            return;
        }
        self.pending = rest.to_vec();
    }

    /// How many bytes were fed.
    pub fn len(&self) -> u64 {
        self.seen
    }

    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// The type, once every byte was fed; `None` when it is none of the known
    /// types (an empty file is none).
    pub fn finish(self) -> Option<FileType> {
        let head = self.head.as_slice();
        if head.starts_with(PDF) {
            Some(FileType::Pdf)
        } else if head.starts_with(OLE2) {
            Some(FileType::Xls)
        } else if head.starts_with(ZIP) {
            // A workbook's parts live under `xl/`; another zip (docx, a plain
            // archive) is not a workbook.
            head.windows(3).any(|w| w == b"xl/").then_some(FileType::Xlsx)
        } else if self.text && self.pending.is_empty() && self.seen > 0 {
            Some(FileType::Csv)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(chunks: &[&[u8]]) -> Option<FileType> {
        let mut sniffer = Sniffer::new();
        for chunk in chunks {
            sniffer.feed(chunk);
        }
        sniffer.finish()
    }

    #[test]
    fn types_are_decided_by_their_bytes() {
        let xlsx_head =
            [ZIP, b"\x14\x00\x06\x00....[Content_Types].xml....PK\x03\x04....xl/workbook.xml"].concat();
        let docx_head = [ZIP, b"\x14\x00\x06\x00....[Content_Types].xml....word/document.xml"].concat();
        type Case<'a> = (&'a str, Vec<&'a [u8]>, Option<FileType>);
        let cases: &[Case] = &[
            ("pdf", vec![b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"], Some(FileType::Pdf)),
            ("xls (OLE2)", vec![OLE2, &[0u8; 64]], Some(FileType::Xls)),
            ("xlsx", vec![&xlsx_head], Some(FileType::Xlsx)),
            ("docx is a zip but not a workbook", vec![&docx_head], None),
            ("csv", vec![b"name,amount\r\nAda,12.50\r\n"], Some(FileType::Csv)),
            (
                "csv with a BOM and accents",
                vec!["\u{feff}nom;montant\nZoë;3\n".as_bytes()],
                Some(FileType::Csv),
            ),
            ("csv split inside a character", vec![b"caf\xc3", b"\xa9,1\n"], Some(FileType::Csv)),
            ("csv ending inside a character", vec![b"caf\xc3"], None),
            ("binary (NUL)", vec![b"name\0amount"], None),
            ("invalid UTF-8", vec![b"\xff\xfe\x00\x01"], None),
            ("an exe named .pdf", vec![b"MZ\x90\x00\x03\x00\x00\x00"], None),
            ("empty", vec![], None),
            ("pdf signature after the start", vec![b" %PDF-1.7"], Some(FileType::Csv)),
            ("binary after a text start", vec![b"a,b\n", b"\x01\x02"], None),
        ];
        for (name, chunks, expected) in cases {
            assert_eq!(sniff(chunks), *expected, "{name}");
        }
    }

    #[test]
    fn a_signature_split_across_chunks_is_still_seen() {
        assert_eq!(sniff(&[b"%P", b"DF-1.4"]), Some(FileType::Pdf));
        let ole: Vec<&[u8]> = OLE2.chunks(1).collect();
        assert_eq!(sniff(&ole), Some(FileType::Xls));
    }

    #[test]
    fn the_sniffer_keeps_only_its_window() {
        let mut sniffer = Sniffer::new();
        for _ in 0..100 {
            sniffer.feed(&[b'a'; 4096]);
        }
        assert_eq!(sniffer.head.len(), SNIFF_WINDOW);
        assert_eq!(sniffer.len(), 409_600);
        assert_eq!(sniffer.finish(), Some(FileType::Csv));
    }

    #[test]
    fn allowed_types_parse_from_configuration() {
        let cases: &[(&str, Result<Vec<FileType>, ()>)] = &[
            ("pdf,csv,xls,xlsx", Ok(FileType::ALL.to_vec())),
            (" XLSX , .pdf ,, pdf", Ok(vec![FileType::Pdf, FileType::Xlsx])),
            ("csv", Ok(vec![FileType::Csv])),
            ("pdf,exe", Err(())),
            ("", Err(())),
            (" , ", Err(())),
        ];
        for (input, expected) in cases {
            let got = FileTypes::parse(input).map(|t| t.iter().collect::<Vec<_>>()).map_err(|_| ());
            assert_eq!(&got, expected, "{input:?}");
        }
        let pdf_only = FileTypes::parse("pdf").unwrap();
        assert!(pdf_only.allows(FileType::Pdf) && !pdf_only.allows(FileType::Csv));
    }
}
