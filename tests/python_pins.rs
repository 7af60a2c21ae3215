//! Every Python package a script installs is pinned exactly, in a lock file.
//!
//! * Each `requirements/<name>.in` lists direct requirements as `name==version`, and its
//!   lock `requirements/<name>.txt` (made by `scripts/lock.sh`) holds every package of the
//!   environment as `name==version` with at least one `--hash=sha256:`, including each
//!   direct requirement at the same version (a `.in` edited without relocking fails).
//! * Every `pip install` in a shell script, a Dockerfile or `.ci/` reads a lock with
//!   `--require-hashes` (pip then refuses anything unpinned or unhashed) and names no
//!   package on the command line; every `pip download` names `package==version` and
//!   `--no-deps`; no Python script runs pip itself.
//!
//! An unpinned install let a fresh machine get whatever PyPI had that day, and that broke
//! `.ci/run` once; this test is the guard.

use std::path::{Path, PathBuf};

use sightline_tests::repo_root;

/// One complaint: where, and what is wrong.
#[derive(Debug, Clone, PartialEq)]
struct Finding {
    place: String,
    problem: String,
}

/// Shell commands of `text` with backslash continuations joined and comments dropped.
fn shell_commands(text: &str) -> Vec<(usize, String)> {
    let mut commands = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        if current.is_empty() {
            start = i + 1;
            if line.trim_start().starts_with('#') {
                continue;
            }
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                commands.push((start, std::mem::take(&mut current)));
            }
        }
    }
    if !current.is_empty() {
        commands.push((start, current));
    }
    commands
}

/// The words of a command after `pip <verb>`, quotes removed, up to the end of that
/// command (`;`, `&&`, `||`, `|`).
fn pip_arguments<'a>(words: &[&'a str], verb: &str) -> Option<Vec<&'a str>> {
    let at = words.windows(2).position(|w| {
        (w[0] == "pip" || w[0] == "pip3" || w[0].ends_with("/pip") || w[0].ends_with("/pip3"))
            && w[1] == verb
    })?;
    Some(
        words[at + 2..]
            .iter()
            .take_while(|w| !matches!(**w, ";" | "&&" | "||" | "|"))
            .copied()
            .collect(),
    )
}

/// Whether `spec` pins one exact version (`name==1.2.3`, `name[extra]==${VERSION}`).
fn is_exact_pin(spec: &str) -> bool {
    match spec.split_once("==") {
        Some((name, version)) => {
            !name.is_empty()
                && !version.is_empty()
                && !version.contains('*')
                && !version.contains(['<', '>', '=', ',', '~', '!'])
        }
        None => false,
    }
}

/// Problems with the pip commands of one shell-like file.
fn check_shell(place: &str, text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for (line, command) in shell_commands(text) {
        let cleaned = command.replace(['"', '\''], " ");
        let words: Vec<&str> = cleaned.split_whitespace().collect();
        let mut complain = |problem: String| {
            found.push(Finding {
                place: format!("{place}:{line}"),
                problem,
            })
        };
        if let Some(args) = pip_arguments(&words, "install") {
            if !args.contains(&"--require-hashes") {
                complain("pip install without --require-hashes".into());
            }
            if !args
                .iter()
                .any(|a| *a == "-r" || a.starts_with("--requirement"))
            {
                complain("pip install without a lock file (-r requirements/<name>.txt)".into());
            }
            let mut follows_r = false;
            for a in &args {
                if !a.starts_with('-') && !follows_r {
                    complain(format!("pip install names a package: {a}"));
                }
                follows_r = matches!(*a, "-r" | "--requirement" | "-c" | "--constraint");
            }
        }
        if let Some(args) = pip_arguments(&words, "download") {
            if !args.contains(&"--no-deps") {
                complain("pip download without --no-deps (its dependencies are unpinned)".into());
            }
            let mut takes_value = false;
            for a in &args {
                if !a.starts_with('-') && !takes_value && !is_exact_pin(a) {
                    complain(format!("pip download of {a} without an exact version"));
                }
                takes_value = matches!(*a, "-d" | "--dest" | "-r" | "--requirement");
            }
        }
    }
    found
}

/// Problems with a Python script: it must not run pip (installs belong to the locks).
fn check_python(place: &str, text: &str) -> Vec<Finding> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains("\"pip\"") || l.contains("'pip'"))
        .map(|(i, _)| Finding {
            place: format!("{place}:{}", i + 1),
            problem: "a Python script runs pip; install from a lock in a shell script".into(),
        })
        .collect()
}

/// A lock file's requirement lines: `(name, version)`, or findings for loose ones.
fn lock_pins(place: &str, text: &str) -> Result<Vec<(String, String)>, Vec<Finding>> {
    let mut pins = Vec::new();
    let mut problems = Vec::new();
    // The line of the last requirement while it has no hash yet.
    let mut unhashed: Option<usize> = None;
    let no_hash = |line: usize, problems: &mut Vec<Finding>| {
        problems.push(Finding {
            place: format!("{place}:{line}"),
            problem: "a requirement without --hash".into(),
        })
    };
    for (i, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or("").trim();
        let requirement = code.trim_end_matches('\\').trim();
        if requirement.is_empty() {
            continue;
        }
        if requirement.starts_with("--hash=sha256:") {
            unhashed = None;
            continue;
        }
        if let Some(line) = unhashed.take() {
            no_hash(line, &mut problems);
        }
        let spec = requirement.split(';').next().unwrap_or("").trim();
        match spec.split_once("==") {
            Some((name, version)) if is_exact_pin(spec) => {
                pins.push((normalise(name), version.trim().to_string()));
                unhashed = Some(i + 1);
            }
            _ => problems.push(Finding {
                place: format!("{place}:{}", i + 1),
                problem: format!("not an exact pin: {requirement}"),
            }),
        }
    }
    if let Some(line) = unhashed {
        no_hash(line, &mut problems);
    }
    if problems.is_empty() {
        Ok(pins)
    } else {
        Err(problems)
    }
}

/// A package name as PyPI compares them: lower case, `_`/`.` as `-`, extras dropped.
fn normalise(name: &str) -> String {
    let name = name.split('[').next().unwrap_or(name).trim();
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// Problems with one `requirements/<name>.in` and its lock.
fn check_lock_pair(input: &Path) -> Vec<Finding> {
    let lock = input.with_extension("txt");
    let place = |p: &Path| {
        p.strip_prefix(repo_root())
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let Ok(lock_text) = std::fs::read_to_string(&lock) else {
        return vec![Finding {
            place: place(input),
            problem: format!("no lock file {} (run scripts/lock.sh)", place(&lock)),
        }];
    };
    let locked = match lock_pins(&place(&lock), &lock_text) {
        Ok(pins) => pins,
        Err(problems) => return problems,
    };
    let input_text = std::fs::read_to_string(input).unwrap();
    let mut found = Vec::new();
    for (i, line) in input_text.lines().enumerate() {
        let spec = line.split('#').next().unwrap_or("").trim();
        if spec.is_empty() {
            continue;
        }
        let Some((name, version)) = spec.split_once("==").filter(|_| is_exact_pin(spec)) else {
            found.push(Finding {
                place: format!("{}:{}", place(input), i + 1),
                problem: format!("a direct requirement without an exact pin: {spec}"),
            });
            continue;
        };
        let want = (normalise(name), version.trim().to_string());
        if !locked.contains(&want) {
            found.push(Finding {
                place: format!("{}:{}", place(input), i + 1),
                problem: format!(
                    "{spec} is not in {} at that version: run scripts/lock.sh",
                    place(&lock)
                ),
            });
        }
    }
    found
}

/// Files under `dir` (recursively), skipping build outputs, caches and git.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), ".git" | ".cache" | "target" | "out") {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// Every finding in the repository.
fn scan_repository() -> Vec<Finding> {
    let root = repo_root();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut found = Vec::new();
    for path in &all {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let place = path.strip_prefix(&root).unwrap().display().to_string();
        let shell_like = name.ends_with(".sh")
            || name.starts_with("Dockerfile") && !name.ends_with(".dockerignore")
            || place.starts_with(".ci/");
        if shell_like {
            found.extend(check_shell(&place, &std::fs::read_to_string(path).unwrap()));
        } else if name.ends_with(".py") {
            found.extend(check_python(
                &place,
                &std::fs::read_to_string(path).unwrap(),
            ));
        } else if name.ends_with(".in") && place.starts_with("requirements/") {
            found.extend(check_lock_pair(path));
        } else if name.ends_with(".txt")
            && place.starts_with("requirements/")
            && !path.with_extension("in").is_file()
        {
            found.push(Finding {
                place,
                problem: "a lock without its requirements/<name>.in".into(),
            });
        }
    }
    found
}

#[test]
fn every_python_install_in_the_repository_is_pinned_in_a_lock() {
    let found = scan_repository();
    assert!(found.is_empty(), "unpinned Python installs: {found:#?}");
    let locks = std::fs::read_dir(repo_root().join("requirements"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "txt")
        })
        .count();
    assert!(locks >= 4, "the locks were not found ({locks})");
}

#[test]
fn the_setup_installs_the_test_venv_from_its_lock() {
    let setup = std::fs::read_to_string(repo_root().join("scripts/setup.sh")).unwrap();
    for lock in ["requirements/test.txt", "requirements/checkov.txt"] {
        assert!(setup.contains(lock), "scripts/setup.sh does not use {lock}");
    }
    // The venv's marker follows the lock's content.
    assert!(setup.contains("sha256sum \"$lock\""), "{setup}");
}

#[test]
fn the_guard_catches_what_broke_a_fresh_machine() {
    let old = r#"
      "$venv/bin/pip" install --quiet 'moto[server]==5.*' 'pyarrow>=17' 'duckdb>=1.1' 'numpy' 'pillow' \
        "onnxruntime==$ORT_VERSION" 'aws-sam-translator==1.115.0' 'cfn-lint==1.58.0'
"#;
    let problems: Vec<String> = check_shell("old.sh", old)
        .into_iter()
        .map(|f| f.problem)
        .collect();
    assert!(problems.contains(&"pip install without --require-hashes".to_string()));
    assert!(problems.contains(&"pip install names a package: moto[server]==5.*".to_string()));
    assert!(problems.contains(&"pip install names a package: numpy".to_string()));
    assert_eq!(
        check_shell("b.sh", "\"$PY\" -m pip install --quiet scikit-learn\n").len(),
        3
    );
    // Exact pins without a lock still leave the dependencies free.
    assert!(!check_shell("c.sh", "pip install 'checkov==3.3.30'\n").is_empty());
    // What the scripts do now passes; comments are not commands.
    let new = "# pip install anything\n\"$dir/bin/python\" -m pip install --quiet --require-hashes --no-deps \\\n  -r \"$lock\" || return 1\n";
    assert_eq!(check_shell("new.sh", new), vec![]);
    assert_eq!(
        check_shell(
            "d",
            "RUN python3 -m pip download --no-deps --dest /whl \"onnxruntime==${ORT_VERSION}\"\n"
        ),
        vec![]
    );
    assert_eq!(
        check_shell("e", "pip download --no-deps 'onnxruntime>=1.31'\n").len(),
        1
    );
    assert_eq!(
        check_shell("f", "pip download onnxruntime==1.31.1\n").len(),
        1
    );
    assert_eq!(
        check_python("g.py", "run([py, \"-m\", \"pip\", \"install\", \"x\"])").len(),
        1
    );
}

#[test]
fn a_lock_line_without_a_version_or_a_hash_is_refused() {
    let good = "a==1.0 \\\n    --hash=sha256:00\n    # via b\nb==2.0 ; sys_platform == 'win32' \\\n    --hash=sha256:11\n";
    assert_eq!(
        lock_pins("ok.txt", good).unwrap(),
        vec![("a".into(), "1.0".into()), ("b".into(), "2.0".into())]
    );
    assert!(lock_pins("loose.txt", "a>=1.0 \\\n    --hash=sha256:00\n").is_err());
    assert!(lock_pins("unhashed.txt", "a==1.0\nb==2.0 \\\n  --hash=sha256:11\n").is_err());
    assert!(lock_pins("last.txt", "a==1.0 \\\n  --hash=sha256:00\nb==2.0\n").is_err());
}
