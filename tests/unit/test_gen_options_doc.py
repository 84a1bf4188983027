"""scripts/gen_options_doc.py: the option table in docs/CONFIGURATION.md matches options.OPTIONS."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from doorbell_ci.options import OPTIONS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_options_doc.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_options_doc", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_doc_is_up_to_date() -> None:
    generator = _generator()
    document = generator.DOC.read_text(encoding="utf-8")
    assert generator.updated(document, generator.render_table()) == document, (
        "docs/CONFIGURATION.md is stale: run python scripts/gen_options_doc.py"
    )


def test_table_has_one_row_per_option_with_every_name() -> None:
    table = _generator().render_table()
    rows = table.splitlines()[2:]
    assert len(rows) == len(OPTIONS)
    for option, row in zip(OPTIONS, rows, strict=True):
        assert row.startswith(f"| {option.name} |")
        if option.name != "project":
            assert f"`{option.env_var}`" in row
        if option.action_input:
            assert f"`{option.action_input}`" in row


def test_check_mode_reports_a_stale_table(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    generator = _generator()
    stale = tmp_path / "CONFIGURATION.md"
    stale.write_text(f"intro\n{generator.BEGIN}\n| old |\n{generator.END}\noutro\n", encoding="utf-8")
    monkeypatch.setattr(generator, "DOC", stale)
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("outro\n") and "| old |" not in text
