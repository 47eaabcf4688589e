"""The original scikit-learn estimator of a default model, for MLServer's stock scikit-learn runtime:
trained again by the export's own recipe (python_service/export/defaults.py: the same dataset, split
and seeds; the export keeps no pickle) and saved with joblib, with the scikit-learn of the venv it
runs in (MLServer's own, .tools/peers/mlserver, so that the pickle loads there).

    PYTHONPATH=REPO python train_sklearn.py NAME OUT_DIR

writes OUT_DIR/model.joblib and prints one JSON line: the scikit-learn version and the classes.
"""

import json
import os
import sys

import joblib
import sklearn
from sklearn.model_selection import train_test_split

from python_service.export.defaults import RECIPES_BY_NAME, SPLIT_SEED, TEST_SIZE


def main(name: str, out_dir: str) -> None:
    recipe = RECIPES_BY_NAME[name]
    X, y, _ = recipe.load()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    estimator = recipe.build().fit(X_train, y_train)
    os.makedirs(out_dir, exist_ok=True)
    joblib.dump(estimator, os.path.join(out_dir, "model.joblib"))
    classes = [int(c) for c in getattr(estimator, "classes_", [])]
    print(json.dumps({"scikit-learn": sklearn.__version__, "estimator": type(estimator).__name__, "classes": classes}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
