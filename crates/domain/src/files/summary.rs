//! What processing learned about a file's content: part of the file object
//! once it is `ready`.

use serde::{Deserialize, Serialize};

/// One worksheet of a workbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sheet {
    pub name: String,
    pub rows: u64,
    pub columns: u64,
}

/// The content summary, by kind of document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileSummary {
    /// A csv file: its header (the first record) and the records after it.
    Table { header: Vec<String>, rows: u64, columns: u64 },
    /// An xls/xlsx workbook.
    Workbook { sheets: Vec<Sheet> },
    /// A pdf document.
    Document { pages: u64 },
    /// A processor a team plugged in described the file its own way.
    Custom { data: serde_json::Value },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_tagged_by_kind() {
        let table = FileSummary::Table { header: vec!["a".into()], rows: 2, columns: 1 };
        let json = serde_json::to_value(&table).unwrap_or_default();
        assert_eq!(json["kind"], "table");
        assert_eq!(serde_json::from_value::<FileSummary>(json).ok(), Some(table));
        let doc = serde_json::json!({"kind": "document", "pages": 3});
        assert_eq!(serde_json::from_value::<FileSummary>(doc).ok(), Some(FileSummary::Document { pages: 3 }));
    }
}
