//! Shell completions (clap_complete) and manual pages (clap_mangen), both generated from the
//! same clap definitions as the parser, so they cannot drift from the flags.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::Cli;
use crate::ui::Ui;

/// `closest completions SHELL`: the script on stdout.
pub(crate) fn completions(shell: clap_complete::Shell, ui: &Ui) -> Result<ExitCode> {
    let mut command = Cli::command();
    let mut out = ui.out();
    clap_complete::generate(shell, &mut command, "closest", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `closest man [--dir DIR]`: closest(1) on stdout, or every command's page written into DIR.
pub(crate) fn man(dir: Option<&Path>, ui: &Ui) -> Result<ExitCode> {
    let command = Cli::command();
    let Some(dir) = dir else {
        let mut out = ui.out();
        clap_mangen::Man::new(command).render(&mut out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    };
    fs_err::create_dir_all(dir)?;
    let mut written = 0;
    write_pages(command, "closest", dir, &mut written)?;
    ui.say(format_args!(
        "{written} manual pages written to `{}`",
        dir.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Writes `<name>.1` for `command` and, below it, `<name>-<sub>.1` for each subcommand.
fn write_pages(command: clap::Command, name: &str, dir: &Path, written: &mut usize) -> Result<()> {
    let command = command.name(name.to_owned());
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    fs_err::write(&path, page).with_context(|| format!("cannot write `{}`", path.display()))?;
    *written += 1;
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        write_pages(sub.clone(), &sub_name, dir, written)?;
    }
    Ok(())
}
