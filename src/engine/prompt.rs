//! The system prompt. Sent with every request, so every byte is paid on every
//! turn: `request_overhead_bytes` measures prompt plus tool schemas, and a test
//! holds it under 3 KiB.

use std::path::Path;

use super::tools;

/// The system prompt for a task running in `workdir` with `max_turns` turns.
pub fn system_prompt(workdir: &Path, max_turns: u32) -> String {
    format!(
        "You are az-os, an autonomous agent. Work in {} (tool paths are relative to it). \
         Each turn: think in one or two sentences, then call a tool. You have {max_turns} turns; \
         be economical. When the task is done, call finish with the answer the user asked for, \
         nothing more. If a tool fails, read the error and adjust.",
        workdir.display()
    )
}

/// Bytes of system prompt and tool schemas (as JSON) sent with each request.
pub fn request_overhead_bytes(workdir: &Path, max_turns: u32) -> usize {
    let tools: usize = tools::specs()
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
        .sum();
    system_prompt(workdir, max_turns).len() + tools
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_and_schemas_fit_in_three_kib() {
        let wd = Path::new("/home/someone/projects/a-fairly-long-project-name/subdir");
        let n = request_overhead_bytes(wd, 5);
        assert!(n <= 3 * 1024, "prompt + tool schemas are {n} bytes");
    }
}
