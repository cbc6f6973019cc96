//! Tests of the policy's shell parser.

use super::*;

fn words(s: &Simple) -> Vec<&str> {
    s.words.iter().map(|w| w.text.as_str()).collect()
}

fn simples(script: &Script) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for p in &script.pipelines {
        for st in &p.stages {
            match st {
                Stage::Simple(s) => {
                    out.push(words(s).into_iter().map(str::to_owned).collect());
                }
                Stage::Group(g) => out.extend(simples(&g.body)),
            }
        }
    }
    out
}

#[test]
fn words_lists_and_pipes() {
    let s = parse(r#"git status && echo "a b" 'c d' e\ f | wc -l; ls -la"#).unwrap();
    assert_eq!(s.pipelines.len(), 3);
    assert_eq!(s.pipelines[1].stages.len(), 2);
    assert_eq!(
        simples(&s),
        vec![
            vec!["git", "status"],
            vec!["echo", "a b", "c d", "e f"],
            vec!["wc", "-l"],
            vec!["ls", "-la"],
        ]
    );
}

#[test]
fn expansions_and_substitutions() {
    let s = parse(r#"rm -rf "$HOME"/x ${HOME} $PWD $FOO "$(echo hi)" `id`"#).unwrap();
    let Stage::Simple(simple) = &s.pipelines[0].stages[0] else {
        panic!()
    };
    assert_eq!(
        words(simple),
        vec!["rm", "-rf", "~/x", "~", ".", "$FOO", "$", "$"]
    );
    assert!(simple.words[5].dynamic);
    assert!(!simple.words[2].dynamic);
    assert_eq!(simples(&simple.words[6].subs[0]), vec![vec!["echo", "hi"]]);
    assert_eq!(simples(&simple.words[7].subs[0]), vec![vec!["id"]]);
}

#[test]
fn groups_functions_redirects_heredocs() {
    let s = parse(":(){ :|:& };:").unwrap();
    assert_eq!(s.functions.len(), 1);
    assert_eq!(s.functions[0].0, ":");
    assert_eq!(simples(&s.functions[0].1), vec![vec![":"], vec![":"]]);
    let s = parse("(cd sub && make) 2>&1 > out.txt").unwrap();
    assert_eq!(simples(&s), vec![vec!["cd", "sub"], vec!["make"]]);
    let s = parse("cat <<'EOF' > f.txt\nrm -rf /\nEOF\necho done").unwrap();
    let Stage::Simple(cat) = &s.pipelines[0].stages[0] else {
        panic!()
    };
    assert_eq!(cat.redirects[0].heredoc.as_deref(), Some("rm -rf /\n"));
    assert_eq!(cat.redirects[1].target.text, "f.txt");
    assert_eq!(simples(&s), vec![vec!["cat"], vec!["echo", "done"]]);
    let s = parse("for f in *.txt; do wc -l \"$f\"; done").unwrap();
    assert_eq!(
        simples(&s),
        vec![
            vec!["for", "f", "in", "*.txt"],
            vec!["wc", "-l", "$f"],
            vec!["done"]
        ]
    );
}

#[test]
fn what_cannot_be_followed_is_an_error() {
    for bad in [
        "echo 'open",
        "echo \"open",
        "echo $(ls",
        "(ls",
        "case $x in a) ls;; esac",
        "echo `ls",
        "{ ls",
        ")",
        "ls )",
        "a | b )",
        "\\<<\\",
        "cat <<",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    let deep = "$(".repeat(40) + &")".repeat(40);
    assert!(parse(&format!("echo {deep}")).is_err());
}

#[test]
fn joins_subshells_and_braces_are_recorded() {
    let s = parse("cd a && b || c; d\ne &&\n f").unwrap();
    let joins: Vec<Join> = s.pipelines.iter().map(|p| p.join).collect();
    assert_eq!(
        joins,
        [
            Join::Seq,
            Join::And,
            Join::Or,
            Join::Seq,
            Join::Seq,
            Join::And
        ]
    );
    let s = parse("(cd /); { cd /; }").unwrap();
    let kinds: Vec<bool> = s
        .pipelines
        .iter()
        .map(|p| matches!(&p.stages[0], Stage::Group(g) if g.subshell))
        .collect();
    assert_eq!(kinds, [true, false]);
    let s = parse("a; while b; do c; done; for x in y; do d; done; e").unwrap();
    let looped: Vec<bool> = s.pipelines.iter().map(|p| p.looped).collect();
    assert_eq!(looped, [false, true, true, false, true, true, false, false]);
    let s = parse("rm {a,b} '{c,d}' \\{e,f} x{}").unwrap();
    let Stage::Simple(simple) = &s.pipelines[0].stages[0] else {
        panic!()
    };
    let braces: Vec<bool> = simple.words.iter().map(|w| w.brace).collect();
    assert_eq!(braces, [false, true, false, false, true]);
}
