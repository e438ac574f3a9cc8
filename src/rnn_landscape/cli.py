"""Command line: every workflow rule is one call of `rnn-landscape`.

Parsing only; the work is done by the engine, the store and the figures.
Exit codes: 0 success, 1 the work failed (or `check` found problems), 2 bad
arguments (for `check`, a path that holds no store).
"""

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path

from . import __version__

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
    try:
        print(json.dumps(report.as_dict(), indent=2) if args.json else report.text())
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): not a failure of the check. Python
        # would meet the closed pipe again when flushing at exit (its docs' advice).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0 if report.ok else 1


def _at_least_zero(kind):
    def parse(text: str):
        value = kind(text)
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"{text} is below zero")
        return value

    parse.__name__ = kind.__name__  # named in argparse's "invalid int value"
    return parse


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
        description="Loss surfaces of the one-neuron RNN of Pascanu et al. (2013).",
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
        help="draw one figure from stored surfaces",
        description="Render a figure kind from one or more stores (PNG, PDF, SVG...).",
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
        help="figure options as JSON, the keys of that figure in config/README.md",
    )
    render.add_argument(
        "--out",
        required=True,
        type=Path,
        action="append",
        help="output file; repeat for several formats",
    )
    render.set_defaults(run=_render)

    check = commands.add_parser(
        "check",
        help="check a stored surface against the data contract, values included",
        description="Check a surface store: metadata, attributes, dimensions,"
        " coordinates and variables against the job it records, its completion mark"
        " and chunk files, and sampled points computed again. Lists every problem"
        " and exits with 1 if there is any, 0 if none.",
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
