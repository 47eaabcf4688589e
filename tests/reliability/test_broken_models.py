"""Attack 10, broken model directories beside good ones: iris-logreg/2 is a version directory
without metadata.json, diabetes-gbr/3 a symbolic link to itself (`ln -s 3 diabetes-gbr/3`), and
loop-only/ a model whose one version is such a loop. Rule: the server starts, serves the four good
models at version 1 (a broken higher version must not win), answers the normal client, and names
each skipped directory in exactly one log line that says why."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request

import pytest

from bench.run.procs import Supervisor
from tests.reliability import harness
from tests.reliability.conftest import finish, judge_normal
from tests.reliability.report import Verdict

pytestmark = [pytest.mark.reliability, pytest.mark.process]

GOOD = ("breast-cancer-rf", "diabetes-gbr", "digits-mlp", "iris-logreg")
REASONS = {  # skipped directory → words one of which its log line must contain
    "iris-logreg/2": ("metadata.json",),
    "diabetes-gbr/3": ("loop", "too many levels of symbolic links"),
    "loop-only/1": ("loop", "too many levels of symbolic links"),
}


def broken_repository(root: str) -> str:
    models = os.path.join(root, "models")
    for name in GOOD:
        shutil.copytree(os.path.join(harness.MODELS, name, "1"), os.path.join(models, name, "1"))
    os.makedirs(os.path.join(models, "iris-logreg", "2"))
    shutil.copyfile(
        os.path.join(models, "iris-logreg", "1", "model.onnx"), os.path.join(models, "iris-logreg", "2", "model.onnx")
    )
    os.symlink("3", os.path.join(models, "diabetes-gbr", "3"))
    os.makedirs(os.path.join(models, "loop-only"))
    os.symlink("1", os.path.join(models, "loop-only", "1"))
    return models


@pytest.mark.parametrize("kind", ["python", "go"])
def test_broken_model_directories(kind, prerequisites, normal, report, tmp_path):
    models = broken_repository(str(tmp_path))
    log_path = str(tmp_path / "server.log")
    report.keep_log("%s-broken-models.log" % kind, log_path)
    v = Verdict()
    with Supervisor(stop_timeout_s=30) as sup:
        started = time.monotonic()
        try:
            target = harness.start(sup, kind, log_path, models)
        except harness.harness.ServerError as e:
            v.check(False, "the server did not start: %s" % " ".join(str(e).split())[:300])
            finish(report, kind, "10 broken model dirs", v, "did not start", {})
        start_s = time.monotonic() - started
        client = normal("http", target.http)
        with urllib.request.urlopen("http://%s/v1/models" % target.http, timeout=5) as resp:
            served = {m["name"]: m["version"] for m in json.load(resp)["models"]}
        time.sleep(2.0)
        client.stop()
        log = target.log()
        target.server.stop(sup)
    summary = client.summary()
    judge_normal(v, summary)
    v.check(served == dict.fromkeys(GOOD, "1"), "serves %s, not the four good models at version 1" % served)
    lines = {}
    for directory, words in REASONS.items():
        path = os.path.join(models, directory)
        mentions = [line for line in log.splitlines() if path in line]
        lines[directory] = mentions
        v.check(len(mentions) == 1, "%s named in %d log lines (want 1): %s" % (directory, len(mentions), mentions[:3]))
        v.check(
            any(w in line.lower() for line in mentions for w in words),
            "%s: no log line says why (%s)" % (directory, " / ".join(words)),
        )
    text = "started in %.1f s; serves %s; skip lines: %s" % (
        start_s,
        ", ".join("%s@%s" % kv for kv in sorted(served.items())),
        "; ".join(
            "%s ×%d%s" % (d, len(m), (": “%s”" % m[0].split(models + "/")[-1][:80]) if m else "")
            for d, m in lines.items()
        ),
    )
    finish(report, kind, "10 broken model dirs", v, text, {"served": served, "log_lines": lines}, summary)
