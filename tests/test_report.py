"""`snakemake --report`: every figure of every preset, grouped and captioned."""

import base64
import html
import json
import re
from html.parser import HTMLParser

from rnn_landscape.figures import RENDERERS
from test_workflow import snakemake, workspace

# The figure kinds the tiny config leaves out, each on a surface of the shape it
# draws (derivatives where it needs them); with these it draws every kind there is.
MORE_FIGURES = {
    "bifurcation": {"surface": "sweep"},
    "walls": {"surface": "wide"},
    "gradient_norm": {"surface": "zoom"},
    "curvature": {"surface": "wide"},
    "alignment": {"surface": "wide"},
    "trajectories": {"surface": "zoom", "stride": 2},
}
FORMATS = {"png": ("PNG", "image/png"), "pdf": ("vector PDF", "application/pdf")}


class Scripts(HTMLParser):
    """The text of every `<script id="...">` of a page, by id."""

    def __init__(self):
        super().__init__()
        self.texts: dict[str, str] = {}
        self._id = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._id = dict(attrs).get("id")

    def handle_endtag(self, tag):
        if tag == "script":
            self._id = None

    def handle_data(self, data):
        if self._id is not None:
            self.texts[self._id] = self.texts.get(self._id, "") + data


def report_data(page: str) -> dict:
    """The JSON values a Snakemake 9 report page holds, by script id: each script
    is one statement `var <name> = <JSON>;`."""
    scripts = Scripts()
    scripts.feed(page)
    data = {}
    for script_id, text in scripts.texts.items():
        statement = re.fullmatch(r"\s*var \w+ = (.*);\s*", text, re.DOTALL)
        if statement:
            data[script_id] = json.loads(statement.group(1))
    return data


def plain(fragment: str) -> str:
    """The text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def check_figure(entry: dict, figure_file, labels: dict, mime: str) -> str:
    """Checks one figure's entry in the report; returns its caption as text."""
    assert entry["labels"] == labels
    assert entry["mime_type"] == mime
    assert entry["job_properties"]["rule"] == "render_figure"
    header, _, encoded = entry["data_uri"].partition(";base64,")
    assert header.startswith(f"data:{mime}")
    assert base64.b64decode(encoded) == figure_file.read_bytes()

    caption = plain(entry["caption"])
    assert "Look for" in caption
    assert "No caption" not in caption and "System Message" not in caption
    preset = labels["preset"]
    assert f"Preset {preset}, drawn from results/surfaces/{preset}/" in caption
    return caption


def test_report_holds_every_figure_of_every_preset_with_its_caption(tmp_path, tiny_config):
    tiny_config["figures"].update(MORE_FIGURES)
    assert set(tiny_config["figures"]) == set(RENDERERS)
    presets, figures = tiny_config["presets"], tiny_config["figures"]
    folder = workspace(tmp_path, tiny_config)
    run = snakemake(folder)
    assert run.returncode == 0, run.stderr

    made = snakemake(folder, "--report", "results/report.html")

    assert made.returncode == 0, made.stderr
    # A name not ending in .zip gives one self-contained page, figures embedded.
    data = report_data((folder / "results/report.html").read_text())
    # One category per preset, in it one subcategory per figure kind.
    assert {
        preset: {figure: sorted(paths) for figure, paths in kinds.items()}
        for preset, kinds in data["categories"].items()
    } == {
        preset: {
            figure: sorted(f"results/figures/{preset}/{figure}.{ext}" for ext in FORMATS)
            for figure in figures
        }
        for preset in presets
    }
    assert len(data["results"]) == len(presets) * len(figures) * len(FORMATS)
    for preset in presets:
        captions = {
            check_figure(
                data["results"][f"results/figures/{preset}/{figure}.{ext}"],
                folder / f"results/figures/{preset}/{figure}.{ext}",
                {"figure": figure, "preset": preset, "format": name},
                mime,
            ).split("Preset")[0]
            for figure in figures
            for ext, (name, mime) in FORMATS.items()
        }
        # One caption per figure kind, the same for its PNG and PDF.
        assert len(captions) == len(figures)
    description = plain(data["workflow-desc"])
    assert "System Message" not in description
    for preset in presets:
        assert f"Preset {preset}:" in description
