//! The documentation cannot fall behind the commands: every subcommand `migrate --help` lists,
//! and every long option each one's `--help` shows, is in docs/cli.md; every command the README
//! tells a new user to run exists. Completion scripts and the manual page come from the same
//! definitions: bash itself parses the completion script, and both name every subcommand.

use std::process::Command;

use migrate_tests::{Run, migrate_command, workspace};

fn help(args: &[&str]) -> String {
    let run = Run::from(migrate_command().args(args).arg("--help").output().unwrap()).expect(0);
    run.stdout
}

/// The subcommands of a help text's "Commands:" section (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// Every `--long` option in a help text.
fn long_options(help: &str) -> Vec<String> {
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '(')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .split(['=', '<'])
                .next()
                .unwrap_or(w)
                .to_owned()
        })
        .filter(|w| w != "--help" && w != "--version")
        .collect()
}

#[test]
fn every_command_and_option_is_in_the_cli_reference() {
    let reference = std::fs::read_to_string(workspace().join("docs/cli.md")).unwrap();
    let top = help(&[]);
    let commands = subcommands(&top);
    assert!(commands.len() > 15, "{top}");
    let mut missing = Vec::new();
    for option in long_options(&top) {
        if !reference.contains(&format!("`{option}")) {
            missing.push(format!("global option {option}"));
        }
    }
    for command in &commands {
        if !reference.contains(&format!("| `{command}")) {
            missing.push(format!("command {command}"));
        }
        let own = help(&[command]);
        let mut nested = vec![vec![command.clone()]];
        for sub in subcommands(&own) {
            nested.push(vec![command.clone(), sub]);
        }
        for path in nested {
            let args: Vec<&str> = path.iter().map(String::as_str).collect();
            let text = help(&args);
            // Only the command's own options: the global ones are checked above.
            let own_part = text.split("Global options:").next().unwrap_or(&text);
            for option in long_options(own_part) {
                if !reference.contains(&option) {
                    missing.push(format!("{} {option}", path.join(" ")));
                }
            }
        }
    }
    assert!(missing.is_empty(), "not in docs/cli.md: {missing:#?}");
}

#[test]
fn the_readme_commands_exist() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    for line in readme
        .lines()
        .filter(|l| l.trim_start().starts_with("bash "))
    {
        let script = line.split_whitespace().nth(1).unwrap();
        assert!(
            workspace().join(script).is_file(),
            "README runs {script}, which is not there"
        );
    }
    assert!(
        readme.contains("cargo test"),
        "the README's test command is gone"
    );
}

#[test]
fn completions_and_the_manual_page_name_every_command() {
    let commands = subcommands(&help(&[]));
    let bash = Run::from(
        migrate_command()
            .args(["completions", "bash"])
            .output()
            .unwrap(),
    )
    .expect(0);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("migrate.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let parsed = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(parsed.success(), "bash cannot parse the completion script");
    for shell in ["zsh", "fish"] {
        Run::from(
            migrate_command()
                .args(["completions", shell])
                .output()
                .unwrap(),
        )
        .expect(0);
    }
    let mut man = Run::from(migrate_command().arg("man").output().unwrap()).expect(0);
    // roff writes a hyphen as `\-`.
    man.stdout = man.stdout.replace("\\-", "-");
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH migrate 1"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    for command in &commands {
        assert!(
            bash.stdout.contains(command.as_str()),
            "completion lacks {command}"
        );
        assert!(
            man.stdout.contains(command.as_str()),
            "man page lacks {command}"
        );
    }
}

/// The other direction: every command docs/cli.md documents exists, with every option its
/// synopsis shows, and every `--option` the page mentions is one some command takes.
#[test]
fn every_documented_command_and_option_exists() {
    let reference = std::fs::read_to_string(workspace().join("docs/cli.md")).unwrap();
    let top = help(&[]);
    let commands = subcommands(&top);
    let mut all_help = top.clone();
    let mut problems = Vec::new();
    for row in reference.lines().filter(|l| l.starts_with("| `")) {
        let synopsis = row[3..].split('`').next().unwrap_or_default();
        let words: Vec<&str> = synopsis.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        if first.starts_with('-') {
            continue; // an option's row
        }
        if !commands.iter().any(|c| c == first) {
            problems.push(format!("documented command `{first}` does not exist"));
            continue;
        }
        let mut path = vec![*first];
        if let Some(second) = words.get(1)
            && subcommands(&help(&[first])).iter().any(|c| c == second)
        {
            path.push(second);
        }
        let text = help(&path);
        all_help.push_str(&text);
        for option in long_options(synopsis) {
            if !text.contains(&option) {
                problems.push(format!("`{}` does not take {option}", path.join(" ")));
            }
        }
    }
    for command in &commands {
        all_help.push_str(&help(&[command]));
        for sub in subcommands(&help(&[command])) {
            all_help.push_str(&help(&[command, &sub]));
        }
    }
    for option in long_options(&reference) {
        if !all_help.contains(&option) {
            problems.push(format!(
                "docs/cli.md mentions {option}, which no command takes"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
