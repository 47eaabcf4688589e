"""The default model set: deterministic recipes trained on scikit-learn's bundled datasets.

Each recipe names the dataset loader and builds an *unfitted* estimator with fixed seeds, so the
recipe's parameters can be fingerprinted (to decide "up to date") without training anything.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sklearn import datasets
from sklearn.base import BaseEstimator
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

SEED = 0  # every estimator's random_state
SPLIT_SEED = 42  # train/held-out split
TEST_SIZE = 0.25  # fraction of each dataset held out for the parity check


@dataclass(frozen=True)
class Recipe:
    name: str
    dataset: str  # sklearn.datasets loader name, e.g. "load_iris"
    build: Callable[[], BaseEstimator]  # returns a fresh, unfitted estimator

    def load(self):
        """Return (X, y, target_names or None) from the bundled dataset.

        target_names[k] names class k (iris: setosa, ...; digits: 0..9); regression sets have none.
        """
        bunch = getattr(datasets, self.dataset)()
        names = getattr(bunch, "target_names", None)
        return bunch.data, bunch.target, None if names is None else [str(n) for n in names]


DEFAULT_RECIPES = (
    Recipe("iris-logreg", "load_iris", lambda: LogisticRegression(max_iter=1000, random_state=SEED)),
    Recipe(
        "breast-cancer-rf",
        "load_breast_cancer",
        lambda: RandomForestClassifier(n_estimators=200, random_state=SEED, n_jobs=1),
    ),
    Recipe(
        "digits-mlp",
        "load_digits",
        lambda: Pipeline(
            [
                ("scaler", StandardScaler()),
                ("mlp", MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=SEED)),
            ]
        ),
    ),
    Recipe(
        "diabetes-gbr",
        "load_diabetes",
        lambda: GradientBoostingRegressor(n_estimators=200, max_depth=3, random_state=SEED),
    ),
)

RECIPES_BY_NAME = {r.name: r for r in DEFAULT_RECIPES}


def export_defaults(out, *, version="1", force=False, only=None, log=print):
    """Train, validate and write the default models that are not already up to date."""
    # Imported here: export_model loads skl2onnx/onnxruntime, which listing recipes does not need.
    import numpy as np
    from sklearn.model_selection import train_test_split

    from python_service.export import model as em

    for recipe in DEFAULT_RECIPES:
        if only and recipe.name not in only:
            continue
        label = "%s/%s" % (recipe.name, version)
        key = em.fingerprint(
            {
                "name": recipe.name,
                "version": version,
                "dataset": recipe.dataset,
                "params": recipe.build().get_params(deep=True),
                "split": [SPLIT_SEED, TEST_SIZE],
            }
        )
        if not force and em.is_up_to_date(out, recipe.name, version, key):
            log("export: %s: up to date" % label)
            continue
        X, y, names = recipe.load()
        X_train, X_test, y_train, _ = train_test_split(X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED)
        est = recipe.build().fit(X_train, y_train)
        labels = None
        if names is not None and hasattr(est, "classes_"):
            labels = [names[int(c)] for c in est.classes_]
        onnx_bytes, meta = em.build(
            est,
            name=recipe.name,
            version=version,
            X_check=np.asarray(X_test, dtype=np.float32),
            class_labels=labels,
            dataset=recipe.dataset,
            recipe=key,
        )
        path = em.write_model(out, recipe.name, version, onnx_bytes, meta)
        log(
            "export: %s: wrote %s (parity: %d held-out rows, max abs diff %.3g)"
            % (label, path, meta["parity"]["rows"], meta["parity"]["max_abs_diff"])
        )
