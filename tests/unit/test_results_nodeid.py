"""TestResult.nodeid is remembered, and never stale: a changed file, classname or name makes it again.

The memo matters for speed (the analysis and the reports ask for a test's node id several times;
at 50,000 tests that was 0.3 s of CPU) and must not matter for anything else: the redaction
replaces a secret in a test's name in place, and a node id made before that must not survive it.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

from doorbell_ci.redaction import Redactor
from doorbell_ci.results import TestResult, node_id

FORMS = [
    # (file, classname, name, node id)
    ("tests/unit/test_m.py", "tests.unit.test_m.TestCamera", "test_a[x-1]",
     "tests/unit/test_m.py::TestCamera::test_a[x-1]"),
    ("tests/unit/test_m.py", "tests.unit.test_m", "test_b", "tests/unit/test_m.py::test_b"),
    ("tests\\unit\\test_w.py", "tests.unit.test_w.TestA.TestB", "test_c", "tests/unit/test_w.py::TestA::TestB::test_c"),
    (None, "suite.Case", "test_d", "suite.Case::test_d"),
    ("data/cases.yaml", "", "case_e", "case_e"),
    ("tests/test_other.py", "unrelated.Class", "test_f", "tests/test_other.py::test_f"),
]


def test_the_remembered_node_id_equals_the_one_made_afresh() -> None:
    for file, classname, name, expected in FORMS:
        test = TestResult(suite="unit", name=name, classname=classname, file=file)
        assert test.nodeid == expected
        assert test.nodeid == expected == node_id(file, classname, name)  # the second read, from the memo


def test_each_changed_field_makes_the_node_id_again() -> None:
    test = TestResult(suite="unit", name="test_a", classname="tests.unit.test_m.TestCamera",
                      file="tests/unit/test_m.py")
    assert test.nodeid == "tests/unit/test_m.py::TestCamera::test_a"
    test.name = "test_z"
    assert test.nodeid == "tests/unit/test_m.py::TestCamera::test_z"
    test.classname = "tests.unit.test_m.TestDoor"
    assert test.nodeid == "tests/unit/test_m.py::TestDoor::test_z"
    test.file = None
    assert test.nodeid == "tests.unit.test_m.TestDoor::test_z"
    test.name = "".join(["test_", "z"])  # an equal string, another object: made again, same value
    assert test.nodeid == "tests.unit.test_m.TestDoor::test_z"


def test_a_redacted_name_never_leaves_the_secret_in_the_node_id() -> None:
    secret = "s3cr3t-token-value-0123456789"
    test = TestResult(suite="unit", name=f"test_login[{secret}]", classname="tests.unit.test_auth",
                      file="tests/unit/test_auth.py")
    assert secret in test.nodeid  # remembered before the redaction, as in the pipeline (analysis first)
    Redactor({secret}).redact_object(test)
    assert secret not in test.name
    assert secret not in test.nodeid
    assert test.nodeid == f"tests/unit/test_auth.py::{test.name}"


def test_the_memo_is_no_field() -> None:
    test = TestResult(suite="unit", name="test_a", classname="tests.unit.test_m", file="tests/unit/test_m.py")
    other = TestResult(suite="unit", name="test_a", classname="tests.unit.test_m", file="tests/unit/test_m.py")
    _ = test.nodeid  # only one of the two remembers it
    assert test == other
    assert "_nodeid_memo" not in {f.name for f in dataclasses.fields(TestResult)}
    assert "_nodeid_memo" not in repr(test)
    for copied in (pickle.loads(pickle.dumps(test)), copy.deepcopy(test), dataclasses.replace(test)):
        assert copied == test and copied.nodeid == test.nodeid
    renamed = dataclasses.replace(test, name="test_b")
    assert renamed.nodeid == "tests/unit/test_m.py::test_b"
