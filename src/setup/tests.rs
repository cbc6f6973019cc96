use super::*;
use proptest::prelude::*;

#[test]
fn keys_are_trimmed_and_split_or_empty_ones_refused() {
    assert_eq!(clean_key("  sk-abc123\n").unwrap().as_str(), "sk-abc123");
    assert_eq!(clean_key("\r\n"), Err(KeyProblem::Empty));
    assert_eq!(clean_key("sk-abc 123"), Err(KeyProblem::Split(2)));
    assert_eq!(clean_key("sk-abc\n123\n"), Err(KeyProblem::Split(2)));
    assert_eq!(clean_key("sk-\u{7}abc"), Err(KeyProblem::Control));
}

#[test]
fn the_catalogue_offers_each_provider_with_its_key_variable() {
    let offers = catalogue_offers();
    let ids: Vec<&str> = offers.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["openrouter", "gemini", "mistral", "anthropic"]);
    assert!(offers[0].free && !offers[3].free);
    assert_eq!(offers[0].key_env(), "OPENROUTER_API_KEY");
    assert!(offers.iter().all(Offer::needs_key));
    let c = compatible_offer("http://127.0.0.1:8080/v1/", "org/Qwen2.5 7B", true);
    assert_eq!(c.spec.name, "Qwen2.5-7B");
    assert_eq!(c.spec.base_url, "http://127.0.0.1:8080/v1");
}

proptest! {
    /// Any text: a key is one piece without spaces or controls, or refused; never a panic.
    #[test]
    fn clean_key_never_keeps_whitespace_or_controls(raw in "\\PC{0,40}[ \t\r\n]{0,3}\\PC{0,10}") {
        if let Ok(k) = clean_key(&raw) {
            prop_assert!(!k.is_empty());
            prop_assert!(!k.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert!(raw.contains(k.as_str()));
        }
    }
}

#[test]
fn a_server_needs_an_http_url_and_a_model_id() {
    assert_eq!(server_url(" ftp://x "), Err(ServerProblem::Url));
    assert_eq!(
        server_url(" http://127.0.0.1:8080/v1 "),
        Ok("http://127.0.0.1:8080/v1")
    );
    assert_eq!(
        server_offer("https://gw.example/v1", "  ").map(|o| o.id),
        Err(ServerProblem::Model)
    );
    let o = server_offer(" https://gw.example/v1/ ", " qwen2.5 ").unwrap();
    assert_eq!(
        (o.spec.base_url.as_str(), o.spec.model.as_str()),
        ("https://gw.example/v1", "qwen2.5")
    );
    assert!(o.needs_key());
}
