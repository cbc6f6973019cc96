//! The setup dialog driven key by key through `update`, its effects answered by hand as
//! the loop would: it opens by itself with no usable model (and with F3), each step,
//! a wrong key, the vault's password, leaving at any step with nothing saved, a late
//! answer, and a key never drawn or printed. Snapshots of each step at 80×24 and
//! 120×40. (The loop with a real engine and provider: `tests/suite/setup/dialog.rs`.)

use az_os::engine::Command;
use az_os::setup::{Offer, Saved, Storage, compatible_offer};
use az_os::tui::model::Model;
use az_os::tui::msg::{Effect, Msg};
use az_os::tui::panes::popups::Popup;
use az_os::tui::panes::setup::{SaveJob, SetupState, Step, VaultInfo};
use az_os::util::hidden::Hidden;
use ratatui::crossterm::event::KeyCode;

use super::{ch, ctrl, model_sized, press, render, screen, send, snapshot, type_text};

const KEY: &str = "sk-or-v1-0123456789abcdef";
const PASSWORD: &str = "correct horse";

/// A local Ollama's model, as the look at the machine finds it.
fn ollama() -> Offer {
    Offer {
        id: "ollama:llama3.2".into(),
        label: "Ollama: llama3.2".into(),
        note: "local, free: llama3.2 at http://127.0.0.1:11434".into(),
        ..compatible_offer("http://127.0.0.1:11434", "llama3.2", false)
    }
}

fn no_vault() -> VaultInfo {
    VaultInfo {
        path: "/home/user/.az-os/vault.json".into(),
        exists: false,
        env_password: false,
    }
}

/// A dashboard with no usable model, its dialog open by itself and the look done.
fn opened(w: u16, h: u16) -> Model {
    let mut m = model_sized(w, h);
    m.setup_hint = Some(az_os::tui::setup_hint(
        std::path::Path::new("/home/user/.az-os/config.toml"),
        Some("F3"),
    ));
    let fx = send(&mut m, Msg::Started);
    assert_eq!(fx, vec![Effect::SetupProbe]);
    send(
        &mut m,
        Msg::SetupProbed {
            ollama: vec![ollama()],
            vault: no_vault(),
        },
    );
    m
}

fn dialog(m: &Model) -> &SetupState {
    match &m.popup {
        Some(Popup::Setup(s)) => s,
        other => panic!("the dialog is not open: {other:?}"),
    }
}

fn attempt(m: &Model) -> u64 {
    dialog(m).attempt
}

/// OpenRouter chosen and the key typed (not yet entered).
fn key_typed(w: u16, h: u16) -> Model {
    let mut m = opened(w, h);
    send(&mut m, ch('1'));
    assert!(matches!(dialog(&m).step, Step::Key { .. }));
    type_text(&mut m, KEY);
    m
}

/// The key entered: the check asked for.
fn checking(w: u16, h: u16) -> Model {
    let mut m = key_typed(w, h);
    let fx = send(&mut m, press(KeyCode::Enter));
    let [Effect::SetupCheck(job)] = fx.as_slice() else {
        panic!("one check: {fx:?}");
    };
    assert_eq!(job.offer.id, "openrouter");
    assert_eq!(job.key.as_ref().map(Hidden::expose), Some(KEY));
    m
}

/// The provider's answer to the check under way.
fn answer(m: &mut Model, result: Result<&str, &str>) -> Vec<Effect> {
    let attempt = attempt(m);
    let result = result.map(str::to_owned).map_err(str::to_owned);
    send(m, Msg::SetupChecked { attempt, result })
}

/// OpenRouter took the key: where should it live?
fn store(w: u16, h: u16) -> Model {
    let mut m = checking(w, h);
    answer(&mut m, Ok("the key works; trinity listed"));
    m
}

/// The vault chosen: a new one, so its password twice.
fn password(w: u16, h: u16) -> Model {
    let mut m = store(w, h);
    assert!(send(&mut m, ch('v')).is_empty());
    type_text(&mut m, PASSWORD);
    m
}

fn saved_in_vault() -> Saved {
    Saved {
        model: "trinity".into(),
        config: Some("/home/user/.az-os/config.toml".into()),
        vault_entry: Some("vault:openrouter".into()),
        export_line: None,
    }
}

/// Saved in the vault.
fn done(w: u16, h: u16) -> Model {
    let mut m = password(w, h);
    send(&mut m, press(KeyCode::Enter));
    type_text(&mut m, PASSWORD);
    let fx = send(&mut m, press(KeyCode::Enter));
    let [Effect::SetupSave(job)] = fx.as_slice() else {
        panic!("one save: {fx:?}");
    };
    assert_eq!(
        **job,
        SaveJob {
            attempt: job.attempt,
            offer: job.offer.clone(),
            key: Some(Hidden::new(KEY)),
            storage: Storage::Vault,
            password: Some(Hidden::new(PASSWORD)),
        }
    );
    let a = attempt(&m);
    let fx = send(
        &mut m,
        Msg::SetupSaved {
            attempt: a,
            result: Ok(saved_in_vault()),
        },
    );
    assert_eq!(fx, vec![Effect::Engine(Command::ReloadModels)]);
    m
}

/// The environment chosen instead: the line for a shell profile.
fn done_env(w: u16, h: u16) -> Model {
    let mut m = store(w, h);
    let fx = send(&mut m, ch('e'));
    let [Effect::SetupSave(job)] = fx.as_slice() else {
        panic!("one save: {fx:?}");
    };
    assert_eq!((job.storage, job.password.clone()), (Storage::Env, None));
    let a = attempt(&m);
    send(
        &mut m,
        Msg::SetupSaved {
            attempt: a,
            result: Ok(Saved {
                model: "trinity".into(),
                config: None,
                vault_entry: None,
                export_line: Some("export OPENROUTER_API_KEY=<your key>".into()),
            }),
        },
    );
    m
}

/// OpenRouter refused the key.
fn refused(w: u16, h: u16) -> Model {
    let mut m = checking(w, h);
    answer(&mut m, Err("401: User not found."));
    m
}

/// An OpenAI-compatible server: URL and model typed.
fn server(w: u16, h: u16) -> Model {
    let mut m = opened(w, h);
    send(&mut m, press(KeyCode::Up)); // from the top to the last row
    send(&mut m, press(KeyCode::Enter));
    type_text(&mut m, "http://127.0.0.1:8080/v1");
    send(&mut m, press(KeyCode::Tab));
    type_text(&mut m, "qwen2.5-coder");
    m
}

#[test]
fn snapshot_setup_steps() {
    snapshot("setup_choose", opened);
    snapshot("setup_server", server);
    snapshot("setup_key", key_typed);
    snapshot("setup_checking", checking);
    snapshot("setup_refused", refused);
    snapshot("setup_store", store);
    snapshot("setup_password", password);
    snapshot("setup_done_vault", done);
    snapshot("setup_done_env", done_env);
}

#[test]
fn it_opens_by_itself_only_without_a_usable_model_and_with_f3_any_time() {
    let mut m = model_sized(80, 24);
    assert!(send(&mut m, Msg::Started).is_empty(), "a model is usable");
    assert_eq!(m.popup, None);
    assert_eq!(send(&mut m, press(KeyCode::F(3))), vec![Effect::SetupProbe]);
    assert!(matches!(dialog(&m).step, Step::Choose));
    // Already open: F3 again starts nothing new.
    assert!(send(&mut m, press(KeyCode::F(3))).is_empty());
    let m = opened(80, 24);
    assert!(matches!(dialog(&m).step, Step::Choose));
}

#[test]
fn a_key_checked_and_kept_in_a_new_vault() {
    // Every step on the way asserts its effects (see the builders above).
    let mut m = done(80, 24);
    let Step::Done { saved, label } = &dialog(&m).step else {
        panic!("{:?}", dialog(&m).step);
    };
    assert_eq!((saved, label.as_str()), (&saved_in_vault(), "OpenRouter"));
    assert!(send(&mut m, press(KeyCode::Enter)).is_empty());
    assert_eq!(m.popup, None);
}

#[test]
fn the_two_passwords_of_a_new_vault_must_match() {
    let mut m = password(80, 24);
    send(&mut m, press(KeyCode::Enter));
    type_text(&mut m, "correct hors");
    let fx = send(&mut m, press(KeyCode::Enter));
    assert!(fx.is_empty(), "nothing saved: {fx:?}");
    let s = dialog(&m);
    assert!(s.error.as_deref().unwrap().contains("differ"), "{s:?}");
    assert!(matches!(
        &s.step,
        Step::Password { password, again, field: 0, .. } if password.is_empty() && again.is_empty()
    ));
    // An existing vault asks once.
    let mut m = store(80, 24);
    if let Some(Popup::Setup(s)) = &mut m.popup {
        s.vault.exists = true;
    }
    send(&mut m, ch('v'));
    type_text(&mut m, PASSWORD);
    let fx = send(&mut m, press(KeyCode::Enter));
    assert!(matches!(fx.as_slice(), [Effect::SetupSave(_)]), "{fx:?}");
}

#[test]
fn a_wrong_key_is_refused_with_the_providers_reason_and_typed_again() {
    let mut m = refused(80, 24);
    let s = dialog(&m);
    assert!(
        matches!(&s.step, Step::Key { key, .. } if key.is_empty()),
        "{s:?}"
    );
    let error = s.error.clone().unwrap();
    assert!(
        error.contains("OpenRouter did not take the key: 401: User not found."),
        "{error}"
    );
    // Typing again clears the error; the next check is a new attempt.
    type_text(&mut m, KEY);
    assert_eq!(dialog(&m).error, None);
    let before = attempt(&m);
    send(&mut m, press(KeyCode::Enter));
    assert_eq!(attempt(&m), before + 1);
}

#[test]
fn empty_and_split_keys_are_refused_before_any_check() {
    let mut m = opened(80, 24);
    send(&mut m, ch('1'));
    assert!(send(&mut m, press(KeyCode::Enter)).is_empty());
    assert!(dialog(&m).error.as_deref().unwrap().contains("empty"));
    send(&mut m, Msg::Paste("sk-or-v1-abc\nsk-or-v1-def\n".into()));
    assert!(send(&mut m, press(KeyCode::Enter)).is_empty());
    assert!(dialog(&m).error.as_deref().unwrap().contains("2 parts"));
    // A paste's trailing line break is not part of the key.
    send(&mut m, Msg::Paste(format!("  {KEY}\n")));
    let fx = send(&mut m, press(KeyCode::Enter));
    let [Effect::SetupCheck(job)] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(job.key.as_ref().map(Hidden::expose), Some(KEY));
}

#[test]
fn a_server_needs_its_url_and_model_and_may_have_no_key() {
    let mut m = opened(80, 24);
    send(&mut m, press(KeyCode::Up));
    send(&mut m, press(KeyCode::Enter));
    type_text(&mut m, "127.0.0.1:8080");
    send(&mut m, press(KeyCode::Enter));
    assert!(dialog(&m).error.as_deref().unwrap().contains("http://"));
    send(&mut m, ctrl('u'));
    type_text(&mut m, "http://127.0.0.1:8080/v1");
    send(&mut m, press(KeyCode::Enter));
    assert!(dialog(&m).error.as_deref().unwrap().contains("model id"));
    assert!(matches!(dialog(&m).step, Step::Server { field: 1, .. }));
    type_text(&mut m, "qwen2.5-coder");
    send(&mut m, press(KeyCode::Enter));
    assert!(
        matches!(&dialog(&m).step, Step::Key { offer, .. } if offer.spec.model == "qwen2.5-coder")
    );
    // No key: checked without one, then saved at once.
    let fx = send(&mut m, press(KeyCode::Enter));
    let [Effect::SetupCheck(job)] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(job.key, None);
    let fx = answer(&mut m, Ok("answers"));
    assert!(
        matches!(fx.as_slice(), [Effect::SetupSave(j)] if j.key.is_none()),
        "{fx:?}"
    );
}

#[test]
fn an_ollama_model_is_one_keypress() {
    let mut m = opened(80, 24);
    // The catalogue's four, then Ollama's model, then the server row.
    let fx = send(&mut m, ch('5'));
    let [Effect::SetupCheck(job)] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(
        (job.offer.id.as_str(), job.key.clone()),
        ("ollama:llama3.2", None)
    );
    let fx = answer(&mut m, Ok("answers"));
    assert!(
        matches!(fx.as_slice(), [Effect::SetupSave(j)] if j.key.is_none() && j.password.is_none()),
        "{fx:?}"
    );
}

#[test]
fn the_server_row_stays_highlighted_when_ollamas_models_arrive() {
    let mut m = model_sized(80, 24);
    send(&mut m, press(KeyCode::F(3)));
    send(&mut m, press(KeyCode::Up));
    let rows = dialog(&m).rows();
    assert_eq!(dialog(&m).selected, rows - 1);
    send(
        &mut m,
        Msg::SetupProbed {
            ollama: vec![ollama()],
            vault: no_vault(),
        },
    );
    assert_eq!(dialog(&m).selected, rows, "still the last row");
    // A second answer (the dialog was left and opened again meanwhile) adds nothing.
    send(
        &mut m,
        Msg::SetupProbed {
            ollama: vec![ollama()],
            vault: no_vault(),
        },
    );
    assert_eq!(dialog(&m).rows(), rows + 1);
}

#[test]
fn leaving_at_any_step_saves_nothing() {
    type Build = fn(u16, u16) -> Model;
    let steps: [(&str, Build); 7] = [
        ("choose", opened),
        ("server", server),
        ("key", key_typed),
        ("checking", checking),
        ("refused", refused),
        ("store", store),
        ("password", password),
    ];
    for (name, build) in steps {
        for leave in [press(KeyCode::Esc), ctrl('c')] {
            let mut m = build(80, 24);
            let a = attempt(&m);
            let shown = format!("{leave:?}");
            let fx = send(&mut m, leave);
            assert!(
                !fx.iter().any(|f| matches!(f, Effect::SetupSave(_))),
                "{name}: {fx:?}"
            );
            assert_eq!(m.popup, None, "{name}: {shown} closes the dialog");
            assert!(!m.quit, "{name}: {shown} does not quit by itself");
            let said = format!("{:?}", m.status);
            assert!(said.contains("nothing was written"), "{name}: {said}");
            // An answer to what was left changes nothing.
            send(
                &mut m,
                Msg::SetupChecked {
                    attempt: a,
                    result: Ok("late".into()),
                },
            );
            assert_eq!(m.popup, None, "{name}");
        }
    }
    // Ctrl-C twice still quits.
    let mut m = key_typed(80, 24);
    send(&mut m, ctrl('c'));
    send(&mut m, ctrl('c'));
    assert!(m.quit);
}

#[test]
fn a_failed_save_says_why_and_asks_again() {
    let mut m = password(80, 24);
    send(&mut m, press(KeyCode::Enter));
    type_text(&mut m, PASSWORD);
    send(&mut m, press(KeyCode::Enter));
    let a = attempt(&m);
    let fx = send(
        &mut m,
        Msg::SetupSaved {
            attempt: a,
            result: Err(
                "the vault /home/user/.az-os/vault.json is being changed by another az-os".into(),
            ),
        },
    );
    assert!(fx.is_empty(), "no reload: {fx:?}");
    let s = dialog(&m);
    assert!(matches!(s.step, Step::Password { .. }), "{s:?}");
    assert!(s.error.as_deref().unwrap().contains("another az-os"));
    assert!(s.error.as_deref().unwrap().contains("nothing was saved"));
}

#[test]
fn the_key_and_password_are_never_drawn_or_printed() {
    type Build = fn(u16, u16) -> Model;
    let steps: [Build; 6] = [key_typed, checking, store, password, refused, done];
    for build in steps {
        for (w, h) in [(80, 24), (120, 40)] {
            let m = build(w, h);
            let shown = screen(&render(&m));
            let debug = format!("{:?}", m.popup);
            for secret in [KEY, PASSWORD, "0123456789abcdef", "horse"] {
                assert!(!shown.contains(secret), "{secret} on screen:\n{shown}");
                assert!(!debug.contains(secret), "{secret} in {debug}");
            }
        }
    }
    // Nor in the effects, which may be logged.
    let mut m = key_typed(80, 24);
    let fx = send(&mut m, press(KeyCode::Enter));
    assert!(!format!("{fx:?}").contains(KEY));
}

#[test]
fn a_reload_names_the_models_it_cannot_use_until_one_is_usable() {
    use az_os::engine::{EngineEvent, Event};
    let mut m = opened(120, 40);
    send(&mut m, press(KeyCode::Esc));
    let why = "mine: environment variable MINE_KEY is not set; export it and restart az-os, or add the key with the setup dialog";
    send(
        &mut m,
        Msg::Engine(EngineEvent::global(Event::ModelsReloaded {
            usable: vec![],
            unusable: vec![why.into()],
        })),
    );
    assert!(m.setup_hint.is_some());
    let shown = screen(&render(&m));
    assert!(
        shown.contains("Listed in config.toml, but not usable:"),
        "{shown}"
    );
    assert!(
        shown.contains("• mine: environment variable MINE_KEY is not set;"),
        "{shown}"
    );
    assert!(format!("{:?}", m.status).contains("still no usable model"));
    send(
        &mut m,
        Msg::Engine(EngineEvent::global(Event::ModelsReloaded {
            usable: vec!["fake-model".into()],
            unusable: vec![],
        })),
    );
    assert_eq!((m.setup_hint.clone(), m.unusable.len()), (None, 0));
    assert!(format!("{:?}", m.status).contains("models ready: fake-model"));
}
