use futures_util::StreamExt;
use portcullis_application::ports::{BusMessage, EventBus, EventStream, FileEvent};
use portcullis_domain::files::FileStatus;
use portcullis_domain::ids::{FileId, SessionId, UserId};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Two handles on the bus, as two instances would hold: events published on
/// the first must reach subscribers of the second (and of the first).
pub type Ports = (Arc<dyn EventBus>, Arc<dyn EventBus>);

fn event(file_id: FileId, status: FileStatus, progress: u8) -> FileEvent {
    FileEvent {
        file_id,
        owner: UserId::new(),
        status,
        progress,
        message: Some("détails ✓".into()),
        at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
    }
}

/// The next message, or a failure after a generous bound (a hang guard, not
/// a speed requirement).
async fn next(stream: &mut EventStream) -> BusMessage {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("the subscription stays open")
}

contract_suite! { $ event_bus_contract for events;

pub async fn a_session_end_reaches_every_handle(ports: Ports) {
    let (publisher, other) = ports;
    let mut there = other.subscribe().await.unwrap();
    let session = SessionId::new();
    publisher.announce_session_ended(session).await.unwrap();
    let file = event(FileId::new(), FileStatus::Ready, 100);
    publisher.publish(&file).await.unwrap();
    assert_eq!(next(&mut there).await, BusMessage::SessionEnded(session));
    assert_eq!(next(&mut there).await, BusMessage::File(file), "both kinds, in order");
}

pub async fn subscribers_on_every_handle_receive_events_in_order(ports: Ports) {
    let (publisher, other) = ports;
    let mut here = publisher.subscribe().await.unwrap();
    let mut there = other.subscribe().await.unwrap();
    let id = FileId::new();
    let sent = [
        event(id, FileStatus::Scanning, 0),
        event(id, FileStatus::Processing, 0),
        event(id, FileStatus::Processing, 50),
        event(id, FileStatus::Ready, 100),
    ];
    for e in &sent {
        publisher.publish(e).await.unwrap();
    }
    for stream in [&mut here, &mut there] {
        for expected in &sent {
            assert_eq!(next(stream).await, BusMessage::File(expected.clone()));
        }
    }
}

pub async fn a_subscription_sees_only_what_was_published_after_it(ports: Ports) {
    let (publisher, other) = ports;
    let before = event(FileId::new(), FileStatus::Stored, 0);
    publisher.publish(&before).await.unwrap();
    let mut late = other.subscribe().await.unwrap();
    let after = event(FileId::new(), FileStatus::Stored, 0);
    publisher.publish(&after).await.unwrap();
    assert_eq!(next(&mut late).await, BusMessage::File(after));
}

pub async fn dropping_a_subscription_leaves_the_others(ports: Ports) {
    let (publisher, other) = ports;
    let gone = other.subscribe().await.unwrap();
    let mut kept = other.subscribe().await.unwrap();
    drop(gone);
    let e = event(FileId::new(), FileStatus::Infected, 100);
    publisher.publish(&e).await.unwrap();
    assert_eq!(next(&mut kept).await, BusMessage::File(e));
}

pub async fn publishing_without_subscribers_succeeds(ports: Ports) {
    ports.0.publish(&event(FileId::new(), FileStatus::Failed, 100)).await.unwrap();
}
}
