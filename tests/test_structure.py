"""The import rules of the folder tree (issue 15), checked on the source without importing it.

The rules and the checker live in `tests/structure_rules.py`; the last two tests run the checker
on a small fake project with one broken rule of each kind, so a checker that stops seeing a
violation fails here rather than passing silently.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tests import structure_rules as rules

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project() -> rules.Project:
    return rules.Project(REPO)


def _fail_on(title: str, violations: list[rules.Violation]) -> None:
    """Fail with one line per violation, naming the module and the import."""
    if violations:
        pytest.fail(f"{title} ({len(violations)}):\n" + "\n".join(f"  {v}" for v in violations), pytrace=False)


def test_quilt_has_no_import_cycle(project: rules.Project) -> None:
    _fail_on("import cycles among quilt's modules (imports inside functions count)", rules.check_cycles(project))


def test_stage_packages_import_only_common_core_and_adapters(project: rules.Project) -> None:
    _fail_on("imports across layers", rules.check_layers(project))


def test_nothing_imports_tests(project: rules.Project) -> None:
    _fail_on("quilt/, services/ or training/ importing tests", rules.check_no_tests_import(project))


def test_stage_code_reads_no_environment(project: rules.Project) -> None:
    _fail_on("stage code reading the environment or the settings", rules.check_stage_environment(project))


def test_training_does_not_import_the_cli(project: rules.Project) -> None:
    _fail_on("training importing quilt.cli", rules.check_training_cli(project))


def test_services_import_stages_through_their_entry_points(project: rules.Project) -> None:
    _fail_on("services reaching past a stage's entry point", rules.check_service_entry_points(project))


def test_every_stage_package_is_seen(project: rules.Project) -> None:
    # A rename that empties a stage package would make the rules above pass vacuously.
    for stage in (*rules.STAGES, "common"):
        assert f"quilt.stages.{stage}" in project.modules, stage
    assert project.under("services") and project.under("training")


FAKE = {
    "quilt/__init__.py": "",
    "quilt/core/__init__.py": "",
    # A cycle closed by an import inside a function.
    "quilt/core/a.py": "from quilt.core import b\n",
    "quilt/core/b.py": "def late():\n    from quilt.core.a import b\n",
    # Type-only imports make no cycle.
    "quilt/core/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from quilt.core import typed2\n",
    "quilt/core/typed2.py": "from quilt.core import typed\n",
    "quilt/core/leaky.py": "from quilt.ops.lag import lag\n",
    "quilt/adapters/__init__.py": "",
    "quilt/adapters/config.py": "class Settings: ...\n",
    "quilt/stages/__init__.py": "",
    # The entry point imports its submodules, which import their siblings: no cycle.
    "quilt/stages/decode/__init__.py": dedent("""\
        from .keyframes import decode_lecture
        __all__ = ["decode_lecture"]
        """),
    "quilt/stages/decode/keyframes.py": dedent("""\
        from . import params
        from quilt.stages.decode.params import P
        from quilt.stages.common import shared
        from quilt.core import a
        def decode_lecture() -> None: ...
        """),
    "quilt/stages/decode/params.py": "P = 1\n",
    "quilt/stages/asr/__init__.py": "",
    "quilt/stages/asr/steal.py": "from quilt.stages.decode.keyframes import decode_lecture\n",
    "quilt/stages/asr/env.py": dedent("""\
        import os as _os
        from os import getenv
        from quilt.adapters.config import Settings
        URL = _os.environ.get("URL")
        """),
    "quilt/stages/common/__init__.py": "",
    "quilt/stages/common/shared.py": "",
    "quilt/stages/common/bad.py": "from quilt.stages import asr\n",
    # A cycle through a package __init__: quilt.pipeline -> quilt.ops (run by importing quilt.ops.dlq)
    # -> quilt.ops.lag -> quilt.pipeline.
    "quilt/pipeline.py": "from quilt.ops.dlq import replay\nfrom quilt.stages.decode.params import P\n",
    "quilt/ops/__init__.py": "from quilt.ops.lag import lag\n",
    "quilt/ops/dlq.py": "def replay() -> None: ...\n",
    "quilt/ops/lag.py": "def lag() -> None:\n    import quilt.pipeline\n",
    "quilt/evil.py": "import tests.helpers\n",
    "services/__init__.py": "",
    "services/decoder.py": "from quilt.stages.decode import decode_lecture\n",
    "services/asr.py": dedent("""\
        from quilt.stages.decode.keyframes import decode_lecture
        from quilt.stages.decode import params
        from quilt.stages.decode import missing
        from quilt.stages.common.shared import anything
        """),
    "training/__init__.py": "",
    "training/train.py": "from quilt.cli.main import main\nfrom tests import helpers\n",
}


def _fake_project(root: Path) -> rules.Project:
    for relative, text in FAKE.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return rules.Project(root)


def test_checker_reports_each_broken_rule(tmp_path: Path) -> None:
    fake = _fake_project(tmp_path)

    assert rules.find_cycles(fake) == [
        ["quilt.core.a", "quilt.core.b", "quilt.core.a"],
        ["quilt.ops", "quilt.ops.lag", "quilt.pipeline", "quilt.ops"],
    ]
    assert "quilt.core.b:2 `from quilt.core.a import b`" in str(rules.check_cycles(fake)[0])

    layers = {(v.rule, v.module, v.detail.split(":")[0]) for v in rules.check_layers(fake)}
    assert layers == {
        ("stage-imports", "quilt.stages.asr.steal", "imports quilt.stages.decode.keyframes"),
        ("common-imports", "quilt.stages.common.bad", "imports stage quilt.stages.asr"),
        ("core-imports", "quilt.core.leaky", "imports quilt.ops.lag"),
    }

    assert {(v.module, v.detail) for v in rules.check_no_tests_import(fake)} == {
        ("quilt.evil", "quilt.evil:1 `import tests.helpers`"),
        ("training.train", "training.train:2 `from tests import helpers`"),
    }

    env = [str(v) for v in rules.check_stage_environment(fake)]
    assert env == [
        "[stage-env] quilt.stages.asr.env: reads the environment: line 2 `from os import getenv`",
        "[stage-env] quilt.stages.asr.env: reads the environment: line 4 `_os.environ`",
        "[stage-env] quilt.stages.asr.env: imports the settings: "
        "quilt.stages.asr.env:3 `from quilt.adapters.config import Settings`",
    ]
    assert [v.module for v in rules.check_training_cli(fake)] == ["training.train"]

    entry = [v.detail for v in rules.check_service_entry_points(fake)]
    assert entry == [
        "reaches into quilt.stages.decode.keyframes: services.asr:1 "
        "`from quilt.stages.decode.keyframes import decode_lecture`",
        "names not exported by quilt.stages.decode: params: services.asr:2 `from quilt.stages.decode import params`",
        "names not exported by quilt.stages.decode: missing: services.asr:3 `from quilt.stages.decode import missing`",
        "reaches into quilt.stages.decode.params: quilt.pipeline:2 `from quilt.stages.decode.params import P`",
    ]


def test_checker_passes_what_the_rules_allow(tmp_path: Path) -> None:
    fake = _fake_project(tmp_path)
    flagged = {v.module for v in rules.check_all(fake)}
    # Sibling imports under an entry point that imports them, type-only imports, a stage using
    # common and core, and a service using the entry point are all fine.
    for module in ("quilt.stages.decode", "quilt.stages.decode.keyframes", "quilt.core.typed",
                   "quilt.core.typed2", "services.decoder"):
        assert module not in flagged
