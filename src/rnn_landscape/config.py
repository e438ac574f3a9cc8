"""The workflow configuration as plain objects.

The JSON schema (`workflow/schemas/config.schema.yaml`) checks types, bounds and
spelling, and fills in defaults; `parse_config` then checks what a schema cannot
(that a spacing fits its range, that a figure names an existing surface) and
builds the objects the engine and the figures use. Every error names its key.
"""

import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from .grid import Axis, AxisError, make_axis, tile_slices
from .variables import ORDER

# Names the Dask scheduler that compute jobs send their tasks to, when the
# config's `compute.dask_scheduler` does not (the workflow sets it from there).
SCHEDULER_VARIABLE = "RNN_LANDSCAPE_DASK_SCHEDULER"


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message starts with its key."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"config key '{key}': {problem}")
        self.key = key


class ConfigProblems(ValueError):
    """Every problem found in a configuration, one line each, naming its key."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Preset:
    """The model and its loss: x_t = w * activation(x_{t-1}) + b,
    E_T = (readout(x_T) - target)^2."""

    name: str
    x0: float
    activation: str
    readout: str
    targets: tuple[float, ...]


@dataclass(frozen=True)
class Surface:
    """A grid over (w, b) and the step counts computed on it."""

    name: str
    w: Axis
    b: Axis
    steps: tuple[int, ...]
    derivatives: str = "none"  # or "first", "second": which loss derivatives to store

    def __post_init__(self):
        steps = self.steps
        if not steps or steps[0] < 1 or any(a >= b for a, b in itertools.pairwise(steps)):
            raise ValueError(f"steps must be increasing positive integers, got {steps}")

    @property
    def points(self) -> int:
        return self.w.num * self.b.num

    @property
    def point_steps(self) -> int:
        """Work of one preset's pass over this surface: grid points times largest T."""
        return self.points * self.steps[-1]


@dataclass(frozen=True)
class Block:
    """A number of grid points along b and along w: a Zarr chunk (also the work of
    one Dask task) or a tile (the work of one Snakemake job)."""

    b: int
    w: int


@dataclass(frozen=True)
class Job:
    """Everything needed to compute one surface for one preset, and nothing else."""

    preset: Preset
    surface: Surface
    chunk: Block
    tile: Block

    @property
    def tiles(self) -> list[tuple[slice, slice]]:
        """Index ranges along (b, w) of each tile, numbered row by row."""
        return tile_slices(self.surface.b.num, self.surface.w.num, self.tile)

    def chunks_of(self, b_range: slice, w_range: slice) -> list[tuple[slice, slice]]:
        """Index ranges along (b, w) of the chunks inside a tile, row by row
        (a tile is a whole number of chunks, less at the grid's far edges)."""
        size = (b_range.stop - b_range.start, w_range.stop - w_range.start)
        return [
            (
                slice(b_range.start + b.start, b_range.start + b.stop),
                slice(w_range.start + w.start, w_range.start + w.stop),
            )
            for b, w in tile_slices(*size, self.chunk)
        ]

    def chunks_per_tile(self) -> int:
        """Chunks in the first (largest) tile: the most Dask tasks a job can run
        at once, so the most threads it can use."""
        return len(self.chunks_of(*self.tiles[0]))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def store_json(self) -> str:
        """The job without its tiling, which changes no stored value: what a store
        records, and what tells whether a template belongs to this job."""
        spec = asdict(self)
        del spec["tile"]
        return json.dumps(spec, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Job":
        spec = json.loads(text)
        preset = spec["preset"]
        surface = spec["surface"]
        return cls(
            preset=Preset(**{**preset, "targets": tuple(preset["targets"])}),
            surface=Surface(
                name=surface["name"],
                w=Axis(**surface["w"]),
                b=Axis(**surface["b"]),
                steps=tuple(surface["steps"]),
                derivatives=surface.get("derivatives", "none"),
            ),
            chunk=Block(**spec["chunk"]),
            # A store's own record has no tiling: read it back as a single tile.
            tile=Block(
                **spec.get("tile", {"b": surface["b"]["num"], "w": surface["w"]["num"]})
            ),
        )


@dataclass(frozen=True)
class Descent:
    """Gradient descent on E_T from a few starts, plain and with norm clipping."""

    starts: tuple[tuple[float, float], ...]  # (w, b) pairs
    steps: int
    learning_rate: float
    iterations: int
    threshold: float


def descent_from_json(text: str) -> tuple[Preset, Descent]:
    """The preset and descent settings a `descend` job gets, as the workflow's JSON."""
    spec = json.loads(text)
    preset, descent = spec["preset"], spec["descent"]
    return (
        Preset(**{**preset, "targets": tuple(preset["targets"])}),
        Descent(**{**descent, "starts": tuple(map(tuple, descent["starts"]))}),
    )


@dataclass(frozen=True)
class Config:
    presets: dict[str, Preset]
    surfaces: dict[str, Surface]
    chunk: Block
    tile: Block
    threads: int
    dask_scheduler: str | None
    figures: dict[str, dict]
    descent: Descent

    def job(self, preset: str, surface: str) -> Job:
        return Job(self.presets[preset], self.surfaces[surface], self.chunk, self.tile)

    def figure_surfaces(self, figure: str) -> list[str]:
        return figure_surface_names(self.figures[figure])


def figure_surface_names(options: dict) -> list[str]:
    """Names of the surfaces a figure is drawn from, in drawing order."""
    return list(options["surfaces"]) if "surfaces" in options else [options["surface"]]


def parse_preset(name: str, spec: dict) -> Preset:
    return Preset(
        name=name,
        x0=float(spec["x0"]),
        activation=spec["activation"],
        readout=spec["readout"],
        targets=tuple(float(t) for t in spec["targets"]),
    )


def parse_surface(name: str, spec: dict) -> Surface:
    axes = {}
    for key in ("w", "b"):
        try:
            axes[key] = make_axis(spec[key])
        except AxisError as error:
            raise ConfigError(f"surfaces.{name}.{key}", str(error)) from None
    # int(): JSON Schema counts 50.0 as an integer; the job must still say 50.
    return Surface(
        name=name,
        steps=tuple(sorted(int(t) for t in spec["steps"])),
        derivatives=spec.get("derivatives", "none"),
        **axes,
    )


# Figures drawn over the (w, b) plane, and those drawn from derivatives.
FLAT_FIGURES = (
    *("figure6_zoom", "wide_panels", "walls", "trajectories"),
    *("gradient_norm", "curvature", "alignment"),
)
DERIVATIVES_NEEDED = {
    "gradient_norm": "first",
    "curvature": "second",
    "alignment": "second",
}


def check_figures(figures: dict, surfaces: dict[str, Surface]) -> None:
    """Each figure must name surfaces that exist, and of the shape it draws."""
    for figure, options in figures.items():
        field = "surfaces" if "surfaces" in options else "surface"
        for name in figure_surface_names(options):
            if name not in surfaces:
                known = ", ".join(surfaces)
                raise ConfigError(
                    f"figures.{figure}.{field}",
                    f"no surface named '{name}'; known: {known}",
                )

    for figure in FLAT_FIGURES:
        for name in figure_surface_names(figures.get(figure, {"surfaces": []})):
            if 1 in (surfaces[name].w.num, surfaces[name].b.num):
                raise ConfigError(
                    f"figures.{figure}",
                    f"surface '{name}' has a single w or b; this figure draws over"
                    " (w, b) and needs both axes as ranges",
                )

    for figure, needed in DERIVATIVES_NEEDED.items():
        if figure not in figures:
            continue
        surface = surfaces[figures[figure]["surface"]]
        if ORDER[surface.derivatives] < ORDER[needed]:
            raise ConfigError(
                f"figures.{figure}.surface",
                f"surface '{surface.name}' stores derivatives '{surface.derivatives}';"
                f" this figure needs at least '{needed}': set"
                f" surfaces.{surface.name}.derivatives",
            )

    panels = figures.get("wide_panels")
    if panels:
        # Imported here: only configs that draw this figure pay for matplotlib.
        from matplotlib.colors import is_color_like

        colors = panels["colors"]
        if len(colors) < len(panels["surfaces"]):
            raise ConfigError(
                "figures.wide_panels.colors",
                f"{len(colors)} colours for {len(panels['surfaces'])} surfaces;"
                " give one colour per surface",
            )
        for index, color in enumerate(colors):
            if not is_color_like(color):
                raise ConfigError(
                    f"figures.wide_panels.colors[{index}]",
                    f"'{color}' is not a matplotlib colour name or hex code",
                )

    for figure in ("steps_sweep", "bifurcation"):
        options = figures.get(figure)
        if options and surfaces[options["surface"]].w.num != 1:
            count = surfaces[options["surface"]].w.num
            raise ConfigError(
                f"figures.{figure}.surface",
                f"surface '{options['surface']}' has {count} values of w; this figure"
                " draws against b at one w: give that surface's w as a single number",
            )


def check_finite(value, key: str = "") -> None:
    """Refuse NaN and infinities anywhere: YAML spells them .nan and .inf, and JSON
    Schema's `number` accepts them."""
    if isinstance(value, dict):
        for name, item in value.items():
            check_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_finite(item, f"{key}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key, f"found {value}; expected a finite number")


def check_tiles(tile: Block, chunk: Block) -> None:
    """Tiles are whole numbers of chunks, so that no two tile jobs share a chunk."""
    for axis in ("b", "w"):
        size, step = getattr(tile, axis), getattr(chunk, axis)
        if size % step:
            raise ConfigError(
                f"compute.tile.{axis}",
                f"{size} (4096 unless set) is not a multiple of compute.chunk.{axis} ="
                f" {step}; tiles must be whole numbers of chunks so that no two jobs"
                " write one chunk",
            )


def check_budget(surfaces: dict[str, Surface], budget: int) -> None:
    """Refuse surfaces whose work would run for hours or exhaust memory by mistake."""
    for name, surface in surfaces.items():
        if surface.point_steps > budget:
            raise ConfigError(
                f"surfaces.{name}",
                f"{surface.b.num:.3g} x {surface.w.num:.3g} points x"
                f" {surface.steps[-1]:.3g} steps = {surface.point_steps:.3g} point-steps,"
                f" over the budget of {budget:.3g};"
                " coarsen the grid, or raise compute.max_point_steps if it is meant",
            )


def check_config(config: dict, schema: Path, files: Iterable[Path] = ()) -> Config:
    """The workflow's whole check of its configuration, before any job runs.

    The YAML `files` it was read from must not repeat a key (PyYAML keeps the
    last and says nothing); `config` must fit `schema`, every violation listed
    by key; then Snakemake's `validate` fills in the schema's defaults, and
    `parse_config` checks what a schema cannot express.
    """
    problems = [problem for path in files for problem in repeated_keys(path)]
    problems += schema_problems(config, schema)
    if problems:
        raise ConfigProblems(problems)

    from snakemake.utils import validate

    validate(config, str(schema))
    try:
        return parse_config(config)
    except ConfigError as error:
        raise ConfigProblems([str(error)]) from None


def schema_problems(config: dict, schema: Path) -> list[str]:
    """Each place where `config` breaks the JSON schema, as "config key 'a.b[0]': ..."."""
    import jsonschema
    import yaml

    rules = yaml.safe_load(Path(schema).read_text())
    validator = jsonschema.Draft202012Validator(rules)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: e.json_path):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties":
            # One line per unknown key, naming it and the keys allowed there.
            known = list(error.schema.get("properties", {}))
            for unknown in sorted(set(error.instance) - set(known)):
                key = dotted_key([*path, unknown])
                expected = ", ".join(known) or "none"
                problems.append(
                    f"config key '{key}': unknown key; expected one of {expected}"
                )
            continue
        message = error.message
        if error.validator == "pattern" and "description" in error.schema:
            message += f"; expected: {error.schema['description']}"
        if error.validator == "type" and _exponent_as_text(error.instance):
            message += NUMBER_AS_TEXT
        problems.append(f"config key '{dotted_key(path) or '(top level)'}': {message}")
    return problems


# PyYAML, which Snakemake reads configs with, follows YAML 1.1: an exponent
# needs a dot and a sign, so 1e6 and 1.0e6 are read as text.
NUMBER_AS_TEXT = "; unquoted, YAML reads 1e6 and 1.0e6 as text: write 1.0e+6 or 1000000"


def _exponent_as_text(value) -> bool:
    """Whether `value` is text that YAML 1.1 did not read as the number it is."""
    if not isinstance(value, str) or not {"e", "E"} & set(value):
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def dotted_key(path: Iterable) -> str:
    """`surfaces.zoom.steps[0]` from the parts of a path into the config."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def repeated_keys(path: Path) -> list[str]:
    """Every key that appears twice in one mapping of the YAML file at `path`."""
    import yaml

    problems = []

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    line = key_node.start_mark.line + 1
                    problems.append(
                        f"config file {path}, line {line}: key '{key}' appears twice in"
                        " one mapping; YAML would keep only the last silently"
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    yaml.load(Path(path).read_text(), Loader=StrictLoader)  # noqa: S506 (a SafeLoader)
    return problems


def parse_config(config: dict) -> Config:
    """Objects from a configuration already validated (and defaulted) by the schema."""
    check_finite(config)
    presets = {name: parse_preset(name, spec) for name, spec in config["presets"].items()}
    surfaces = {
        name: parse_surface(name, spec) for name, spec in config["surfaces"].items()
    }
    compute = config["compute"]
    chunk, tile = block(compute["chunk"]), block(compute["tile"])
    check_budget(surfaces, int(compute["max_point_steps"]))
    check_tiles(tile, chunk)
    figures = {name: integral(options) for name, options in config["figures"].items()}
    check_figures(figures, surfaces)
    descent = parse_descent(config["trajectories"])

    return Config(
        presets=presets,
        surfaces=surfaces,
        chunk=chunk,
        tile=tile,
        threads=int(compute["threads"]),
        dask_scheduler=compute.get("dask_scheduler"),
        figures=figures,
        descent=descent,
    )


def parse_descent(spec: dict) -> Descent:
    return Descent(
        starts=tuple((float(w), float(b)) for w, b in spec["starts"]),
        steps=int(spec["steps"]),
        learning_rate=float(spec["learning_rate"]),
        iterations=int(spec["iterations"]),
        threshold=float(spec["threshold"]),
    )


def block(spec: dict) -> Block:
    # int(): JSON Schema counts 512.0 as an integer; Zarr and the job want 512.
    return Block(b=int(spec["b"]), w=int(spec["w"]))


def integral(options: dict) -> dict:
    """Figure options with whole numbers as ints, for the same reason."""
    whole = ("stride", "columns")
    return {key: int(value) if key in whole else value for key, value in options.items()}
