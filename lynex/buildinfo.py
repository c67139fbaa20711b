"""Version, build date and commit of this Lynex: from ``lynex/_build.py`` when a release build wrote it.

``packaging/build.sh`` generates ``lynex/_build.py`` (gitignored) before freezing; a source checkout or
``pip install`` has none and reports itself as a development build.
"""

from __future__ import annotations

from lynex import __version__


def build_info() -> dict:
    """``{"version", "build_date", "commit"}``; date and commit are None outside a release build."""
    try:
        from lynex import _build
    except ImportError:
        return {"version": __version__, "build_date": None, "commit": None}
    return {"version": __version__, "build_date": getattr(_build, "BUILD_DATE", None),
            "commit": getattr(_build, "COMMIT", None)}


def describe() -> str:
    """One line for ``lynex version``."""
    info = build_info()
    if not info["build_date"]:
        return f"lynex {info['version']} (development build)"
    return f"lynex {info['version']} (built {info['build_date']}, commit {info['commit'] or 'unknown'})"
