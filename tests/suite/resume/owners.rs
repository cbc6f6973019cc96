//! Ownership of running and queued rows: an owner that is gone, or whose pid was reused
//! by another process, is reconciled to `interrupted`; a live owner's rows are left alone.

#[test]
fn owners_that_are_gone_or_reused_pids_are_interrupted_live_ones_are_not() {
    use az_os::store::{self, NewTask, TaskStatus, owner::Owner, tasks};
    use az_os::util::ids::TaskId;
    let dir = tempfile::tempdir().unwrap();
    let conn = store::open(&dir.path().join("az-os.db")).unwrap();
    let new = |id: &str| {
        let id = TaskId::from(id);
        tasks::insert(
            &conn,
            &NewTask {
                id: id.clone(),
                description: "t".into(),
                workdir: "/tmp".into(),
                max_turns: 5,
                budget_usd: None,
                requested_model: None,
                critical: false,
            },
        )
        .unwrap();
        id
    };
    let mine = new("aaaaaaaaaaaa");
    let reused = new("bbbbbbbbbbbb");
    let other_live = new("cccccccccccc");
    let other_reused = new("dddddddddddd");
    let unowned = new("eeeeeeeeeeee");
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = sleeper.id();
    let started = store::owner::start_time(pid).unwrap();
    let me = Owner::me();
    let set = |id: &TaskId, pid: Option<u32>, started: Option<i64>| {
        conn.execute(
            "UPDATE tasks SET status = 'running', runner_pid = ?2, owner_started = ?3 WHERE id = ?1",
            az_os::store::db::params![id.as_str(), pid, started],
        )
        .unwrap();
    };
    // The same pid as this process, but another start time: an earlier process.
    set(&reused, Some(me.pid), me.started.map(|s| s - 1));
    set(&other_live, Some(pid), Some(started));
    set(&other_reused, Some(pid), Some(started + 7));
    set(&unowned, None, None);
    conn.execute(
        "UPDATE tasks SET status = 'pending' WHERE id = ?1",
        az_os::store::db::params![unowned.as_str()],
    )
    .unwrap();

    assert_eq!(store::owner::reconcile(&conn).unwrap(), 3);
    let status = |id: &TaskId| tasks::get(&conn, id).unwrap().unwrap().status;
    assert_eq!(status(&mine), TaskStatus::Pending);
    assert_eq!(status(&other_live), TaskStatus::Running);
    for gone in [&reused, &other_reused, &unowned] {
        let t = tasks::get(&conn, gone).unwrap().unwrap();
        assert_eq!(t.status, TaskStatus::Interrupted, "{gone}");
        let why = t.error.unwrap();
        assert!(why.contains(&format!("az-os tasks resume {gone}")), "{why}");
    }
    // Once the live owner is gone, its row follows.
    sleeper.kill().unwrap();
    let _ = sleeper.wait();
    assert_eq!(store::owner::reconcile(&conn).unwrap(), 1);
    assert_eq!(status(&other_live), TaskStatus::Interrupted);
    assert_eq!(store::owner::reconcile(&conn).unwrap(), 0);
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}
