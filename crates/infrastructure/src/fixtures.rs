//! Small, valid (and deliberately broken) documents built in code, for the
//! tests and benchmarks of file intake: nothing is downloaded, nothing binary
//! is checked in.

use lopdf::{Dictionary, Document, Object, Stream};
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;

fn cell_ref(row: usize, col: usize) -> String {
    let mut letters = String::new();
    let mut n = col + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.insert(0, (b'A' + rem as u8) as char);
        n = (n - 1) / 26;
    }
    format!("{letters}{}", row + 1)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn sheet_xml(rows: &[&[&str]]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        xml.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, value) in row.iter().enumerate() {
            xml.push_str(&format!(
                r#"<c r="{}" t="inlineStr"><is><t>{}</t></is></c>"#,
                cell_ref(r, c),
                escape(value)
            ));
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// An xlsx workbook with these sheets (name, rows of cells).
pub fn xlsx(sheets: &[(&str, &[&[&str]])]) -> Vec<u8> {
    zip_of(&xlsx_parts(sheets))
}

fn xlsx_parts(sheets: &[(&str, &[&[&str]])]) -> Vec<(String, Vec<u8>)> {
    let mut content_types = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>"#,
    );
    let mut workbook = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
    );
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for (i, (name, _)) in sheets.iter().enumerate() {
        let n = i + 1;
        content_types.push_str(&format!(r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#));
        workbook.push_str(&format!(r#"<sheet name="{}" sheetId="{n}" r:id="rId{n}"/>"#, escape(name)));
        rels.push_str(&format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#));
    }
    content_types.push_str("</Types>");
    workbook.push_str("</sheets></workbook>");
    rels.push_str("</Relationships>");
    let root_rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let mut parts: Vec<(String, Vec<u8>)> = vec![
        ("[Content_Types].xml".into(), content_types.into_bytes()),
        ("_rels/.rels".into(), root_rels.as_bytes().to_vec()),
        ("xl/workbook.xml".into(), workbook.into_bytes()),
        ("xl/_rels/workbook.xml.rels".into(), rels.into_bytes()),
    ];
    for (i, (_, rows)) in sheets.iter().enumerate() {
        parts.push((format!("xl/worksheets/sheet{}.xml", i + 1), sheet_xml(rows).into_bytes()));
    }
    parts
}

/// A zip with these entries (deflated).
pub fn zip_of(parts: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in parts {
        // Writing to memory cannot fail.
        let _ = writer.start_file(name.as_str(), options);
        let _ = writer.write_all(bytes);
    }
    writer.finish().map(Cursor::into_inner).unwrap_or_default()
}

/// A valid-looking xlsx whose one sheet inflates to `unpacked` bytes of
/// whitespace: a zip bomb in miniature.
pub fn xlsx_bomb(unpacked: usize) -> Vec<u8> {
    let mut parts = xlsx_parts(&[("Sheet1", &[])]);
    for (name, bytes) in &mut parts {
        if name.starts_with("xl/worksheets/") {
            *bytes = vec![b' '; unpacked];
        }
    }
    zip_of(&parts)
}

/// A pdf with `pages` empty pages.
pub fn pdf(pages: u32) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for _ in 0..pages {
        let content = doc.add_object(Stream::new(Dictionary::new(), b"BT ET".to_vec()));
        let mut page = Dictionary::new();
        page.set("Type", Object::Name(b"Page".to_vec()));
        page.set("Parent", Object::Reference(pages_id));
        page.set("Contents", Object::Reference(content));
        page.set("MediaBox", Object::Array(vec![0.into(), 0.into(), 595.into(), 842.into()]));
        kids.push(Object::Reference(doc.add_object(page)));
    }
    let mut tree = Dictionary::new();
    tree.set("Type", Object::Name(b"Pages".to_vec()));
    tree.set("Count", Object::Integer(i64::from(pages)));
    tree.set("Kids", Object::Array(kids));
    doc.objects.insert(pages_id, Object::Dictionary(tree));
    let mut catalog = Dictionary::new();
    catalog.set("Type", Object::Name(b"Catalog".to_vec()));
    catalog.set("Pages", Object::Reference(pages_id));
    let catalog_id = doc.add_object(catalog);
    doc.trailer.set("Root", Object::Reference(catalog_id));
    let mut out = Vec::new();
    let _ = doc.save_to(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references_count_like_a_spreadsheet() {
        assert_eq!(cell_ref(0, 0), "A1");
        assert_eq!(cell_ref(9, 25), "Z10");
        assert_eq!(cell_ref(0, 26), "AA1");
    }
}
