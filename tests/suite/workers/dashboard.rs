//! The dashboard on the shared store, driven as a user would (the real loop with a
//! `TestBackend`, typed keys): it runs nothing itself. The typed task goes on the queue,
//! a worker process on another "host" runs it, and the dashboard shows its run live;
//! a task another user queued shows up and is followed too; the health pane lists the
//! worker.

use std::io;
use std::path::Path;
use std::time::Duration;

use az_os::config::{Home, Settings};
use az_os::engine;
use az_os::store::{NewTask, StoreHandle, TaskStatus, queue};
use az_os::tui::model::Model;
use az_os::util::ids::TaskId;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};

use super::{finish, host, open, wait_for_workers, worker};
use crate::common::fake_provider::FakeProvider;
use crate::common::pg::fresh_db;

const TYPED: &str = "say hello from the dashboard";

#[test]
fn the_dashboard_queues_for_workers_and_follows_every_hosts_tasks() {
    let pg = fresh_db();
    let fake = FakeProvider::start(vec![finish("one"), finish("two")]);
    let shared = tempfile::tempdir().unwrap();
    let workdir = shared.path().canonicalize().unwrap();
    let worker_host = host(&fake, &pg);
    let _worker = worker(&worker_host, &workdir, 2);
    wait_for_workers(&pg, 1);

    // Another user's task, queued from another host before the dashboard opens.
    let theirs = queue_theirs(&pg, &workdir);

    // The dashboard's host: the same store, no worker of its own.
    let dash = host(&fake, &pg);
    let home = Home::resolve(Some(dash.home()), None).unwrap();
    home.ensure().unwrap();
    let settings = Settings::load(home).unwrap();
    let at = settings.store_location().unwrap();
    assert!(at.is_shared());
    let store = StoreHandle::open_at(&at).unwrap();
    // The PostgreSQL client blocks: what touches the database outside the store
    // thread runs outside this runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (m, shown) = runtime.block_on(dashboard(store, settings, &workdir));

    // Both tasks ran once, on the worker, and the dashboard saw them end.
    assert_eq!(fake.chat_count(), 2);
    let mine = m
        .queue
        .selected_task()
        .expect("the typed task is selected")
        .clone();
    assert_eq!(mine.description, TYPED);
    assert_eq!(mine.status, TaskStatus::Completed, "{mine:?}");
    assert_eq!(
        mine.model.as_deref(),
        Some("fake"),
        "its start was followed"
    );
    // Queued once in its transcript: the worker's own `task_queued` is not said again.
    let queued = m.turns.transcripts[&mine.id]
        .entries
        .iter()
        .filter(|e| e.text.starts_with("queued"))
        .count();
    assert_eq!(queued, 1, "{:#?}", m.turns.transcripts[&mine.id].entries);
    let them = m.queue.get(&theirs).expect("their task is shown").clone();
    assert_eq!(them.status, TaskStatus::Completed, "{them:?}");
    let db = open(&pg);
    for id in [&mine.id, &theirs] {
        let row = az_os::store::tasks::get(&db, id).unwrap().unwrap();
        assert_eq!(row.status, TaskStatus::Completed);
        let w: Option<String> = db
            .query_row(
                "SELECT worker FROM tasks WHERE id = ?1",
                az_os::store::db::params![id.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        assert!(w.is_some(), "task {id} ran on a worker");
    }

    // The health pane lists the worker, alive.
    assert_eq!(m.health.workers.len(), 1, "{:?}", m.health.workers);
    assert_eq!(m.health.workers[0].kind, "worker");
    assert_eq!(m.health.workers[0].level, az_os::health::Level::Healthy);
    assert!(shown.contains("worker:"), "{shown}");
    assert!(shown.contains("Tasks 2 · shared queue"), "{shown}");
}

/// A task the front end read as running may end before the engine looks at the queue
/// itself (it looks for open tasks only): the front end's read has it followed, so its
/// end (replayed, here it came before) still reaches the front end. Without that, the
/// dashboard showed such a task running forever.
#[test]
fn a_task_read_as_open_is_followed_to_its_end_even_if_it_ended_first() {
    let pg = fresh_db();
    let fake = FakeProvider::start(vec![finish("done")]);
    let shared = tempfile::tempdir().unwrap();
    let workdir = shared.path().canonicalize().unwrap();
    let worker_host = host(&fake, &pg);
    let worker = worker(&worker_host, &workdir, 1);
    let theirs = queue_theirs(&pg, &workdir);
    let db = open(&pg);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while az_os::store::tasks::get(&db, &theirs)
        .unwrap()
        .unwrap()
        .status
        != TaskStatus::Completed
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker ran nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(worker);

    let dash = host(&fake, &pg);
    let home = Home::resolve(Some(dash.home()), None).unwrap();
    home.ensure().unwrap();
    let settings = Settings::load(home).unwrap();
    let store = StoreHandle::open_at(&settings.store_location().unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (handle, mut events, join) =
            engine::start_on_queue(crate::common::dashboard::engine_config(settings), store)
                .unwrap();
        // As if the front end's read had found it running.
        handle
            .send(engine::Command::Follow {
                ids: vec![theirs.clone()],
            })
            .unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(ev) = events.recv().await {
                if ev.task_id.as_ref() == Some(&theirs)
                    && let engine::Event::TaskFinished { status, .. } = ev.event
                {
                    return status;
                }
            }
            panic!("the engine stopped");
        })
        .await
        .expect("the end of a followed task is said");
        assert_eq!(ended, TaskStatus::Completed);
        handle
            .send(engine::Command::Shutdown {
                cancel_running: false,
            })
            .unwrap();
        join.await.unwrap();
    });
}

/// "their task", queued on the shared store in `workdir` as another user would.
fn queue_theirs(pg: &crate::common::pg::PgDb, workdir: &Path) -> TaskId {
    let id = TaskId::new();
    let new = NewTask {
        id: id.clone(),
        description: "their task".into(),
        workdir: workdir.display().to_string(),
        max_turns: 5,
        budget_usd: None,
        requested_model: None,
        critical: false,
    };
    queue::submit(&open(pg), &new).unwrap();
    id
}

/// The dashboard's run: `TYPED` typed and entered, until the work is done; the model
/// and the screen at the end.
async fn dashboard(store: StoreHandle, settings: Settings, workdir: &Path) -> (Model, String) {
    let started =
        engine::start_on_queue(crate::common::dashboard::engine_config(settings), store).unwrap();
    let key = |code| TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE));
    let mut keys: Vec<TermEvent> = TYPED.chars().map(|c| key(KeyCode::Char(c))).collect();
    keys.push(key(KeyCode::Enter));
    let mut model = crate::common::dashboard::model(workdir);
    model.queue.shared = true; // as `tui::run` sets it on the shared store
    let mut clipboard = |_: &str| Ok(String::new());
    let d = crate::common::dashboard::drive(
        started,
        model,
        futures_util::stream::iter(keys.into_iter().map(io::Result::Ok)),
        &mut clipboard,
        Duration::from_secs(60),
    )
    .await;
    (d.model, d.screen)
}
