//! LLM client tests against the fake provider.
