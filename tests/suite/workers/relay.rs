//! The follower of the shared queue (`engine::relay::Follower`) against a real server,
//! where ids commit out of order: an event whose insert committed after a later id's is
//! still delivered, one whose insert rolled back does not hold the others up, a task
//! followed late gets its earlier events, and a task followed again goes on from where
//! it was.

use az_os::engine::relay::{Follower, Seen};
use az_os::engine::{EngineEvent, Event};
use az_os::store::{Db, StoreHandle, db::params, queue};
use az_os::util::ids::TaskId;

use super::open;
use crate::common::pg::fresh_db;

fn note(id: &TaskId, text: &str) -> String {
    serde_json::to_string(&EngineEvent::task(
        id,
        Event::Notice {
            message: text.into(),
        },
    ))
    .unwrap()
}

fn append(db: &Db, id: &TaskId, text: &str) {
    queue::append_events(db, &[(Some(id.as_str().to_owned()), note(id, text))]).unwrap();
}

/// The notices delivered, as `task:text`.
fn said(seen: Vec<Seen>) -> Vec<String> {
    seen.into_iter()
        .filter_map(|s| match s {
            Seen::Event(EngineEvent {
                task_id: Some(t),
                event: Event::Notice { message },
                ..
            }) => Some(format!("{}:{message}", t.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn events_committed_out_of_id_order_are_all_delivered_once() {
    let pg = fresh_db();
    let db = open(&pg);
    let store = StoreHandle::from_connection(open(&pg));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (a, b) = (TaskId("task-a".into()), TaskId("task-b".into()));
    append(&db, &a, "a1");
    let mut f = Follower::default();
    f.follow(a.clone());
    f.follow(b.clone());
    assert_eq!(
        said(runtime.block_on(f.poll(&store)).unwrap()),
        ["task-a:a1"]
    );

    // B's event takes an id first but commits last; A's, after it, commits at once.
    let slow = open(&pg);
    let tx = slow.unchecked_transaction().unwrap();
    queue::append_events(&tx, &[(Some("task-b".into()), note(&b, "b1"))]).unwrap();
    append(&db, &a, "a2");
    assert_eq!(
        said(runtime.block_on(f.poll(&store)).unwrap()),
        ["task-a:a2"]
    );
    tx.commit().unwrap();
    assert_eq!(
        said(runtime.block_on(f.poll(&store)).unwrap()),
        ["task-b:b1"],
        "the event that committed late is not lost"
    );

    // An insert that rolls back leaves a gap that holds nothing up.
    let tx = slow.unchecked_transaction().unwrap();
    queue::append_events(&tx, &[(Some("task-b".into()), note(&b, "never"))]).unwrap();
    drop(tx);
    append(&db, &b, "b2");
    assert_eq!(
        said(runtime.block_on(f.poll(&store)).unwrap()),
        ["task-b:b2"]
    );
    assert_eq!(
        said(runtime.block_on(f.poll(&store)).unwrap()),
        Vec::<String>::new()
    );

    // A task followed late gets its events so far, each once.
    let c = TaskId("task-c".into());
    append(&db, &c, "c1");
    append(&db, &c, "c2");
    f.follow(c.clone());
    append(&db, &c, "c3");
    assert_eq!(
        said(runtime.block_on(f.poll(&store)).unwrap()),
        ["task-c:c1", "task-c:c2", "task-c:c3"]
    );

    // Ended, then followed again (a retry elsewhere): only what is new is said.
    let finished = serde_json::to_string(&EngineEvent::task(
        &c,
        Event::TaskFinished {
            status: az_os::store::TaskStatus::Completed,
            result: None,
            turns: 1,
            cost_usd: 0.0,
            duration_ms: 1,
            error: None,
        },
    ))
    .unwrap();
    queue::append_events(&db, &[(Some("task-c".into()), finished)]).unwrap();
    runtime.block_on(f.poll(&store)).unwrap();
    assert!(!f.follows(&c), "task_finished ends the follow");
    append(&db, &c, "c4");
    f.follow(c.clone());
    assert_eq!(
        said(runtime.block_on(f.poll(&store)).unwrap()),
        ["task-c:c4"]
    );

    // Nothing is said twice over many rounds.
    for _ in 0..3 {
        assert_eq!(
            said(runtime.block_on(f.poll(&store)).unwrap()),
            Vec::<String>::new()
        );
    }
    let rows: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM task_events WHERE id > ?1",
            params![0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 9, "a1 a2 b1 b2 c1 c2 c3 finished c4");
}
