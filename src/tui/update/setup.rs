//! The setup dialog's keys and answers (`panes::setup` draws it): moving through the
//! steps, the checks and saves it asks for as effects, and what comes back. Leaving
//! (Esc, Ctrl-C) at any step writes nothing: the only write is the save at the end,
//! and that one is atomic (`crate::setup::save`).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::approval;
use crate::setup::{self, Offer, Saved, Storage};
use crate::tui::action::Action;
use crate::tui::keymap::{Context, Key};
use crate::tui::model::Model;
use crate::tui::msg::Effect;
use crate::tui::panes::popups::Popup;
use crate::tui::panes::setup::{CheckJob, SaveJob, SetupState, Step, VaultInfo};
use crate::tui::panes::status::Tone;
use crate::util::hidden::Hidden;

/// What the status bar says when the dialog is left before the end.
const LEFT: &str = "Setup left; nothing was written";

/// Opens the dialog (over anything but a focused approval) and looks for a local
/// Ollama and the vault.
pub(super) fn open(m: &mut Model, fx: &mut Vec<Effect>) {
    if matches!(m.popup, Some(Popup::Setup(_))) {
        return;
    }
    approval::open_popup(m, Popup::Setup(SetupState::new(setup::catalogue_offers())));
    fx.push(Effect::SetupProbe);
}

fn state(m: &mut Model) -> Option<&mut SetupState> {
    match &mut m.popup {
        Some(Popup::Setup(s)) => Some(s),
        _ => None,
    }
}

/// A key while the dialog has the keyboard.
pub(super) fn key(m: &mut Model, k: KeyEvent, now: f64, fx: &mut Vec<Effect>) {
    let key = Key::from_event(&k);
    match m.keymap.lookup(&[Context::Setup, Context::Global], key) {
        Some(Action::Close) => close(m),
        Some(Action::Confirm) => confirm(m, fx),
        Some(Action::Up | Action::FocusPrev) => step_by(m, -1),
        Some(Action::Down | Action::FocusNext) => step_by(m, 1),
        Some(Action::Interrupt) => {
            close(m);
            super::act(m, Action::Interrupt, now, fx);
            if !m.quit {
                m.status.set_for(
                    Tone::Warn,
                    format!("{LEFT}. Press Ctrl-C again to quit"),
                    2.0,
                );
            }
        }
        Some(Action::Suspend) => fx.push(Effect::Suspend),
        _ => typed(m, k, fx),
    }
}

/// Text pasted while the dialog is open goes to its field (a key keeps what it
/// brings: a line break inside is refused, with the reason, when it is checked).
pub(super) fn paste(m: &mut Model, text: &str) {
    let Some(s) = state(m) else { return };
    match &mut s.step {
        Step::Key { key, .. } => key.push_str(text),
        Step::Password {
            password,
            again,
            field,
            ..
        } => {
            let line = text.trim_end_matches(['\r', '\n']);
            if *field == 0 {
                password.push_str(line);
            } else {
                again.push_str(line);
            }
        }
        Step::Server { url, model, field } => {
            let clean = crate::util::text::strip_control(text).replace('\n', "");
            let to = if *field == 0 { url } else { model };
            to.push_str(clean.trim());
        }
        Step::Choose
        | Step::Checking { .. }
        | Step::Store { .. }
        | Step::Saving { .. }
        | Step::Done { .. } => {}
    }
}

fn close(m: &mut Model) {
    let Some(s) = state(m) else { return };
    let done = matches!(s.step, Step::Done { .. });
    // A save under way finishes (its answer lands in the status bar); nothing else
    // has written anything.
    let saving = matches!(s.step, Step::Saving { .. });
    m.popup = None;
    if !done && !saving {
        m.status.set(Tone::Info, LEFT.to_owned());
    }
}

/// Up and down: the highlighted row of a list, or the field typed in.
fn step_by(m: &mut Model, delta: isize) {
    let Some(s) = state(m) else { return };
    let rows = s.rows();
    let creating = !s.vault.exists;
    match &mut s.step {
        Step::Choose => s.selected = wrap(s.selected, delta, rows),
        Step::Store { .. } => s.selected = wrap(s.selected, delta, 2),
        Step::Server { field, .. } => *field = wrap(*field, delta, 2),
        Step::Password { field, .. } if creating => *field = wrap(*field, delta, 2),
        Step::Password { .. }
        | Step::Key { .. }
        | Step::Checking { .. }
        | Step::Saving { .. }
        | Step::Done { .. } => {}
    }
}

fn wrap(i: usize, delta: isize, n: usize) -> usize {
    let n = isize::try_from(n.max(1)).unwrap_or(isize::MAX);
    let i = isize::try_from(i).unwrap_or(0);
    usize::try_from((i + delta).rem_euclid(n)).unwrap_or(0)
}

/// A key no binding took: a character for the field, or a list's shortcut (a row's
/// number picks it at once; `v`/`e` pick where the key lives; `j`/`k` move).
fn typed(m: &mut Model, k: KeyEvent, fx: &mut Vec<Effect>) {
    let Some(dialog) = state(m) else { return };
    let plain = !k
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    if dialog.step.takes_text() {
        let field = match &mut dialog.step {
            Step::Key { key, .. } => Field::Hidden(key),
            Step::Password {
                password,
                again,
                field,
                ..
            } => Field::Hidden(if *field == 0 { password } else { again }),
            Step::Server { url, model, field } => {
                Field::Text(if *field == 0 { url } else { model })
            }
            _ => return,
        };
        match (k.code, field) {
            (KeyCode::Char(ch), Field::Hidden(hidden)) if plain => hidden.push(ch),
            (KeyCode::Char(ch), Field::Text(text)) if plain => text.push(ch),
            (KeyCode::Backspace, Field::Hidden(hidden)) => hidden.pop(),
            (KeyCode::Backspace, Field::Text(text)) => {
                text.pop();
            }
            // Ctrl-U empties the field, as in a shell.
            (KeyCode::Char('u'), Field::Hidden(hidden)) if k.modifiers == KeyModifiers::CONTROL => {
                hidden.clear();
            }
            (KeyCode::Char('u'), Field::Text(text)) if k.modifiers == KeyModifiers::CONTROL => {
                text.clear();
            }
            _ => return,
        }
        dialog.error = None;
        return;
    }
    let KeyCode::Char(ch) = k.code else { return };
    if !plain {
        return;
    }
    let choosing = matches!(dialog.step, Step::Choose);
    let storing = matches!(dialog.step, Step::Store { .. });
    let rows = dialog.rows();
    let pick = match ch {
        'j' if choosing || storing => return step_by(m, 1),
        'k' if choosing || storing => return step_by(m, -1),
        '1'..='9' if choosing => ch.to_digit(10).map_or(0, |d| d as usize),
        'v' if storing => 1,
        'e' if storing => 2,
        _ => return,
    };
    if (1..=rows).contains(&pick) {
        dialog.selected = pick - 1;
        confirm(m, fx);
    }
}

enum Field<'a> {
    Hidden(&'a mut Hidden),
    Text(&'a mut String),
}

/// Enter: the next step.
fn confirm(m: &mut Model, fx: &mut Vec<Effect>) {
    if matches!(
        m.popup,
        Some(Popup::Setup(SetupState {
            step: Step::Done { .. },
            ..
        }))
    ) {
        m.popup = None;
        return;
    }
    let Some(s) = state(m) else { return };
    s.error = None;
    let step = std::mem::replace(&mut s.step, Step::Choose);
    s.step = match step {
        Step::Choose => match s.offers.get(s.selected).cloned() {
            Some(offer) if offer.needs_key() => Step::Key {
                offer: Box::new(offer),
                key: Hidden::default(),
            },
            Some(offer) => check(s, offer, None, fx),
            None => Step::Server {
                url: String::new(),
                model: String::new(),
                field: 0,
            },
        },
        Step::Server { url, model, .. } => match setup::server_offer(&url, &model) {
            Ok(offer) => Step::Key {
                offer: Box::new(offer),
                key: Hidden::default(),
            },
            Err(why) => {
                s.error = Some(why.to_string());
                // The field to mend.
                let field = usize::from(why == setup::ServerProblem::Model);
                Step::Server { url, model, field }
            }
        },
        Step::Key { offer, key } => {
            if offer.id == "openai-compatible" && key.expose().trim().is_empty() {
                check(s, *offer, None, fx)
            } else {
                match setup::clean_key(key.expose()) {
                    Ok(clean) => check(s, *offer, Some(Hidden::new(&clean)), fx),
                    Err(why) => {
                        s.error = Some(why.to_string());
                        Step::Key {
                            offer,
                            key: Hidden::default(),
                        }
                    }
                }
            }
        }
        Step::Store { offer, key, .. } => {
            if s.selected == 1 {
                save(s, *offer, Some(key), Storage::Env, None, fx)
            } else if s.vault.env_password {
                save(s, *offer, Some(key), Storage::Vault, None, fx)
            } else {
                s.selected = 0;
                ask_password(offer, key)
            }
        }
        Step::Password {
            offer,
            key,
            password,
            again,
            field,
        } => {
            let creating = !s.vault.exists;
            if password.is_empty() {
                s.error = Some("the master password is empty: type it".into());
                Step::Password {
                    offer,
                    key,
                    password,
                    again,
                    field: 0,
                }
            } else if creating && field == 0 {
                // Then the same again.
                Step::Password {
                    offer,
                    key,
                    password,
                    again,
                    field: 1,
                }
            } else if creating && password != again {
                s.error = Some("the two passwords differ: type them again".into());
                ask_password(offer, key)
            } else {
                save(s, *offer, Some(key), Storage::Vault, Some(password), fx)
            }
        }
        // Waiting for an answer, or at the end: Enter does nothing more.
        other @ (Step::Checking { .. } | Step::Saving { .. } | Step::Done { .. }) => other,
    };
}

/// The password step, its fields empty.
fn ask_password(offer: Box<Offer>, key: Hidden) -> Step {
    Step::Password {
        offer,
        key,
        password: Hidden::default(),
        again: Hidden::default(),
        field: 0,
    }
}

fn check(s: &mut SetupState, offer: Offer, key: Option<Hidden>, fx: &mut Vec<Effect>) -> Step {
    s.attempt += 1;
    fx.push(Effect::SetupCheck(Box::new(CheckJob {
        attempt: s.attempt,
        offer: offer.clone(),
        key: key.clone(),
    })));
    Step::Checking {
        offer: Box::new(offer),
        key,
    }
}

fn save(
    s: &mut SetupState,
    offer: Offer,
    key: Option<Hidden>,
    storage: Storage,
    password: Option<Hidden>,
    fx: &mut Vec<Effect>,
) -> Step {
    s.attempt += 1;
    fx.push(Effect::SetupSave(Box::new(SaveJob {
        attempt: s.attempt,
        offer: offer.clone(),
        key: key.clone(),
        storage,
        password,
    })));
    Step::Saving {
        offer: Box::new(offer),
        key,
        storage,
    }
}

/// The look for Ollama and the vault answered.
pub(super) fn probed(m: &mut Model, ollama: Vec<Offer>, vault: VaultInfo) {
    // The first answer is the one used: a dialog left and opened again asks again,
    // and the two answers would list Ollama's models twice.
    let Some(s) = state(m).filter(|s| !s.probed) else {
        return;
    };
    // The row under the cursor stays under it (the server row is last).
    let on_server = s.selected == s.offers.len();
    s.offers.extend(ollama);
    if on_server {
        s.selected = s.offers.len();
    }
    s.vault = vault;
    s.probed = true;
}

/// The provider's answer to a check.
pub(super) fn checked(
    m: &mut Model,
    attempt: u64,
    result: Result<String, String>,
    fx: &mut Vec<Effect>,
) {
    let Some(s) = state(m).filter(|s| s.attempt == attempt) else {
        return; // left, or asked again since
    };
    let Step::Checking { offer, key } = std::mem::replace(&mut s.step, Step::Choose) else {
        return;
    };
    s.step = match (result, key) {
        (Ok(answer), Some(key)) => {
            s.selected = 0;
            Step::Store { offer, key, answer }
        }
        // Nothing to keep: written at once (a local model, a server without a key).
        (Ok(_), None) => save(s, *offer, None, Storage::Env, None, fx),
        (Err(why), key) => {
            s.error = Some(match key {
                Some(_) => format!(
                    "{} did not take the key: {}. Paste it again",
                    offer.label,
                    why.trim_end_matches('.')
                ),
                None => format!("{} did not answer as it should: {why}", offer.label),
            });
            if offer.needs_key() {
                Step::Key {
                    offer,
                    key: Hidden::default(),
                }
            } else {
                Step::Choose
            }
        }
    };
}

/// The save's answer: the dialog's last step (or, if it was left meanwhile, the status
/// bar). Either way the engine reads its catalogue again, so the model is usable now.
pub(super) fn saved(
    m: &mut Model,
    attempt: u64,
    result: Result<Saved, String>,
    fx: &mut Vec<Effect>,
) {
    let current = state(m).is_some_and(|s| s.attempt == attempt);
    match result {
        Ok(saved) => {
            fx.push(Effect::Engine(crate::engine::Command::ReloadModels));
            match state(m).filter(|_| current) {
                Some(s) => {
                    let label = match &s.step {
                        Step::Saving { offer, .. } => offer.label.clone(),
                        _ => saved.model.clone(),
                    };
                    s.step = Step::Done { saved, label };
                }
                None => m
                    .status
                    .set(Tone::Info, format!("{} is ready", saved.model)),
            }
        }
        Err(why) => {
            let Some(s) = state(m).filter(|_| current) else {
                m.status
                    .set(Tone::Error, format!("setup: {why}; nothing was saved"));
                return;
            };
            let Step::Saving {
                offer,
                key,
                storage,
            } = std::mem::replace(&mut s.step, Step::Choose)
            else {
                return;
            };
            s.error = Some(format!("{why}; nothing was saved"));
            s.step = match (key, storage) {
                // A wrong password, a vault another az-os holds: type it again, or wait.
                (Some(key), Storage::Vault) if !s.vault.env_password => ask_password(offer, key),
                (Some(key), _) => {
                    s.selected = usize::from(storage == Storage::Env);
                    Step::Store {
                        answer: "checked".into(),
                        offer,
                        key,
                    }
                }
                (None, _) => Step::Choose,
            };
        }
    }
}
