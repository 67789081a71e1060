"""``hostkit new`` and ``hostkit build``: the plugin author's workflow."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from ._output import (
    EXIT_FAILED,
    EXIT_TOOL,
    EXIT_USAGE,
    console,
    emit_json,
    err_console,
    json_option,
)


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[object]:
    """A progress callback: a spinner with the current step and the time it
    has taken on a terminal, one line per step on stderr otherwise, nothing
    with ``quiet``."""
    if quiet:
        yield lambda _line: None
        return
    err = err_console()
    if not err.is_terminal:
        yield lambda line: click.echo(f"  {line}", err=True)
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("building", total=None)

        def step(line: str) -> None:
            bar.update(task, description=line)
            bar.console.print("  " + line, style="dim", markup=False, highlight=False)

        yield step


def _fail(exc: Exception, as_json: bool, code: int = EXIT_FAILED) -> None:
    from hostkit.build import BuildError, ToolNotFound

    assert isinstance(exc, BuildError)
    code = EXIT_TOOL if isinstance(exc, ToolNotFound) else code
    if as_json:
        emit_json(
            {
                "ok": False,
                "error": exc.message,
                "file": exc.file,
                "line": exc.line,
                "column": exc.column,
                "detail": exc.detail,
            }
        )
    else:
        err = err_console()
        err.print("[bold red]error:[/bold red] ", end="", markup=True)
        err.print(str(exc), markup=False, highlight=False)
    sys.exit(code)


@click.command("new")
@click.argument("name")
@click.option(
    "--template",
    "-t",
    type=click.Choice(["mod", "adapter", "tool"]),
    default="tool",
    show_default=True,
    help="mod: game mod with its own WIT world; adapter: files in/out; tool: agent tool.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to create the project (default: ./NAME).",
)
@json_option
def new_command(name: str, template: str, directory: Path | None, as_json: bool) -> None:
    """Create the plugin project NAME from a template.

    The project builds and runs unchanged: `cd NAME && hostkit build`, then
    `hostkit call build/NAME.wasm MESSAGE` (see the comment at the top of
    its hostkit.toml for a message to send). NAME is lowercase letters,
    digits and dashes. Exit 0 created, 2 bad name or directory not empty.
    """
    from hostkit._build._scaffold import new_project
    from hostkit.build import BuildError

    target = directory if directory is not None else Path(name)
    try:
        new_project(target, name, template)
    except BuildError as exc:
        _fail(exc, as_json, EXIT_USAGE)
        return
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    if as_json:
        emit_json({"ok": True, "project": str(target), "template": template, "files": files})
        return
    out = console()
    out.print(f"created {template} plugin [bold]{name}[/bold] in {target}/")
    for f in files:
        out.print(f"  {f}")
    out.print(f"next: cd {target} && hostkit build")


@click.command("build")
@click.argument(
    "project",
    type=click.Path(exists=True, path_type=Path),
    default=Path("."),
)
@click.option("--force", is_flag=True, help="Rebuild even if no input changed.")
@click.option(
    "--no-precompile", is_flag=True, help="Skip compiling the component into the host cache."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The host's compile cache (default: the one HostConfig() uses).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@json_option
def build_command(
    project: Path,
    force: bool,
    no_precompile: bool,
    cache_dir: Path | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Build the plugin project PROJECT (default: the current directory).

    Reads hostkit.toml, builds src/ with componentize-py (cached by a digest
    of every input), embeds the manifest in the component and compiles it
    into the host's compile cache so its first load is fast. A guest error
    is shown first as FILE:LINE: MESSAGE. Exit 0 built, 1 build failed, 2
    bad usage, 3 toolchain missing.
    """
    from hostkit._build._project import build_project
    from hostkit.build import BuildError

    try:
        with _progress(quiet or as_json) as step:
            done = build_project(
                project,
                force=force,
                precompile_for_host=not no_precompile,
                cache_dir=cache_dir,
                progress=step,  # type: ignore[arg-type]
            )
    except BuildError as exc:
        _fail(exc, as_json)
        return
    b = done.build
    if as_json:
        emit_json(
            {
                "ok": True,
                "name": done.manifest.name,
                "path": str(b.path),
                "digest": b.digest,
                "cached": b.cached,
                "build_seconds": round(b.seconds, 3),
                "precompile_seconds": None
                if done.precompiled is None
                else round(done.precompiled, 3),
                "size": b.path.stat().st_size,
                "imports": list(done.imports),
            }
        )
        return
    state = "up to date" if b.cached else f"built in {b.seconds:.1f} s"
    console().print(
        f"[green]ok[/green] {done.manifest.name}: {b.path} "
        f"({b.path.stat().st_size // 1024} KiB, {state})"
    )
