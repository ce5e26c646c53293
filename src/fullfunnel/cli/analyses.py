"""The analysis commands, generated from the registry (:mod:`fullfunnel.analytics.registry`).

Each registered command gets one CLI option per option of its analyses, with the
registry's type, default, choices and help, and one flag per analysis it runs on
a switch (``forecast --backtest``). A command that needs more than running its
analysis (a file instead of the warehouse, a progress bar) passes ``body`` and
its own ``extra`` options; the options of the analysis still come from here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import typer

from fullfunnel.analytics.registry import KINDS, Analysis, Option, command_analyses
from fullfunnel.cli._app import FORMAT_OPTION, Format, State, app, spinner, state
from fullfunnel.cli._render import render
from fullfunnel.errors import InputError, did_you_mean

if TYPE_CHECKING:
    from fullfunnel.result import Result

# (state, the analysis chosen, its options, the extra options) → the result to render
Body = Callable[[State, Analysis, dict[str, Any], dict[str, Any]], "Result"]

# commands whose module adds them with a body of its own
CUSTOM = ("score", "attribute")


def run_analysis(st: State, analysis: Analysis, options: dict[str, Any], _: dict) -> Result:
    """The plain body: run the analysis on the warehouse with the given options, a
    spinner on stderr meanwhile (gone when it is done; none for JSON or CSV)."""
    wh, config = st.warehouse(), st.config()
    with spinner(analysis.summary.split(":")[0].split(";")[0], quiet=st.format is not Format.table):
        return analysis.run(wh, config, **options)


def add_command(
    command: str,
    *,
    body: Body = run_analysis,
    extra: Sequence[Option] = (),
    target: typer.Typer | None = None,
) -> None:
    """Add CLI ``command`` (e.g. ``stuck``, ``target list``) for its registered analyses."""
    analyses = command_analyses(command)
    if not analyses or analyses[0].switch is not None:
        raise LookupError(f"no analysis has '{command}' as its main command")
    main, switched = analyses[0], analyses[1:]
    options = _merged(analyses)
    extras = {o.name for o in extra}

    def callback(ctx: typer.Context, fmt: Format | None = None, **values: Any) -> None:
        st = state(ctx, fmt)
        chosen = next((a for a in switched if _switched(a, values)), main)
        for a in switched:
            if not a.valued_switch:
                values.pop(a.switch, None)
        _check_choices(options, values)
        taken = {o.name for o in chosen.options}
        stray = [
            options[k].cli_flag
            for k, v in values.items()
            if k in options and k not in taken and v not in (None, options[k].default)
        ]
        if stray:
            which = f"{command} --{chosen.switch}" if chosen.switch else command
            verb = "does" if len(stray) == 1 else "do"
            raise InputError(f"{', '.join(stray)} {verb} not apply to '{which}'; leave it out")
        given = {k: v for k, v in values.items() if k in taken}
        render(body(st, chosen, given, {k: v for k, v in values.items() if k in extras}), st.format)

    params = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter(
            "fmt", inspect.Parameter.KEYWORD_ONLY, default=FORMAT_OPTION, annotation=Format | None
        ),
        *(_parameter(o) for o in [*options.values(), *extra]),
        *(
            inspect.Parameter(
                a.switch,
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option(False, f"--{a.switch}", help=a.switch_help),
                annotation=bool,
            )
            for a in switched
            if not a.valued_switch
        ),
    ]
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__annotations__ = {}
    name = command.split()[-1]
    callback.__name__ = name.replace("-", "_")
    callback.__doc__ = main.summary
    (target or app).command(name, help=main.summary)(callback)


def _switched(analysis: Analysis, values: dict[str, Any]) -> bool:
    """Whether ``values`` choose ``analysis``: its flag is on, or its option given."""
    if analysis.valued_switch:
        return values.get(analysis.switch) is not None
    return bool(values.get(analysis.switch))


def _merged(analyses: list[Analysis]) -> dict[str, Option]:
    """The options of every analysis of one command, by name (one spelling each)."""
    out: dict[str, Option] = {}
    for a in analyses:
        for o in a.options:
            seen = out.setdefault(o.name, o)
            if (seen.kind, seen.default, seen.choices) != (o.kind, o.default, o.choices):
                raise ValueError(f"option {o.name} of '{a.command}' differs between analyses")
    return out


def _parameter(option: Option) -> inspect.Parameter:
    """The typer parameter of ``option``: its type, default, help and metavar (its
    choices are checked by :func:`_check_choices`, which suggests the nearest)."""
    flags = [option.cli_flag, *([option.short] if option.short else [])]
    extra: dict[str, Any] = {}
    if option.minimum is not None:
        extra["min"] = option.minimum
    if option.kind == "date":
        extra["metavar"] = "DATE"
    if option.choices:
        extra["metavar"] = "[" + "|".join(option.choices) + "]"
    kind = KINDS[option.kind]
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(option.default, *flags, help=option.help, **extra),
        annotation=kind if option.default is not None else kind | None,
    )


def _check_choices(options: dict[str, Option], values: dict[str, Any]) -> None:
    for name, value in values.items():
        option = options.get(name)
        if option and option.choices and value is not None and value not in option.choices:
            raise InputError(
                f"{option.cli_flag} {value!r} is not one of {', '.join(option.choices)}."
                + did_you_mean(value, option.choices)
            )


def add_all() -> None:
    """Every registered command that no module adds with a body of its own."""
    from fullfunnel.analytics.registry import ANALYSES
    from fullfunnel.cli.targets import target_app

    for a in ANALYSES.values():
        if a.switch is None and a.command not in CUSTOM:
            group, _, _ = a.command.rpartition(" ")
            add_command(a.command, target=target_app if group == "target" else None)
