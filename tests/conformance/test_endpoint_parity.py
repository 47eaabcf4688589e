"""Cross-endpoint parity: for 1,000 seeded random inputs per default model (uniform between each
feature's dataset min and max, sent in batches), the four endpoints return identical labels and
class indices, and probabilities / values within 1e-6 of each other. Answers are read back as the
float32 the wire carries (HTTP prints its shortest decimal, gRPC carries it exactly)."""

import numpy as np
import pytest

from python_service import answers as compare
from python_service.export.defaults import DEFAULT_RECIPES
from tests.conformance.endpoints import ENDPOINTS, as_float32

ROWS = 1000
BATCH = 250
TOLERANCE = 1e-6
SEED = 4


def random_rows(recipe, seed):
    X, _, _ = recipe.load()
    rng = np.random.RandomState(seed)
    return np.float32(rng.uniform(X.min(axis=0), X.max(axis=0), size=(ROWS, X.shape[1]))).tolist()


@pytest.mark.parametrize("index,recipe", list(enumerate(DEFAULT_RECIPES)), ids=[r.name for r in DEFAULT_RECIPES])
def test_parity(index, recipe, endpoints):
    rows = random_rows(recipe, SEED + index)
    answers = {}
    for name in ENDPOINTS:
        preds = []
        for start in range(0, ROWS, BATCH):
            got = endpoints[name].predict(recipe.name, rows[start : start + BATCH])
            assert got["ok"] and not got.get("problems"), "parity %s on %s, rows %d..%d: %r" % (
                recipe.name,
                name,
                start,
                start + BATCH - 1,
                got,
            )
            preds += as_float32(got)
        assert len(preds) == ROWS, "parity %s on %s: %d answers" % (recipe.name, name, len(preds))
        answers[name] = preds
    ref = ENDPOINTS[0]
    diffs = []
    for name in ENDPOINTS[1:]:
        found, _ = compare.differences(answers[name], answers[ref], TOLERANCE)
        diffs += ["parity %s: %s vs %s: %s" % (recipe.name, name, ref, d) for d in found]
    if diffs:
        pytest.fail(
            "\n".join(diffs[:20] + (["... %d differences in all" % len(diffs)] if len(diffs) > 20 else [])),
            pytrace=False,
        )


def test_model_listing_identical(endpoints):
    """ListModels and GetModel describe the same models identically on all four endpoints."""
    listings = {name: endpoints[name].list_models() for name in ENDPOINTS}
    ref = listings[ENDPOINTS[0]]
    assert sorted(m["name"] for m in ref["models"]) == sorted(r.name for r in DEFAULT_RECIPES)
    for name, listing in listings.items():
        assert listing == ref, "ListModels on %s:\n%r\nvs on %s:\n%r" % (name, listing, ENDPOINTS[0], ref)
    for info in ref["models"]:
        for name in ENDPOINTS:
            got = endpoints[name].get_model(info["name"])
            assert got == info, "GetModel %s on %s: %r expected %r" % (info["name"], name, got, info)
