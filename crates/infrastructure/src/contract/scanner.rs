use crate::eicar::{EICAR_SIGNATURE, eicar};
use bytes::Bytes;
use portcullis_application::ports::{ByteStream, ScanError, ScanVerdict, VirusScanner};
use std::sync::Arc;

fn chunks(parts: Vec<Vec<u8>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p)))))
}

fn infected(verdict: &ScanVerdict) -> bool {
    matches!(verdict, ScanVerdict::Infected { signature } if signature.contains(EICAR_SIGNATURE))
}

contract_suite! { $ virus_scanner_contract for scanner;

pub async fn clean_content_is_clean(scanner: Arc<dyn VirusScanner>) {
    let csv = b"name,amount\nAda,12.50\n".to_vec();
    assert_eq!(scanner.scan(chunks(vec![csv])).await.unwrap(), ScanVerdict::Clean);
}

pub async fn empty_content_is_clean(scanner: Arc<dyn VirusScanner>) {
    assert_eq!(scanner.scan(chunks(vec![])).await.unwrap(), ScanVerdict::Clean);
}

pub async fn the_eicar_test_file_is_infected(scanner: Arc<dyn VirusScanner>) {
    let verdict = scanner.scan(chunks(vec![eicar()])).await.unwrap();
    assert!(infected(&verdict), "{verdict:?}");
}

pub async fn eicar_is_found_across_chunk_boundaries_and_deep_in_the_content(scanner: Arc<dyn VirusScanner>) {
    let string = eicar();
    let (a, b) = string.split_at(20);
    let verdict = scanner.scan(chunks(vec![vec![b'a'; 3000], a.to_vec(), b.to_vec()])).await.unwrap();
    assert!(infected(&verdict), "split: {verdict:?}");
    let mut deep = vec![b' '; 1024 * 1024];
    deep.extend_from_slice(&string);
    let parts: Vec<Vec<u8>> = deep.chunks(4093).map(<[u8]>::to_vec).collect();
    let verdict = scanner.scan(chunks(parts)).await.unwrap();
    assert!(infected(&verdict), "after 1 MiB: {verdict:?}");
}

pub async fn a_content_read_error_is_never_clean(scanner: Arc<dyn VirusScanner>) {
    let failing: ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"name,amount\n")),
        Err(std::io::Error::other("object store went away")),
    ]));
    let err = scanner.scan(failing).await.unwrap_err();
    assert!(matches!(err, ScanError::Content(_)), "{err:?}");
}

pub async fn concurrent_scans_each_get_their_own_verdict(scanner: Arc<dyn VirusScanner>) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..6 {
        let scanner = scanner.clone();
        tasks.spawn(async move {
            let body = if n % 2 == 0 { eicar() } else { format!("row,{n}\n").repeat(1000).into_bytes() };
            (n, scanner.scan(chunks(vec![body])).await.unwrap())
        });
    }
    for (n, verdict) in tasks.join_all().await {
        assert_eq!(infected(&verdict), n % 2 == 0, "scan {n}: {verdict:?}");
    }
}

pub async fn the_version_answers(scanner: Arc<dyn VirusScanner>) {
    assert!(!scanner.version().await.unwrap().trim().is_empty());
}
}
