"""The HTML shell every page the API serves shares: root-relative asset URLs only (no scheme,
no host), no inline script or style, nothing from another origin."""

import html
from collections.abc import Sequence

STATIC_PATH = "/static"
"""Where the pages' vendored assets are served."""


def render_document(
    title: str,
    body: str,
    root_path: str,
    stylesheets: Sequence[str],
    scripts: Sequence[str],
    modules: Sequence[str] = (),
) -> str:
    """`<!doctype html>` with `title`, the stylesheets, `body`, then the scripts and modules
    (paths under `STATIC_PATH`, behind the app's `root_path`)."""
    base = html.escape(f"{root_path.rstrip('/')}{STATIC_PATH}", quote=True)
    links = "\n".join(f'    <link rel="stylesheet" href="{base}/{s}">' for s in stylesheets)
    tags = [f'    <script src="{base}/{s}"></script>' for s in scripts]
    tags += [f'    <script type="module" src="{base}/{m}"></script>' for m in modules]
    tags_text = "\n".join(tags)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>{html.escape(title)}</title>
    <link rel="icon" href="data:,">
{links}
  </head>
  <body>
{body}
{tags_text}
  </body>
</html>
"""
