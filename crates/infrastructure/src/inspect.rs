//! The built-in file processors: csv (header, rows, columns; the csv crate),
//! xls/xlsx (sheets with their rows and columns; calamine) and pdf (page
//! count; lopdf). Each reads the clean file from the store (reporting
//! progress as the bytes arrive), then parses it off the async workers. The
//! content is at most `MAX_FILE_SIZE`; an xlsx (a zip) is also bounded by
//! what it unpacks to, counted while actually inflating it, so a zip bomb
//! fails instead of exhausting memory.

use async_trait::async_trait;
use calamine::Reader;
use futures_util::StreamExt;
use portcullis_application::cause::Cause;
use portcullis_application::files::pipeline::Processors;
use portcullis_application::ports::{ByteStream, FileProcessor, ProcessError, Progress};
use portcullis_domain::files::{FileRecord, FileSummary, FileType, Sheet};
use std::io::{Cursor, Read};
use std::sync::Arc;

/// Reads the whole content (bounded by the file's recorded size, plus slack
/// for nothing: more bytes than recorded means the object changed).
async fn read_all(
    file: &FileRecord,
    mut content: ByteStream,
    progress: &dyn Progress,
) -> Result<Vec<u8>, ProcessError> {
    let expected = file.size.max(1);
    let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
    while let Some(chunk) = content.next().await {
        let chunk = chunk.map_err(|e| ProcessError::Content(Cause::context("object store", e)))?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > file.size {
            return Err(ProcessError::unreadable("the stored file is larger than the upload"));
        }
        progress.report((bytes.len() as u64 * 50 / expected) as u8).await;
    }
    Ok(bytes)
}

/// Runs the parse on the blocking pool.
async fn parse(
    bytes: Vec<u8>,
    work: impl FnOnce(Vec<u8>) -> Result<FileSummary, ProcessError> + Send + 'static,
) -> Result<FileSummary, ProcessError> {
    tokio::task::spawn_blocking(move || work(bytes))
        .await
        .map_err(|e| ProcessError::Content(Cause::context("processing task", e)))?
}

/// csv: the first record is the header; `rows` counts the records after it,
/// `columns` the widest record. Parsed as the bytes stream in (csv-core), so
/// at most one record is in memory, however large the file.
pub struct CsvInspector;

/// Longest record accepted (bytes of field data) and most fields in one.
const MAX_RECORD: usize = 1024 * 1024;
const MAX_FIELDS: usize = 16 * 1024;

/// Incremental csv statistics.
struct CsvStats {
    reader: csv_core::Reader,
    /// The record being read: its field bytes and field ends.
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    header: Option<Vec<String>>,
    rows: u64,
    columns: u64,
}

impl CsvStats {
    fn new() -> Self {
        Self {
            reader: csv_core::ReaderBuilder::new().build(),
            out: vec![0; 4096],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            header: None,
            rows: 0,
            columns: 0,
        }
    }

    /// Feeds bytes; an empty `input` marks the end.
    fn feed(&mut self, mut input: &[u8]) -> Result<(), ProcessError> {
        loop {
            let (result, read, written, ended) = self.reader.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[read..];
            self.out_len += written;
            self.ends_len += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty => return Ok(()),
                csv_core::ReadRecordResult::End => return Ok(()),
                csv_core::ReadRecordResult::OutputFull => {
                    if self.out.len() >= MAX_RECORD {
                        return Err(ProcessError::unreadable(format!(
                            "not readable as csv: a record is longer than {MAX_RECORD} bytes"
                        )));
                    }
                    self.out.resize(self.out.len() * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        return Err(ProcessError::unreadable(format!(
                            "not readable as csv: a record has more than {MAX_FIELDS} fields"
                        )));
                    }
                    self.ends.resize(self.ends.len() * 2, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    let fields = self.ends_len as u64;
                    if self.header.is_none() {
                        let mut start = 0;
                        let mut header = Vec::with_capacity(self.ends_len);
                        for &end in &self.ends[..self.ends_len] {
                            header.push(String::from_utf8_lossy(&self.out[start..end]).into_owned());
                            start = end;
                        }
                        self.header = Some(header);
                    } else {
                        self.rows += 1;
                    }
                    self.columns = self.columns.max(fields);
                    self.out_len = 0;
                    self.ends_len = 0;
                    if input.is_empty() {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn finish(mut self) -> Result<FileSummary, ProcessError> {
        self.feed(&[])?;
        Ok(FileSummary::Table {
            header: self.header.unwrap_or_default(),
            rows: self.rows,
            columns: self.columns,
        })
    }
}

#[async_trait]
impl FileProcessor for CsvInspector {
    async fn process(
        &self,
        file: &FileRecord,
        mut content: ByteStream,
        progress: &dyn Progress,
    ) -> Result<FileSummary, ProcessError> {
        let expected = file.size.max(1);
        let mut stats = CsvStats::new();
        let mut seen = 0u64;
        while let Some(chunk) = content.next().await {
            let chunk = chunk.map_err(|e| ProcessError::Content(Cause::context("object store", e)))?;
            seen += chunk.len() as u64;
            if seen > file.size {
                return Err(ProcessError::unreadable("the stored file is larger than the upload"));
            }
            stats.feed(&chunk)?;
            progress.report((seen * 99 / expected) as u8).await;
        }
        stats.finish()
    }
}

/// xls and xlsx: every worksheet with its used rows and columns.
pub struct WorkbookInspector {
    /// Most bytes an xlsx may unpack to.
    max_unpacked: u64,
}

impl WorkbookInspector {
    pub fn new(max_unpacked: u64) -> Self {
        Self { max_unpacked }
    }
}

/// Inflates every entry, counting real output (headers can lie), and stops
/// at the first byte past `max`.
fn check_unpacked_size(bytes: &[u8], max: u64) -> Result<(), ProcessError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ProcessError::unreadable(format!("not a readable xlsx: {e}")))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry =
            archive.by_index(i).map_err(|e| ProcessError::unreadable(format!("not a readable xlsx: {e}")))?;
        let room = max - total;
        let inflated = std::io::copy(&mut entry.take(room + 1), &mut std::io::sink())
            .map_err(|e| ProcessError::unreadable(format!("not a readable xlsx: {e}")))?;
        total += inflated;
        if total > max {
            return Err(ProcessError::unreadable(format!(
                "the workbook unpacks to more than {max} bytes; it was not processed"
            )));
        }
    }
    Ok(())
}

fn sheets<R: Reader<Cursor<Vec<u8>>>>(mut workbook: R) -> Result<FileSummary, ProcessError>
where
    R::Error: std::fmt::Display,
{
    let mut sheets = Vec::new();
    for name in workbook.sheet_names() {
        let range = workbook
            .worksheet_range(&name)
            .map_err(|e| ProcessError::unreadable(format!("sheet {name:?} is not readable: {e}")))?;
        let (rows, columns) = range.get_size();
        sheets.push(Sheet { name, rows: rows as u64, columns: columns as u64 });
    }
    Ok(FileSummary::Workbook { sheets })
}

fn inspect_workbook(
    bytes: Vec<u8>,
    file_type: FileType,
    max_unpacked: u64,
) -> Result<FileSummary, ProcessError> {
    let unreadable =
        |e: &dyn std::fmt::Display| ProcessError::unreadable(format!("not a readable workbook: {e}"));
    match file_type {
        FileType::Xlsx => {
            check_unpacked_size(&bytes, max_unpacked)?;
            sheets(calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| unreadable(&e))?)
        }
        _ => sheets(calamine::Xls::new(Cursor::new(bytes)).map_err(|e| unreadable(&e))?),
    }
}

#[async_trait]
impl FileProcessor for WorkbookInspector {
    async fn process(
        &self,
        file: &FileRecord,
        content: ByteStream,
        progress: &dyn Progress,
    ) -> Result<FileSummary, ProcessError> {
        let bytes = read_all(file, content, progress).await?;
        let (file_type, max) = (file.file_type.unwrap_or(FileType::Xlsx), self.max_unpacked);
        parse(bytes, move |b| inspect_workbook(b, file_type, max)).await
    }
}

/// pdf: the page count.
pub struct PdfInspector;

fn inspect_pdf(bytes: &[u8]) -> Result<FileSummary, ProcessError> {
    let document = lopdf::Document::load_mem(bytes)
        .map_err(|e| ProcessError::unreadable(format!("not a readable pdf: {e}")))?;
    Ok(FileSummary::Document { pages: document.get_pages().len() as u64 })
}

#[async_trait]
impl FileProcessor for PdfInspector {
    async fn process(
        &self,
        file: &FileRecord,
        content: ByteStream,
        progress: &dyn Progress,
    ) -> Result<FileSummary, ProcessError> {
        let bytes = read_all(file, content, progress).await?;
        parse(bytes, |b| inspect_pdf(&b)).await
    }
}

/// One processor per known type; replace any with [`Processors::with`].
pub fn builtin(max_unpacked: u64) -> Processors {
    let workbook: Arc<dyn FileProcessor> = Arc::new(WorkbookInspector::new(max_unpacked));
    Processors::default()
        .with(FileType::Csv, Arc::new(CsvInspector))
        .with(FileType::Xls, workbook.clone())
        .with(FileType::Xlsx, workbook)
        .with(FileType::Pdf, Arc::new(PdfInspector))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use async_trait::async_trait;
    use bytes::Bytes;
    use portcullis_domain::files::{ContentDigest, FileStatus};
    use portcullis_domain::ids::{FileId, UserId};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorded(Mutex<Vec<u8>>);

    #[async_trait]
    impl Progress for Recorded {
        async fn report(&self, percent: u8) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(percent);
        }
    }

    fn record(file_type: FileType, size: usize) -> FileRecord {
        let now = time::OffsetDateTime::now_utc();
        FileRecord {
            id: FileId::new(),
            owner: UserId::new(),
            display_name: "f".into(),
            file_type: Some(file_type),
            size: size as u64,
            digest: Some(ContentDigest([0; 32])),
            status: FileStatus::Processing,
            object_key: "k".into(),
            message: None,
            summary: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn stream(bytes: Vec<u8>) -> ByteStream {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            bytes.chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        Box::pin(futures_util::stream::iter(chunks))
    }

    async fn run(file_type: FileType, bytes: Vec<u8>) -> Result<FileSummary, ProcessError> {
        let processors = builtin(1024 * 1024);
        let processor = processors.get(file_type).unwrap_or_else(|| panic!("no processor for {file_type}"));
        let file = record(file_type, bytes.len());
        processor.process(&file, stream(bytes), &Recorded::default()).await
    }

    fn reason(result: Result<FileSummary, ProcessError>) -> String {
        match result {
            Err(ProcessError::Unreadable { reason }) => reason,
            other => panic!("expected an unreadable file, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn csv_files_are_summarised_by_header_rows_and_columns() {
        let summary = run(FileType::Csv, b"name,score\nada,3\nbob,4,extra\n".to_vec()).await;
        assert_eq!(
            summary.ok(),
            Some(FileSummary::Table { header: vec!["name".into(), "score".into()], rows: 2, columns: 3 })
        );
    }

    #[tokio::test]
    async fn csv_is_parsed_as_it_streams_whatever_the_chunking() {
        let bytes = b"id,\"note, with comma\"\n1,\"two\nlines\"\n2,x\n3".to_vec();
        let file = record(FileType::Csv, bytes.len());
        let one_byte_chunks: Vec<Result<Bytes, std::io::Error>> =
            bytes.iter().map(|b| Ok(Bytes::copy_from_slice(&[*b]))).collect();
        let summary = CsvInspector
            .process(&file, Box::pin(futures_util::stream::iter(one_byte_chunks)), &Recorded::default())
            .await;
        assert_eq!(
            summary.ok(),
            Some(FileSummary::Table {
                header: vec!["id".into(), "note, with comma".into()],
                rows: 3,
                columns: 2
            })
        );
        let long = [b"h\n".as_slice(), &vec![b'x'; MAX_RECORD + 1]].concat();
        assert!(reason(run(FileType::Csv, long).await).contains("longer than"));
    }

    #[tokio::test]
    async fn workbooks_are_summarised_by_sheet() {
        let rows: &[&[&str]] = &[&["month", "total"], &["jan", "3"], &["feb", "4"]];
        let bytes = fixtures::xlsx(&[("Q1", rows), ("Empty", &[])]);
        let summary = run(FileType::Xlsx, bytes).await.unwrap_or_else(|e| panic!("{e}"));
        let FileSummary::Workbook { sheets } = summary else { panic!("{summary:?}") };
        assert_eq!(sheets[0], Sheet { name: "Q1".into(), rows: 3, columns: 2 });
        assert_eq!(sheets[1].name, "Empty");
    }

    #[tokio::test]
    async fn a_corrupt_workbook_fails_with_a_reason() {
        let mut bytes = fixtures::xlsx(&[("S", &[&["a"]])]);
        bytes.truncate(bytes.len() / 2);
        assert!(reason(run(FileType::Xlsx, bytes).await).contains("xlsx"));
        let not_ole = [vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1], vec![0u8; 600]].concat();
        assert!(reason(run(FileType::Xls, not_ole).await).contains("workbook"));
    }

    #[tokio::test]
    async fn a_workbook_that_unpacks_past_the_cap_fails_instead_of_exhausting_memory() {
        let bomb = fixtures::xlsx_bomb(8 * 1024 * 1024);
        assert!(bomb.len() < 64 * 1024, "the bomb is small packed: {} bytes", bomb.len());
        let why = reason(run(FileType::Xlsx, bomb).await);
        assert!(why.contains("unpacks to more than 1048576 bytes"), "{why}");
    }

    #[tokio::test]
    async fn pdfs_are_summarised_by_page_count() {
        assert_eq!(run(FileType::Pdf, fixtures::pdf(3)).await.ok(), Some(FileSummary::Document { pages: 3 }));
        let why = reason(run(FileType::Pdf, b"%PDF-1.7\nnot really a pdf".to_vec()).await);
        assert!(why.contains("pdf"), "{why}");
    }

    #[tokio::test]
    async fn progress_rises_while_the_bytes_arrive() {
        let bytes = fixtures::pdf(2);
        let file = record(FileType::Pdf, bytes.len());
        let progress = Recorded::default();
        PdfInspector.process(&file, stream(bytes), &progress).await.unwrap_or_else(|e| panic!("{e}"));
        let seen = progress.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]) && seen.last() == Some(&50), "{seen:?}");
        let csv = b"a,b\n".repeat(1000);
        let file = record(FileType::Csv, csv.len());
        let progress = Recorded::default();
        CsvInspector.process(&file, stream(csv), &progress).await.unwrap_or_else(|e| panic!("{e}"));
        let seen = progress.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]) && seen.last() == Some(&99), "{seen:?}");
    }
}
