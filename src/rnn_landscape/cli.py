"""Command line: every workflow rule is one call of `rnn-landscape`, and four
commands are for people and their scripts: `list` the stores under a results
folder, `show` one, `check` one against the data contract, `render` one figure
from stores into files of your choosing.

Parsing and printing only; the work is done by the engine, the store, the API
and the figures.

Exit codes, the same for every command, for scripts to rely on:
  0  success: for `check` no problem found, for `list` every store at its final
     path complete, for `show` the store complete;
  1  the work failed, or problems were found: `check` found some, `list` met an
     incomplete store at a final path, `show` was given a store that is not
     complete (a `.zarr.partial` included); the report is printed all the same;
  2  usage: bad arguments, or a path that holds no store (no results folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .api import StoreSummary

EXIT_CODES = """\
exit codes:
  0  success (check: no problem; list: every final store complete; show: complete)
  1  failure, or problems found (reported all the same)
  2  usage: bad arguments, or a path that holds no store
"""

# Dimensions in the order every store lays them out.
DIMENSIONS = ("steps", "target", "b", "w")

RENDER_EXAMPLES = """\
examples:
  rnn-landscape render steps_sweep --store results/surfaces/paper/steps_sweep.zarr \\
      --options '{"columns": 3}' --out sweep.png --out sweep.pdf
  rnn-landscape render wide_panels --options '{"colors": ["blue", "red"]}' \\
      --store results/surfaces/paper/figure6_zoom.zarr \\
      --store results/surfaces/paper/wide_2_6.zarr --out panels.svg
  rnn-landscape render trajectories --store results/surfaces/paper/figure6_zoom.zarr \\
      --store results/trajectories/paper.zarr --out descent.png

"""

# The figure kinds of `figures.RENDERERS`, named here so that `--help` does not
# import matplotlib (tests/test_cli.py checks the two agree).
FIGURES = (
    *("figure6_zoom", "wide_panels", "steps_sweep", "bifurcation", "walls"),
    *("gradient_norm", "curvature", "alignment", "trajectories"),
)


def _init(args: argparse.Namespace) -> None:
    from .config import Job
    from .store import create_template

    create_template(Job.from_json(args.job), args.partial)


def _tile(args: argparse.Namespace) -> None:
    from .config import Job
    from .engine import compute_tile, scheduler_address

    compute_tile(
        Job.from_json(args.job),
        args.partial,
        args.tile,
        threads=args.threads,
        scheduler=scheduler_address(args.scheduler) or "threads",
    )
    args.done.parent.mkdir(parents=True, exist_ok=True)
    args.done.touch()


def _build(args: argparse.Namespace) -> None:
    from .config import Job
    from .engine import compute_surface, scheduler_address

    compute_surface(
        Job.from_json(args.job),
        args.out,
        threads=args.threads,
        scheduler=scheduler_address(args.scheduler) or "threads",
    )


def _finalize(args: argparse.Namespace) -> None:
    from .config import Job
    from .store import finalize

    finalize(Job.from_json(args.job), args.partial, args.out)


def _descend(args: argparse.Namespace) -> None:
    from .config import descent_from_json
    from .trajectories import descend_preset

    preset, descent = descent_from_json(args.settings)
    descend_preset(preset, descent, args.out)


def _walls(args: argparse.Namespace) -> None:
    from .store import open_surface
    from .walls import surface_walls

    found = surface_walls(open_surface(args.store))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    found.to_dataframe().to_csv(args.out, index=False)


def _render(args: argparse.Namespace) -> None:
    # Imported here so that compute jobs never pay for matplotlib.
    import matplotlib

    matplotlib.use("Agg")
    from .figures import RENDERERS
    from .figures.common import save
    from .store import open_surface

    log = logging.getLogger(__name__)
    log.info("rendering %s from %s", args.figure, ", ".join(map(str, args.store)))
    openers = [open_surface] * len(args.store)
    if args.figure == "trajectories":
        # The descent runs: written whole before one rename, with no chunks to
        # fill and no completion mark. Imported here: it pulls in numba.
        from .trajectories import open_trajectories

        openers[-1] = open_trajectories
    datasets = [
        open_store(path) for open_store, path in zip(openers, args.store, strict=True)
    ]
    options = json.loads(args.options)
    if args.figure == "wide_panels":
        figure = RENDERERS[args.figure](datasets, **options)  # any number of panels
    else:
        figure = RENDERERS[args.figure](*datasets, **options)
    save(figure, args.out)
    log.info("wrote %s", ", ".join(map(str, args.out)))


def _check(args: argparse.Namespace) -> int:
    from .integrity import NotAStore, check_store

    try:
        report = check_store(args.store, args.samples, args.seed, args.rtol)
    except NotAStore as error:
        print(f"rnn-landscape check: error: {error}", file=sys.stderr)
        return 2
    _emit(json.dumps(report.as_dict(), indent=2) if args.json else report.text())
    return 0 if report.ok else 1


def _list(args: argparse.Namespace) -> int:
    from .api import list_surfaces

    try:
        summaries = list_surfaces(args.results)
    except FileNotFoundError as error:
        print(f"rnn-landscape list: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        stores = [summary.as_dict() for summary in summaries]
        _emit(json.dumps({"results": str(args.results), "stores": stores}, indent=2))
    else:
        _emit(listing_text(args.results, summaries))
    return 1 if any(summary.status == "incomplete" for summary in summaries) else 0


def _show(args: argparse.Namespace) -> int:
    from .api import describe_store
    from .integrity import NotAStore

    try:
        info = describe_store(args.store)
    except NotAStore as error:
        print(f"rnn-landscape show: error: {error}", file=sys.stderr)
        return 2
    _emit(json.dumps(info, indent=2) if args.json else store_text(info))
    return 0 if info["status"] == "complete" else 1


def _emit(text: str) -> None:
    """Print a command's output; a reader that stops early (`| head`) is no failure."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would meet the closed pipe again when flushing at exit (its
        # docs' advice).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def listing_text(results: Path, summaries: list[StoreSummary]) -> str:
    """`rnn-landscape list` for people: one row per store, then what is wrong."""
    folder = Path(results) / "surfaces"
    if not summaries:
        return f"{folder}: no stores yet; `snakemake --cores 2` computes them"
    header = ("preset", "surface", "b x w", "steps", "targets", "on disk", "status")
    rows = [
        (
            s.preset,
            s.surface,
            f"{s.sizes['b']} x {s.sizes['w']}" if s.sizes else "?",
            _values(s.steps),
            _values(s.targets),
            human_bytes(s.bytes_on_disk),
            _status_text(s.status, s.chunks, s.chunks_written, short=True),
        )
        for s in summaries
    ]
    count = len(summaries)
    lines = [f"{folder}: {count} store{'s' if count > 1 else ''}", *_table(header, rows)]
    broken = [s for s in summaries if s.status == "incomplete"]
    for s in broken:
        lines += [f"  {s.preset}/{s.surface}: {problem}" for problem in s.problems]
    if any(s.status == "partial" for s in summaries):
        lines.append(
            "Partial stores (.zarr.partial) are being built, or were left by an"
            " interrupted run: snakemake finishes them."
        )
    if broken:
        lines.append(
            "Incomplete stores: `rnn-landscape check STORE` lists every problem;"
            " delete the store and run snakemake again, which recomputes it."
        )
    return "\n".join(lines)


def store_text(info: dict) -> str:
    """`rnn-landscape show` for people: dimensions, variables, attributes."""
    status = _status_text(info["status"], info["chunks"], info["chunks_written"])
    lines = [f"{info['path']}: {status}, {human_bytes(info['bytes_on_disk'])} on disk"]
    lines += [f"  not complete: {problem}" for problem in info["problems"]]

    lines += ["", "dimensions"]
    rows = [
        (dim, _count(spec["size"]), _extent(spec))
        for dim, spec in info["dimensions"].items()
    ]
    lines += _table(None, rows)

    variables = info["variables"]
    lines += ["", f"variables{_layout(variables)}"]
    dtypes = {spec["dtype"] for spec in variables.values()}
    rows = [
        (
            name,
            f"({', '.join(spec['dims'])})",
            spec["long_name"] + ("" if len(dtypes) == 1 else f" [{spec['dtype']}]"),
        )
        for name, spec in variables.items()
    ]
    lines += _table(None, rows)

    lines += ["", "attributes"]
    lines += _table(None, [_attribute(*item) for item in info["attributes"].items()])
    return "\n".join(lines)


def _attribute(name: str, value) -> tuple[str, str]:
    if name == "config":
        return name, "the whole job as JSON (show --json prints it)"
    return name, value if isinstance(value, str) else json.dumps(value)


def _status_text(status: str, chunks: int, written: int, short: bool = False) -> str:
    if status != "partial":
        return status
    if short:
        return f"partial: {written}/{chunks} chunks"
    return (
        f"partial, {written} of {chunks} chunk files written (being built, or left"
        " by an interrupted run)"
    )


def _layout(variables: dict) -> str:
    """' (float64; chunks of 1 steps x 1 target x 512 b x 512 w)' when all
    variables share their dtype and chunk length along each dimension."""
    dtypes = {spec["dtype"] for spec in variables.values()}
    lengths = {}
    for spec in variables.values():
        for dim, length in zip(spec["dims"], spec["chunks"], strict=False):
            lengths.setdefault(dim, set()).add(length)
    parts = [dtypes.pop()] if len(dtypes) == 1 else []
    if lengths and all(len(found) == 1 for found in lengths.values()):
        order = sorted(lengths, key=lambda dim: (DIMENSIONS + (dim,)).index(dim))
        chunk = " x ".join(f"{lengths[dim].pop()} {dim}" for dim in order)
        parts.append(f"chunks of {chunk}")
    return f" ({'; '.join(parts)})" if parts else ""


def _count(size: int) -> str:
    return f"{size} value{'s' if size != 1 else ''}"


def _extent(spec: dict) -> str:
    if "values" in spec:
        return ", ".join(f"{value:g}" for value in spec["values"])
    if spec["size"] == 1:
        return f"{spec['first']:g}"
    extent = f"{spec['first']:g} .. {spec['last']:g}"
    return extent + (f", spacing {spec['spacing']:g}" if "spacing" in spec else "")


def _values(values: list) -> str:
    """Step counts or targets in a table cell: all of a few, the ends of many."""
    if len(values) <= 3:
        return ", ".join(f"{value:g}" for value in values) or "?"
    return f"{values[0]:g}..{values[-1]:g} ({len(values)})"


def _table(header: tuple | None, rows: list[tuple]) -> list[str]:
    """Rows as lines of left-aligned columns two spaces apart, indented by two."""
    rows = [tuple(map(str, row)) for row in ([header] if header else []) + rows]
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]

    def line(row: tuple[str, ...]) -> str:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        return ("  " + "  ".join(cells)).rstrip()

    return [line(row) for row in rows]


def human_bytes(count: int) -> str:
    """1.2 MiB, counted as `du -h` does (powers of 1024)."""
    size, unit = float(count), "B"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, larger
    # Three digits: 4.54 MiB, 860 KiB, and 1010 KiB rather than 1.01e+03.
    return f"{size:.3g} {unit}" if size < 100 else f"{size:.0f} {unit}"


def _at_least_zero(kind):
    def parse(text: str):
        value = kind(text)
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"{text} is below zero")
        return value

    parse.__name__ = kind.__name__  # named in argparse's "invalid int value"
    return parse


def _wrapped(text: str) -> str:
    # Help with examples keeps its line breaks (RawDescriptionHelpFormatter), so
    # descriptions are wrapped here, to argparse's default width.
    return textwrap.fill(text, width=78)


def add_scheduler_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask distributed scheduler to compute on, such as tcp://host:8786"
        " (default: $RNN_LANDSCAPE_DASK_SCHEDULER, else local threads)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-landscape",
        description=_wrapped(
            "Loss surfaces of the one-neuron RNN of Pascanu et al. (2013)."
            " Commands for people: list, show, check, render; the others are the"
            " workflow's jobs. `rnn-landscape COMMAND --help` for each."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    # The three steps of a store's life, one Snakemake job each.
    init = commands.add_parser(
        "init", help="write a store's template (metadata and coordinates only)"
    )
    init.add_argument(
        "--job", required=True, help="the job as JSON, as the workflow writes it"
    )
    init.add_argument("--partial", required=True, type=Path, help="the .zarr.partial path")
    init.set_defaults(run=_init)

    tile = commands.add_parser("tile", help="compute one tile into a store's template")
    tile.add_argument(
        "--job", required=True, help="the job as JSON, as the workflow writes it"
    )
    tile.add_argument("--partial", required=True, type=Path, help="the template")
    tile.add_argument("--tile", required=True, type=int, help="tile number, from 0")
    tile.add_argument(
        "--threads", type=int, default=1, help="local Dask threads (default: 1)"
    )
    add_scheduler_option(tile)
    tile.add_argument(
        "--done", required=True, type=Path, help="file to create once the tile is written"
    )
    tile.set_defaults(run=_tile)

    final = commands.add_parser(
        "finalize", help="mark a fully written template complete and move it in place"
    )
    final.add_argument("--job", required=True, help="the job as JSON, as for init")
    final.add_argument("--partial", required=True, type=Path, help="the template")
    final.add_argument("--out", required=True, type=Path, help="the final .zarr path")
    final.set_defaults(run=_finalize)

    # The same three steps in one process, for a store that is a single tile.
    build = commands.add_parser(
        "build", help="compute a whole store: template, every tile, finalize"
    )
    build.add_argument("--job", required=True, help="the job as JSON, as for init")
    build.add_argument("--out", required=True, type=Path, help="the final .zarr path")
    build.add_argument(
        "--threads", type=int, default=1, help="local Dask threads (default: 1)"
    )
    add_scheduler_option(build)
    build.set_defaults(run=_build)

    descend = commands.add_parser(
        "descend", help="gradient descent runs, plain and clipped, into a store"
    )
    descend.add_argument(
        "--settings",
        required=True,
        help="preset and descent settings as JSON, as the workflow writes them",
    )
    descend.add_argument("--out", required=True, type=Path, help="the .zarr path")
    descend.set_defaults(run=_descend)

    walls = commands.add_parser(
        "walls",
        help="export the walls found on a store, with their distance to theory, as CSV",
    )
    walls.add_argument("store", type=Path, help="a .zarr store")
    walls.add_argument("--out", required=True, type=Path, help="the .csv path")
    walls.set_defaults(run=_walls)

    render = commands.add_parser(
        "render",
        help="draw one figure from stored surfaces into the files you name",
        description=_wrapped(
            "Draw one figure kind from one or more complete stores, on"
            " demand, into every --out file (the format follows the extension: png,"
            " pdf, svg...; missing folders are created). Incomplete stores are refused."
        ),
        epilog=RENDER_EXAMPLES + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    render.add_argument("figure", choices=FIGURES)
    render.add_argument(
        "--store",
        required=True,
        type=Path,
        action="append",
        help="a .zarr store; repeat for wide_panels (innermost first) and for"
        " trajectories (the surface, then the trajectories)",
    )
    render.add_argument(
        "--options",
        default="{}",
        help="figure options as JSON: that figure's keys in config/README.md other"
        " than surface(s); left out, their defaults (wide_panels needs colors)",
    )
    render.add_argument(
        "--out",
        required=True,
        type=Path,
        action="append",
        help="output file, any path; repeat for several formats",
    )
    render.set_defaults(run=_render)

    check = commands.add_parser(
        "check",
        help="check a stored surface against the data contract, values included",
        description=_wrapped(
            "Check a surface store: metadata, attributes, dimensions,"
            " coordinates and variables against the job it records, its completion mark"
            " and chunk files, and sampled points computed again. Lists every problem"
            " and exits with 1 if there is any, 0 if none."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("store", type=Path, help="a .zarr surface store")
    check.add_argument(
        "--samples",
        type=_at_least_zero(int),
        default=64,
        help="grid points to compute again at every step count and target"
        " (default: 64; 0: none; more than the grid has: all)",
    )
    check.add_argument(
        "--seed", type=int, default=0, help="picks the sampled points (default: 0)"
    )
    check.add_argument(
        "--rtol",
        type=_at_least_zero(float),
        default=0.0,
        help="relative difference allowed between stored and computed values"
        " (default: 0, as on the kind of CPU that computed the store)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(run=_check)

    listing = commands.add_parser(
        "list",
        help="list the surface stores under a results folder",
        description=_wrapped(
            "List every surface store under RESULTS/surfaces/<preset>/:"
            " preset, surface, grid size, step counts, targets, space on disk and"
            " status: complete, incomplete (with the reason), or partial (a"
            " .zarr.partial being built, or left by an interrupted run). Reads metadata"
            " and coordinates only."
        ),
        epilog="example:\n  rnn-landscape list --json | jq -r '.stores[].path'\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument(
        "results",
        nargs="?",
        default=Path("results"),
        type=Path,
        help="the results folder snakemake writes (default: results)",
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(run=_list)

    show = commands.add_parser(
        "show",
        help="summarise one store: dimensions, variables, attributes, status",
        description=_wrapped(
            "Summarise one store: its status (complete, incomplete with the"
            " reasons, or partial), space on disk, dimensions with their ranges and"
            " spacing, variables with their dimensions and chunking, and every"
            " attribute (model, loss, preset, surface, version, the job). Reads"
            " metadata and coordinates only; `check` verifies the values."
        ),
        epilog="example:\n  rnn-landscape show results/surfaces/paper/figure6_zoom.zarr\n\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("store", type=Path, help="a .zarr (or .zarr.partial) store")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(run=_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stores = getattr(args, "store", [])
    for path in stores if isinstance(stores, list) else [stores]:
        if not path.is_dir():
            parser.error(f"no store at {path}")
    # Snakemake marks each directory output with a `.snakemake_timestamp` file,
    # which zarr then warns is not part of the store.
    warnings.filterwarnings("ignore", message=r"Object at \.snakemake_timestamp")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.run(args) or 0
    except Exception as error:
        log = logging.getLogger("rnn_landscape")
        from .store import StoreError

        if isinstance(error, StoreError):  # a refusal that says what to do
            log.error("%s refused: %s", args.command, error)
        else:
            log.exception("%s failed", args.command)
        return 1


if __name__ == "__main__":
    sys.exit(main())
