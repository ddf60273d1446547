"""Write the HTML template that makes `dvc plots show` / `dvc plots diff` pages draw offline.

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so on a machine without internet
it stays blank. This template inlines the same three libraries, taken from the installed
vl-convert-python package (which bundles them), and leaves out DVC's `{scripts}` placeholder so
no CDN script tag is added. `make setup` runs it and points `plots.html_template` at the file in
`.dvc/config.local` (git-ignored), so the libraries are never copied into the repository and a
clone set up without make keeps DVC's own page.

    python -m tools.offline_plots_template [--out .dvc/offline_plots.html]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import vl_convert

from lenet5.errors import PipelineError
from lenet5.files import write_text
from lenet5.process import run_command

DEFAULT_OUT = Path(".dvc/offline_plots.html")
# DVC's templates declare Vega-Lite v5 specs: bundle the newest v5 so they compile as written.
VEGA_LITE_VERSION = "5.21"

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <script>
/* vega {vega}, vega-lite {vega_lite}, vega-embed {vega_embed}, bundled by vl-convert-python */
__BUNDLE__
    </script>
    <script>
        // SVG instead of canvas: sharp at any zoom, and the charts' text (axis titles, the legend
        // with each revision's name) is part of the page, so it can be searched and checked.
        const embedWithCanvas = window.vegaEmbed;
        window.vegaEmbed = (element, spec, options) => embedWithCanvas(element, spec, {renderer: "svg", ...options});
    </script>
    <style>
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def offline_page() -> str:
    """The template's text; DVC fills in {plot_divs} and {refresh_tag}."""
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
    if "</script" in bundle.lower():
        raise PipelineError("the vl-convert bundle contains '</script' and cannot be inlined; pin another version")
    header = (
        PAGE.replace("{vega}", vl_convert.get_vega_version())
        .replace("{vega_lite}", VEGA_LITE_VERSION)
        .replace("{vega_embed}", vl_convert.get_vega_embed_version())
    )
    return header.replace("__BUNDLE__", bundle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write it (default {DEFAULT_OUT})")
    args = parser.parse_args()
    write_text(args.out, offline_page())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_command("offline_plots_template", main)
