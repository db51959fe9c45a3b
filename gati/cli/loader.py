"""Find the user's ``App`` from ``module:attr`` or ``path/to/file.py[:attr]``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from gati.core.app import App
from gati.errors import AppError


def load_app(spec: str) -> App:
    target, _, attr = spec.partition(":")
    attr = attr or "app"
    if target.endswith(".py") or "/" in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise AppError(f"app file {target} does not exist")
        sys.path.insert(0, str(Path.cwd()))
        # A stable name: handler ids (and so Timescape fingerprints) derive from it.
        mod_name = "_gati_app_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        spec_obj = importlib.util.spec_from_file_location(mod_name, path)
        if spec_obj is None or spec_obj.loader is None:
            raise AppError(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[mod_name] = module
        spec_obj.loader.exec_module(module)
    else:
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise AppError(f"cannot import app module {target!r}: {exc}") from None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise AppError(f"{target}:{attr} is not a gati.App (found {type(app).__name__})")
    return app
