"""MkDocs hook: README.md is the site's home page and CHANGELOG.md its changelog.

Both stay at the repository's root, where GitHub and PyPI show them, and their links into
``docs/`` are made relative to ``docs/`` here.
"""

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

PAGES = {"index.md": "README.md", "changelog.md": "CHANGELOG.md"}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).parent
    for page, source in PAGES.items():
        text = (root / source).read_text(encoding="utf-8")
        text = text.replace("](docs/", "](").replace("](CHANGELOG.md)", "](changelog.md)")
        files.append(File.generated(config, page, content=text))
    return files
