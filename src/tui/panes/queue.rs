//! The task queue: every task of this session and the newest stored ones, under
//! column headers, with status (a spinner while running), model, cost and how long
//! each ran; filter by status, change the sort; the selected task drives the turns
//! pane, the cost meter and the detail popup. The list fills its pane at any size
//! and the selected row is always on screen.

use std::collections::HashMap;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{frame, status_style};
use crate::store::{TaskRow, TaskStatus};
use crate::tui::theme::Theme;
use crate::util::ids::TaskId;
use crate::util::text::{fit, strip_control};

/// One task as the queue shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskItem {
    pub id: TaskId,
    pub description: String,
    pub status: TaskStatus,
    pub model: Option<String>,
    pub cost_usd: f64,
    pub created_at: f64,
    /// When it started running (`None` while queued).
    pub started_at: Option<f64>,
    /// How long it ran, in seconds, once it ended.
    pub took: Option<f64>,
    pub turns: u32,
    pub max_turns: u32,
    pub result: Option<String>,
    pub error: Option<String>,
    pub budget_usd: Option<f64>,
    /// The route's reason, when known.
    pub route: Option<String>,
}

impl From<TaskRow> for TaskItem {
    fn from(r: TaskRow) -> Self {
        let route = r
            .route_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .and_then(|v| v["reason"].as_str().map(str::to_owned));
        let took = r
            .completed_at
            .zip(r.started_at)
            .filter(|_| r.status.is_final())
            .map(|(end, start)| (end - start).max(0.0));
        Self {
            started_at: r.started_at,
            took,
            id: r.id,
            description: r.description,
            status: r.status,
            model: r.model,
            cost_usd: r.cost_usd,
            created_at: r.created_at,
            turns: r.turns,
            max_turns: r.max_turns,
            result: r.result,
            error: r.error,
            budget_usd: r.budget_usd,
            route,
        }
    }
}

/// How the queue is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    Cost,
    Status,
}

impl Sort {
    #[must_use]
    pub fn next(self) -> Self {
        match self {
            Self::Newest => Self::Oldest,
            Self::Oldest => Self::Cost,
            Self::Cost => Self::Status,
            Self::Status => Self::Newest,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Oldest => "oldest",
            Self::Cost => "cost",
            Self::Status => "status",
        }
    }
}

/// The filters `queue.filter` cycles through.
const FILTERS: [Option<TaskStatus>; 6] = [
    None,
    Some(TaskStatus::Running),
    Some(TaskStatus::Pending),
    Some(TaskStatus::Completed),
    Some(TaskStatus::Failed),
    Some(TaskStatus::Cancelled),
];

#[derive(Clone, Debug, Default)]
pub struct QueueState {
    tasks: Vec<TaskItem>,
    index: HashMap<TaskId, usize>,
    /// Indices into `tasks`, filtered and sorted.
    view: Vec<usize>,
    pub selected: usize,
    pub offset: usize,
    pub filter: Option<TaskStatus>,
    pub sort: Sort,
    /// Rows visible at the last layout (for paging and scrolling).
    pub height: usize,
    /// Wall-clock seconds of the last message, for running times and the spinner.
    pub now: f64,
    /// The tasks are on the shared queue (PostgreSQL store): workers run them, and the
    /// pane shows every host's.
    pub shared: bool,
}

impl QueueState {
    pub fn len(&self) -> usize {
        self.view.len()
    }

    pub fn is_empty(&self) -> bool {
        self.view.is_empty()
    }

    pub fn total(&self) -> usize {
        self.tasks.len()
    }

    pub fn get(&self, id: &TaskId) -> Option<&TaskItem> {
        self.index.get(id).map(|&i| &self.tasks[i])
    }

    pub fn get_mut(&mut self, id: &TaskId) -> Option<&mut TaskItem> {
        self.index.get(id).map(|&i| &mut self.tasks[i])
    }

    pub fn selected_task(&self) -> Option<&TaskItem> {
        self.view.get(self.selected).map(|&i| &self.tasks[i])
    }

    pub fn selected_id(&self) -> Option<TaskId> {
        self.selected_task().map(|t| t.id.clone())
    }

    /// Adds or replaces tasks, keeping the selection on the same task.
    pub fn upsert(&mut self, items: impl IntoIterator<Item = TaskItem>) {
        let keep = self.selected_id();
        for item in items {
            if let Some(&i) = self.index.get(&item.id) {
                self.tasks[i] = item;
            } else {
                self.index.insert(item.id.clone(), self.tasks.len());
                self.tasks.push(item);
            }
        }
        self.rebuild(keep.as_ref());
    }

    /// Adds stored tasks that the queue does not know yet; tasks already updated
    /// by live events keep their newer state.
    pub fn insert_missing(&mut self, items: impl IntoIterator<Item = TaskItem>) {
        let fresh: Vec<TaskItem> = items
            .into_iter()
            .filter(|t| !self.index.contains_key(&t.id))
            .collect();
        self.upsert(fresh);
    }

    /// Puts a row read after an event in place: it is at least as new as what the
    /// queue holds, unless the queue already saw the task end (rows read in parallel
    /// may come back out of order; an end is never undone by an older read).
    pub fn refresh(&mut self, item: TaskItem) {
        let ended = self.get(&item.id).is_some_and(|t| t.status.is_final());
        if !ended || item.status.is_final() {
            self.upsert([item]);
        }
    }

    /// Removes a task from the queue; the selection stays on a neighbour.
    pub fn remove(&mut self, id: &TaskId) {
        let Some(i) = self.index.remove(id) else {
            return;
        };
        let keep = self.selected_id().filter(|k| k != id);
        let position = self.selected;
        self.tasks.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        // The old view points into the old vector: drop it before rebuilding.
        self.view.clear();
        self.rebuild(keep.as_ref());
        if keep.is_none() {
            self.selected = position.min(self.view.len().saturating_sub(1));
            self.scroll_into_view();
        }
    }

    /// Re-applies filter and sort after tasks changed; keeps `keep` selected if
    /// it is still shown.
    pub fn rebuild(&mut self, keep: Option<&TaskId>) {
        let keep = keep.cloned().or_else(|| self.selected_id());
        let filter = self.filter;
        let mut view: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| {
                filter.is_none_or(|f| {
                    self.tasks[i].status == f
                        || (f == TaskStatus::Failed
                            && matches!(
                                self.tasks[i].status,
                                TaskStatus::BudgetExceeded | TaskStatus::Interrupted
                            ))
                })
            })
            .collect();
        let t = &self.tasks;
        // Tasks queued in the same instant (one batch of events) keep their arrival
        // order: the later one is the newer, as it will be once read back from the store.
        let newer =
            |a: usize, b: usize| t[a].created_at.total_cmp(&t[b].created_at).then(a.cmp(&b));
        match self.sort {
            Sort::Newest => view.sort_by(|&a, &b| newer(b, a)),
            Sort::Oldest => view.sort_by(|&a, &b| newer(a, b)),
            Sort::Cost => view.sort_by(|&a, &b| t[b].cost_usd.total_cmp(&t[a].cost_usd)),
            Sort::Status => view.sort_by_key(|&i| {
                (
                    status_rank(t[i].status),
                    std::cmp::Reverse((t[i].created_at * 1000.0) as i64),
                )
            }),
        }
        self.view = view;
        self.selected = keep
            .and_then(|id| self.view.iter().position(|&i| self.tasks[i].id == id))
            .unwrap_or(0)
            .min(self.view.len().saturating_sub(1));
        self.scroll_into_view();
    }

    pub fn select(&mut self, id: &TaskId) {
        if let Some(pos) = self.view.iter().position(|&i| &self.tasks[i].id == id) {
            self.selected = pos;
            self.scroll_into_view();
        }
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.view.is_empty() {
            return;
        }
        let max = self.view.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(max);
        self.scroll_into_view();
    }

    pub fn cycle_filter(&mut self) {
        let pos = FILTERS.iter().position(|f| *f == self.filter).unwrap_or(0);
        self.filter = FILTERS[(pos + 1) % FILTERS.len()];
        self.rebuild(None);
    }

    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
        self.rebuild(None);
    }

    /// Rows the pane shows after a layout: the list fills them, and the selection
    /// stays in view (growing shows more rows above, shrinking scrolls to it).
    pub fn set_height(&mut self, rows: usize) {
        self.height = rows.max(1);
        self.scroll_into_view();
    }

    fn scroll_into_view(&mut self) {
        let h = self.height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + h {
            self.offset = self.selected + 1 - h;
        }
        self.offset = self.offset.min(self.view.len().saturating_sub(h));
    }

    /// Tasks queued or running.
    pub fn active(&self) -> usize {
        self.tasks.iter().filter(|t| !t.status.is_final()).count()
    }

    /// The running task queued last, if any.
    pub fn newest_running(&self) -> Option<&TaskItem> {
        self.tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.status == TaskStatus::Running)
            .max_by(|(i, a), (j, b)| a.created_at.total_cmp(&b.created_at).then(i.cmp(j)))
            .map(|(_, t)| t)
    }

    /// Tasks running now.
    pub fn running(&self) -> usize {
        self.count(TaskStatus::Running)
    }

    /// Tasks waiting for a worker.
    pub fn queued(&self) -> usize {
        self.count(TaskStatus::Pending)
    }

    fn count(&self, status: TaskStatus) -> usize {
        self.tasks.iter().filter(|t| t.status == status).count()
    }

    /// The spinner's glyph at the last message's time (ten frames a second).
    pub fn spinner(&self) -> &'static str {
        const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
        FRAMES[((self.now * 10.0).rem_euclid(10.0) as usize).min(9)]
    }

    /// The time column: how long a task has run so far, or ran; `-` while queued.
    fn time(&self, t: &TaskItem) -> String {
        match (t.took, t.started_at) {
            (Some(took), _) => duration(took),
            (None, Some(start)) if !t.status.is_final() => duration(self.now - start),
            _ => "-".to_owned(),
        }
    }
}

/// A duration in at most six columns: `4.2s`, `42s`, `3m05s`, `2h03m`, `3d04h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 10.0 {
        return format!("{s:.1}s");
    }
    let n = s as u64;
    match n {
        0..60 => format!("{n}s"),
        60..3600 => format!("{}m{:02}s", n / 60, n % 60),
        3600..86_400 => format!("{}h{:02}m", n / 3600, n % 3600 / 60),
        _ => format!("{}d{:02}h", n / 86_400, n % 86_400 / 3600),
    }
}

fn status_rank(s: TaskStatus) -> u8 {
    match s {
        TaskStatus::Running => 0,
        TaskStatus::Pending => 1,
        TaskStatus::Failed | TaskStatus::BudgetExceeded => 2,
        TaskStatus::Interrupted | TaskStatus::Cancelled => 3,
        TaskStatus::Completed => 4,
    }
}

fn status_mark(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Pending => "◌",
        TaskStatus::Running => "●",
        TaskStatus::Completed => "✓",
        TaskStatus::Failed => "✗",
        TaskStatus::BudgetExceeded => "$",
        TaskStatus::Cancelled => "⊘",
        TaskStatus::Interrupted => "!",
    }
}

/// The queue pane's widget.
pub struct QueuePane<'a> {
    pub state: &'a QueueState,
    pub theme: &'a Theme,
    pub focused: bool,
}

impl Widget for QueuePane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.state;
        let th = self.theme;
        let mut title = match s.filter {
            Some(f) => format!("Tasks {}/{} · {}", s.len(), s.total(), f.as_str()),
            None => format!("Tasks {}", s.total()),
        };
        if s.shared {
            title.push_str(" · shared queue");
        }
        let hint = format!("sort: {}", s.sort.label());
        let block = frame(&title, &hint, self.focused, th);
        let inner = block.inner(area);
        block.render(area, buf);
        if s.is_empty() {
            let msg = if s.total() == 0 && s.shared {
                "No tasks yet: type one below and press Enter; a worker (az-os worker) runs it."
            } else if s.total() == 0 {
                "No tasks yet: type one below and press Enter."
            } else {
                "No task matches the filter (f)."
            };
            Paragraph::new(Span::styled(msg, th.dim))
                .wrap(ratatui::widgets::Wrap { trim: true })
                .render(inner, buf);
            return;
        }
        let w = inner.width as usize;
        let model_w = if w >= 70 { 14 } else { 0 };
        let fixed = 2 + 7 + 8 + 7 + if model_w > 0 { model_w + 1 } else { 0 };
        let desc_w = w.saturating_sub(fixed);
        let mut header = format!("  {:<7}", "id");
        if model_w > 0 {
            header.push_str(&format!("{:<w$}", "model", w = model_w + 1));
        }
        header.push_str(&format!("{:<desc_w$}{:>8}{:>7}", "task", "cost", "time"));
        buf.set_line(
            inner.x,
            inner.y,
            &Line::from(Span::styled(header, th.title)),
            inner.width,
        );
        let rows = (inner.height as usize).saturating_sub(1);
        for (row, &i) in s.view.iter().skip(s.offset).take(rows).enumerate() {
            let t = &s.tasks[i];
            let selected = s.offset + row == s.selected;
            let mark = if t.status == TaskStatus::Running {
                s.spinner()
            } else {
                status_mark(t.status)
            };
            let mut spans = vec![
                Span::styled(format!("{mark} "), status_style(th, t.status)),
                Span::styled(
                    format!("{:<6} ", &t.id.as_str()[..t.id.as_str().len().min(6)]),
                    th.dim,
                ),
            ];
            // Cut and padded by display width, so wide characters keep columns aligned.
            if model_w > 0 {
                let m = fit(&strip_control(t.model.as_deref().unwrap_or("-")), model_w);
                spans.push(Span::styled(format!("{m} "), th.dim));
            }
            let desc = fit(&strip_control(&t.description).replace('\n', " "), desc_w);
            spans.push(Span::styled(desc, th.text));
            spans.push(Span::styled(
                format!("{:>8}", format!("${:.4}", t.cost_usd)),
                th.dim,
            ));
            spans.push(Span::styled(format!("{:>7}", s.time(t)), th.dim));
            let mut line = Line::from(spans);
            if selected {
                // Focused or not, the selection reads the same; the pane's border
                // says where the focus is.
                line = super::select_line(line, th);
            }
            let y = inner.y + 1 + u16::try_from(row).unwrap_or(0);
            buf.set_line(inner.x, y, &line, inner.width);
        }
    }
}
